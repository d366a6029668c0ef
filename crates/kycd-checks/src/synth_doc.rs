//! Synthetic identity documents with a real machine-readable zone, and "photographs" of
//! them: the ground truth for the MRZ reader's accuracy tests and benchmark. Nothing here
//! depicts a real person or a real document design.
//!
//! - [`random_identity`]: fictional holder data, the zone written by [`mrz::compose`]
//!   (so every check digit is right).
//! - [`render_document`]: a passport data page (TD3, 125 × 88 mm, 2 × 44) or an ID-1 card
//!   back (TD1, 85.6 × 54 mm, 3 × 30), frontal and flat, on one of several security-print
//!   like backgrounds, the MRZ in OCR-B at 10 characters per inch. The font is read at
//!   run time from the system (Debian's `fonts-ocr-b`), never committed.
//! - [`photograph`]: places the document in a camera frame with a [`Camera`] (rotation,
//!   perspective, blur, noise, JPEG, glare, low light, partial crop) and returns what the
//!   camera would have stored, decoded to greyscale.
//!
//! Everything is seeded: the same arguments give the same pixels.

use crate::mrz::{self, MrzData, MrzFormat};
use crate::mrz_zone::{CellPlace, Homography};
use ab_glyph::{Font, FontArc, PxScale, point};
use image::{GrayImage, Luma};
use std::path::{Path, PathBuf};

/// Where Debian's `fonts-ocr-b` installs OCR-B.
pub const OCRB_DEFAULT_PATH: &str = "/usr/share/fonts/opentype/ocr-b/OCRB.otf";
/// Environment variable that overrides [`OCRB_DEFAULT_PATH`].
pub const OCRB_FONT_ENV: &str = "KYCD_OCRB_FONT";

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("the OCR-B font is not at {}: apt-get install fonts-ocr-b (or set {OCRB_FONT_ENV} to an OCR-B .otf/.ttf)", .0.display())]
    FontMissing(PathBuf),
    #[error("{} is not a usable font: {reason}", path.display())]
    BadFont { path: PathBuf, reason: String },
}

/// The OCR-B typeface, loaded from a file.
#[derive(Clone)]
pub struct OcrB {
    font: FontArc,
}

impl std::fmt::Debug for OcrB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OcrB")
    }
}

impl OcrB {
    /// `$KYCD_OCRB_FONT`, else [`OCRB_DEFAULT_PATH`].
    pub fn default_path() -> PathBuf {
        std::env::var_os(OCRB_FONT_ENV).map_or_else(|| PathBuf::from(OCRB_DEFAULT_PATH), PathBuf::from)
    }

    pub fn load_default() -> Result<Self, SynthError> {
        Self::load(&Self::default_path())
    }

    pub fn load(path: &Path) -> Result<Self, SynthError> {
        let bytes = std::fs::read(path).map_err(|_| SynthError::FontMissing(path.to_path_buf()))?;
        let font = FontArc::try_from_vec(bytes).map_err(|e| SynthError::BadFont {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self { font })
    }

    /// The scale at which one character advance is `pitch` pixels (OCR-B is monospaced).
    fn scale_for_pitch(&self, pitch: f32) -> PxScale {
        let adv = self.font.h_advance_unscaled(self.font.glyph_id('<')).max(1.0);
        PxScale::from(pitch * self.font.height_unscaled() / adv)
    }

    /// The scale at which capital letters are `cap` pixels tall (approximately).
    fn scale_for_cap(&self, cap: f32) -> PxScale {
        let upem = self.font.units_per_em().unwrap_or(1000.0);
        // OCR-B's capitals are about 0.7 em tall.
        PxScale::from(cap / 0.7 * self.font.height_unscaled() / upem)
    }

    /// Draw `text` with its left edge and baseline at `at`, blending
    /// `ink` by glyph coverage (`at` = (x, baseline)). `pitch`: fixed advance per character (the MRZ); `None`
    /// for the font's own advances.
    fn draw(&self, img: &mut Plane, text: &str, (x, baseline): (f32, f32), scale: PxScale, ink: f32, pitch: Option<f32>) {
        let scaled = ab_glyph::Font::as_scaled(&self.font, scale);
        let mut pen = x;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(pen, baseline));
            if let Some(outlined) = self.font.outline_glyph(glyph) {
                let b = outlined.px_bounds();
                outlined.draw(|gx, gy, cov| {
                    let (px, py) = (b.min.x as i64 + i64::from(gx), b.min.y as i64 + i64::from(gy));
                    img.blend(px, py, ink, cov.min(1.0));
                });
            }
            pen += pitch.unwrap_or_else(|| ab_glyph::ScaleFont::h_advance(&scaled, id));
        }
    }
}

