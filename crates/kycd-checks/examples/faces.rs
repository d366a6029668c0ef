//! Faces found in image files and how alike they are:
//! `cargo run --release -p kycd-checks --example faces -- FILE…`
//! (models from `scripts/fetch-models`, in `$KYCD_MODEL_DIR` or `./models`).

use kycd_checks::face::{Embedding, FaceModels};
use kycd_checks::{ImageLimits, decode, ocr};
use std::time::Instant;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let models = FaceModels::load(&ocr::default_model_dir()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut embeddings: Vec<(String, Embedding)> = Vec::new();
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                println!("{f}: {e}");
                continue;
            }
        };
        let img = match decode::decode_full(&bytes, ImageLimits::default()) {
            Ok(i) => i.into_rgb8(),
            Err(e) => {
                println!("{f}: {e}");
                continue;
            }
        };
        let t = Instant::now();
        let faces = match models.detector.detect(&img) {
            Ok(f) => f,
            Err(e) => {
                println!("{f}: {e}");
                continue;
            }
        };
        let detect_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{f}: {}×{}, {} face(s) in {detect_ms:.1} ms",
            img.width(),
            img.height(),
            faces.len()
        );
        for face in &faces {
            println!(
                "  box {:.0},{:.0} {:.0}×{:.0} score {:.3}",
                face.x, face.y, face.w, face.h, face.score
            );
        }
        if let Some(face) = faces.first() {
            let t = Instant::now();
            let e = models.encoder.embed(&img, face);
            println!("  embedding in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            embeddings.push((f.clone(), e));
        }
    }
    for (i, (a, ea)) in embeddings.iter().enumerate() {
        for (b, eb) in &embeddings[i + 1..] {
            println!("{a} ~ {b}: similarity {:.3}", ea.similarity(eb));
        }
    }
}
