//! Writes a synthetic photo-like JPEG (gradient + noise, so it compresses like a camera
//! image) for benchmarks: `cargo run --release -p kycd-checks --example synth_image -- OUT.jpg 4000 3000`.

use image::{ImageBuffer, Rgb};
use std::io::BufWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).ok_or("usage: synth_image OUT.jpg [WIDTH HEIGHT]")?;
    let w: u32 = args.get(2).map_or(Ok(4000), |s| s.parse())?;
    let h: u32 = args.get(3).map_or(Ok(3000), |s| s.parse())?;
    // xorshift: deterministic noise without another dependency.
    let mut state: u32 = 0x9E37_79B9;
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 24) as u8;
        Rgb([
            ((x * 200 / w) as u8).saturating_add(n),
            ((y * 200 / h) as u8).saturating_add(n),
            120u8.saturating_add(n),
        ])
    });
    let mut f = BufWriter::new(std::fs::File::create(out)?);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 90).encode_image(&img)?;
    Ok(())
}