// ----- randomness ---------------------------------------------------------------------

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    /// ±[lo, hi): a magnitude in the range with a random sign.
    pub fn signed(&mut self, lo: f32, hi: f32) -> f32 {
        let m = self.range(lo, hi);
        if self.next_u64() & 1 == 0 { m } else { -m }
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

// ----- holder data --------------------------------------------------------------------

/// Which document to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    /// Passport data page, TD3.
    Passport,
    /// ID-1 card (back side with the zone), TD1.
    IdCard,
    /// ID-2 card, TD2 (2 × 36).
    Td2Card,
    /// Machine-readable visa A (80 × 120 mm, 2 × 44).
    VisaA,
    /// Machine-readable visa B (74 × 105 mm, 2 × 36).
    VisaB,
    /// France's identity card issued until 2021 (105 × 74 mm, 2 × 36 in its own layout).
    /// Not in [`DocFormat::ALL`], the ICAO formats the corpus and held-out sets draw from.
    FrenchId,
}

impl DocFormat {
    pub const ALL: [DocFormat; 5] = [Self::Passport, Self::IdCard, Self::Td2Card, Self::VisaA, Self::VisaB];

    pub fn mrz_format(self) -> MrzFormat {
        match self {
            Self::Passport => MrzFormat::Td3,
            Self::IdCard => MrzFormat::Td1,
            Self::Td2Card => MrzFormat::Td2,
            Self::VisaA => MrzFormat::MrvA,
            Self::VisaB => MrzFormat::MrvB,
            Self::FrenchId => MrzFormat::FrenchId,
        }
    }
    /// Width and height in millimetres (ICAO 9303 ID-3, ID-1, ID-2, MRV-A, MRV-B).
    pub fn size_mm(self) -> (f32, f32) {
        match self {
            Self::Passport => (125.0, 88.0),
            Self::IdCard => (85.6, 54.0),
            Self::Td2Card | Self::VisaB | Self::FrenchId => (105.0, 74.0),
            Self::VisaA => (120.0, 80.0),
        }
    }
    /// Laid out like a passport page (portrait on the left, labelled fields) rather than
    /// like a card.
    fn page_like(self) -> bool {
        matches!(self, Self::Passport | Self::VisaA)
    }
}

/// A fictional document: the data and the zone's lines.
#[derive(Debug, Clone)]
pub struct SynthDoc {
    pub format: DocFormat,
    pub data: MrzData,
    /// The zone as printed (valid check digits).
    pub lines: Vec<String>,
}

const SYLLABLES: &[&str] = &[
    "AN", "BER", "CA", "DO", "EL", "FA", "GUN", "HO", "IN", "JO", "KAR", "LI", "MA", "NO", "OS", "PE", "QUI", "RA", "SEN", "TO", "UL",
    "VAN", "WE", "XI", "YA", "ZU", "BRO", "STE", "MIR", "LUND", "SSON", "NEN", "OVA", "EZ",
];
const STATES: &[&str] = &[
    "UTO", "D", "FRA", "NLD", "ITA", "ESP", "SWE", "CAN", "AUS", "BEL", "AUT", "POL", "PRT", "NOR",
];
const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

fn word(rng: &mut Rng, syllables: usize) -> String {
    (0..syllables).map(|_| *rng.pick(SYLLABLES)).collect()
}

fn alnum(rng: &mut Rng, len: usize, letters: usize) -> String {
    (0..len)
        .map(|i| {
            if i < letters || rng.below(5) == 0 {
                char::from(b'A' + rng.below(26) as u8)
            } else {
                char::from(b'0' + rng.below(10) as u8)
            }
        })
        .collect()
}

