//! The measurement behind the MRZ accuracy floors and targets: synthetic documents, each
//! read and compared field by field with its ground truth.
//!
//! `cargo run --release -p kycd-checks --example mrz_corpus -- [N] [SET] [--templates CELLS.bin]`
//!
//! - SET `corpus` (default): the project's corpus, N documents per distortion class
//!   (alternating passport and ID card, the seeds of the tests).
//! - SET `formats`: N each of TD2 cards and MRV-A / MRV-B visas, the classes in turn.
//! - SET `french`: N French identity cards (the 2 × 36 layout issued until 2021) per
//!   class.
//! - SET `no-zone`: N documents per class (the formats in turn, seeds 50 000 and up)
//!   printed without their zone: every read must find none. A zone reported there with
//!   check digits failing would decline a genuine document (a card's front).
//! - SET `held-out`: the evaluation set nothing was tuned or trained on: N × 9 documents of
//!   every format from seeds 900 000 and up, each photographed under a mix of two defect
//!   families at a random frame size.
//! - `--templates CELLS.bin`: read the cells by template matching (the mean cell of each
//!   class in a training file of `examples/mrz_cells`) instead of the model.
//!
//! "Correct" = valid and every field equal to the ground truth; "valid, wrong" is what
//! must never happen; "uncertain" went to review with the unsure cells named. The last
//! column is the median time of the read alone. `MRZ_CORPUS_SHOW=1` prints every miss.
//! Needs `scripts/fetch-models` (or `KYCD_MODEL_DIR`) and `fonts-ocr-b`.

use kycd_checks::mrz::{self, MrzResult};
use kycd_checks::mrz_cells::{CLASSES, Templates};
use kycd_checks::mrz_read::MrzReader;
use kycd_checks::mrz_zone::{CELL_H, CELL_W};
use kycd_testkit::synth_doc::{Camera, Distortion, DocFormat, OcrB, Rng, Sample, photograph_doc, random_identity, sample};
use std::time::Instant;

#[derive(Default)]
struct Tally {
    ok: u32,
    wrong: u32,
    uncertain: u32,
    invalid: u32,
    none: u32,
    ms: Vec<f64>,
}

impl Tally {
    fn row(&mut self, name: &str) -> String {
        let n = self.ok + self.wrong + self.uncertain + self.invalid + self.none;
        format!(
            "| {name} | {n} | {} ({:.0} %) | {} | {} | {} | {} | {:.0} |",
            self.ok,
            100.0 * f64::from(self.ok) / f64::from(n.max(1)),
            self.wrong,
            self.uncertain,
            self.invalid,
            self.none,
            median(&mut self.ms)
        )
    }
    fn add(&mut self, o: &Tally) {
        self.ok += o.ok;
        self.wrong += o.wrong;
        self.uncertain += o.uncertain;
        self.invalid += o.invalid;
        self.none += o.none;
        self.ms.extend(&o.ms);
    }
}

/// The held-out camera: two defect families at once, frame 1000–2000 px wide.
fn held_out_camera(seed: u64) -> Camera {
    let mut rng = Rng::new(seed ^ 0x04E1_D0C7);
    let a = Camera::for_distortion(*rng.pick(&Distortion::ALL), seed);
    let b = Camera::for_distortion(*rng.pick(&Distortion::ALL), seed ^ 0xB);
    let mut cam = a;
    cam.blur = a.blur.max(b.blur * 0.9);
    cam.noise = a.noise.max(b.noise * 0.8);
    cam.gain = a.gain.min(b.gain.max(0.3));
    cam.vignette = a.vignette.max(b.vignette);
    cam.jpeg_quality = match (a.jpeg_quality, b.jpeg_quality) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    cam.glare = a.glare.or(b.glare);
    if a.centre.1 > 0.3 {
        cam.angle_deg = a.angle_deg + b.angle_deg * 0.6;
        cam.tilt_deg = (a.tilt_deg.0 + b.tilt_deg.0 * 0.6, a.tilt_deg.1 + b.tilt_deg.1 * 0.6);
    }
    cam.width = rng.range(1000.0, 2000.0) as u32;
    cam.height = cam.width * 3 / 4;
    cam
}

