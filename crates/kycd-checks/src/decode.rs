//! Decode and normalise: sniff the type from the bytes, enforce the limits before any
//! pixel is decoded, apply the EXIF orientation, and make the one downscaled greyscale
//! working copy that every quality check reads.
//!
//! JPEG (nearly every phone capture) takes a fast path: zune-jpeg decodes the luma
//! channel only (no chroma IDCT, upsampling or colour conversion), then an area-average
//! downscale makes the working copy. Measured on a 12 MP JPEG this beat both the full RGB
//! decode + greyscale conversion and a DCT-domain reduced decode with `jpeg-decoder`
//! (whose entropy decoder is slower than zune's, and entropy decoding dominates): see
//! the crate README section "Measured" for the figures.

use crate::{ImageError, ImageLimits, sniff};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use kycd_core::MediaType;
use std::io::Cursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

/// Longest side of the working copy, in pixels. Quality figures (blur especially) are
/// measured at this scale so that one threshold fits every camera: what matters is blur
/// relative to the size of the document's print, not to the sensor's pixel count.
pub const WORK_LONG_SIDE: u32 = 1024;

/// A decoded capture: what it is, and the working copy the checks share.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub media_type: MediaType,
    /// Dimensions as stored in the file, before orientation.
    pub stored_width: u32,
    pub stored_height: u32,
    /// The EXIF orientation that was applied.
    pub orientation: Orientation,
    /// Greyscale, upright (orientation applied), long side at most [`WORK_LONG_SIDE`].
    pub work: GrayImage,
}

impl Decoded {
    /// Dimensions as the person sees the image (after orientation).
    pub fn upright_dimensions(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.stored_height, self.stored_width)
        } else {
            (self.stored_width, self.stored_height)
        }
    }

    /// Working-copy pixels per original (upright) pixel, ≤ 1.
    pub fn work_scale(&self) -> f32 {
        let (w, _) = self.upright_dimensions();
        if w == 0 { 1.0 } else { self.work.width() as f32 / w as f32 }
    }
}

fn swaps_axes(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// The decoder for a sniffed image type (a burst container is never sniffed as one).
fn format_of(m: MediaType) -> Result<ImageFormat, ImageError> {
    match m {
        MediaType::Jpeg => Ok(ImageFormat::Jpeg),
        MediaType::Png => Ok(ImageFormat::Png),
        MediaType::Webp => Ok(ImageFormat::WebP),
        MediaType::LivenessBurst => Err(ImageError::UnsupportedType),
    }
}

fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(e.to_string())
}

/// Read the declared dimensions (headers only) and refuse what exceeds the limits.
pub(crate) fn checked_dimensions(bytes: &[u8], media_type: MediaType, limits: ImageLimits) -> Result<(u32, u32), ImageError> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format_of(media_type)?);
    let (width, height) = reader.into_dimensions().map_err(corrupt)?;
    if width == 0 || height == 0 {
        // Also what image-webp reports for a VP8L header claiming 16 384 (it wraps to 0).
        return Err(corrupt(format!("the header declares {width}×{height} pixels")));
    }
    limits.check(width, height)?;
    Ok((width, height))
}

fn image_limits(limits: ImageLimits) -> Limits {
    let mut lim = Limits::default();
    lim.max_image_width = Some(limits.max_side);
    lim.max_image_height = Some(limits.max_side);
    // RGBA8 of the largest accepted image, plus decoder scratch.
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(64 << 20));
    lim
}

/// Decode the whole image at full resolution, upright (EXIF orientation applied). For the
/// checks that need every pixel (OCR of the MRZ, the PDF417 barcode).
pub fn decode_full(bytes: &[u8], limits: ImageLimits) -> Result<DynamicImage, ImageError> {
    let media_type = sniff(bytes)?;
    checked_dimensions(bytes, media_type, limits)?;
    let (mut img, orientation) = guarded("image", || decode_generic(bytes, media_type, limits))?;
    img.apply_orientation(orientation);
    if media_type == MediaType::Jpeg && !crate::jpeg_is_complete(bytes) {
        return Err(truncated_jpeg());
    }
    Ok(img)
}

fn truncated_jpeg() -> ImageError {
    ImageError::Corrupt("the JPEG ends before its end-of-image marker".into())
}

fn decode_generic(bytes: &[u8], media_type: MediaType, limits: ImageLimits) -> Result<(DynamicImage, Orientation), ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format_of(media_type)?);
    reader.limits(image_limits(limits));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    // A damaged EXIF block must not cost the capture: treat it as upright.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    Ok((img, orientation))
}

