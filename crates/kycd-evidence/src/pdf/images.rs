//! Capture images for the report: decoded with EXIF orientation applied, downscaled to at
//! most [`MAX_SIDE`] pixels, re-encoded as JPEG (the originals go into the archive as they are).

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// Longest side of an image in the report, in pixels.
pub(crate) const MAX_SIDE: u32 = 1200;
const JPEG_QUALITY: u8 = 82;
/// Refuse decompression bombs: no capture kycd accepts is larger than this.
const MAX_DIMENSION: u32 = 16_384;

pub(crate) struct Prepared {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub(crate) fn prepare(bytes: &[u8]) -> Result<Prepared, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable ({e})"))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| format!("not a JPEG, PNG or WebP image ({e})"))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| format!("could not be decoded ({e})"))?;
    img.apply_orientation(orientation);
    if img.width().max(img.height()) > MAX_SIDE {
        img = img.resize(MAX_SIDE, MAX_SIDE, FilterType::Triangle);
    }
    let rgb = flatten_on_white(&img);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| format!("could not be re-encoded ({e})"))?;
    Ok(Prepared {
        jpeg,
        width: rgb.width(),
        height: rgb.height(),
    })
}

/// JPEG has no alpha: transparent pixels become white, not black.
fn flatten_on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a))) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscales_and_reencodes() {
        let img = RgbImage::from_fn(2400, 1000, |x, _| image::Rgb([(x % 256) as u8, 10, 200]));
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let p = prepare(&png).unwrap();
        assert_eq!((p.width, p.height), (1200, 500));
        assert_eq!(&p.jpeg[..2], &[0xff, 0xd8]);
        assert!(prepare(b"definitely not an image").is_err());
    }

    /// A JPEG with an EXIF APP1 segment saying "rotate 90° clockwise to display".
    fn jpeg_with_orientation(width: u32, height: u32, orientation: u8) -> Vec<u8> {
        let img = RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01".to_vec();
        tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, orientation, 0x00, 0x00]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let len = (app1.len() + 2) as u16;
        let mut out = vec![0xff, 0xd8, 0xff, 0xe1];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let p = prepare(&jpeg_with_orientation(300, 200, 6)).unwrap();
        assert_eq!((p.width, p.height), (200, 300));
        let p = prepare(&jpeg_with_orientation(300, 200, 1)).unwrap();
        assert_eq!((p.width, p.height), (300, 200));
    }

    #[test]
    fn transparency_becomes_white() {
        let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0]));
        let rgb = flatten_on_white(&DynamicImage::ImageRgba8(img));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    }
}
