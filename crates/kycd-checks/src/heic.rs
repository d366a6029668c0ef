//! HEIC / HEIF uploads (what iPhones save by default), through Debian's libheif.
//!
//! A HEIC upload is recognised by its `ftyp` brand, its size is checked against the
//! [`ImageLimits`] before any pixel is decoded, and it is converted once, at the edge, to
//! a JPEG ([`JPEG_QUALITY`]) with the file's rotation and mirroring applied. Everything
//! after the upload (the checks, the stored blob, the PDF, the console, the vendor
//! dialects) then sees a format it already handles. The JPEG carries no metadata: the
//! provenance hints read nothing from a converted photo.
//!
//! libheif comes with the `heic` feature (on by default). Without it (`cargo build
//! --no-default-features`, for a binary that links no HEVC code: see THIRD-PARTY.md) a
//! HEIC file is still recognised, and refused with [`ImageError::HeicNotBuilt`].

use crate::{ImageError, ImageLimits};
#[cfg(feature = "heic")]
use libheif_rs::{ColorSpace, HeifContext, LibHeif, RgbChroma};

/// Major brands of HEIF still images (ISO/IEC 23008-12, and `mif1` / `msf1` for the
/// generic image and sequence brands).
const BRANDS: [&[u8; 4]; 8] = [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"];

/// JPEG quality of the converted photo: high enough that OCR and the face match read it
/// as they read the original.
pub const JPEG_QUALITY: u8 = 92;

/// Whether `bytes` start like a HEIF file (an `ftyp` box with a HEIF brand).
pub fn is_heif(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && BRANDS.iter().any(|b| &bytes[8..12] == *b)
}

/// The primary image's size from the file's boxes, without decoding (for the decode
/// memory budget); `None` when the file cannot be parsed.
#[cfg(feature = "heic")]
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let ctx = HeifContext::read_from_bytes(bytes).ok()?;
    let handle = ctx.primary_image_handle().ok()?;
    Some((handle.width(), handle.height()))
}

/// Without libheif (no `heic` feature) nothing is read from the file.
#[cfg(not(feature = "heic"))]
pub fn dimensions(_bytes: &[u8]) -> Option<(u32, u32)> {
    None
}

#[cfg(feature = "heic")]
fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(format!("HEIC: {e}"))
}

/// Without libheif (no `heic` feature): refused, saying so.
#[cfg(not(feature = "heic"))]
pub fn to_jpeg(_bytes: &[u8], _limits: ImageLimits) -> Result<Vec<u8>, ImageError> {
    Err(ImageError::HeicNotBuilt)
}

/// Convert a HEIF file's primary image to a JPEG, upright.
#[cfg(feature = "heic")]
pub fn to_jpeg(bytes: &[u8], limits: ImageLimits) -> Result<Vec<u8>, ImageError> {
    let ctx = HeifContext::read_from_bytes(bytes).map_err(corrupt)?;
    let handle = ctx.primary_image_handle().map_err(corrupt)?;
    let (width, height) = (handle.width(), handle.height());
    if width == 0 || height == 0 {
        return Err(corrupt("the image has no pixels"));
    }
    limits.check(width, height)?;
    let image = LibHeif::new()
        .decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), None)
        .map_err(corrupt)?;
    let planes = image.planes();
    let plane = planes.interleaved.ok_or_else(|| corrupt("no RGB plane after decoding"))?;
    let (w, h) = (plane.width as usize, plane.height as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let start = row * plane.stride;
        let line = plane
            .data
            .get(start..start + w * 3)
            .ok_or_else(|| corrupt("the decoded rows are shorter than the image"))?;
        rgb.extend_from_slice(line);
    }
    let img = image::RgbImage::from_raw(plane.width, plane.height, rgb).ok_or_else(|| corrupt("the decoded size is inconsistent"))?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&img)
        .map_err(corrupt)?;
    Ok(out)
}

/// An upload as the rest of kycd reads it: a HEIF file converted to JPEG, anything else
/// unchanged (the other formats are checked by [`crate::inspect`]).
pub fn normalise(bytes: Vec<u8>, limits: ImageLimits) -> Result<Vec<u8>, ImageError> {
    if is_heif(&bytes) { to_jpeg(&bytes, limits) } else { Ok(bytes) }
}