fn yymmdd(rng: &mut Rng, year_lo: i32, year_hi: i32) -> String {
    let y = year_lo + rng.below((year_hi - year_lo + 1) as usize) as i32;
    let m = 1 + rng.below(12);
    let d = 1 + rng.below(28);
    format!("{:02}{m:02}{d:02}", y.rem_euclid(100))
}

/// Fictional holder data for `format`, from `seed`.
pub fn random_identity(format: DocFormat, seed: u64) -> SynthDoc {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xD0C);
    let state = (*rng.pick(STATES)).to_owned();
    let nationality = if rng.below(4) == 0 {
        (*rng.pick(STATES)).to_owned()
    } else {
        state.clone()
    };
    let n = 2 + rng.below(2);
    let mut surname = word(&mut rng, n);
    if rng.below(4) == 0 {
        surname = format!("{surname} {}", word(&mut rng, 2));
    }
    let n = 1 + rng.below(3);
    let mut given = word(&mut rng, n);
    if rng.below(2) == 0 {
        given = format!("{given} {}", word(&mut rng, 2));
    }
    let (code, number, optional, optional_2) = match format {
        DocFormat::FrenchId => {
            // Card number: issue year and month, department, office, sequence; the zone's
            // line 1 ends with the department and office.
            let dept = format!("{:03}", 1 + rng.below(95));
            let office = format!("{:03}", rng.below(1000));
            let issued = format!("{:02}{:02}", 5 + rng.below(16), 1 + rng.below(12));
            let number = format!("{issued}{dept}{:05}", rng.below(100_000));
            ("ID", number, format!("{dept}{office}"), String::new())
        }
        DocFormat::VisaA | DocFormat::VisaB => {
            let code = *rng.pick(&["V", "VA", "VB"]);
            let n = 3 + rng.below(10);
            let optional = if rng.below(2) == 0 { alnum(&mut rng, n, 0) } else { String::new() };
            let letters = 1 + rng.below(2);
            (code, alnum(&mut rng, 9, letters), optional, String::new())
        }
        DocFormat::Td2Card => {
            let code = *rng.pick(&["I", "ID", "IR", "AC"]);
            let n = 2 + rng.below(6);
            let optional = if rng.below(2) == 0 { alnum(&mut rng, n, 0) } else { String::new() };
            let letters = 1 + rng.below(3);
            (code, alnum(&mut rng, 9, letters), optional, String::new())
        }
        DocFormat::Passport => {
            let code = if rng.below(6) == 0 { "PD" } else { "P" };
            let n = 5 + rng.below(8);
            let optional = if rng.below(2) == 0 { alnum(&mut rng, n, 0) } else { String::new() };
            let letters = 1 + rng.below(2);
            (code, alnum(&mut rng, 9, letters), optional, String::new())
        }
        DocFormat::IdCard => {
            let code = *rng.pick(&["I", "ID", "IR", "AC"]);
            let (n1, n2) = (3 + rng.below(8), 2 + rng.below(6));
            let optional = if rng.below(2) == 0 { alnum(&mut rng, n1, 0) } else { String::new() };
            let optional_2 = if rng.below(3) == 0 { alnum(&mut rng, n2, 0) } else { String::new() };
            let letters = 1 + rng.below(3);
            (code, alnum(&mut rng, 9, letters), optional, optional_2)
        }
    };
    let french = format == DocFormat::FrenchId;
    if french {
        // Given names that do not fit the card's 14 cells are cut, as on the card.
        given = given.chars().take(12).collect::<String>().trim_end().to_owned();
    }
    let mut data = MrzData {
        format: format.mrz_format(),
        document_code: code.to_owned(),
        issuing_state: state,
        surname,
        given_names: given,
        document_number: number,
        nationality,
        birth_date: yymmdd(&mut rng, 1950, 2007),
        sex: *rng.pick(&['M', 'F', 'F', 'M', '<']),
        expiry_date: yymmdd(&mut rng, 2027, 2036),
        optional_data: optional,
        optional_data_2: optional_2,
    };
    if french {
        // Issued to French nationals only; the zone has no expiry date.
        data.issuing_state = "FRA".into();
        data.nationality = "FRA".into();
        data.expiry_date.clear();
    }
    let lines = mrz::compose(&data);
    SynthDoc { format, data, lines }
}

