//! The measurement behind the MRZ accuracy floors: N synthetic documents per distortion
//! class (alternating passport and ID card, the same seeds as the tests), each read and
//! compared field by field with its ground truth.
//! `cargo run --release -p kycd-checks --example mrz_corpus -- [N]` (default 20). The last
//! column is the median time of the read alone (rendering the photo is not counted).
//! Needs `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`.

use kycd_checks::mrz;
use kycd_checks::mrz_read::MrzReader;
use kycd_checks::synth_doc::{Distortion, DocFormat, OcrB, sample};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let reader = MrzReader::from_env()?;
    let font = OcrB::load_default()?;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).ok_or("date")?;
    println!("| class | documents | fully correct | valid, a field wrong | check digits failed | no zone | ms per read (median) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let (mut all_ok, mut all_ms) = (0, Vec::new());
    for d in Distortion::ALL {
        let mut read_ms = Vec::new();
        let (mut ok, mut wrong, mut invalid, mut none) = (0, 0, 0, 0);
        for i in 0..n {
            let format = if i % 2 == 0 { DocFormat::Passport } else { DocFormat::IdCard };
            let s = sample(&font, format, d, 1000 * (d as u64 + 1) + i);
            let lines: Vec<&str> = s.doc.lines.iter().map(String::as_str).collect();
            let truth = mrz::parse_lines(&lines, today)?;
            let started = Instant::now();
            let read = reader.read(&s.image, today)?;
            read_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            match read {
                Some(r) if r.valid && r.fields == truth.fields && r.format == truth.format => ok += 1,
                Some(r) if r.valid => {
                    wrong += 1;
                    if std::env::var_os("MRZ_CORPUS_SHOW").is_some() {
                        // Synthetic identities only: printing them exposes no one.
                        eprintln!("{} {i}: read {:?}\n   truth {:?}", d.name(), r.lines, truth.lines);
                    }
                }
                Some(_) => invalid += 1,
                None => none += 1,
            }
        }
        println!(
            "| {} | {n} | {ok} ({:.0} %) | {wrong} | {invalid} | {none} | {:.0} |",
            d.name(),
            100.0 * f64::from(ok) / n as f64,
            median(&mut read_ms)
        );
        all_ok += ok;
        all_ms.extend(read_ms);
    }
    let total = n as usize * Distortion::ALL.len();
    println!("| **all** | {total} | **{all_ok}** | | | | {:.0} |", median(&mut all_ms));
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
