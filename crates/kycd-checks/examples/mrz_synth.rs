//! Write synthetic photographed documents (one per distortion class and format) as PNG
//! and read their zones: `cargo run -p kycd-checks --example mrz_synth -- OUT_DIR [SEED]`.
//! Needs `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`. Diagnostics:
//! `MRZ_SYNTH_ONLY=<class>`, `MRZ_SYNTH_FORMAT=Passport|IdCard|Td2Card|VisaA|VisaB`,
//! `MRZ_SYNTH_CELLS=1` (each zone's cell images as one PNG, as the classifier sees
//! them, and how far the cells found lie from the true ones).

use kycd_checks::mrz_read::MrzReader;
use kycd_checks::mrz_zone::{CELL_H, CELL_W, cell_image, contrast_floor};
use kycd_testkit::synth_doc::{Distortion, DocFormat, OcrB, sample, zone_cells};
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
        for format in DocFormat::ALL {
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
            if !ok {
                println!("  truth {:?}", s.doc.lines);
                if let Some(m) = &r.result {
                    println!("  read  {:?} valid {} uncertain {:?}", m.lines, m.valid, m.uncertain);
                }
            }
            if std::env::var_os("MRZ_SYNTH_CELLS").is_some() {
                let (bands, _) = reader.find_zones(&s.image)?;
                for band in bands.iter().take(2) {
                    for n in [30, 36, 44] {
                        let g = kycd_checks::mrz_zone::locate(&s.image, band, n);
                        println!("  band of {} lines, {n} cells: fit error {:?}", band.len(), g.map(|g| g.fit_error));
                    }
                }
            }
            if std::env::var_os("MRZ_SYNTH_CELLS").is_some()
                && let Some(grid) = &r.grid
            {
                let truth = zone_cells(&font, &s);
                let mut worst = 0f32;
                for (found, true_line) in grid.cells.iter().zip(&truth) {
                    for (f, t) in found.iter().zip(true_line) {
                        let pitch = (t.u.0 * t.u.0 + t.u.1 * t.u.1).sqrt().max(1.0);
                        let off = ((f.centre.0 - t.centre.0).powi(2) + (f.centre.1 - t.centre.1).powi(2)).sqrt() / pitch;
                        worst = worst.max(off);
                    }
                }
                println!("  grid fit error {:.3}, worst cell {worst:.2} pitch from the truth", grid.fit_error);
                for (found, true_line) in grid.cells.iter().zip(&truth) {
                    for i in [0, found.len() / 2, found.len() - 1] {
                        let (f, t) = (found[i], true_line[i]);
                        println!("    cell {i}: found u {:?} v {:?}, true u {:?} v {:?}", f.u, f.v, t.u, t.v);
                    }
                }
                let floor = contrast_floor(&s.image, grid);
                let cols = grid.cells.first().map_or(0, Vec::len);
                let mut sheet = image::GrayImage::new((cols * CELL_W) as u32, (grid.cells.len() * CELL_H) as u32);
                for (li, line) in grid.cells.iter().enumerate() {
                    for (ci, place) in line.iter().enumerate() {
                        let cell = cell_image(&s.image, place, floor);
                        for (i, v) in cell.iter().enumerate() {
                            let (x, y) = (ci * CELL_W + i % CELL_W, li * CELL_H + i / CELL_W);
                            sheet.put_pixel(x as u32, y as u32, image::Luma([255 - (v * 255.0) as u8]));
                        }
                    }
                }
                sheet.save(out.join(format!("cells_{}_{format:?}_{seed}.png", d.name())))?;
            }
        }
    }
    Ok(())
}
