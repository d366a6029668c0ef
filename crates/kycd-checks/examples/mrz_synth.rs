//! Write synthetic photographed documents (one per distortion class and format) as PNG
//! and read their zones: `cargo run -p kycd-checks --example mrz_synth -- OUT_DIR [SEED]`.
//! Needs `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`. Diagnostics:
//! `MRZ_SYNTH_ONLY=<class>`, `MRZ_SYNTH_FORMAT=Passport|IdCard`, `MRZ_SYNTH_DEBUG=1`
//! (uncertain characters and their candidates), `MRZ_SYNTH_BOXES=1` (detected boxes, line crops).

use kycd_checks::mrz_read::MrzReader;
use kycd_checks::synth_doc::{Distortion, DocFormat, OcrB, sample};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: mrz_synth OUT_DIR [SEED]")?);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    std::fs::create_dir_all(&out)?;
    let font = OcrB::load_default()?;
    let reader = MrzReader::from_env()?;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).ok_or("date")?;
    let only = std::env::var("MRZ_SYNTH_ONLY").ok();
    for d in Distortion::ALL {
        if only.as_deref().is_some_and(|o| o != d.name()) {
            continue;
        }
        for format in [DocFormat::Passport, DocFormat::IdCard] {
            if std::env::var("MRZ_SYNTH_FORMAT").ok().is_some_and(|f| f != format!("{format:?}")) {
                continue;
            }
            let t = Instant::now();
            let s = sample(&font, format, d, seed);
            let made = t.elapsed();
            let path = out.join(format!("{}_{format:?}_{seed}.png", d.name()));
            s.image.save(&path)?;
            let t = Instant::now();
            let r = reader.read_detailed(&s.image, today)?;
            let ok = r.result.as_ref().is_some_and(|m| m.valid && m.lines == s.doc.lines);
            println!(
                "{} ({:.0} ms to make, {:.0} ms to read, {} regions): {}",
                path.display(),
                made.as_secs_f64() * 1e3,
                t.elapsed().as_secs_f64() * 1e3,
                r.detected,
                if ok { "OK" } else { "MISS" }
            );
            if std::env::var_os("MRZ_SYNTH_BOXES").is_some() {
                let t = Instant::now();
                let boxes = reader.ocr().detect(&s.image)?;
                let td = t.elapsed();
                for b in &boxes {
                    println!(
                        "  box len {:.0} h {:.1} angle {:.1} centre {:?} score {:.2}",
                        b.length(),
                        b.height(),
                        b.angle().to_degrees(),
                        b.centre(),
                        b.score
                    );
                }
                for (i, b) in boxes.iter().filter(|b| b.length() > 10.0 * b.height()).enumerate() {
                    let crop = kycd_checks::ocr::crop_upright(&s.image, b, 48, 2400);
                    crop.save(out.join(format!("crop_{}_{format:?}_{i}.png", d.name())))?;
                }
                if let Some(b) = boxes.iter().max_by(|a, b| a.length().total_cmp(&b.length())) {
                    let t = Instant::now();
                    let line = reader.ocr().recognise(&s.image, b)?;
                    println!(
                        "  detect {:.0} ms, recognise longest {:.0} ms: {}",
                        td.as_secs_f64() * 1e3,
                        t.elapsed().as_secs_f64() * 1e3,
                        line.text
                    );
                }
            }
            if !ok {
                println!("  truth {:?}", s.doc.lines);
                println!("  read  {:?}", r.raw_lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>());
                if std::env::var_os("MRZ_SYNTH_DEBUG").is_some() {
                    for l in &r.raw_lines {
                        for g in &l.glyphs {
                            if g.prob < 0.95 {
                                let alts: Vec<String> = g.alternatives.iter().take(4).map(|(c, p)| format!("{c}:{p:.3}")).collect();
                                println!("    {} {:.3} [{}]", g.ch, g.prob, alts.join(" "));
                            }
                        }
                        println!("    --");
                    }
                }
            }
        }
    }
    Ok(())
}
