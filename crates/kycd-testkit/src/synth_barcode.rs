//! Synthetic backs of North American driving licences: a PDF417 barcode holding an AAMVA
//! payload of a fictional person ([`aamva::build_payload`], encoded with rxing's own
//! PDF417 writer), printed on an ID-1 card with a few lines of text and a faint guilloche,
//! placed on a background and "photographed": rotation, perspective, blur, glare,
//! exposure, noise, JPEG. Deterministic: the same scene renders the same pixels, so
//! tests and benchmarks generate their corpus at run time and nothing binary is committed.

use crate::synth::{Background, expose};
use chrono::{Datelike, NaiveDate};
use image::{GrayImage, Luma};
use kycd_checks::aamva::{self, AamvaSex};
use rxing::pdf417::PDF417Writer;
use rxing::pdf417::encoder::Dimensions;
use rxing::{BarcodeFormat, EncodeHints, Writer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    #[error("the PDF417 writer refused the payload: {0}")]
    Encode(String),
}

/// What a synthetic licence says, as [`aamva::parse`] should read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceTruth {
    pub iin: String,
    pub version: u8,
    pub family_name: String,
    pub first_name: String,
    pub middle_names: String,
    pub birth_date: NaiveDate,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub document_number: String,
    pub sex: AamvaSex,
    pub street: String,
    pub city: String,
    /// DAJ, state or province.
    pub jurisdiction: String,
    /// The postal code as parsed (a US ZIP+4 of `0000` reads back as the 5-digit ZIP).
    pub postal_code: String,
    pub country: String,
    pub eye_color: String,
    pub height: String,
}

const FAMILY: [&str; 10] = [
    "SAMPLE",
    "SPECIMEN",
    "EXAMPLE",
    "TESTPERSON",
    "O'DEMO",
    "MUSTER-PROBE",
    "DOE",
    "FICTION",
    "PLACEHOLDER",
    "VAN DER TEST",
];
const FIRST: [&str; 8] = ["ALEXANDRA", "JORDAN", "MARIE-CLAIRE", "SAM", "TAYLOR", "NOAH", "ZOE", "CHRISTOPHER"];
const MIDDLE: [&str; 5] = ["JOY", "LEE", "ANN MARIE", "", "QUINN"];
const STREETS: [&str; 5] = [
    "1234 MAIN STREET",
    "77 ELM AVE APT 4B",
    "9 RUE FICTIVE",
    "500 TEST BLVD",
    "42 NOWHERE RD",
];
const US: [(&str, &str, &str, &str); 4] = [
    ("636014", "CA", "SACRAMENTO", "95823"),
    ("636015", "TX", "AUSTIN", "73301"),
    ("636001", "NY", "ALBANY", "12207"),
    ("636020", "CO", "DENVER", "80202"),
];
const CANADA: [(&str, &str, &str, &str); 2] = [("636012", "ON", "TORONTO", "M5V2T6"), ("636028", "BC", "VICTORIA", "V8W1P6")];

fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// A fictional licence holder chosen by `seed`: US (version 10, dates `MMDDCCYY`) for
/// most seeds, Canadian (version 08, `CCYYMMDD`) for one in four.
pub fn licence(seed: u32) -> LicenceTruth {
    let r = |k: u32| mix(seed.wrapping_mul(0x9e37_79b9).wrapping_add(k));
    let pick = |k: u32, n: usize| r(k) as usize % n;
    let canadian = r(0).is_multiple_of(4);
    let (iin, jurisdiction, city, zip) = if canadian {
        CANADA[pick(1, CANADA.len())]
    } else {
        US[pick(1, US.len())]
    };
    let birth = date(1950 + (r(2) % 55) as i32, 1 + r(3) % 12, 1 + r(4) % 28);
    let issue = date(2019 + (r(5) % 6) as i32, 1 + r(6) % 12, 1 + r(7) % 28);
    let expiry = date(issue.year() + 5 + (r(8) % 4) as i32, birth.month0() + 1, birth.day0() + 1);
    let letter = char::from(b'A' + (r(9) % 26) as u8);
    LicenceTruth {
        iin: iin.to_owned(),
        version: if canadian { 8 } else { 10 },
        family_name: FAMILY[pick(10, FAMILY.len())].to_owned(),
        first_name: FIRST[pick(11, FIRST.len())].to_owned(),
        middle_names: MIDDLE[pick(12, MIDDLE.len())].to_owned(),
        birth_date: birth,
        issue_date: issue,
        expiry_date: expiry,
        document_number: format!("{letter}{:07}", r(13) % 10_000_000),
        sex: if r(14).is_multiple_of(2) {
            AamvaSex::Male
        } else {
            AamvaSex::Female
        },
        street: STREETS[pick(15, STREETS.len())].to_owned(),
        city: city.to_owned(),
        jurisdiction: jurisdiction.to_owned(),
        postal_code: zip.to_owned(),
        country: if canadian { "CAN" } else { "USA" }.to_owned(),
        eye_color: ["BRO", "BLU", "GRN", "HAZ"][pick(16, 4)].to_owned(),
        height: format!("{:03} IN", 60 + r(17) % 16),
    }
}

