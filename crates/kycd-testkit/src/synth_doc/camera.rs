//! The camera that "photographs" a synthetic document: placement, perspective, blur,
//! noise, glare, low light, crop and JPEG, and the samples (document and photo) built
//! with it.

use super::*;

/// Photo conditions, one family per test class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distortion {
    Clean,
    /// In-plane rotation 5–15°.
    Rotated,
    /// Out-of-plane tilt (keystone) 15–25°.
    Perspective,
    /// Defocus, Gaussian σ 1.3–2.0 px at ~25 px per MRZ character.
    Blur,
    /// Sensor noise σ 12–18.
    Noise,
    /// JPEG quality 12–25.
    Jpeg,
    /// A glare spot on the document (may touch the zone).
    Glare,
    /// Exposure gain 0.22–0.35 with noise.
    LowLight,
    /// The document runs off the top (and a little off a side) of the frame.
    PartialCrop,
}

impl Distortion {
    pub const ALL: [Distortion; 9] = [
        Self::Clean,
        Self::Rotated,
        Self::Perspective,
        Self::Blur,
        Self::Noise,
        Self::Jpeg,
        Self::Glare,
        Self::LowLight,
        Self::PartialCrop,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Rotated => "rotated",
            Self::Perspective => "perspective",
            Self::Blur => "blur",
            Self::Noise => "noise",
            Self::Jpeg => "jpeg",
            Self::Glare => "glare",
            Self::LowLight => "low_light",
            Self::PartialCrop => "partial_crop",
        }
    }
}

/// How the document is photographed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    /// Document centre as a fraction of the frame.
    pub centre: (f32, f32),
    /// Document width as a fraction of the frame width (before perspective).
    pub doc_width: f32,
    /// In-plane rotation, degrees (positive = clockwise).
    pub angle_deg: f32,
    /// Out-of-plane tilt about the document's horizontal and vertical axes, degrees.
    pub tilt_deg: (f32, f32),
    /// Table: 0 flat, 1 wood-like, 2 gradient, 3 dark cloth; with its brightness.
    pub table: (u32, f32),
    /// Optical blur (Gaussian σ, pixels).
    pub blur: f32,
    /// Exposure gain and vignetting strength (0 none).
    pub gain: f32,
    pub vignette: f32,
    /// Glare: centre (fraction of the document), radius (fraction of its width), strength 0–1.
    pub glare: Option<((f32, f32), f32, f32)>,
    /// Gaussian sensor noise σ (grey levels).
    pub noise: f32,
    /// JPEG quality the camera stores at (`None`: no compression).
    pub jpeg_quality: Option<u8>,
    pub seed: u64,
}

impl Camera {
    /// Frame 1600 × 1200 (the OCR scales detection to 736 px anyway), conditions drawn
    /// from `seed` within `distortion`'s family.
    pub fn for_distortion(distortion: Distortion, seed: u64) -> Self {
        let mut r = Rng::new(seed ^ 0xCA3E_7A00);
        let mut c = Camera {
            width: 1600,
            height: 1200,
            centre: (r.range(0.46, 0.54), r.range(0.45, 0.55)),
            doc_width: r.range(0.70, 0.86),
            angle_deg: r.signed(0.0, 2.0),
            tilt_deg: (r.signed(0.0, 3.0), r.signed(0.0, 3.0)),
            table: (r.below(4) as u32, r.range(40.0, 170.0)),
            blur: r.range(0.5, 0.9),
            gain: r.range(0.9, 1.05),
            vignette: r.range(0.0, 0.2),
            glare: None,
            noise: r.range(1.0, 3.0),
            jpeg_quality: Some(r.range(80.0, 95.0) as u8),
            seed,
        };
        match distortion {
            Distortion::Clean => {}
            Distortion::Rotated => c.angle_deg = r.signed(5.0, 15.0),
            Distortion::Perspective => {
                c.tilt_deg = (r.signed(15.0, 25.0), r.signed(10.0, 22.0));
                c.doc_width = r.range(0.65, 0.78);
            }
            Distortion::Blur => c.blur = r.range(1.3, 2.0),
            Distortion::Noise => c.noise = r.range(12.0, 18.0),
            Distortion::Jpeg => c.jpeg_quality = Some(r.range(12.0, 25.0) as u8),
            Distortion::Glare => {
                c.glare = Some(((r.range(0.2, 0.8), r.range(0.3, 0.85)), r.range(0.08, 0.15), r.range(0.75, 0.95)));
            }
            Distortion::LowLight => {
                c.gain = r.range(0.22, 0.35);
                c.noise = r.range(3.0, 5.0);
                c.vignette = r.range(0.2, 0.4);
            }
            Distortion::PartialCrop => {
                c.doc_width = r.range(0.88, 0.98);
                // The document's top 20–40 % lies above the frame.
                let doc_h_frac = c.doc_width * c.width as f32 / c.height as f32 * 0.66;
                let off = r.range(0.2, 0.4);
                c.centre = (r.range(0.48, 0.52), doc_h_frac * (0.5 - off));
            }
        }
        c
    }
}

