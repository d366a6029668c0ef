//! Time the MRZ read on a 12 MP (4000 × 3000) passport photo and on a 12 MP licence back
//! without a zone: `cargo run -p kycd-checks --example mrz_time -- [RUNS]` (default 10).
//! Prints the median wall time and the process CPU time per read (user + system, all
//! threads, from /proc/self/stat): on a shared machine the CPU time is the steadier
//! figure. Needs `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`.

use kycd_checks::mrz_read::MrzReader;
use kycd_testkit::synth_barcode::licence_back;
use kycd_testkit::synth_doc::{Camera, Distortion, DocFormat, OcrB, photograph_doc, random_identity};
use std::time::Instant;

#[path = "../benches/photos/mod.rs"]
mod photos;

/// CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the 14th field overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // rest starts at field 3 (state, not numeric, filtered out): utime = field 14.
    let ticks = f.get(10).copied().unwrap_or(0.0) + f.get(11).copied().unwrap_or(0.0);
    ticks / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let reader = MrzReader::from_env()?;
    let font = OcrB::load_default()?;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).ok_or("date")?;
    let mut cam = Camera::for_distortion(Distortion::Clean, 7);
    cam.width = 4000;
    cam.height = 3000;
    let passport = photograph_doc(&font, random_identity(DocFormat::Passport, 7), cam, 7).image;
    let scene = photos::licence_back_12mp(1.0, 11);
    let (_, _, back) = licence_back(&scene)?;
    for (name, img) in [("passport TD3, 4000x3000", &passport), ("licence back, no zone, 4000x3000", &back)] {
        let r = reader.read(img, today)?;
        let mut wall = Vec::new();
        let cpu0 = cpu_seconds();
        for _ in 0..runs {
            let t = Instant::now();
            reader.read(img, today)?;
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let cpu = (cpu_seconds() - cpu0) * 1000.0 / runs as f64;
        wall.sort_by(f64::total_cmp);
        println!(
            "{name}: zone {}, median {:.0} ms wall, {cpu:.0} ms CPU per read ({runs} runs)",
            r.map_or("none".to_owned(), |r| format!("{:?} valid {}", r.format, r.valid)),
            wall[wall.len() / 2]
        );
    }
    Ok(())
}