impl LicenceTruth {
    /// The AAMVA payload: a DL subfile with the 2020 element set and a jurisdiction `Z`
    /// subfile, as issuers write them.
    pub fn payload(&self) -> Vec<u8> {
        let canadian = self.country == "CAN";
        let d = |x: NaiveDate| {
            if canadian {
                format!("{:04}{:02}{:02}", x.year(), x.month(), x.day())
            } else {
                format!("{:02}{:02}{:04}", x.month(), x.day(), x.year())
            }
        };
        let (dba, dbd, dbb) = (d(self.expiry_date), d(self.issue_date), d(self.birth_date));
        let dak = if canadian {
            format!("{:<11}", self.postal_code)
        } else {
            format!("{}0000", self.postal_code)
        };
        let sex = match self.sex {
            AamvaSex::Male => "1",
            AamvaSex::Female => "2",
            _ => "9",
        };
        let middle = if self.middle_names.is_empty() { "NONE" } else { &self.middle_names };
        let elements: Vec<(&str, &str)> = vec![
            ("DCA", "C"),
            ("DCB", "NONE"),
            ("DCD", "NONE"),
            ("DBA", &dba),
            ("DCS", &self.family_name),
            ("DAC", &self.first_name),
            ("DAD", middle),
            ("DBD", &dbd),
            ("DBB", &dbb),
            ("DBC", sex),
            ("DAY", &self.eye_color),
            ("DAU", &self.height),
            ("DAG", &self.street),
            ("DAI", &self.city),
            ("DAJ", &self.jurisdiction),
            ("DAK", &dak),
            ("DAQ", &self.document_number),
            ("DCF", "83D9BN217QO983B1"),
            ("DCG", &self.country),
            ("DDE", "N"),
            ("DDF", "N"),
            ("DDG", "N"),
        ];
        let zid = format!("Z{}", self.jurisdiction.get(..1).unwrap_or("X"));
        let z_elems = [(format!("{zid}A"), "SYNTHETIC".to_owned())];
        let z: Vec<(&str, &str)> = z_elems.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        aamva::build_payload(&self.iin, self.version, 0, &[("DL", &elements), (&zid, &z)])
    }
}

/// A PDF417 symbol: `true` is a dark module. One module per column, `row_height` pixel
/// rows per barcode row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub width: u32,
    pub height: u32,
    pub dark: Vec<bool>,
}

/// Encode bytes as PDF417 with rxing's writer (data columns, error-correction level 0–8),
/// without quiet zone. The bytes are passed as ISO 8859-1 text, one char per byte, which
/// the writer compacts back into the same bytes.
pub fn pdf417_symbol(payload: &[u8], columns: u8, ec_level: u8) -> Result<Symbol, SynthError> {
    let text: String = payload.iter().map(|&b| char::from(b)).collect();
    let c = usize::from(columns.clamp(1, 30));
    let hints = EncodeHints {
        Margin: Some("0".to_owned()),
        ErrorCorrection: Some(ec_level.min(8).to_string()),
        Pdf417Dimensions: Some(Dimensions::new(c, c, 3, 90)),
        ..EncodeHints::default()
    };
    let m = PDF417Writer
        .encode_with_hints(&text, &BarcodeFormat::PDF_417, 0, 0, &hints)
        .map_err(|e| SynthError::Encode(e.to_string()))?;
    let (width, height) = (m.getWidth(), m.getHeight());
    let dark = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| m.get(x, y))
        .collect();
    Ok(Symbol { width, height, dark })
}

