//! Provenance hints (recompression, editor and camera EXIF, screenshots) through the public
//! API of `provenance`; EXIF-tagged JPEGs from kycd-testkit.
#![allow(clippy::unwrap_used)]

use image::{DynamicImage, RgbImage};
use kycd_checks::provenance::*;
use kycd_core::MediaType;
use kycd_testkit::synth::with_exif;

fn jpeg(q: u8, w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q)
        .encode_image(&DynamicImage::ImageRgb8(img))
        .unwrap();
    buf
}

fn labels(h: &[Hint]) -> Vec<&'static str> {
    h.iter().map(|h| h.label).collect()
}

#[test]
fn recompression_is_read_from_the_tables() {
    assert_eq!(ijg_quality(&jpeg(75, 64, 64)), Some(75));
    assert_eq!(ijg_quality(&jpeg(95, 64, 64)), Some(95));
    assert_eq!(
        labels(&hints(&jpeg(70, 64, 64), MediaType::Jpeg, 64, 64, Source::Unknown)),
        ["jpeg_recompressed"]
    );
    assert!(hints(&jpeg(95, 64, 64), MediaType::Jpeg, 64, 64, Source::Unknown).is_empty());
    // A table that is no scaled IJG table (a camera's own) raises nothing.
    let mut cam = jpeg(75, 64, 64);
    let dqt = cam.windows(2).position(|w| w == [0xFF, 0xDB]).unwrap();
    cam[dqt + 5 + 3] += 1;
    assert_eq!(ijg_quality(&cam), None);
}

#[test]
fn editor_in_exif_and_missing_camera_exif() {
    let edited = with_exif(&jpeg(95, 64, 64), &[(0x0131, "Adobe Photoshop 25.0 (Windows)")]);
    let h = hints(&edited, MediaType::Jpeg, 64, 64, Source::Camera);
    assert_eq!(labels(&h), ["edited_with_software", "camera_exif_missing"]);
    assert_eq!(h[0].evidence["matched"], "photoshop");
    let phone = with_exif(&jpeg(95, 64, 64), &[(0x010F, "ExampleCam"), (0x0110, "X1"), (0x0131, "HDR+ 1.0")]);
    assert!(hints(&phone, MediaType::Jpeg, 64, 64, Source::Camera).is_empty());
    assert!(hints(&jpeg(95, 64, 64), MediaType::Jpeg, 64, 64, Source::Unknown).is_empty());
}

#[test]
fn screen_sized_png_is_a_screenshot() {
    let h = hints(b"\x89PNG", MediaType::Png, 1080, 1920, Source::Unknown);
    assert_eq!(labels(&h), ["screenshot"]);
    assert!(hints(b"\x89PNG", MediaType::Png, 1000, 1920, Source::Unknown).is_empty());
    assert!(hints(&jpeg(95, 64, 64), MediaType::Jpeg, 1920, 1080, Source::Unknown).is_empty());
}
