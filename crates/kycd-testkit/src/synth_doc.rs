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

mod camera;
mod plane;

use ab_glyph::{Font, FontArc, PxScale, point};
pub use camera::{Camera, Distortion, Sample, document_corners, photograph, photograph_doc, sample, sample_with_portrait};
use image::{GrayImage, Luma};
use kycd_checks::mrz::{self, MrzData, MrzFormat};
use kycd_checks::mrz_zone::{CellPlace, Homography};
pub use plane::Plane;
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

/// A 9-character document number starting with 1 to `max_letters` letters, and an
/// optional field present one time in two, `len.0 + below(len.1)` long; drawn in this
/// order, so a seed gives the same document as ever.
fn number_and_optional(rng: &mut Rng, len: (usize, usize), max_letters: usize) -> (String, String) {
    let n = len.0 + rng.below(len.1);
    let optional = if rng.below(2) == 0 { alnum(rng, n, 0) } else { String::new() };
    let letters = 1 + rng.below(max_letters);
    (alnum(rng, 9, letters), optional)
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
            let (number, optional) = number_and_optional(&mut rng, (3, 10), 2);
            (code, number, optional, String::new())
        }
        DocFormat::Td2Card => {
            let code = *rng.pick(&["I", "ID", "IR", "AC"]);
            let (number, optional) = number_and_optional(&mut rng, (2, 6), 3);
            (code, number, optional, String::new())
        }
        DocFormat::Passport => {
            let code = if rng.below(6) == 0 { "PD" } else { "P" };
            let (number, optional) = number_and_optional(&mut rng, (5, 8), 2);
            (code, number, optional, String::new())
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

#[cfg(test)]
mod tests;