/// A photographed licence back.
#[derive(Debug, Clone, PartialEq)]
pub struct BackScene {
    pub width: u32,
    pub height: u32,
    /// Card centre as a fraction of the frame.
    pub centre: (f32, f32),
    /// Card width as a fraction of the frame width.
    pub card_width: f32,
    /// Rotation of the card in the image plane, degrees.
    pub angle_deg: f32,
    /// Perspective: (top edge shorter than the bottom by this fraction, left edge shorter
    /// than the right by this fraction); negative values the other way; 0 for none.
    pub keystone: (f32, f32),
    pub background: Background,
    pub paper: u8,
    /// Box-blur radius, three passes (≈ Gaussian), 0 for none.
    pub blur: u32,
    /// Saturated glare ellipse: centre (fraction of the card), radius (fraction of card width).
    pub glare: Option<((f32, f32), f32)>,
    /// Exposure: every pixel × `gain` + `offset`.
    pub gain: f32,
    pub offset: f32,
    /// Amplitude of uniform noise.
    pub noise: u8,
    pub seed: u32,
    /// Data columns and error-correction level of the barcode.
    pub columns: u8,
    pub ec_level: u8,
}

impl Default for BackScene {
    fn default() -> Self {
        Self {
            width: 1600,
            height: 1200,
            centre: (0.5, 0.5),
            card_width: 0.75,
            angle_deg: 0.0,
            keystone: (0.0, 0.0),
            background: Background::Flat(70),
            paper: 225,
            blur: 0,
            glare: None,
            gain: 1.0,
            offset: 0.0,
            noise: 2,
            seed: 1,
            columns: 13,
            ec_level: 5,
        }
    }
}

/// Where the barcode sits on the card, in card coordinates (u, v ∈ [0, 1]).
const CODE_U: (f32, f32) = (0.06, 0.94);
const CODE_V_CENTRE: f32 = 0.64;
/// Card height / width (ID-1: 54 / 85.6 mm).
const CARD_ASPECT: f32 = 54.0 / 85.6;

/// The card itself, flat, `w` pixels wide: text lines at the top, the barcode below,
/// a faint guilloche on the paper around it.
fn card_texture(s: &BackScene, sym: &Symbol, w: u32) -> GrayImage {
    let h = ((w as f32 * CARD_ASPECT).round() as u32).max(1);
    let code_w = (CODE_U.1 - CODE_U.0) * w as f32;
    let module = code_w / sym.width.max(1) as f32;
    let code_h = module * sym.height as f32;
    let code_x0 = CODE_U.0 * w as f32;
    let code_y0 = CODE_V_CENTRE * h as f32 - code_h / 2.0;
    let quiet = 2.0 * module;
    let paper = f32::from(s.paper);
    GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let (mx, my) = ((fx - code_x0) / module, (fy - code_y0) / module);
        if (0.0..sym.width as f32).contains(&mx) && (0.0..sym.height as f32).contains(&my) {
            let i = my as usize * sym.width as usize + mx as usize;
            let dark = sym.dark.get(i).copied().unwrap_or(false);
            return Luma([if dark { 30 } else { s.paper }]);
        }
        let (u, v) = (fx / w as f32, fy / h as f32);
        let near_code = fx > code_x0 - quiet && fx < code_x0 + code_w + quiet && fy > code_y0 - quiet && fy < code_y0 + code_h + quiet;
        // Text: four lines of dash "words" in the top quarter.
        if (0.06..0.36).contains(&v) && (0.06..0.80).contains(&u) {
            let line = ((v - 0.06) / 0.075) as u32;
            let fv = ((v - 0.06) / 0.075).fract();
            let word = ((u - 0.06) / 0.09) as u32;
            let fu = ((u - 0.06) / 0.09).fract();
            let len = 0.4 + (mix(word * 131 + line * 7 + s.seed) % 50) as f32 / 100.0;
            if fv < 0.45 && fu < len {
                return Luma([60]);
            }
        }
        let mut val = paper - 8.0 * v;
        if !near_code {
            let g = (u * 40.0 + 3.0 * (v * 25.0).sin()).sin() * (v * 30.0 + 2.0 * (u * 18.0).cos()).sin();
            if g.abs() < 0.06 {
                val -= 22.0;
            }
        }
        Luma([val.clamp(0.0, 255.0) as u8])
    })
}