fn templates_from(path: &str) -> Result<Templates, Box<dyn std::error::Error>> {
    let raw = std::fs::read(path)?;
    let rec = 1 + CELL_W * CELL_H;
    let mut sums = vec![vec![0f64; CELL_W * CELL_H]; CLASSES];
    let mut counts = vec![0u32; CLASSES];
    for r in raw.chunks_exact(rec) {
        let k = usize::from(r[0]).min(CLASSES - 1);
        counts[k] += 1;
        for (s, &v) in sums[k].iter_mut().zip(&r[1..]) {
            *s += f64::from(v) / 255.0;
        }
    }
    let means: Vec<Vec<f32>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s.iter().map(|v| (v / f64::from(c.max(1))) as f32).collect())
        .collect();
    Ok(Templates::new(&means))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let set = args.get(1).filter(|a| !a.starts_with("--")).map_or("corpus", String::as_str);
    let templates = match args.iter().position(|a| a == "--templates") {
        Some(i) => Some(templates_from(args.get(i + 1).ok_or("--templates needs a cell file")?)?),
        None => None,
    };
    let reader = MrzReader::from_env()?;
    let font = OcrB::load_default()?;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).ok_or("date")?;
    let show = std::env::var_os("MRZ_CORPUS_SHOW").is_some();
    let read = |s: &Sample| -> Result<(Option<MrzResult>, f64), Box<dyn std::error::Error>> {
        let started = Instant::now();
        let r = match &templates {
            Some(t) => reader.read_with(&s.image, today, |c| Ok(t.classify(c)))?.result,
            None => reader.read(&s.image, today)?,
        };
        Ok((r, started.elapsed().as_secs_f64() * 1000.0))
    };
    let judge = |s: &Sample, tally: &mut Tally, label: &str| -> Result<(), Box<dyn std::error::Error>> {
        let lines: Vec<&str> = s.doc.lines.iter().map(String::as_str).collect();
        let truth = mrz::parse_lines(&lines, today)?;
        let (r, ms) = read(s)?;
        tally.ms.push(ms);
        let verdict = match &r {
            Some(r) if r.valid && r.fields == truth.fields && r.format == truth.format && r.lines == truth.lines => {
                tally.ok += 1;
                return Ok(());
            }
            Some(r) if r.valid => {
                tally.wrong += 1;
                "VALID BUT WRONG"
            }
            Some(r) if !r.uncertain.is_empty() && r.check_digits.iter().all(|c| c.passed) => {
                tally.uncertain += 1;
                "uncertain"
            }
            Some(_) => {
                tally.invalid += 1;
                "invalid"
            }
            None => {
                tally.none += 1;
                "no zone"
            }
        };
        if show {
            // Synthetic identities only: printing them exposes no one.
            eprintln!("{label}: {verdict}\n   truth {:?}", truth.lines);
            if let Some(r) = &r {
                let unsure: Vec<_> = r.uncertain.iter().map(|c| (c.line, c.position, c.field)).collect();
                eprintln!("   read  {:?}\n   unsure {unsure:?}", r.lines);
            }
        }
        Ok(())
    };
    if set != "no-zone" {
        println!(
            "| class | documents | fully correct | valid, a field wrong | uncertain (review) | check digits failed | no zone | ms per read (median) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    }
    let mut all = Tally::default();
    match set {
        "corpus" | "formats" | "french" => {
            let (formats, base): (&[DocFormat], u64) = match set {
                "corpus" => (&[DocFormat::Passport, DocFormat::IdCard], 1000),
                "formats" => (&[DocFormat::Td2Card, DocFormat::VisaA, DocFormat::VisaB], 100_000),
                _ => (&[DocFormat::FrenchId], 200_000),
            };
            for d in Distortion::ALL {
                let mut t = Tally::default();
                for i in 0..n {
                    let format = formats[i as usize % formats.len()];
                    let seed = base * (d as u64 + 1) + i;
                    judge(&sample(&font, format, d, seed), &mut t, &format!("{} {format:?} {seed}", d.name()))?;
                }
                println!("{}", t.row(d.name()));
                all.add(&t);
            }
        }
        "held-out" => {
            for format in DocFormat::ALL {
                let mut t = Tally::default();
                for i in 0..n * 9 {
                    let seed = 900_000 + 1000 * format as u64 + i;
                    let s = photograph_doc(&font, random_identity(format, seed), held_out_camera(seed), seed);
                    judge(&s, &mut t, &format!("held-out {format:?} {seed}"))?;
                }
                println!("{}", t.row(&format!("{format:?}")));
                all.add(&t);
            }
        }
        "no-zone" => {
            println!("| class | documents | no zone | valid | check digits failed | uncertain |");
            println!("| --- | --- | --- | --- | --- | --- |");
            let mut all = [0u32; 4];
            for d in Distortion::ALL {
                let mut t = [0u32; 4];
                for i in 0..n {
                    let seed = 50_000 + 1000 * d as u64 + i;
                    let mut doc = random_identity(DocFormat::ALL[i as usize % DocFormat::ALL.len()], seed);
                    doc.lines.clear();
                    let s = photograph_doc(&font, doc, Camera::for_distortion(d, seed), seed);
                    let k = match reader.read(&s.image, today)? {
                        None => 0,
                        Some(r) if r.valid => 1,
                        Some(r) if r.check_digits.iter().any(|c| !c.passed) => 2,
                        Some(_) => 3,
                    };
                    t[k] += 1;
                    if k > 0 && show {
                        eprintln!("no-zone {} {seed}: a zone was reported", d.name());
                    }
                }
                println!("| {} | {n} | {} | {} | {} | {} |", d.name(), t[0], t[1], t[2], t[3]);
                for (a, b) in all.iter_mut().zip(t) {
                    *a += b;
                }
            }
            println!("| **all** | {} | {} | {} | {} | {} |", 9 * n, all[0], all[1], all[2], all[3]);
            return Ok(());
        }
        other => return Err(format!("unknown set {other}: corpus, formats, french, held-out or no-zone").into()),
    }
    println!("{}", all.row("**all**"));
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
