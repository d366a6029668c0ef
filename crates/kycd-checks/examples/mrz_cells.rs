//! The MRZ cell classifier's training data: synthetic documents photographed under the
//! corpus's defects (and mixes of them, and lower resolutions), each zone character cut
//! out at its true place (from the synthetic geometry, `synth_doc::zone_cells`) with a
//! little random misplacement, exactly as the reader cuts cells
//! (`mrz_zone::cell_image`).
//!
//! `cargo run --release -p kycd-checks --example mrz_cells -- OUT.bin PHOTOS [FIRST_SEED]`
//!
//! Writes one record per cell: the class byte (index in "0-9 A-Z <") and the
//! 24 × 20 cell image as bytes (ink = 255). Seeds start at FIRST_SEED (default
//! 10 000 000: far from the corpus's 1 000–9 999 and the held-out set's 900 000 and
//! up, which must never be trained on). Half the zones are real identities, half random
//! characters (so that no character is learnt from its neighbours). Deterministic: the
//! same arguments write the same file, whatever `MRZ_CELLS_THREADS` (default 2) is.

use kycd_checks::mrz_cells::class_of;
use kycd_checks::mrz_zone::{CellPlace, ZoneGrid, cell_image, contrast_floor};
use kycd_testkit::synth_doc::{Camera, Distortion, DocFormat, OcrB, Rng, SynthDoc, photograph_doc, random_identity, zone_cells};
use std::io::Write;

/// Misplacement of a training cell: up to this fraction of a pitch each way, this
/// relative scale and this rotation (degrees).
const SHIFT: f32 = 0.15;
const SCALE: f32 = 0.08;
const TURN: f32 = 2.0;
/// Cuts per cell.
const CUTS: usize = 2;

fn random_line(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    while s.len() < n {
        if rng.below(4) == 0 {
            for _ in 0..1 + rng.below(8) {
                s.push('<');
            }
        } else {
            let k = rng.below(36);
            s.push(char::from(if k < 10 { b'0' + k as u8 } else { b'A' + (k - 10) as u8 }));
        }
    }
    s.truncate(n);
    s
}

/// A camera for training: one corpus family's conditions, sometimes mixed with a second
/// family's, at a random frame size (800–1700 px wide: lower resolutions than the corpus
/// too).
fn training_camera(rng: &mut Rng, seed: u64) -> Camera {
    let d = *rng.pick(&Distortion::ALL);
    let mut cam = Camera::for_distortion(d, seed);
    if rng.below(3) == 0 {
        let other = Camera::for_distortion(*rng.pick(&Distortion::ALL), seed ^ 0x5EED);
        cam.blur = cam.blur.max(other.blur * 0.8);
        cam.noise = cam.noise.max(other.noise * 0.7);
        cam.gain = cam.gain.min(other.gain.max(0.3));
        cam.jpeg_quality = match (cam.jpeg_quality, other.jpeg_quality) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        cam.glare = cam.glare.or(other.glare);
        if d != Distortion::PartialCrop {
            cam.angle_deg += other.angle_deg * 0.5;
            cam.tilt_deg = (cam.tilt_deg.0 + other.tilt_deg.0 * 0.5, cam.tilt_deg.1 + other.tilt_deg.1 * 0.5);
        }
    }
    let width = rng.range(800.0, 1700.0) as u32;
    cam.width = width;
    cam.height = width * 3 / 4;
    cam
}

fn cells_of(font: &OcrB, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x7E11);
    let format = *rng.pick(&[
        DocFormat::Passport,
        DocFormat::Passport,
        DocFormat::IdCard,
        DocFormat::IdCard,
        DocFormat::Td2Card,
        DocFormat::VisaA,
        DocFormat::VisaB,
    ]);
    let mut doc: SynthDoc = random_identity(format, seed);
    if rng.below(2) == 0 {
        let n = format.mrz_format().line_len();
        doc.lines = doc.lines.iter().map(|_| random_line(&mut rng, n)).collect();
    }
    let cam = training_camera(&mut rng, seed);
    let sample = photograph_doc(font, doc, cam, seed);
    let cells = zone_cells(font, &sample);
    let grid = ZoneGrid { cells, fit_error: 0.0 };
    let floor = contrast_floor(&sample.image, &grid);
    let mut out = Vec::new();
    for (line, places) in sample.doc.lines.iter().zip(&grid.cells) {
        for (c, place) in line.chars().zip(places) {
            let Some(class) = class_of(c) else { continue };
            for _ in 0..CUTS {
                let (dx, dy) = (rng.range(-SHIFT, SHIFT), rng.range(-SHIFT, SHIFT));
                let (su, sv) = (1.0 + rng.range(-SCALE, SCALE), 1.0 + rng.range(-SCALE, SCALE));
                let (s, k) = rng.range(-TURN, TURN).to_radians().sin_cos();
                let turn = |p: (f32, f32), f: f32| ((p.0 * k - p.1 * s) * f, (p.0 * s + p.1 * k) * f);
                let CellPlace { centre, u, v } = *place;
                let moved = CellPlace {
                    centre: (centre.0 + dx * u.0 + dy * v.0, centre.1 + dx * u.1 + dy * v.1),
                    u: turn(u, su),
                    v: turn(v, sv),
                };
                out.push(class as u8);
                out.extend(cell_image(&sample.image, &moved, floor).iter().map(|&x| (x * 255.0).round() as u8));
            }
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: mrz_cells OUT.bin PHOTOS [FIRST_SEED]";
    let path = args.next().ok_or(usage)?;
    let photos: u64 = args.next().ok_or(usage)?.parse()?;
    let first: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10_000_000);
    if first < 1_000_000 {
        return Err("FIRST_SEED must be 1 000 000 or more: lower seeds are the corpus and the held-out set".into());
    }
    let threads: u64 = std::env::var("MRZ_CELLS_THREADS")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2)
        .max(1);
    let font = OcrB::load_default()?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let started = std::time::Instant::now();
    let (mut done, mut records) = (0u64, 0usize);
    while done < photos {
        let chunk = (photos - done).min(threads * 8);
        let parts: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let font = &font;
                    s.spawn(move || {
                        (0..chunk)
                            .filter(|i| i % threads == t)
                            .map(|i| cells_of(font, first + done + i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        // Back into seed order.
        for i in 0..chunk {
            let t = (i % threads) as usize;
            let Some(bytes) = parts.get(t).and_then(|p| p.get((i / threads) as usize)) else {
                continue;
            };
            records += bytes.len() / (1 + 24 * 20);
            file.write_all(bytes)?;
        }
        done += chunk;
        eprintln!("{done}/{photos} photos, {records} cells, {:.0} s", started.elapsed().as_secs_f64());
    }
    file.flush()?;
    Ok(())
}