/// 3 × 3 homography, row-major: maps (u, v, 1) to (x·w, y·w, w).
type Homography = [f32; 9];

/// The projective map from the unit square onto the quad p0 (0,0), p1 (1,0), p2 (1,1),
/// p3 (0,1) (Heckbert's square-to-quad).
fn square_to_quad(p: [(f32, f32); 4]) -> Homography {
    let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = p;
    let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let (dx1, dy1, dx2, dy2) = (x1 - x2, y1 - y2, x3 - x2, y3 - y2);
    let den = dx1 * dy2 - dx2 * dy1;
    let (g, h) = if den.abs() < 1e-12 {
        (0.0, 0.0)
    } else {
        ((sx * dy2 - dx2 * sy) / den, (dx1 * sy - sx * dy1) / den)
    };
    [
        x1 - x0 + g * x1,
        x3 - x0 + h * x3,
        x0,
        y1 - y0 + g * y1,
        y3 - y0 + h * y3,
        y0,
        g,
        h,
        1.0,
    ]
}

fn invert(m: &Homography) -> Homography {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let co = [
        e * i - f * h,
        c * h - b * i,
        b * f - c * e,
        f * g - d * i,
        a * i - c * g,
        c * d - a * f,
        d * h - e * g,
        b * g - a * h,
        a * e - b * d,
    ];
    let det = a * co[0] + b * co[3] + c * co[6];
    let k = if det.abs() < 1e-20 { 0.0 } else { 1.0 / det };
    co.map(|v| v * k)
}

/// The card corners in the frame, clockwise from top-left.
fn card_corners(s: &BackScene) -> [(f32, f32); 4] {
    let cw = s.card_width * s.width as f32;
    let ch = cw * CARD_ASPECT;
    let (kt, kl) = s.keystone;
    // Top edge (1 − kt) × as long as the bottom, left edge (1 − kl) × the right.
    let half_w = |v: f32| cw / 2.0 * (1.0 - kt * (0.5 - v));
    let half_h = |u: f32| ch / 2.0 * (1.0 - kl * (0.5 - u));
    let local = [
        (-half_w(0.0), -half_h(0.0)),
        (half_w(0.0), -half_h(1.0)),
        (half_w(1.0), half_h(1.0)),
        (-half_w(1.0), half_h(0.0)),
    ];
    let (sin, cos) = s.angle_deg.to_radians().sin_cos();
    let (cx, cy) = (s.centre.0 * s.width as f32, s.centre.1 * s.height as f32);
    local.map(|(x, y)| (cx + x * cos - y * sin, cy + x * sin + y * cos))
}