/// Encode `img` as a HEIC file (lossy HEVC through x265), for tests and examples.
#[cfg(feature = "heic")]
pub fn encode_heic(img: &image::RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    use libheif_rs::{Channel, CompressionFormat, EncoderQuality, Image};
    let (w, h) = img.dimensions();
    let mut out = Image::new(w, h, ColorSpace::Rgb(RgbChroma::Rgb)).map_err(corrupt)?;
    out.create_plane(Channel::Interleaved, w, h, 8).map_err(corrupt)?;
    {
        let planes = out.planes_mut();
        let plane = planes.interleaved.ok_or_else(|| corrupt("no plane"))?;
        let stride = plane.stride;
        for (y, row) in img.as_raw().chunks_exact(w as usize * 3).enumerate() {
            plane.data[y * stride..y * stride + row.len()].copy_from_slice(row);
        }
    }
    let lib = LibHeif::new();
    let mut ctx = HeifContext::new().map_err(corrupt)?;
    let mut encoder = lib.encoder_for_format(CompressionFormat::Hevc).map_err(corrupt)?;
    encoder.set_quality(EncoderQuality::Lossy(quality)).map_err(corrupt)?;
    ctx.encode_image(&out, &mut encoder, None).map_err(corrupt)?;
    ctx.write_to_bytes().map_err(corrupt)
}

#[cfg(all(test, feature = "heic"))]
mod tests {
    use super::*;

    fn scene(w: u32, h: u32) -> image::RgbImage {
        // Left half dark, right half light: a conversion that turns or mirrors it shows.
        image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([30, 40, 50])
            } else {
                image::Rgb([220, 210, 200])
            }
        })
    }

    #[test]
    fn a_heic_photo_becomes_a_jpeg_of_the_same_picture() {
        let heic = encode_heic(&scene(320, 240), 80).unwrap();
        assert!(is_heif(&heic), "brand {:?}", &heic[4..12]);
        assert_eq!(crate::sniff(&heic), Err(ImageError::UnsupportedType), "only normalise knows HEIC");
        let jpeg = normalise(heic, ImageLimits::default()).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap().into_rgb8();
        assert_eq!(back.dimensions(), (320, 240));
        assert!(back.get_pixel(40, 120)[0] < 60 && back.get_pixel(280, 120)[0] > 190);
        assert!(crate::inspect(&jpeg, ImageLimits::default()).is_ok());
    }

    #[test]
    fn other_formats_pass_unchanged_and_limits_hold_before_decoding() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(normalise(png.clone(), ImageLimits::default()).unwrap(), png);
        let heic = encode_heic(&scene(320, 240), 80).unwrap();
        let small = ImageLimits {
            max_side: 200,
            max_pixels: 1 << 30,
        };
        assert!(matches!(
            normalise(heic.clone(), small),
            Err(ImageError::TooManyPixels {
                width: 320,
                height: 240,
                ..
            })
        ));
        // Cut short: refused as damaged, with what to do.
        let err = normalise(heic[..heic.len() / 2].to_vec(), ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ImageError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains("capture it again"), "{err}");
    }

    #[test]
    fn normalise_never_panics_on_heif_looking_garbage() {
        let mut bytes = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        for i in 0..64u8 {
            bytes.push(i.wrapping_mul(37));
            let _ = normalise(bytes.clone(), ImageLimits::default());
        }
    }
}

/// A build without libheif still knows a HEIC file when it sees one, and refuses it
/// saying why, before anything else reads it.
#[cfg(all(test, not(feature = "heic")))]
mod without_libheif {
    use super::*;

    #[test]
    fn a_heic_file_is_refused_saying_the_build_has_no_heic() {
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heicrest of the file".to_vec();
        assert!(is_heif(&heic));
        assert_eq!(dimensions(&heic), None);
        let err = normalise(heic, ImageLimits::default()).unwrap_err();
        assert_eq!(err, ImageError::HeicNotBuilt);
        assert!(err.to_string().contains("built without HEIC support"), "{err}");
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(normalise(png.clone(), ImageLimits::default()).unwrap(), png);
    }
}