/// The JPEG fast path: luma only. `None` when the file needs the general decoder (CMYK,
/// YCCK, RGB-coded JPEGs) or the fast decoder refused it (the general one then decides).
fn decode_jpeg_luma(bytes: &[u8], limits: ImageLimits) -> Option<(GrayImage, Orientation)> {
    let side = usize::try_from(limits.max_side).unwrap_or(usize::MAX);
    let opts = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(side)
        .set_max_height(side)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(bytes, opts);
    d.decode_headers().ok()?;
    if !matches!(d.get_input_colorspace(), Some(ColorSpace::YCbCr | ColorSpace::Luma)) {
        return None;
    }
    let orientation = d
        .exif()
        .and_then(|e| Orientation::from_exif_chunk(e))
        .unwrap_or(Orientation::NoTransforms);
    let (w, h) = d.dimensions()?;
    let px = d.decode().ok()?;
    let img = GrayImage::from_raw(u32::try_from(w).ok()?, u32::try_from(h).ok()?, px)?;
    Some((img, orientation))
}

/// Run a decoder on untrusted bytes. The decoders are large and index-heavy: zune-jpeg
/// 0.4.21 panics ("range end index … out of range", mcu.rs) on some damaged JPEGs, found
/// by the `image` fuzz target. Such a panic must refuse this image, not fail the upload
/// with a 500 or kill the worker thread.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, ImageError>) -> Result<T, ImageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ImageError::Corrupt(format!("the {what} decoder failed on damaged data"))))
}

/// Decode a capture into its working copy. Limits are checked on the header before any
/// pixel is decoded; the whole image is then decoded (so a damaged file is refused at
/// upload), downscaled once and turned upright.
pub fn decode(bytes: &[u8], limits: ImageLimits) -> Result<Decoded, ImageError> {
    let media_type = sniff(bytes)?;
    let (stored_width, stored_height) = checked_dimensions(bytes, media_type, limits)?;
    let fast = if media_type == MediaType::Jpeg {
        // A panic in the fast path leaves the decision to the general decoder.
        guarded("JPEG", || Ok(decode_jpeg_luma(bytes, limits))).ok().flatten()
    } else {
        None
    };
    let (grey, orientation) = match fast {
        Some(g) => g,
        None => {
            let (img, o) = guarded("image", || decode_generic(bytes, media_type, limits))?;
            (img.into_luma8(), o)
        }
    };
    // The JPEG decoder fills a cut-off scan with grey instead of failing; refuse it here.
    if media_type == MediaType::Jpeg && !crate::jpeg_is_complete(bytes) {
        return Err(truncated_jpeg());
    }
    if grey.width() != stored_width || grey.height() != stored_height {
        return Err(corrupt("the decoded size differs from the size in the header"));
    }
    let small = downscale_to(&grey, WORK_LONG_SIDE);
    drop(grey);
    let mut work = DynamicImage::ImageLuma8(small);
    work.apply_orientation(orientation);
    Ok(Decoded {
        media_type,
        stored_width,
        stored_height,
        orientation,
        work: work.into_luma8(),
    })
}

/// Area-average downscale so that the long side is at most `long_side` (never upscales).
/// Every source pixel contributes to exactly one output pixel: no aliasing of fine print.
pub fn downscale_to(src: &GrayImage, long_side: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    let long = w.max(h);
    if long <= long_side || long_side == 0 {
        return src.clone();
    }
    let dw = ((u64::from(w) * u64::from(long_side)).div_ceil(u64::from(long))).max(1) as u32;
    let dh = ((u64::from(h) * u64::from(long_side)).div_ceil(u64::from(long))).max(1) as u32;
    area_resize(src, dw.min(w), dh.min(h))
}

/// Walks a 4-connected region of a `w × h` row-major raster, depth first from the pixels
/// on `stack`: `visit(i, x, y)` sees each pixel popped, and each neighbour (left, right,
/// up, down) is pushed when `claim` takes it (`claim` marks it, so none is taken twice).
/// The OCR detector's text boxes and the glare blobs are both found this way.
pub(crate) fn flood_fill4(
    w: usize,
    h: usize,
    stack: &mut Vec<usize>,
    mut claim: impl FnMut(usize) -> bool,
    mut visit: impl FnMut(usize, usize, usize),
) {
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        visit(i, x, y);
        let mut take = |j: usize| {
            if claim(j) {
                stack.push(j);
            }
        };
        if x > 0 {
            take(i - 1);
        }
        if x + 1 < w {
            take(i + 1);
        }
        if y > 0 {
            take(i - w);
        }
        if y + 1 < h {
            take(i + w);
        }
    }
}