fn human_date(yymmdd: &str, birth: bool) -> String {
    let n = |r: std::ops::Range<usize>| yymmdd.get(r).and_then(|s| s.parse::<usize>().ok()).unwrap_or(1);
    let yy = n(0..2);
    let year = if birth && yy > 26 { 1900 + yy } else { 2000 + yy };
    format!("{:02} {} {year}", n(4..6), MONTHS[(n(2..4).clamp(1, 12)) - 1])
}

// ----- a float image --------------------------------------------------------------------

/// A greyscale image in `f32` (0 = black, 255 = white), for rendering and the camera.
#[derive(Debug, Clone)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Plane {
    fn new(w: usize, h: usize, v: f32) -> Self {
        Self { w, h, px: vec![v; w * h] }
    }
    fn blend(&mut self, x: i64, y: i64, ink: f32, a: f32) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let p = &mut self.px[y as usize * self.w + x as usize];
        *p = *p * (1.0 - a) + ink * a;
    }
    fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, f: impl Fn(f32, f32) -> f32) {
        let (xa, xb) = (x0.max(0.0) as usize, (x1.max(0.0) as usize).min(self.w));
        let (ya, yb) = (y0.max(0.0) as usize, (y1.max(0.0) as usize).min(self.h));
        for y in ya..yb {
            for x in xa..xb {
                let (u, v) = ((x as f32 - x0) / (x1 - x0), (y as f32 - y0) / (y1 - y0));
                self.px[y * self.w + x] = f(u, v);
            }
        }
    }
    /// Bilinear sample at continuous coordinates; `None` outside.
    fn sample(&self, x: f32, y: f32) -> Option<f32> {
        let (x, y) = (x - 0.5, y - 0.5);
        if x < -0.5 || y < -0.5 || x > self.w as f32 - 0.5 || y > self.h as f32 - 0.5 {
            return None;
        }
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = (x - x0 as f32, y - y0 as f32);
        let p = |xx: usize, yy: usize| self.px[yy * self.w + xx];
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * ax;
        let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * ax;
        Some(top + (bot - top) * ay)
    }
    pub fn to_gray(&self) -> GrayImage {
        GrayImage::from_fn(self.w as u32, self.h as u32, |x, y| {
            Luma([self.px[y as usize * self.w + x as usize].round().clamp(0.0, 255.0) as u8])
        })
    }
    /// Gaussian-like blur with standard deviation `sigma` pixels: three box passes per
    /// axis (running sums, so the cost does not grow with `sigma`), with box widths
    /// chosen so that the variances add up to `sigma²`.
    fn gaussian(&mut self, sigma: f32) {
        if sigma < 0.3 || self.w == 0 || self.h == 0 {
            return;
        }
        // Each pass takes a third of σ²: find the (fractional) box radius with that
        // variance by bisection.
        let target = sigma * sigma / 3.0;
        let (mut lo, mut hi) = (0f32, 3.0 * sigma + 1.0);
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if box_variance(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let radius = (lo + hi) / 2.0;
        let (w, h) = (self.w, self.h);
        let mut line = Vec::new();
        let mut out = Vec::new();
        for _ in 0..3 {
            for y in 0..h {
                line.clear();
                line.extend_from_slice(&self.px[y * w..(y + 1) * w]);
                box_line(&line, &mut out, radius);
                self.px[y * w..(y + 1) * w].copy_from_slice(&out);
            }
            for x in 0..w {
                line.clear();
                line.extend((0..h).map(|y| self.px[y * w + x]));
                box_line(&line, &mut out, radius);
                for (y, v) in out.iter().enumerate() {
                    self.px[y * w + x] = *v;
                }
            }
        }
    }
}

/// Variance of the discrete box of fractional radius `r` used by [`box_line`].
fn box_variance(r: f32) -> f32 {
    let ri = r.floor();
    let frac = r - ri;
    let n = ri as i64;
    let inner: f32 = (1..=n).map(|i| (i * i) as f32).sum();
    (2.0 * inner + 2.0 * frac * (ri + 1.0).powi(2)) / (2.0 * r + 1.0)
}