/// Render the scene in greyscale.
pub fn render(s: &BackScene, sym: &Symbol) -> GrayImage {
    let (w, h) = (s.width.max(1), s.height.max(1));
    // The card is drawn flat at about the frame's scale, then mapped in bilinearly.
    let tex_w = ((s.card_width * w as f32).ceil() as u32).clamp(64, 8192);
    let tex = card_texture(s, sym, tex_w);
    let (tw, th) = (tex.width() as usize, tex.height() as usize);
    let t = tex.as_raw();
    let inv = invert(&square_to_quad(card_corners(s)));
    let cw = s.card_width * w as f32;
    let mut img = GrayImage::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let q = inv[6] * px + inv[7] * py + inv[8];
        let (u, v) = ((inv[0] * px + inv[1] * py + inv[2]) / q, (inv[3] * px + inv[4] * py + inv[5]) / q);
        let value = if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) {
            let (fx, fy) = ((u * tw as f32 - 0.5).max(0.0), (v * th as f32 - 0.5).max(0.0));
            let (x0, y0) = ((fx as usize).min(tw - 1), (fy as usize).min(th - 1));
            let (x1, y1) = ((x0 + 1).min(tw - 1), (y0 + 1).min(th - 1));
            let (ax, ay) = (fx.fract(), fy.fract());
            let p = |x: usize, y: usize| f32::from(t[y * tw + x]);
            let mut val = (p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax) * (1.0 - ay) + (p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax) * ay;
            if let Some(((gu, gv), r)) = s.glare {
                let (du, dv) = ((u - gu) * cw, (v - gv) * cw * CARD_ASPECT);
                let d = (du * du + dv * dv).sqrt() / (r * cw);
                if d < 1.0 {
                    val = 255.0;
                } else if d < 1.4 {
                    val += (255.0 - val) * (1.4 - d) / 0.4;
                }
            }
            val
        } else {
            match s.background {
                Background::Flat(g) => f32::from(g),
                Background::Textured => {
                    let t = (y as f32 * 0.21 + 5.0 * (x as f32 * 0.011).sin()).sin();
                    105.0 + 40.0 * t + 12.0 * (x as f32 * 0.7 + y as f32 * 0.04).sin()
                }
                Background::None => f32::from(s.paper),
            }
        };
        Luma([value.clamp(0.0, 255.0) as u8])
    });
    expose(&mut img, s.blur, s.gain, s.offset, s.noise, s.seed);
    img
}

/// A photo-like colour JPEG (YCbCr, subsampled chroma, a warm tint), as a phone writes.
pub fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let rgb = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let v = img.get_pixel(x, y)[0];
        image::Rgb([v.saturating_add(8), v, v.saturating_sub(12)])
    });
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    // Encoding into a Vec cannot fail for a valid buffer; an empty result is refused by
    // every caller's decode step.
    let _ = rgb.write_with_encoder(enc);
    out
}

/// The licence of `seed`, its barcode, and the scene rendered: (truth, payload, image).
pub fn licence_back(s: &BackScene) -> Result<(LicenceTruth, Vec<u8>, GrayImage), SynthError> {
    let truth = licence(s.seed);
    let payload = truth.payload();
    let sym = pdf417_symbol(&payload, s.columns, s.ec_level)?;
    let img = render(s, &sym);
    Ok((truth, payload, img))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_parses_back_to_the_truth() {
        for seed in 0..16 {
            let t = licence(seed);
            let r = aamva::parse(&t.payload()).unwrap();
            assert!(r.problems.is_empty(), "seed {seed}: {:?}", r.problems);
            assert_eq!(r.family_name.as_deref(), Some(t.family_name.as_str()));
            assert_eq!(r.birth_date, Some(t.birth_date));
            assert_eq!(r.expiry_date, Some(t.expiry_date));
            assert_eq!(r.postal_code.as_deref(), Some(t.postal_code.as_str()));
            assert_eq!(r.country.as_deref(), Some(t.country.as_str()));
        }
    }

    #[test]
    fn homography_maps_the_unit_square_onto_the_quad() {
        let q = [(10.0, 20.0), (110.0, 25.0), (105.0, 90.0), (5.0, 80.0)];
        let m = square_to_quad(q);
        let inv = invert(&m);
        for ((u, v), (x, y)) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].into_iter().zip(q) {
            let w = m[6] * u + m[7] * v + m[8];
            assert!(((m[0] * u + m[1] * v + m[2]) / w - x).abs() < 1e-3);
            assert!(((m[3] * u + m[4] * v + m[5]) / w - y).abs() < 1e-3);
            let w2 = inv[6] * x + inv[7] * y + inv[8];
            assert!(((inv[0] * x + inv[1] * y + inv[2]) / w2 - u).abs() < 1e-4);
        }
    }

    #[test]
    fn symbol_has_the_asked_columns() {
        let s = pdf417_symbol(b"HELLO", 4, 2).unwrap();
        // 17 modules per codeword: start, left indicator, 4 data, right indicator, stop (18) + 1.
        assert_eq!(s.width, 17 * 7 + 18);
        assert_eq!(s.dark.len(), (s.width * s.height) as usize);
    }
}