/// Where the document's corners land in the frame (top-left, top-right, bottom-right,
/// bottom-left), for `doc_w × doc_h` document pixels.
pub fn document_corners(cam: &Camera, doc_w: f32, doc_h: f32) -> [(f32, f32); 4] {
    let fw = cam.width as f32;
    let w = cam.doc_width * fw;
    let h = w * doc_h / doc_w;
    let focal = 1.3 * fw;
    let (ax, ay) = (cam.tilt_deg.0.to_radians(), cam.tilt_deg.1.to_radians());
    let (s, c) = cam.angle_deg.to_radians().sin_cos();
    let (cx, cy) = (cam.centre.0 * fw, cam.centre.1 * cam.height as f32);
    [(-0.5f32, -0.5f32), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map(|(u, v)| {
        let (x, y) = (u * w, v * h);
        // Tilt about the horizontal axis (x stays), then the vertical axis.
        let (y1, z1) = (y * ax.cos(), y * ax.sin());
        let (x2, z2) = (x * ay.cos() + z1 * ay.sin(), -x * ay.sin() + z1 * ay.cos());
        let p = focal / (focal + z2);
        let (px, py) = (x2 * p, y1 * p);
        (cx + px * c - py * s, cy + px * s + py * c)
    })
}

/// Photograph a flat document image (white = paper) with `cam`.
pub fn photograph(doc: &GrayImage, cam: &Camera) -> GrayImage {
    let plane = Plane {
        w: doc.width() as usize,
        h: doc.height() as usize,
        px: doc.as_raw().iter().map(|&v| f32::from(v)).collect(),
    };
    photograph_plane(&plane, cam)
}

pub(super) fn photograph_plane(doc: &Plane, cam: &Camera) -> GrayImage {
    let mut rng = Rng::new(cam.seed ^ 0x0F07_0000);
    let (fw, fh) = (cam.width as usize, cam.height as usize);
    let (dw, dh) = (doc.w as f32, doc.h as f32);
    let corners = document_corners(cam, dw, dh);
    let inv = Homography::from_points(&corners, &[(0.0, 0.0), (dw, 0.0), (dw, dh), (0.0, dh)])
        .unwrap_or(Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]));
    let (table, tone) = cam.table;
    let tseed = rng.next_u64();
    let mut img = Plane::new(fw, fh, tone);
    let (gx, gy, gr, gs) = match cam.glare {
        Some(((u, v), r, s)) => (u * dw, v * dh, r * dw, s),
        None => (0.0, 0.0, 1.0, 0.0),
    };
    for y in 0..fh {
        for x in 0..fw {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let (u, v) = inv.apply((xf, yf));
            let val = match doc.sample(u, v) {
                Some(p) => {
                    if gs > 0.0 {
                        let d2 = ((u - gx).powi(2) + (v - gy).powi(2)) / (gr * gr);
                        // A flat-topped spot: saturated in its core, fading out.
                        p + (255.0 - p) * gs * (1.4 * (-d2).exp()).min(1.0)
                    } else {
                        p
                    }
                }
                None => match table {
                    0 => tone,
                    1 => tone + 25.0 * ((yf * 0.04 + 3.0 * (xf * 0.006).sin()).sin()) + 8.0 * (xf * 0.3).sin(),
                    2 => tone * (0.7 + 0.5 * xf / fw as f32),
                    _ => tone * 0.4 + 20.0 * hash2(x as i64 / 3, y as i64 / 3, tseed),
                },
            };
            img.px[y * fw + x] = val;
        }
    }
    img.gaussian(cam.blur);
    let (cx, cy) = (fw as f32 / 2.0, fh as f32 / 2.0);
    let rmax2 = cx * cx + cy * cy;
    // Noise from a table of normal samples, read at pseudo-random offsets: as good as
    // fresh samples for a photo, and far cheaper.
    let table: Vec<f32> = (0..1 << 16).map(|_| rng.normal()).collect();
    let mut state = (rng.next_u64() as u32) | 1;
    for y in 0..fh {
        for x in 0..fw {
            let r2 = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) / rmax2;
            let p = &mut img.px[y * fw + x];
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *p = *p * cam.gain * (1.0 - cam.vignette * r2) + cam.noise * table[(state & 0xFFFF) as usize];
        }
    }
    let grey = img.to_gray();
    match cam.jpeg_quality {
        Some(q) => jpeg_roundtrip(&grey, q).unwrap_or(grey),
        None => grey,
    }
}