/// Box filter of fractional radius `r` (edge pixels repeated): the mean over
/// `[i - r, i + r]`, the two end pixels weighted by the fraction.
fn box_line(src: &[f32], dst: &mut Vec<f32>, r: f32) {
    let n = src.len();
    dst.clear();
    if n == 0 {
        return;
    }
    let ri = r.floor() as isize;
    let frac = r - ri as f32;
    let at = |i: isize| src[i.clamp(0, n as isize - 1) as usize];
    let mut sum: f32 = (-ri..=ri).map(at).sum();
    let norm = 1.0 / (2.0 * r + 1.0);
    for i in 0..n as isize {
        let edge = at(i - ri - 1) + at(i + ri + 1);
        dst.push((sum + frac * edge) * norm);
        sum += at(i + ri + 1) - at(i - ri);
    }
}

// ----- the document -------------------------------------------------------------------

fn hash2(x: i64, y: i64, seed: u64) -> f32 {
    let mut r = Rng::new((x as u64).wrapping_mul(0x9E37_79B1) ^ (y as u64).wrapping_mul(0x85EB_CA77) ^ seed);
    r.unit()
}

/// Background print at (x, y) millimetres; `mrz` fades it (the zone is kept clear).
fn security_print(style: u32, x: f32, y: f32, base: f32, seed: u64, mrz: bool) -> f32 {
    let fade = if mrz { 0.25 } else { 1.0 };
    let v = match style {
        // Flat with a soft gradient.
        0 => base - 6.0 * (x / 100.0) - 4.0 * (y / 80.0),
        // Guilloche: thin wavy lines.
        1 => {
            let t = (y + 1.8 * (x / 6.0).sin() + 0.9 * (x / 2.3 + y / 9.0).sin()) / 1.6;
            let line = (t * std::f32::consts::TAU).cos().max(0.0).powi(12);
            base - 38.0 * line * fade
        }
        // Rosette: concentric rings around a centre with a wobble.
        2 => {
            let (dx, dy) = (x - 70.0, y - 30.0);
            let r = (dx * dx + dy * dy).sqrt();
            let a = dy.atan2(dx);
            let ring = ((r + 1.2 * (a * 9.0).sin()) / 1.3 * std::f32::consts::TAU).cos().max(0.0).powi(10);
            base - 32.0 * ring * fade
        }
        // Fine fibrous texture (hash noise, 0.25 mm cells) plus faint diagonal hatching.
        _ => {
            let n = hash2((x * 4.0) as i64, (y * 4.0) as i64, seed);
            let hatch = (((x + y) / 0.9) * std::f32::consts::TAU).cos().max(0.0).powi(8);
            base - (14.0 * n + 18.0 * hatch) * fade
        }
    };
    v.clamp(0.0, 255.0)
}

/// Render `doc` frontal and flat at `px_per_mm` (a few px/mm is blurry print; 8–15 is a
/// sharp scan). The background style and the paper tone come from `seed`.
pub fn render_document(font: &OcrB, doc: &SynthDoc, px_per_mm: f32, seed: u64) -> GrayImage {
    render_plane(font, doc, px_per_mm, seed).to_gray()
}

fn render_plane(font: &OcrB, doc: &SynthDoc, px_per_mm: f32, seed: u64) -> Plane {
    render_plane_with(font, doc, px_per_mm, seed, None)
}

