//! Prints the quality report of image files and how long each step took:
//! `cargo run --release -p kycd-checks --example quality_report -- FILE… [--selfie]`.

use kycd_checks::{ImageLimits, decode, quality};
use kycd_core::CaptureKind;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = if args.iter().any(|a| a == "--selfie") {
        CaptureKind::Selfie
    } else {
        CaptureKind::DocumentFront
    };
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let bytes = std::fs::read(path)?;
        let t0 = Instant::now();
        let d = decode::decode(&bytes, ImageLimits::default())?;
        let t1 = Instant::now();
        let m = quality::measure(&d.work);
        let t2 = Instant::now();
        let (w, h) = d.upright_dimensions();
        let r = quality::assess(kind, w, h, Some(&m));
        println!(
            "{path}: {w}×{h}, decode+working copy {:.1} ms, measure {:.1} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
        for metric in &r.metrics {
            println!(
                "  {:<24} {:>10.3} {} {:<8} {}",
                metric.name,
                metric.value,
                if metric.bound == quality::Bound::Min { ">=" } else { "<=" },
                metric.threshold,
                if metric.passed { "ok" } else { metric.code.as_str() }
            );
        }
        println!(
            "  codes: {:?}\n  message: {}",
            r.codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            r.message()
        );
    }
    Ok(())
}
