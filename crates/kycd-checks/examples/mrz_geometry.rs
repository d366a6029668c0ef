//! Where the MRZ geometry goes wrong: for the corpus's documents of one class, how far
//! the located cells lie from the true ones (the synthetic geometry, `zone_cells`),
//! stage by stage: the detector's bands, the grid of each band and length, the read.
//!
//! `cargo run -p kycd-checks --example mrz_geometry -- CLASS [N] [FIRST]`
//!
//! CLASS is a distortion name (`perspective`, `glare`, …); documents `FIRST..N` of the
//! class with the seeds of `examples/mrz_corpus` (passport and ID card in turn). Per
//! document: the verdict, then per band and length the located grid's mean and worst
//! distance from the true cells, in pitches, along the line and across it. Needs
//! `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`.

use kycd_checks::mrz_read::MrzReader;
use kycd_checks::mrz_zone::{CellPlace, locate_grids};
use kycd_testkit::synth_doc::{Distortion, DocFormat, OcrB, sample, zone_cells};

/// Offset of `found` from `truth` in the truth's own pitch units: (along, across).
fn offset(found: &CellPlace, truth: &CellPlace) -> (f32, f32) {
    let d = (found.centre.0 - truth.centre.0, found.centre.1 - truth.centre.1);
    let along = (d.0 * truth.u.0 + d.1 * truth.u.1) / (truth.u.0 * truth.u.0 + truth.u.1 * truth.u.1).max(1e-6);
    let across = (d.0 * truth.v.0 + d.1 * truth.v.1) / (truth.v.0 * truth.v.0 + truth.v.1 * truth.v.1).max(1e-6);
    (along, across)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let class = args.first().ok_or("usage: mrz_geometry CLASS [N] [FIRST]")?;
    let d = Distortion::ALL
        .into_iter()
        .find(|d| d.name() == class)
        .ok_or_else(|| format!("unknown class {class}"))?;
    let n: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let first: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let reader = MrzReader::from_env()?;
    let font = OcrB::load_default()?;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).ok_or("date")?;
    for i in first..n {
        let format = [DocFormat::Passport, DocFormat::IdCard][i as usize % 2];
        let seed = 1000 * (d as u64 + 1) + i;
        let s = sample(&font, format, d, seed);
        let r = reader.read_detailed(&s.image, today)?;
        let verdict = match &r.result {
            Some(m) if m.valid && m.lines == s.doc.lines => "OK".to_owned(),
            Some(m) if m.valid => "VALID BUT WRONG".to_owned(),
            Some(m) => format!(
                "not valid ({} of {} check digits, {} unsure)",
                m.check_digits.iter().filter(|c| c.passed).count(),
                m.check_digits.len(),
                m.uncertain.len()
            ),
            None => "no zone".to_owned(),
        };
        println!(
            "{seed} {format:?} tilt {:?} glare {:?}: {verdict}",
            s.camera.tilt_deg, s.camera.glare
        );
        let truth = zone_cells(&font, &s);
        let (bands, detected) = reader.find_zones(&s.image)?;
        println!(
            "  {detected} regions, bands of {:?} lines",
            bands.iter().map(Vec::len).collect::<Vec<_>>()
        );
        if std::env::var_os("MRZ_GEOMETRY_BOXES").is_some() {
            let mut boxes = reader.ocr().detect_scaled(&s.image, kycd_checks::mrz_read::DET_SHORT_SIDE)?;
            boxes.sort_by(|a, b| a.centre().1.total_cmp(&b.centre().1));
            for b in boxes {
                println!(
                    "    box ({:.0},{:.0}) len {:.0} h {:.0} angle {:.1}°",
                    b.centre().0,
                    b.centre().1,
                    b.length(),
                    b.height(),
                    b.angle().to_degrees()
                );
            }
        }
        for (bi, band) in bands.iter().take(2).enumerate() {
            // Does the band lie on the zone? Its lines' centres against the true lines'.
            let centres: Vec<String> = band
                .iter()
                .map(|b| {
                    format!(
                        "({:.0},{:.0}) len {:.0} h {:.0}",
                        b.centre().0,
                        b.centre().1,
                        b.length(),
                        b.height()
                    )
                })
                .collect();
            let true_centres: Vec<String> = truth
                .iter()
                .map(|l| {
                    let (a, b) = (l[0].centre, l[l.len() - 1].centre);
                    format!("({:.0},{:.0})", f32::midpoint(a.0, b.0), f32::midpoint(a.1, b.1))
                })
                .collect();
            println!("  band {bi}: {} | truth {}", centres.join(" "), true_centres.join(" "));
            for n in [30, 36, 44] {
                let grids = match locate_grids(&s.image, band, n) {
                    Ok(g) => g,
                    Err(e) => {
                        println!("    {n} cells: not located: {e}");
                        continue;
                    }
                };
                for (gi, grid) in grids.iter().enumerate() {
                    let mut line = format!("    {n} cells, grid {gi}: fit error {:.3}", grid.fit_error);
                    if grid.cells.len() == truth.len() && truth.first().is_some_and(|t| t.len() == n) {
                        for (found, true_line) in grid.cells.iter().zip(&truth) {
                            let offs: Vec<(f32, f32)> = found.iter().zip(true_line).map(|(f, t)| offset(f, t)).collect();
                            let worst = offs.iter().map(|o| o.0.abs()).fold(0f32, f32::max);
                            let worst_across = offs.iter().map(|o| o.1.abs()).fold(0f32, f32::max);
                            let (a, m, z) = (offs[0], offs[n / 2], offs[n - 1]);
                            line += &format!(
                                " | along worst {worst:.2} (first {:.2} mid {:.2} last {:.2}), across worst {worst_across:.2}",
                                a.0, m.0, z.0
                            );
                        }
                    }
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}