/// Area-average resize to exactly `dw`×`dh` (both ≤ the source's). Rows are summed
/// first (a straight, vectorisable pass over the source), then each summed row is binned
/// into output columns.
pub fn area_resize(src: &GrayImage, dw: u32, dh: u32) -> GrayImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (dw, dh) = (dw.max(1) as usize, dh.max(1) as usize);
    if w == 0 || h == 0 {
        return GrayImage::new(dw as u32, dh as u32);
    }
    let data = src.as_raw();
    // Output column i covers source columns [xs[i], xs[i + 1]), never empty.
    let xs: Vec<usize> = (0..=dw).map(|i| (i * w / dw).min(w)).collect();
    let mut out = vec![0u8; dw * dh];
    let mut acc = vec![0u32; w];
    for j in 0..dh {
        let y0 = (j * h / dh).min(h - 1);
        let y1 = ((j + 1) * h / dh).clamp(y0 + 1, h);
        acc.iter_mut().for_each(|a| *a = 0);
        for row in data[y0 * w..y1 * w].chunks_exact(w) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += u32::from(v);
            }
        }
        let rows = (y1 - y0) as u32;
        for (i, o) in out[j * dw..(j + 1) * dw].iter_mut().enumerate() {
            let (a, b) = (xs[i].min(w - 1), xs[i + 1].clamp(xs[i].min(w - 1) + 1, w));
            let s: u32 = acc[a..b].iter().sum();
            let n = rows * (b - a) as u32;
            *o = ((s + n / 2) / n) as u8;
        }
    }
    GrayImage::from_raw(dw as u32, dh as u32, out).unwrap_or_else(|| GrayImage::new(dw as u32, dh as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    /// A JPEG whose top-left quadrant is black and the rest white, with an EXIF
    /// orientation tag written into an APP1 segment.
    fn jpeg_with_orientation(w: u32, h: u32, exif_orientation: u16) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| {
            if x < w / 2 && y < h / 2 {
                Rgb([0u8, 0, 0])
            } else {
                Rgb([255u8, 255, 255])
            }
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let jpeg = out.into_inner();
        // APP1 "Exif\0\0" + little-endian TIFF with one IFD entry: Orientation (0x0112), SHORT.
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"II*\0");
        tiff.extend_from_slice(&8u32.to_le_bytes());
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&exif_orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let len = u16::try_from(app1.len() + 2).unwrap();
        let mut with = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with.extend_from_slice(&len.to_be_bytes());
        with.extend_from_slice(&app1);
        with.extend_from_slice(&jpeg[2..]);
        with
    }

    fn dark_corner(g: &GrayImage) -> (bool, bool, bool, bool) {
        let (w, h) = g.dimensions();
        let at = |x: u32, y: u32| g.get_pixel(x, y)[0] < 128;
        (
            at(w / 8, h / 8),
            at(w - 1 - w / 8, h / 8),
            at(w / 8, h - 1 - h / 8),
            at(w - 1 - w / 8, h - 1 - h / 8),
        )
    }

    #[test]
    fn exif_orientation_is_applied_to_the_working_copy() {
        // Stored 400×200 with the dark quadrant top-left.
        let plain = decode(&jpeg_with_orientation(400, 200, 1), ImageLimits::default()).unwrap();
        assert_eq!(plain.orientation, Orientation::NoTransforms);
        assert_eq!(plain.work.dimensions(), (400, 200));
        assert_eq!(dark_corner(&plain.work), (true, false, false, false));
        // 6 = rotate 90° clockwise to display: the dark quadrant ends top-right.
        let rot = decode(&jpeg_with_orientation(400, 200, 6), ImageLimits::default()).unwrap();
        assert_eq!(rot.orientation, Orientation::Rotate90);
        assert_eq!(rot.upright_dimensions(), (200, 400));
        assert_eq!(rot.work.dimensions(), (200, 400));
        assert_eq!(dark_corner(&rot.work), (false, true, false, false));
        // 3 = rotate 180°: bottom-right.
        let r180 = decode(&jpeg_with_orientation(400, 200, 3), ImageLimits::default()).unwrap();
        assert_eq!(dark_corner(&r180.work), (false, false, false, true));
        // 8 = rotate 270° clockwise: bottom-left.
        let r270 = decode(&jpeg_with_orientation(400, 200, 8), ImageLimits::default()).unwrap();
        assert_eq!(dark_corner(&r270.work), (false, false, true, false));
        // The full decode agrees.
        let full = decode_full(&jpeg_with_orientation(400, 200, 6), ImageLimits::default()).unwrap();
        assert_eq!(full.dimensions_tuple(), (200, 400));
    }

    trait Dims {
        fn dimensions_tuple(&self) -> (u32, u32);
    }
    impl Dims for DynamicImage {
        fn dimensions_tuple(&self) -> (u32, u32) {
            (self.width(), self.height())
        }
    }

    /// A lossless WebP of 1×1 whose VP8L header is rewritten to claim `w`×`h`.
    fn webp_vp8l_claiming(w: u32, h: u32) -> Vec<u8> {
        let img = ImageBuffer::from_pixel(1, 1, Rgb([9u8, 9, 9]));
        let mut out = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(img.as_raw(), 1, 1, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(&out[12..16], b"VP8L");
        let old = u32::from_le_bytes(out[21..25].try_into().unwrap());
        let bits = (old & 0xF000_0000) | ((h - 1) << 14) | (w - 1);
        out[21..25].copy_from_slice(&bits.to_le_bytes());
        out
    }

    #[test]
    fn a_header_claiming_zero_or_huge_dimensions_is_refused_before_decoding() {
        let limits = ImageLimits::default();
        let huge = webp_vp8l_claiming(16_000, 16_000);
        assert!(matches!(
            decode(&huge, limits),
            Err(ImageError::TooManyPixels {
                width: 16_000,
                height: 16_000,
                ..
            })
        ));
        // 16 384 wraps to 0 in image-webp's VP8L header parser: not "too many pixels".
        let wrapped = webp_vp8l_claiming(16_384, 16_384);
        let err = decode(&wrapped, limits).unwrap_err();
        assert!(matches!(&err, ImageError::Corrupt(m) if m.contains("0×0")), "{err}");
        assert!(matches!(decode_full(&wrapped, limits), Err(ImageError::Corrupt(_))));
    }

    #[test]
    fn working_copy_is_downscaled_once_to_the_long_side() {
        let img = ImageBuffer::from_fn(3000, 1500, |x, _| Rgb([(x % 256) as u8, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let d = decode(out.get_ref(), ImageLimits::default()).unwrap();
        assert_eq!(d.work.dimensions(), (1024, 512));
        assert!((d.work_scale() - 1024.0 / 3000.0).abs() < 1e-6);
    }

    #[test]
    fn area_resize_preserves_mean_and_handles_odd_sizes() {
        let src = GrayImage::from_fn(37, 23, |x, y| Luma([((x * 7 + y * 3) % 256) as u8]));
        let mean = |g: &GrayImage| g.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / g.as_raw().len() as f64;
        for (dw, dh) in [(1, 1), (5, 3), (36, 22), (37, 23), (10, 23)] {
            let r = area_resize(&src, dw, dh);
            assert_eq!(r.dimensions(), (dw, dh));
            assert!((mean(&r) - mean(&src)).abs() < 6.0, "{dw}x{dh}");
        }
        let flat = GrayImage::from_pixel(4000, 3000, Luma([77]));
        let d = downscale_to(&flat, 1024);
        assert_eq!(d.dimensions(), (1024, 768));
        assert!(d.as_raw().iter().all(|&v| v == 77));
    }

    #[test]
    fn jpeg_fast_path_matches_the_general_decoder() {
        // Neutral greys: JPEG's Y and image's Rec. 709 luma agree there (they differ on
        // saturated colours by design, which the quality figures do not care about).
        let img = ImageBuffer::from_fn(640, 480, |x, y| {
            let v = ((x / 3 + y / 2) % 256) as u8;
            Rgb([v, v, v])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let bytes = out.into_inner();
        let (fast, _) = decode_jpeg_luma(&bytes, ImageLimits::default()).unwrap();
        let (slow, _) = decode_generic(&bytes, MediaType::Jpeg, ImageLimits::default()).unwrap();
        let slow = slow.into_luma8();
        let max_diff = fast.as_raw().iter().zip(slow.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(max_diff <= 4, "max diff {max_diff}");
    }

    /// A 702-byte damaged JPEG on which zune-jpeg 0.4.21 panics (found by the `image` fuzz
    /// target from its generated seeds): refused as damaged, never a panic.
    #[test]
    fn a_jpeg_that_panics_the_decoder_is_refused_as_damaged() {
        let bytes = include_bytes!("../tests/fixtures/zune-jpeg-panic.jpg");
        let limits = ImageLimits {
            max_side: 2048,
            max_pixels: 2_000_000,
        };
        assert!(
            matches!(decode(bytes, limits), Err(ImageError::Corrupt(_))),
            "{:?}",
            decode(bytes, limits).err()
        );
        assert!(matches!(decode_full(bytes, limits), Err(ImageError::Corrupt(_))));
    }
}