/// Bilinear sample of a grey image at `u`, `v` in 0‥1.
fn sample_unit(img: &GrayImage, u: f32, v: f32) -> f32 {
    let (w, h) = img.dimensions();
    let x = (u * w as f32 - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (v * h as f32 - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as u32, y as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: u32, yy: u32| f32::from(img.get_pixel(xx, yy)[0]);
    let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * ax;
    let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * ax;
    top + (bottom - top) * ay
}

fn render_plane_with(font: &OcrB, doc: &SynthDoc, px_per_mm: f32, seed: u64, portrait: Option<&GrayImage>) -> Plane {
    let mut rng = Rng::new(seed ^ 0xBAC6);
    let (wmm, hmm) = doc.format.size_mm();
    let k = px_per_mm.max(2.0);
    let (w, h) = ((wmm * k).round() as usize, (hmm * k).round() as usize);
    let style = rng.below(4) as u32;
    let base = rng.range(215.0, 245.0);
    let noise_seed = rng.next_u64();
    let zone = zone_layout(font, doc, k);
    let line_gap = zone.baselines.get(1).zip(zone.baselines.first()).map_or(0.0, |(b, a)| b - a);
    // The print fades a line's height above the zone (it is kept clear).
    let mrz_top = zone.baselines.first().copied().unwrap_or(0.0) - line_gap - 1.0 * k;
    let mut p = Plane::new(w, h, base);
    for y in 0..h {
        for x in 0..w {
            let (xm, ym) = (x as f32 / k, y as f32 / k);
            p.px[y * w + x] = security_print(style, xm, ym, base, noise_seed, y as f32 > mrz_top);
        }
    }
    let ink = rng.range(15.0, 45.0);
    let label_ink = rng.range(70.0, 110.0);
    let cap = |mm: f32| font.scale_for_cap(mm * k);
    let d = &doc.data;
    match doc.format.page_like() {
        true => {
            let title = if doc.format == DocFormat::VisaA { "VISA" } else { "PASSPORT" };
            font.draw(&mut p, title, (6.0 * k, 9.0 * k), cap(3.2), ink, None);
            let subtitle = if doc.format == DocFormat::VisaA { "VISA" } else { "PASSEPORT" };
            font.draw(&mut p, subtitle, (40.0 * k, 9.0 * k), cap(2.2), label_ink, None);
            font.draw(&mut p, &d.issuing_state.replace('<', ""), (100.0 * k, 9.0 * k), cap(3.2), ink, None);
            // Portrait: the given photo, or a shaded box with a head-and-shoulders silhouette.
            let tone = rng.range(120.0, 190.0);
            if let Some(photo) = portrait {
                p.fill_rect(6.0 * k, 16.0 * k, 38.0 * k, 58.0 * k, |u, v| sample_unit(photo, u, v));
            } else {
                p.fill_rect(6.0 * k, 16.0 * k, 38.0 * k, 58.0 * k, |u, v| {
                    let head = ((u - 0.5) / 0.28).powi(2) + ((v - 0.38) / 0.24).powi(2) < 1.0;
                    let body = v > 0.68 && ((u - 0.5) / 0.48).powi(2) + ((v - 1.05) / 0.42).powi(2) < 1.0;
                    if head || body { tone - 70.0 + 25.0 * v } else { tone + 30.0 * u }
                });
            }
            let rows: [(&str, String); 6] = [
                ("Surname / Nom", d.surname.clone()),
                ("Given names / Prenoms", d.given_names.clone()),
                ("Nationality", d.nationality.replace('<', "")),
                ("Date of birth", human_date(&d.birth_date, true)),
                ("Sex", d.sex.to_string().replace('<', "X")),
                ("Date of expiry", human_date(&d.expiry_date, false)),
            ];
            for (i, (label, value)) in rows.iter().enumerate() {
                let y = (18.0 + 7.4 * i as f32) * k;
                font.draw(&mut p, label, (44.0 * k, y), cap(1.5), label_ink, None);
                font.draw(&mut p, value, (44.0 * k, y + 3.6 * k), cap(2.4), ink, None);
            }
            font.draw(&mut p, "Document no.", (92.0 * k, 18.0 * k), cap(1.5), label_ink, None);
            font.draw(&mut p, &d.document_number, (92.0 * k, 21.6 * k), cap(2.4), ink, None);
            // A signature-like scribble, clear of the zone (a visa page is 8 mm shorter
            // than a passport's).
            let (sx, sy) = (8.0 * k, (hmm - 25.0) * k);
            for i in 0..(60.0 * k) as usize {
                let t = i as f32 / k;
                let yy = sy + (t * 0.9).sin() * 1.8 * k + (t * 0.23).cos() * 1.0 * k;
                for dy in 0..(0.35 * k).ceil() as i64 {
                    p.blend((sx + t * k * 0.45) as i64, yy as i64 + dy, ink, 0.9);
                }
            }
        }
        false => {
            let title = match doc.format {
                DocFormat::VisaB => "VISA",
                DocFormat::FrenchId => "CARTE NATIONALE D'IDENTITE",
                _ => "IDENTITY CARD",
            };
            font.draw(&mut p, title, (4.5 * k, 6.5 * k), cap(2.2), ink, None);
            font.draw(&mut p, &d.issuing_state.replace('<', ""), (72.0 * k, 6.5 * k), cap(2.2), ink, None);
            let lines = [
                format!("Address: {} {}", 1 + rng.below(200), word(&mut rng, 2)),
                format!("{} {}", word(&mut rng, 3), 1000 + rng.below(9000)),
                format!("Height {} cm   Eyes {}", 150 + rng.below(50), rng.pick(&["BLU", "BRN", "GRN"])),
                format!("Issued {}", human_date(&d.expiry_date, false)),
            ];
            for (i, l) in lines.iter().enumerate() {
                font.draw(&mut p, l, (4.5 * k, (12.5 + 4.2 * i as f32) * k), cap(1.6), label_ink, None);
            }
            // A small ghost portrait.
            let tone = rng.range(150.0, 200.0);
            p.fill_rect(66.0 * k, 10.0 * k, 80.0 * k, 27.0 * k, |u, v| {
                let head = ((u - 0.5) / 0.3).powi(2) + ((v - 0.4) / 0.26).powi(2) < 1.0;
                if head { tone - 40.0 } else { tone + 20.0 * v }
            });
        }
    }
    for (line, &baseline) in doc.lines.iter().zip(&zone.baselines) {
        font.draw(&mut p, line, (zone.left, baseline), zone.scale, ink, Some(zone.pitch));
    }
    p
}

/// Where the zone is printed on the document rendered at `k` px/mm.
struct ZoneLayout {
    scale: PxScale,
    pitch: f32,
    /// Left edge of the first character's advance box.
    left: f32,
    baselines: Vec<f32>,
    /// Height of a capital (`H`), pixels.
    cap: f32,
}

fn zone_layout(font: &OcrB, doc: &SynthDoc, k: f32) -> ZoneLayout {
    let k = k.max(2.0);
    let (wmm, hmm) = doc.format.size_mm();
    let n_lines = doc.lines.len();
    // ICAO 9303: 10 characters per inch; the zone's lines sit at the bottom.
    let pitch = 2.54 * k;
    let line_gap = if n_lines == 3 { 4.4 } else { 6.0 } * k;
    let bottom = if n_lines == 3 { 4.8 } else { 5.6 } * k;
    let scale = font.scale_for_pitch(pitch);
    let left = (wmm - pitch / k * doc.lines.first().map_or(0, String::len) as f32) / 2.0 * k;
    let baselines = (0..n_lines)
        .map(|i| hmm * k - bottom - line_gap * (n_lines - 1 - i) as f32)
        .collect();
    let glyph = font.font.glyph_id('H').with_scale_and_position(scale, point(0.0, 0.0));
    let cap = font.font.outline_glyph(glyph).map_or(0.8 * pitch, |g| g.px_bounds().height());
    ZoneLayout {
        scale,
        pitch,
        left,
        baselines,
        cap,
    }
}

/// Where each character cell of the sample's zone lies in its photo (centre of the
/// character's advance box at half a capital's height above the baseline; one pitch
/// along and across the line): the ground truth for the reader's geometry, and where the
/// classifier's training cells are cut.
pub fn zone_cells(font: &OcrB, s: &Sample) -> Vec<Vec<CellPlace>> {
    let k = s.px_per_mm.max(2.0);
    let (wmm, hmm) = s.doc.format.size_mm();
    let (dw, dh) = ((wmm * k).round(), (hmm * k).round());
    let corners = document_corners(&s.camera, dw, dh);
    let Some(to_photo) = Homography::from_points(&[(0.0, 0.0), (dw, 0.0), (dw, dh), (0.0, dh)], &corners) else {
        return Vec::new();
    };
    let zone = zone_layout(font, &s.doc, k);
    let half = zone.pitch / 2.0;
    s.doc
        .lines
        .iter()
        .zip(&zone.baselines)
        .map(|(line, &baseline)| {
            (0..line.len())
                .map(|i| {
                    let (x, y) = (zone.left + (i as f32 + 0.5) * zone.pitch, baseline - zone.cap / 2.0);
                    let at = |dx: f32, dy: f32| to_photo.apply((x + dx, y + dy));
                    let (l, r, u, d) = (at(-half, 0.0), at(half, 0.0), at(0.0, -half), at(0.0, half));
                    CellPlace {
                        centre: at(0.0, 0.0),
                        u: (r.0 - l.0, r.1 - l.1),
                        v: (d.0 - u.0, d.1 - u.1),
                    }
                })
                .collect()
        })
        .collect()
}

// ----- the camera ---------------------------------------------------------------------

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

fn photograph_plane(doc: &Plane, cam: &Camera) -> GrayImage {
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

fn jpeg_roundtrip(img: &GrayImage, quality: u8) -> Option<GrayImage> {
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
    let (wmm, _) = doc.format.size_mm();
    let px_per_mm = camera.doc_width * camera.width as f32 * 1.2 / wmm;
    let plane = render_plane(font, &doc, px_per_mm, seed);
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
    let format = DocFormat::Passport;
    let doc = random_identity(format, seed);
    let camera = Camera::for_distortion(distortion, seed);
    let (wmm, _) = format.size_mm();
    let px_per_mm = camera.doc_width * camera.width as f32 * 1.2 / wmm;
    let plane = render_plane_with(font, &doc, px_per_mm, seed, Some(portrait));
    let image = photograph_plane(&plane, &camera);
    Sample {
        doc,
        camera,
        image,
        px_per_mm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn identities_have_valid_zones_and_are_reproducible() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        for seed in 0..200 {
            for format in [DocFormat::Passport, DocFormat::IdCard] {
                let d = random_identity(format, seed);
                let refs: Vec<&str> = d.lines.iter().map(String::as_str).collect();
                let r = mrz::parse_lines(&refs, today).unwrap();
                assert!(r.valid, "{:?}", d.lines);
                assert_eq!(r.format, format.mrz_format());
                assert_eq!(random_identity(format, seed).lines, d.lines);
            }
        }
    }

    #[test]
    fn french_identity_cards_have_valid_zones_of_their_own_layout() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        for seed in 0..200 {
            let d = random_identity(DocFormat::FrenchId, seed);
            let refs: Vec<&str> = d.lines.iter().map(String::as_str).collect();
            let r = mrz::parse_lines(&refs, today).unwrap();
            assert!(r.valid, "{:?}", d.lines);
            assert_eq!(r.format, MrzFormat::FrenchId);
            assert!(d.lines[0].starts_with("IDFRA") && d.lines.iter().all(|l| l.len() == 36));
            assert_eq!(r.fields.document_number, d.data.document_number);
            assert_eq!(r.fields.surname, d.data.surname);
            assert_eq!(r.fields.given_names, d.data.given_names);
        }
    }

    #[test]
    fn blur_has_the_requested_spread() {
        for sigma in [0.7f32, 1.5, 2.5] {
            let mut p = Plane::new(101, 1, 0.0);
            p.px[50] = 1000.0;
            // One row: the vertical passes leave it unchanged.
            p.gaussian(sigma);
            let total: f32 = p.px.iter().sum();
            let var: f32 = p.px.iter().enumerate().map(|(i, v)| v * (i as f32 - 50.0).powi(2)).sum::<f32>() / total;
            assert!((total - 1000.0).abs() < 1.0, "{total}");
            assert!((var.sqrt() - sigma).abs() < 0.15 * sigma, "σ {sigma}: got {}", var.sqrt());
        }
    }

    #[test]
    fn photographs_are_reproducible_and_show_the_document() {
        let Ok(font) = OcrB::load_default() else {
            eprintln!("skipping: OCR-B font missing (apt-get install fonts-ocr-b)");
            assert!(std::env::var_os("CI").is_none(), "CI needs fonts-ocr-b");
            return;
        };
        let mut cam = Camera::for_distortion(Distortion::Clean, 3);
        cam.width = 400;
        cam.height = 300;
        let doc = random_identity(DocFormat::IdCard, 3);
        let flat = render_document(&font, &doc, 5.0, 3);
        assert_eq!(flat.dimensions(), (428, 270));
        let a = photograph(&flat, &cam);
        let b = photograph(&flat, &cam);
        assert_eq!(a, b);
        // The document (light paper) is brighter than most tables at the frame centre.
        let centre = a.get_pixel(200, 150)[0];
        assert!(centre > 100, "{centre}");
    }
}