pub(super) fn jpeg_roundtrip(img: &GrayImage, quality: u8) -> Option<GrayImage> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    img.write_with_encoder(enc).ok()?;
    image::load_from_memory(&out).ok().map(|d| d.into_luma8())
}

/// A photographed synthetic document with its ground truth.
#[derive(Debug, Clone)]
pub struct Sample {
    pub doc: SynthDoc,
    pub camera: Camera,
    pub image: GrayImage,
    /// The scale the document was rendered at before the camera resampled it.
    pub px_per_mm: f32,
}

/// Render and photograph one document of `format` under `distortion`, from `seed`. The
/// document is rendered at about 1.2× its size in the frame, then resampled by the camera.
pub fn sample(font: &OcrB, format: DocFormat, distortion: Distortion, seed: u64) -> Sample {
    let doc = random_identity(format, seed);
    let camera = Camera::for_distortion(distortion, seed);
    photograph_doc(font, doc, camera, seed)
}

/// Render `doc` and photograph it with `camera` (the document at about 1.2× its size in
/// the frame). `doc.lines` may be any text of the format's line lengths: the
/// classifier's training cells use random characters as well as real zones.
pub fn photograph_doc(font: &OcrB, doc: SynthDoc, camera: Camera, seed: u64) -> Sample {
    photograph_with_portrait(font, doc, camera, seed, None)
}

/// [`photograph_doc`] with `portrait` printed as the photo, or the silhouette for `None`.
fn photograph_with_portrait(font: &OcrB, doc: SynthDoc, camera: Camera, seed: u64, portrait: Option<&GrayImage>) -> Sample {
    let (wmm, _) = doc.format.size_mm();
    let px_per_mm = camera.doc_width * camera.width as f32 * 1.2 / wmm;
    let plane = render_plane_with(font, &doc, px_per_mm, seed, portrait);
    let image = photograph_plane(&plane, &camera);
    Sample {
        doc,
        camera,
        image,
        px_per_mm,
    }
}

/// Like [`sample`], with `portrait` (grey, about 32:42) printed as the passport's photo
/// instead of the silhouette. The zone and data are the same as [`sample`]'s for the seed.
pub fn sample_with_portrait(font: &OcrB, distortion: Distortion, seed: u64, portrait: &GrayImage) -> Sample {
    let doc = random_identity(DocFormat::Passport, seed);
    let camera = Camera::for_distortion(distortion, seed);
    photograph_with_portrait(font, doc, camera, seed, Some(portrait))
}
