//! ICAO Doc 9303 machine-readable zones: TD1 (3 × 30), TD2 (2 × 36), TD3 (2 × 44) and the
//! machine-readable visas MRV-A (2 × 44) and MRV-B (2 × 36); and the French identity
//! card issued until 2021 (2 × 36 in its national layout, [`MrzFormat::FrenchId`]).
//!
//! [`parse_lines`] takes the zone's lines as an OCR engine read them. It verifies every
//! check digit (weights 7, 3, 1; `<` = 0, `0`–`9` = 0–9, `A`–`Z` = 10–35), including the
//! composite one, and repairs OCR confusions only where the field's type leaves no
//! choice and the check digits then confirm the result:
//!
//! - a letter in a numeric field (dates, check digits) becomes the digit it is mistaken
//!   for: O→0, I→1, S→5, B→8, Z→2;
//! - a digit in an alphabetic field (document code, states, nationality, names) becomes
//!   the letter: 0→O, 1→I, 5→S, 8→B, 2→Z;
//! - alphanumeric fields (document number, optional data) are never changed: both
//!   readings are legal there, and a check digit alone would confirm a wrong guess about
//!   one time in ten.
//!
//! Repairs are kept only when, after all of them, every check digit passes; otherwise
//! the lines are returned as read, `valid` is false and `repaired` is empty.
//!
//! This is the seam the OCR feeds: whatever reads the zone (PP-OCR through rten, later)
//! hands its text lines to [`parse_lines`].

use chrono::{Datelike, NaiveDate};
use kycd_core::DocumentType;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MrzFormat {
    /// ID-1 card: 3 lines of 30.
    Td1,
    /// ID-2 card: 2 lines of 36.
    Td2,
    /// Passport: 2 lines of 44.
    Td3,
    /// Visa on a passport page: 2 lines of 44.
    MrvA,
    /// Smaller visa: 2 lines of 36.
    MrvB,
    /// France's national identity card issued until 2021 (105 × 74 mm): 2 lines of 36
    /// in its own layout, not ICAO's TD2 (line 1 `IDFRA`, surname, issuing office;
    /// line 2 card number, given names, birth date, sex, and one check digit over both
    /// lines). No nationality (the card is issued to French nationals only) and no
    /// expiry date in the zone.
    FrenchId,
}

impl MrzFormat {
    pub fn line_len(self) -> usize {
        match self {
            Self::Td1 => 30,
            Self::Td2 | Self::MrvB | Self::FrenchId => 36,
            Self::Td3 | Self::MrvA => 44,
        }
    }
    pub fn line_count(self) -> usize {
        if self == Self::Td1 { 3 } else { 2 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    /// `<` or `X`.
    Unspecified,
    /// Anything else (an unreadable character).
    Invalid,
}

/// What the zone says. Personal: `Debug` redacts everything but the codes.
#[derive(Clone, PartialEq, Serialize)]
pub struct MrzFields {
    /// `P`, `ID`, `I`, `AC`, `V`… with fillers removed.
    pub document_code: String,
    /// What the code maps to (`P` passport; `I`/`A`/`C` card, `IR`/`AR`/`CR` residence
    /// permit; visas have none).
    pub document_type: Option<DocumentType>,
    pub issuing_state: String,
    pub document_number: String,
    pub surname: String,
    pub given_names: String,
    pub nationality: String,
    /// `None` when the date is unknown (`<<`) or impossible; the raw `YYMMDD` is kept.
    pub birth_date: Option<NaiveDate>,
    pub birth_date_raw: String,
    pub sex: Sex,
    pub expiry_date: Option<NaiveDate>,
    pub expiry_date_raw: String,
    /// Optional data (TD1: line 1's; TD3: the personal number), fillers trimmed.
    pub optional_data: String,
    /// TD1 only: line 2's optional data.
    pub optional_data_2: String,
}

impl fmt::Debug for MrzFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrzFields")
            .field("document_code", &self.document_code)
            .field("document_type", &self.document_type)
            .field("issuing_state", &self.issuing_state)
            .field("nationality", &self.nationality)
            .finish_non_exhaustive()
    }
}

/// One check digit: the character on the document and the digit computed from its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckDigit {
    /// `document_number`, `birth_date`, `expiry_date`, `optional_data`, `composite`.
    pub field: &'static str,
    pub found: char,
    /// `None` when the field holds a character outside `A–Z 0–9 <`.
    pub computed: Option<u8>,
    pub passed: bool,
}

/// A character changed by repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// 0-based line and position.
    pub line: usize,
    pub position: usize,
    pub from: char,
    pub to: char,
    pub field: &'static str,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct MrzResult {
    pub format: MrzFormat,
    /// The zone's lines after repair (exactly as read when nothing was repaired).
    pub lines: Vec<String>,
    /// Every check digit verified, and the issuing state and nationality are codes a
    /// document can carry (they have no check digit: an unknown code is a misread).
    pub valid: bool,
    /// `issuing_state` / `nationality` when not an ICAO 9303 code.
    pub unknown_codes: Vec<&'static str>,
    pub fields: MrzFields,
    pub check_digits: Vec<CheckDigit>,
    pub repaired: Vec<Repair>,
    /// Per line, per character: how sure the reader is of it (the cell classifier's
    /// probability; empty when the zone was given as text).
    pub confidence: Vec<Vec<f32>>,
    /// Cells too unsure to trust: a name or another cell no check digit covers below the
    /// reader's confidence bar, or cells where the check digits left two readings. A zone
    /// with any is never `valid` (it goes to a person).
    pub uncertain: Vec<CellRef>,
}

/// A cell of a zone: 0-based line and position, and its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellRef {
    pub line: usize,
    pub position: usize,
    pub field: &'static str,
}

impl fmt::Debug for MrzResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrzResult")
            .field("format", &self.format)
            .field("valid", &self.valid)
            .field("fields", &self.fields)
            .field(
                "check_digits",
                &self.check_digits.iter().map(|c| (c.field, c.passed)).collect::<Vec<_>>(),
            )
            .field("repaired", &self.repaired.len())
            .field("uncertain", &self.uncertain.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrzError {
    #[error("no machine-readable zone: no text lines")]
    Empty,
    #[error("the lines do not form a machine-readable zone (lengths {0:?}; expected 3 × 30, 2 × 36 or 2 × 44)")]
    Layout(Vec<usize>),
}

/// The value of an MRZ character in check-digit sums.
pub fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// ICAO 9303 check digit of a character string (weights 7, 3, 1 repeating, mod 10).
pub fn check_digit(s: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in s.chars().zip([7u32, 3, 1].into_iter().cycle()) {
        sum += char_value(c)? * w;
    }
    Some((sum % 10) as u8)
}

// ----- layout -----------------------------------------------------------------------

/// What a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Letters and `<` only.
    Alpha,
    /// Digits only (dates; check digits, which may also be `<` where allowed).
    Numeric,
    /// Both legal: never repaired.
    AlphaNum,
    /// `M`, `F`, `X`, `<`.
    Sex,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    line: usize,
    start: usize,
    len: usize,
    kind: FieldKind,
}

const fn f(name: &'static str, line: usize, start: usize, len: usize, kind: FieldKind) -> Field {
    Field {
        name,
        line,
        start,
        len,
        kind,
    }
}

/// The fields of each layout (ICAO 9303 parts 4–7).
fn layout(format: MrzFormat) -> Vec<Field> {
    use FieldKind::*;
    match format {
        MrzFormat::Td3 | MrzFormat::MrvA | MrzFormat::Td2 | MrzFormat::MrvB => {
            let n = format.line_len();
            let mut v = vec![
                f("document_code", 0, 0, 2, Alpha),
                f("issuing_state", 0, 2, 3, Alpha),
                f("name", 0, 5, n - 5, Alpha),
                f("document_number", 1, 0, 9, AlphaNum),
                f("document_number_check", 1, 9, 1, Numeric),
                f("nationality", 1, 10, 3, Alpha),
                f("birth_date", 1, 13, 6, Numeric),
                f("birth_date_check", 1, 19, 1, Numeric),
                f("sex", 1, 20, 1, Sex),
                f("expiry_date", 1, 21, 6, Numeric),
                f("expiry_date_check", 1, 27, 1, Numeric),
            ];
            match format {
                MrzFormat::Td3 => {
                    v.push(f("optional_data", 1, 28, 14, AlphaNum));
                    v.push(f("optional_data_check", 1, 42, 1, Numeric));
                    v.push(f("composite_check", 1, 43, 1, Numeric));
                }
                MrzFormat::Td2 => {
                    v.push(f("optional_data", 1, 28, 7, AlphaNum));
                    v.push(f("composite_check", 1, 35, 1, Numeric));
                }
                _ => v.push(f("optional_data", 1, 28, n - 28, AlphaNum)),
            }
            v
        }
        // As the French card's public descriptions give it.
        MrzFormat::FrenchId => vec![
            f("document_code", 0, 0, 2, Alpha),
            f("issuing_state", 0, 2, 3, Alpha),
            f("surname", 0, 5, 25, Alpha),
            // The issuing department and office.
            f("optional_data", 0, 30, 6, AlphaNum),
            f("document_number", 1, 0, 12, AlphaNum),
            f("document_number_check", 1, 12, 1, Numeric),
            f("given_names", 1, 13, 14, Alpha),
            f("birth_date", 1, 27, 6, Numeric),
            f("birth_date_check", 1, 33, 1, Numeric),
            f("sex", 1, 34, 1, Sex),
            f("composite_check", 1, 35, 1, Numeric),
        ],
        MrzFormat::Td1 => vec![
            f("document_code", 0, 0, 2, Alpha),
            f("issuing_state", 0, 2, 3, Alpha),
            f("document_number", 0, 5, 9, AlphaNum),
            // `<` here means the number continues in the optional data.
            f("document_number_check", 0, 14, 1, AlphaNum),
            f("optional_data", 0, 15, 15, AlphaNum),
            f("birth_date", 1, 0, 6, Numeric),
            f("birth_date_check", 1, 6, 1, Numeric),
            f("sex", 1, 7, 1, Sex),
            f("expiry_date", 1, 8, 6, Numeric),
            f("expiry_date_check", 1, 14, 1, Numeric),
            f("nationality", 1, 15, 3, Alpha),
            f("optional_data_2", 1, 18, 11, AlphaNum),
            f("composite_check", 1, 29, 1, Numeric),
            f("name", 2, 0, 30, Alpha),
        ],
    }
}

/// What one cell of a zone may hold, and whether a check digit covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRule {
    pub field: &'static str,
    pub kind: FieldKind,
    /// A check digit (its own field's or the composite) covers this cell, so a misread
    /// of it is caught (except between characters whose values differ by a multiple of
    /// ten, such as `8` and `S`). Names, codes, sex and the visas' optional data are not
    /// covered.
    pub checked: bool,
}

impl FieldKind {
    /// Whether `c` may stand in a field of this kind.
    pub fn allows(self, c: char) -> bool {
        !wrong_type(self, c)
    }
}

/// The rule of every cell of a zone of `format`, line by line.
pub fn cell_rules(format: MrzFormat) -> Vec<Vec<CellRule>> {
    let n = format.line_len();
    let fields = layout(format);
    let checked = |line: usize, pos: usize| match format {
        MrzFormat::Td3 | MrzFormat::Td2 => line == 1 && !matches!(pos, 10..=12 | 20),
        MrzFormat::MrvA | MrzFormat::MrvB => line == 1 && matches!(pos, 0..=9 | 13..=19 | 21..=27),
        MrzFormat::Td1 => match line {
            0 => pos >= 5,
            1 => !matches!(pos, 7 | 15..=17),
            _ => false,
        },
        // The last check digit covers every other cell of both lines.
        MrzFormat::FrenchId => true,
    };
    (0..format.line_count())
        .map(|line| {
            (0..n)
                .map(|pos| {
                    let fd = fields.iter().find(|f| f.line == line && (f.start..f.start + f.len).contains(&pos));
                    CellRule {
                        field: fd.map_or("filler", |f| f.name),
                        kind: fd.map_or(FieldKind::AlphaNum, |f| f.kind),
                        checked: checked(line, pos),
                    }
                })
                .collect()
        })
        .collect()
}

/// Clean what OCR returned: upper case, no whitespace; common renderings of the filler
/// (`«`, `‹`, `(`… are not guessed: only case and spaces are normalised).
fn normalise(line: &str) -> Vec<char> {
    line.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Fit a line to the expected length when OCR added or dropped trailing fillers only.
fn fit(mut line: Vec<char>, len: usize) -> Option<Vec<char>> {
    if line.len() > len {
        if line[len..].iter().all(|&c| c == '<') {
            line.truncate(len);
        } else {
            return None;
        }
    }
    if line.len() < len {
        if len - line.len() > 3 || line.last() != Some(&'<') {
            return None;
        }
        line.resize(len, '<');
    }
    Some(line)
}

fn detect(lines: &[Vec<char>]) -> Option<MrzFormat> {
    let near = |l: &Vec<char>, n: usize| l.len().abs_diff(n) <= 3;
    match lines.len() {
        3 if lines.iter().all(|l| near(l, 30)) => Some(MrzFormat::Td1),
        2 if lines.iter().all(|l| near(l, 44)) => Some(if lines[0].first() == Some(&'V') {
            MrzFormat::MrvA
        } else {
            MrzFormat::Td3
        }),
        2 if lines.iter().all(|l| near(l, 36)) => Some(if lines[0].first() == Some(&'V') {
            MrzFormat::MrvB
        } else if lines[0].len() >= 5
            && lines[0][..5]
                .iter()
                .map(|&c| type_fix(FieldKind::Alpha, c).unwrap_or(c))
                .eq("IDFRA".chars())
        {
            // France issued no TD2 card: a 2 × 36 zone of a French identity card (`IDFRA`,
            // or a misread `1DFRA`) is its national layout.
            MrzFormat::FrenchId
        } else {
            MrzFormat::Td2
        }),
        _ => None,
    }
}

/// Parse the zone from its text lines (top to bottom). Blank lines are ignored. `today`
/// decides the century of two-digit years.
pub fn parse_lines(lines: &[&str], today: NaiveDate) -> Result<MrzResult, MrzError> {
    let raw: Vec<Vec<char>> = lines.iter().map(|l| normalise(l)).filter(|l| !l.is_empty()).collect();
    if raw.is_empty() {
        return Err(MrzError::Empty);
    }
    let all_lengths: Vec<usize> = raw.iter().map(Vec::len).collect();
    let lengths = || all_lengths.clone();
    // OCR of a whole page may return other text too: the zone is the lowest run of two or
    // three lines that fits a layout.
    let window = (0..raw.len())
        .rev()
        .flat_map(|end| [3usize, 2].map(|n| (end + 1).checked_sub(n).map(|start| start..end + 1)))
        .flatten()
        .find(|r| detect(&raw[r.clone()]).is_some());
    let raw = match window {
        Some(r) if raw.len() > 3 || detect(&raw).is_none() => raw[r].to_vec(),
        _ => raw,
    };
    let format = detect(&raw).ok_or_else(|| MrzError::Layout(lengths()))?;
    let n = format.line_len();
    let grid: Vec<Vec<char>> = raw
        .iter()
        .map(|l| fit(l.clone(), n))
        .collect::<Option<_>>()
        .ok_or_else(|| MrzError::Layout(lengths()))?;
    let fields = layout(format);

    let checks = verify(format, &grid);
    let (grid, checks, repaired) = if checks.iter().all(|c| c.passed) && !has_type_errors(&fields, &grid) {
        (grid, checks, Vec::new())
    } else {
        let (fixed, repairs) = repair(&fields, &grid);
        let fixed_checks = verify(format, &fixed);
        if !repairs.is_empty() && fixed_checks.iter().all(|c| c.passed) {
            (fixed, fixed_checks, repairs)
        } else {
            (grid, checks, Vec::new())
        }
    };
    let extracted = extract(format, &fields, &grid, today);
    let unknown_codes: Vec<&'static str> = [("issuing_state", &extracted.issuing_state), ("nationality", &extracted.nationality)]
        .into_iter()
        .filter(|(_, code)| !known_state(code))
        .map(|(name, _)| name)
        .collect();
    let valid = checks.iter().all(|c| c.passed) && unknown_codes.is_empty();
    Ok(MrzResult {
        format,
        lines: grid.iter().map(|l| l.iter().collect()).collect(),
        valid,
        unknown_codes,
        fields: extracted,
        check_digits: checks,
        repaired,
        confidence: Vec::new(),
        uncertain: Vec::new(),
    })
}

/// Codes ICAO 9303 (part 3) uses beside ISO 3166-1 alpha-3: Germany's `D`, the British
/// nationality classes, UN and stateless codes, the EU, Kosovo, and the specimen state
/// `UTO` (Utopia) that ICAO's own examples use.
const ICAO_CODES: [&str; 17] = [
    "D", "GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "XXA", "XXB", "XXC", "XXX", "EUE", "RKS", "XOM", "UTO",
];

/// Whether an issuing state or nationality (fillers removed) is a code a document can carry.
pub fn known_state(code: &str) -> bool {
    ICAO_CODES.contains(&code) || isocountry::CountryCode::for_alpha3(code).is_ok()
}

fn text(grid: &[Vec<char>], line: usize, start: usize, len: usize) -> String {
    grid.get(line).map(|l| l.iter().skip(start).take(len).collect()).unwrap_or_default()
}

fn field_text(grid: &[Vec<char>], fd: &Field) -> String {
    text(grid, fd.line, fd.start, fd.len)
}

const TO_DIGIT: [(char, char); 5] = [('O', '0'), ('I', '1'), ('S', '5'), ('B', '8'), ('Z', '2')];

fn type_fix(kind: FieldKind, c: char) -> Option<char> {
    match kind {
        FieldKind::Numeric => TO_DIGIT.iter().find(|(l, _)| *l == c).map(|(_, d)| *d),
        FieldKind::Alpha => TO_DIGIT.iter().find(|(_, d)| *d == c).map(|(l, _)| *l),
        FieldKind::AlphaNum | FieldKind::Sex => None,
    }
}

fn wrong_type(kind: FieldKind, c: char) -> bool {
    match kind {
        FieldKind::Numeric => !(c.is_ascii_digit() || c == '<'),
        FieldKind::Alpha => !(c.is_ascii_uppercase() || c == '<'),
        FieldKind::AlphaNum => char_value(c).is_none(),
        FieldKind::Sex => !matches!(c, 'M' | 'F' | 'X' | '<'),
    }
}

fn has_type_errors(fields: &[Field], grid: &[Vec<char>]) -> bool {
    fields.iter().any(|fd| {
        grid.get(fd.line)
            .is_some_and(|l| l.iter().skip(fd.start).take(fd.len).any(|&c| wrong_type(fd.kind, c)))
    })
}

/// Apply every type-forced substitution. The caller keeps them only if the check digits
/// then all pass.
fn repair(fields: &[Field], grid: &[Vec<char>]) -> (Vec<Vec<char>>, Vec<Repair>) {
    let mut fixed = grid.to_vec();
    let mut repairs = Vec::new();
    for fd in fields {
        let Some(line) = fixed.get_mut(fd.line) else { continue };
        for pos in fd.start..(fd.start + fd.len).min(line.len()) {
            let c = line[pos];
            if let Some(to) = type_fix(fd.kind, c) {
                line[pos] = to;
                repairs.push(Repair {
                    line: fd.line,
                    position: pos,
                    from: c,
                    to,
                    field: fd.name,
                });
            }
        }
    }
    (fixed, repairs)
}

fn digit_check(field: &'static str, data: &str, found: char, filler_ok: bool) -> CheckDigit {
    let computed = check_digit(data);
    let passed = match (computed, found) {
        (Some(d), c) if c.is_ascii_digit() => u32::from(d) == c as u32 - '0' as u32,
        // An unused optional field may carry `<` instead of 0.
        (Some(0), '<') => filler_ok && data.chars().all(|c| c == '<'),
        _ => false,
    };
    CheckDigit {
        field,
        found,
        computed,
        passed,
    }
}

fn at(grid: &[Vec<char>], line: usize, pos: usize) -> char {
    grid.get(line).and_then(|l| l.get(pos)).copied().unwrap_or('?')
}

/// The TD1/TD2 document number, which continues into the optional data when the check
/// digit position holds `<` (numbers longer than 9 characters). Returns (number, check
/// character, how many optional-data characters the extension used).
fn long_number(base: &str, check: char, optional: &str) -> (String, char, usize) {
    if check != '<' {
        return (base.to_owned(), check, 0);
    }
    let ext: String = optional.chars().take_while(|&c| c != '<').collect();
    let mut chars: Vec<char> = ext.chars().collect();
    match chars.pop() {
        Some(last) if !chars.is_empty() || last.is_ascii_digit() => {
            let used = chars.len() + 1;
            (format!("{base}{}", chars.iter().collect::<String>()), last, used)
        }
        _ => (base.to_owned(), check, 0),
    }
}

fn verify(format: MrzFormat, g: &[Vec<char>]) -> Vec<CheckDigit> {
    let mut out = Vec::new();
    match format {
        MrzFormat::Td3 | MrzFormat::Td2 | MrzFormat::MrvA | MrzFormat::MrvB => {
            let n = format.line_len();
            let (number, number_check, _) = if format == MrzFormat::Td2 {
                long_number(&text(g, 1, 0, 9), at(g, 1, 9), &text(g, 1, 28, 7))
            } else {
                (text(g, 1, 0, 9), at(g, 1, 9), 0)
            };
            out.push(digit_check("document_number", &number, number_check, false));
            out.push(digit_check("birth_date", &text(g, 1, 13, 6), at(g, 1, 19), false));
            out.push(digit_check("expiry_date", &text(g, 1, 21, 6), at(g, 1, 27), false));
            match format {
                MrzFormat::Td3 => {
                    out.push(digit_check("optional_data", &text(g, 1, 28, 14), at(g, 1, 42), true));
                    let composite = format!("{}{}{}", text(g, 1, 0, 10), text(g, 1, 13, 7), text(g, 1, 21, 22));
                    out.push(digit_check("composite", &composite, at(g, 1, 43), false));
                }
                MrzFormat::Td2 => {
                    let composite = format!("{}{}{}", text(g, 1, 0, 10), text(g, 1, 13, 7), text(g, 1, 21, n - 22));
                    out.push(digit_check("composite", &composite, at(g, 1, n - 1), false));
                }
                _ => {}
            }
        }
        MrzFormat::FrenchId => {
            out.push(digit_check("document_number", &text(g, 1, 0, 12), at(g, 1, 12), false));
            out.push(digit_check("birth_date", &text(g, 1, 27, 6), at(g, 1, 33), false));
            let composite = format!("{}{}", text(g, 0, 0, 36), text(g, 1, 0, 35));
            out.push(digit_check("composite", &composite, at(g, 1, 35), false));
        }
        MrzFormat::Td1 => {
            let (number, number_check, _) = long_number(&text(g, 0, 5, 9), at(g, 0, 14), &text(g, 0, 15, 15));
            out.push(digit_check("document_number", &number, number_check, false));
            out.push(digit_check("birth_date", &text(g, 1, 0, 6), at(g, 1, 6), false));
            out.push(digit_check("expiry_date", &text(g, 1, 8, 6), at(g, 1, 14), false));
            let composite = format!(
                "{}{}{}{}",
                text(g, 0, 5, 25),
                text(g, 1, 0, 7),
                text(g, 1, 8, 7),
                text(g, 1, 18, 11)
            );
            out.push(digit_check("composite", &composite, at(g, 1, 29), false));
        }
    }
    out
}

fn strip_fillers(s: &str) -> String {
    let spaced: String = s.chars().map(|c| if c == '<' { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Surname and given names: primary and secondary identifiers split at the first `<<`.
fn names(s: &str) -> (String, String) {
    match s.split_once("<<") {
        Some((sur, given)) => (strip_fillers(sur), strip_fillers(given)),
        None => (strip_fillers(s), String::new()),
    }
}

fn ymd(raw: &str) -> Option<(i32, u32, u32)> {
    if raw.len() != 6 || !raw.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| raw.get(r).and_then(|s| s.parse::<u32>().ok());
    Some((i32::try_from(n(0..2)?).ok()?, n(2..4)?, n(4..6)?))
}

/// Birth dates lie in the past: the latest century that puts the date on or before `today`.
pub fn birth_date(raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    let (yy, m, d) = ymd(raw)?;
    let century = today.year() / 100 * 100;
    [century, century - 100]
        .into_iter()
        .filter_map(|c| NaiveDate::from_ymd_opt(c + yy, m, d))
        .find(|date| *date <= today)
}

/// Expiry dates lie at most 50 years ahead of `today` (and may lie in the past).
pub fn expiry_date(raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    let (yy, m, d) = ymd(raw)?;
    let century = today.year() / 100 * 100;
    [century + 100, century, century - 100]
        .into_iter()
        .filter_map(|c| NaiveDate::from_ymd_opt(c + yy, m, d))
        .find(|date| date.year() <= today.year() + 50)
}

fn document_type(code: &str) -> Option<DocumentType> {
    let mut it = code.chars();
    let (first, second) = (it.next()?, it.next());
    match first {
        'P' => Some(DocumentType::Passport),
        'I' | 'A' | 'C' if second == Some('R') => Some(DocumentType::ResidencePermit),
        'I' | 'A' | 'C' => Some(DocumentType::IdCard),
        _ => None,
    }
}

fn extract(format: MrzFormat, fields: &[Field], g: &[Vec<char>], today: NaiveDate) -> MrzFields {
    let get = |name: &str| {
        fields
            .iter()
            .find(|fd| fd.name == name)
            .map(|fd| field_text(g, fd))
            .unwrap_or_default()
    };
    let code = get("document_code").replace('<', "");
    let (surname, given_names) = match format {
        MrzFormat::FrenchId => (strip_fillers(&get("surname")), strip_fillers(&get("given_names"))),
        _ => names(&get("name")),
    };
    let (number, optional) = match format {
        MrzFormat::Td1 | MrzFormat::Td2 => {
            let optional = get("optional_data");
            let (line, pos) = fields_pos(fields, "document_number_check");
            let (number, _, used) = long_number(&get("document_number"), at(g, line, pos), &optional);
            // The extension and its check digit (and the `<` ending them) are not optional data.
            let rest: String = if used > 0 {
                optional.chars().skip(used + 1).collect()
            } else {
                optional
            };
            (number, rest)
        }
        _ => (get("document_number"), get("optional_data")),
    };
    let sex = match get("sex").as_str() {
        "M" => Sex::Male,
        "F" => Sex::Female,
        "<" | "X" => Sex::Unspecified,
        _ => Sex::Invalid,
    };
    let birth_raw = get("birth_date");
    let expiry_raw = get("expiry_date");
    let issuing_state = get("issuing_state").replace('<', "");
    let nationality = match format {
        // Not in the zone: the card is issued to French nationals only.
        MrzFormat::FrenchId => issuing_state.clone(),
        _ => get("nationality").replace('<', ""),
    };
    MrzFields {
        document_type: document_type(&code),
        document_code: code,
        issuing_state,
        document_number: number.replace('<', ""),
        surname,
        given_names,
        nationality,
        birth_date: birth_date(&birth_raw, today),
        birth_date_raw: birth_raw,
        sex,
        expiry_date: expiry_date(&expiry_raw, today),
        expiry_date_raw: expiry_raw,
        optional_data: strip_fillers(&optional),
        optional_data_2: if format == MrzFormat::Td1 {
            strip_fillers(&get("optional_data_2"))
        } else {
            String::new()
        },
    }
}

fn fields_pos(fields: &[Field], name: &str) -> (usize, usize) {
    fields
        .iter()
        .find(|fd| fd.name == name)
        .map_or((usize::MAX, usize::MAX), |fd| (fd.line, fd.start))
}

// ----- generation (tests, fuzzing, synthetic documents) ------------------------------

/// The data to write into a zone; [`compose`] computes the check digits.
#[derive(Clone, PartialEq)]
pub struct MrzData {
    pub format: MrzFormat,
    pub document_code: String,
    pub issuing_state: String,
    pub surname: String,
    pub given_names: String,
    pub document_number: String,
    pub nationality: String,
    /// `YYMMDD`.
    pub birth_date: String,
    /// `M`, `F` or `<`.
    pub sex: char,
    pub expiry_date: String,
    pub optional_data: String,
    /// TD1 only.
    pub optional_data_2: String,
}

impl fmt::Debug for MrzData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrzData").field("format", &self.format).finish_non_exhaustive()
    }
}

fn pad(s: &str, len: usize) -> String {
    let mut out: String = s.chars().take(len).collect();
    while out.chars().count() < len {
        out.push('<');
    }
    out
}

fn cd(s: &str) -> char {
    check_digit(s).map_or('<', |d| char::from(b'0' + d))
}

/// Write the zone's lines with correct check digits (names are upper-cased, spaces and
/// hyphens become `<`, and truncated to the field). Document numbers longer than 9
/// characters use the TD1/TD2 extension rule.
pub fn compose(d: &MrzData) -> Vec<String> {
    let n = d.format.line_len();
    let name_field = |len: usize| {
        let clean = |s: &str| s.to_ascii_uppercase().replace([' ', '-'], "<");
        let mut s = clean(&d.surname);
        if !d.given_names.is_empty() {
            s.push_str("<<");
            s.push_str(&clean(&d.given_names));
        }
        pad(&s, len)
    };
    let code = pad(&d.document_code, 2);
    let state = pad(&d.issuing_state, 3);
    let nat = pad(&d.nationality, 3);
    let birth = format!("{}{}", pad(&d.birth_date, 6), cd(&pad(&d.birth_date, 6)));
    let expiry = format!("{}{}", pad(&d.expiry_date, 6), cd(&pad(&d.expiry_date, 6)));
    // (number field of 9, its check character, optional-data prefix holding the extension)
    let number = |opt_len: usize| -> (String, String) {
        if d.document_number.len() > 9 && matches!(d.format, MrzFormat::Td1 | MrzFormat::Td2) {
            let (head, tail) = d.document_number.split_at(9);
            let ext = format!("{tail}{}<", cd(&d.document_number));
            (format!("{head}<"), pad(&format!("{ext}{}", d.optional_data), opt_len))
        } else {
            let num = pad(&d.document_number, 9);
            (format!("{num}{}", cd(&num)), pad(&d.optional_data, opt_len))
        }
    };
    match d.format {
        MrzFormat::Td1 => {
            let (num, opt) = number(15);
            let l1 = format!("{code}{state}{num}{opt}");
            let opt2 = pad(&d.optional_data_2, 11);
            let l2_head = format!("{birth}{}{expiry}{nat}{opt2}", d.sex);
            let composite = format!("{}{}{}{}", &l1[5..30], &l2_head[0..7], &l2_head[8..15], &l2_head[18..29]);
            vec![l1, format!("{l2_head}{}", cd(&composite)), name_field(30)]
        }
        MrzFormat::Td2 | MrzFormat::Td3 => {
            let opt_len = if d.format == MrzFormat::Td3 { 14 } else { 7 };
            let (num, opt) = number(opt_len);
            let l1 = format!("{code}{state}{}", name_field(n - 5));
            let mut l2 = format!("{num}{nat}{birth}{}{expiry}{opt}", d.sex);
            if d.format == MrzFormat::Td3 {
                let c = if opt.chars().all(|c| c == '<') { '<' } else { cd(&opt) };
                l2.push(c);
            }
            let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..]);
            l2.push(cd(&composite));
            vec![l1, l2]
        }
        MrzFormat::FrenchId => {
            // Given names are separated by `<<` on this card.
            let given = d.given_names.to_ascii_uppercase().replace(' ', "<<").replace('-', "<");
            let surname = d.surname.to_ascii_uppercase().replace([' ', '-'], "<");
            let l1 = format!("{code}{state}{}{}", pad(&surname, 25), pad(&d.optional_data, 6));
            let number = pad(&d.document_number, 12);
            let head = format!("{number}{}{}{birth}{}", cd(&number), pad(&given, 14), d.sex);
            let check = cd(&format!("{l1}{head}"));
            vec![l1, format!("{head}{check}")]
        }
        MrzFormat::MrvA | MrzFormat::MrvB => {
            let (num, opt) = number(n - 28);
            let l1 = format!("{code}{state}{}", name_field(n - 5));
            vec![l1, format!("{num}{nat}{birth}{}{expiry}{opt}", d.sex)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }
    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    // The specimens printed in ICAO Doc 9303 (fictional holder, fictional state "UTO").

    #[test]
    fn td3_icao_specimen() {
        let r = parse_lines(
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        assert_eq!(r.format, MrzFormat::Td3);
        assert!(r.valid, "{:?}", r.check_digits);
        assert_eq!(r.check_digits.len(), 5);
        let f = &r.fields;
        assert_eq!(f.document_code, "P");
        assert_eq!(f.document_type, Some(DocumentType::Passport));
        assert_eq!((f.issuing_state.as_str(), f.nationality.as_str()), ("UTO", "UTO"));
        assert_eq!((f.surname.as_str(), f.given_names.as_str()), ("ERIKSSON", "ANNA MARIA"));
        assert_eq!(f.document_number, "L898902C3");
        assert_eq!(f.birth_date, Some(date(1974, 8, 12)));
        assert_eq!(f.sex, Sex::Female);
        assert_eq!(f.expiry_date, Some(date(2012, 4, 15)));
        assert_eq!(f.optional_data, "ZE184226B");
        assert!(r.repaired.is_empty());
    }

    #[test]
    fn td1_icao_specimen() {
        let r = parse_lines(
            &[
                "I<UTOD231458907<<<<<<<<<<<<<<<",
                "7408122F1204159UTO<<<<<<<<<<<6",
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
            ],
            today(),
        )
        .unwrap();
        assert_eq!(r.format, MrzFormat::Td1);
        assert!(r.valid, "{:?}", r.check_digits);
        assert_eq!(r.fields.document_number, "D23145890");
        assert_eq!(r.fields.document_type, Some(DocumentType::IdCard));
        assert_eq!(r.fields.surname, "ERIKSSON");
        assert_eq!(r.fields.given_names, "ANNA MARIA");
        assert_eq!(r.fields.birth_date, Some(date(1974, 8, 12)));
        assert_eq!(r.fields.expiry_date, Some(date(2012, 4, 15)));
    }

    #[test]
    fn td2_icao_specimen() {
        let r = parse_lines(
            &["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"],
            today(),
        )
        .unwrap();
        assert_eq!(r.format, MrzFormat::Td2);
        assert!(r.valid, "{:?}", r.check_digits);
        assert_eq!(r.fields.document_number, "D23145890");
        assert_eq!(r.fields.given_names, "ANNA MARIA");
    }

    #[test]
    fn french_identity_card() {
        // Composed here (fictional holder); the check digits were computed by hand from
        // the 7-3-1 rule: card number 8, birth date 8, both lines 5.
        let lines = ["IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013", "0506932020438CHRISTIANE<<NI6512068F5"];
        let r = parse_lines(&lines, today()).unwrap();
        assert_eq!(r.format, MrzFormat::FrenchId);
        assert!(r.valid, "{:?}", r.check_digits);
        assert_eq!(r.check_digits.len(), 3);
        assert_eq!(r.fields.document_code, "ID");
        assert_eq!(r.fields.document_type, Some(DocumentType::IdCard));
        assert_eq!((r.fields.issuing_state.as_str(), r.fields.nationality.as_str()), ("FRA", "FRA"));
        assert_eq!(r.fields.surname, "DOUEL");
        assert_eq!(r.fields.given_names, "CHRISTIANE NI");
        assert_eq!(r.fields.document_number, "050693202043");
        assert_eq!(r.fields.optional_data, "932013");
        assert_eq!(r.fields.birth_date, Some(date(1965, 12, 6)));
        assert_eq!(r.fields.sex, Sex::Female);
        assert_eq!(r.fields.expiry_date, None);
        // The last digit covers line 1 too: a changed surname fails it.
        let altered = ["IDFRADOUAL<<<<<<<<<<<<<<<<<<<<932013", lines[1]];
        let r = parse_lines(&altered, today()).unwrap();
        assert!(!r.valid);
        assert_eq!(
            r.check_digits.iter().filter(|c| !c.passed).map(|c| c.field).collect::<Vec<_>>(),
            ["composite"]
        );
        // Composing the same data writes the same lines.
        let data = MrzData {
            format: MrzFormat::FrenchId,
            document_code: "ID".into(),
            issuing_state: "FRA".into(),
            surname: "DOUEL".into(),
            given_names: "CHRISTIANE NI".into(),
            document_number: "050693202043".into(),
            nationality: "FRA".into(),
            birth_date: "651206".into(),
            sex: 'F',
            expiry_date: String::new(),
            optional_data: "932013".into(),
            optional_data_2: String::new(),
        };
        assert_eq!(compose(&data), lines);
    }

    #[test]
    fn visa_icao_specimens() {
        let a = parse_lines(
            &[
                "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
            ],
            today(),
        )
        .unwrap();
        assert_eq!(a.format, MrzFormat::MrvA);
        assert!(a.valid, "{:?}", a.check_digits);
        assert_eq!(a.check_digits.len(), 3);
        assert_eq!(a.fields.document_number, "L8988901C");
        assert_eq!(a.fields.nationality, "XXX");
        assert_eq!(a.fields.birth_date, Some(date(1940, 9, 7)));
        assert_eq!(a.fields.expiry_date, Some(date(1996, 12, 10)));
        assert_eq!(a.fields.document_type, None);
        let b = parse_lines(
            &["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"],
            today(),
        )
        .unwrap();
        assert_eq!(b.format, MrzFormat::MrvB);
        assert!(b.valid, "{:?}", b.check_digits);
    }

    #[test]
    fn check_digit_examples() {
        // ICAO 9303 part 3's worked examples.
        assert_eq!(check_digit("520727"), Some(3));
        assert_eq!(check_digit("AB2134<<<"), Some(5));
        assert_eq!(check_digit("HA672242<658022549601086<<<<<<<<<<<<<<0"), Some(8));
        assert_eq!(check_digit("a"), None);
    }

    #[test]
    fn ocr_confusions_in_typed_fields_are_repaired_and_confirmed() {
        // Birth date 740812 read as 74O8I2; a name letter O read as 0.
        let r = parse_lines(
            &[
                "P<UTOERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO74O8I22F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        assert!(r.valid);
        assert_eq!(r.lines[1], "L898902C36UTO7408122F1204159ZE184226B<<<<<10");
        assert_eq!(r.fields.surname, "ERIKSSON");
        let moved: Vec<(usize, usize, char, char)> = r.repaired.iter().map(|x| (x.line, x.position, x.from, x.to)).collect();
        assert_eq!(moved, vec![(0, 11, '0', 'O'), (1, 15, 'O', '0'), (1, 17, 'I', '1')]);
    }

    #[test]
    fn a_wrong_digit_is_reported_not_repaired() {
        let r = parse_lines(
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408132F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        assert!(!r.valid);
        assert!(r.repaired.is_empty());
        let failed: Vec<&str> = r.check_digits.iter().filter(|c| !c.passed).map(|c| c.field).collect();
        assert_eq!(failed, vec!["birth_date", "composite"]);
        // A confusion in the document number (alphanumeric) is not guessed either.
        let r = parse_lines(
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902CB6UTO7408122F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        assert!(!r.valid && r.repaired.is_empty());
    }

    #[test]
    fn ocr_noise_in_layout_is_tolerated() {
        // Lower case, spaces, a dropped trailing filler.
        let r = parse_lines(
            &[
                "p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<",
                " L898902C36 UTO7408122F1204159ZE184226B<<<<<10 ",
                "",
            ],
            today(),
        )
        .unwrap();
        assert!(r.valid);
        assert_eq!(r.lines[0].len(), 44);
        assert!(matches!(parse_lines(&["hello"], today()), Err(MrzError::Layout(_))));
        // Other text read above the zone is skipped.
        let r = parse_lines(
            &[
                "PASSPORT  PASSEPORT",
                "UTOPIA",
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        assert!(r.valid && r.format == MrzFormat::Td3);
        assert_eq!(parse_lines(&[], today()), Err(MrzError::Empty));
    }

    #[test]
    fn centuries_follow_today() {
        let t = today();
        assert_eq!(birth_date("261121", t), Some(date(2026, 11, 21)));
        assert_eq!(birth_date("261123", t), Some(date(1926, 11, 23)));
        assert_eq!(birth_date("000229", t), Some(date(2000, 2, 29)));
        assert_eq!(birth_date("010229", t), None);
        assert_eq!(birth_date("74<<<<", t), None);
        assert_eq!(expiry_date("760101", t), Some(date(2076, 1, 1)));
        assert_eq!(expiry_date("770101", t), Some(date(1977, 1, 1)));
        assert_eq!(expiry_date("120415", t), Some(date(2012, 4, 15)));
    }

    #[test]
    fn long_document_numbers_td1() {
        let d = MrzData {
            format: MrzFormat::Td1,
            document_code: "I".into(),
            issuing_state: "UTO".into(),
            surname: "SMITH".into(),
            given_names: "JO".into(),
            document_number: "D23145890123".into(),
            nationality: "UTO".into(),
            birth_date: "740812".into(),
            sex: 'M',
            expiry_date: "301231".into(),
            optional_data: "XY".into(),
            optional_data_2: String::new(),
        };
        let lines = compose(&d);
        assert_eq!(&lines[0][5..15], "D23145890<");
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let r = parse_lines(&refs, today()).unwrap();
        assert!(r.valid, "{lines:?} {:?}", r.check_digits);
        assert_eq!(r.fields.document_number, "D23145890123");
        assert_eq!(r.fields.optional_data, "XY");
    }

    #[test]
    fn debug_output_redacts_personal_fields() {
        let r = parse_lines(
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
            today(),
        )
        .unwrap();
        let s = format!("{r:?}");
        assert!(!s.contains("ERIKSSON") && !s.contains("L898902C3") && !s.contains("1974"), "{s}");
    }

    // ----- properties ------------------------------------------------------------

    fn letters(min: usize, max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[A-Z]{{{min},{max}}}")).unwrap()
    }

    fn yymmdd() -> impl Strategy<Value = String> {
        (0u32..100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
    }

    prop_compose! {
        fn mrz_data()(
            format in prop_oneof![Just(MrzFormat::Td1), Just(MrzFormat::Td2), Just(MrzFormat::Td3), Just(MrzFormat::MrvA), Just(MrzFormat::MrvB), Just(MrzFormat::FrenchId)],
            code2 in proptest::option::of(proptest::sample::select(vec!['D', 'R', 'C'])),
            state in proptest::sample::select(vec!["UTO", "D", "FRA", "GBR", "USA", "NLD", "GBD"]).prop_map(String::from),
            nat in proptest::sample::select(vec!["UTO", "D", "ITA", "CAN", "JPN", "XXA"]).prop_map(String::from),
            surname in letters(1, 12),
            given in letters(0, 10),
            number in proptest::string::string_regex("[A-Z0-9]{5,9}").unwrap(),
            birth in yymmdd(),
            expiry in yymmdd(),
            sex in proptest::sample::select(vec!['M', 'F', '<']),
            optional in proptest::string::string_regex("[A-Z0-9]{0,7}").unwrap(),
        ) -> MrzData {
            let first = match format { MrzFormat::Td3 => 'P', MrzFormat::MrvA | MrzFormat::MrvB => 'V', _ => 'I' };
            let mut code = code2.map_or(first.to_string(), |c| format!("{first}{c}"));
            let (mut state, mut nat, mut expiry) = (state, nat, expiry);
            if format == MrzFormat::FrenchId {
                // Always `IDFRA`; no nationality or expiry in the zone.
                (code, state, nat, expiry) = ("ID".into(), "FRA".into(), "FRA".into(), String::new());
            } else if format == MrzFormat::Td2 && code == "ID" && state == "FRA" {
                // France issued no TD2 card: `IDFRA` on 2 × 36 is the French layout.
                state = "UTO".into();
            }
            MrzData {
                format,
                document_code: code,
                issuing_state: state, surname, given_names: given, document_number: number,
                nationality: nat, birth_date: birth, sex, expiry_date: expiry,
                optional_data: optional, optional_data_2: String::new(),
            }
        }
    }

    fn run(lines: &[String]) -> MrzResult {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        parse_lines(&refs, today()).unwrap()
    }

    /// Positions (line, pos) of one of the typed fields, with the kind.
    fn typed_positions(format: MrzFormat, lines: &[String]) -> Vec<(usize, usize, FieldKind)> {
        layout(format)
            .into_iter()
            .filter(|fd| matches!(fd.kind, FieldKind::Numeric | FieldKind::Alpha))
            .flat_map(|fd| (fd.start..fd.start + fd.len).map(move |p| (fd.line, p, fd.kind)))
            .filter(|&(l, p, kind)| {
                let c = lines[l].as_bytes()[p] as char;
                match kind {
                    FieldKind::Numeric => TO_DIGIT.iter().any(|(_, d)| *d == c),
                    _ => TO_DIGIT.iter().any(|(l, _)| *l == c),
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn parse_never_panics(lines in proptest::collection::vec(".{0,50}", 0..4)) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let _ = parse_lines(&refs, today());
        }

        #[test]
        fn parse_never_panics_on_mrz_alphabet(lines in proptest::collection::vec("[A-Z0-9<]{28,46}", 2..4)) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            if let Ok(r) = parse_lines(&refs, today()) {
                // Repairs are only ever kept with every check digit passing.
                prop_assert!(r.repaired.is_empty() || r.valid);
            }
        }

        #[test]
        fn generated_zones_are_valid(d in mrz_data()) {
            let lines = compose(&d);
            prop_assert!(lines.iter().all(|l| l.len() == d.format.line_len()));
            let r = run(&lines);
            prop_assert_eq!(r.format, d.format);
            prop_assert!(r.valid, "{:?} {:?}", lines, r.check_digits);
            prop_assert!(r.repaired.is_empty());
            prop_assert_eq!(&r.fields.document_number, &d.document_number);
            prop_assert_eq!(&r.fields.surname, &d.surname);
            prop_assert_eq!(&r.fields.given_names, &d.given_names);
        }

        #[test]
        fn cell_rules_say_which_cells_a_check_digit_covers(
            d in mrz_data(),
            pick in any::<proptest::sample::Index>(),
            step in 1u32..10,
        ) {
            // Change one cell by a value that is not a multiple of ten: the check digits
            // catch it exactly where cell_rules says a check digit covers the cell.
            let lines = compose(&d);
            let rules = cell_rules(d.format);
            prop_assert_eq!(rules.len(), lines.len());
            let cells: Vec<(usize, usize)> = (0..lines.len()).flat_map(|l| (0..lines[l].len()).map(move |p| (l, p))).collect();
            let (l, p) = cells[pick.index(cells.len())];
            let c = lines[l].as_bytes()[p] as char;
            let v = char_value(c).unwrap();
            // The filler counts as 0, so the replacement is chosen by its value, not by
            // its place in the alphabet.
            let others: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
                .chars()
                .filter(|&o| char_value(o).unwrap() % 10 != v % 10)
                .collect();
            let other = others[(v + step) as usize % others.len()];
            let mut bad: Vec<Vec<char>> = lines.iter().map(|x| x.chars().collect()).collect();
            bad[l][p] = other;
            let caught = verify(d.format, &bad).iter().any(|c| !c.passed);
            prop_assert_eq!(caught, rules[l][p].checked, "{:?} line {} position {} ({})", d.format, l, p, rules[l][p].field);
        }

        #[test]
        fn one_ocr_confusion_is_repaired(d in mrz_data(), pick in any::<proptest::sample::Index>()) {
            let lines = compose(&d);
            let candidates = typed_positions(d.format, &lines);
            prop_assume!(!candidates.is_empty());
            let (l, p, kind) = candidates[pick.index(candidates.len())];
            let c = lines[l].as_bytes()[p] as char;
            let wrong = match kind {
                FieldKind::Numeric => TO_DIGIT.iter().find(|(_, d)| *d == c).map(|(l, _)| *l),
                _ => TO_DIGIT.iter().find(|(l, _)| *l == c).map(|(_, d)| *d),
            }.unwrap();
            let mut bad = lines.clone();
            bad[l].replace_range(p..p + 1, &wrong.to_string());
            let r = run(&bad);
            prop_assert!(r.valid, "{:?} {:?}", bad, r.check_digits);
            prop_assert_eq!(&r.lines, &lines);
            prop_assert_eq!(r.repaired.len(), 1);
        }

        #[test]
        fn a_digit_misread_as_another_digit_is_never_silently_repaired(
            d in mrz_data(), pick in any::<proptest::sample::Index>(), delta in 1u8..10,
        ) {
            let lines = compose(&d);
            // Digits covered by a check digit: in line 2 (TD1: lines 1 and 2), any digit.
            let digits: Vec<(usize, usize)> = lines.iter().enumerate()
                .filter(|(l, _)| *l != lines.len() - 1 || d.format != MrzFormat::Td1)
                .filter(|(l, _)| *l > 0 || d.format == MrzFormat::Td1)
                .flat_map(|(l, s)| s.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(move |(p, _)| (l, p)).collect::<Vec<_>>())
                .filter(|&(l, p)| {
                    // Skip the nationality/optional fields (a digit there is not check-covered in visas).
                    !matches!(d.format, MrzFormat::MrvA | MrzFormat::MrvB) || p < 28 || l == 0
                })
                .collect();
            prop_assume!(!digits.is_empty());
            let (l, p) = digits[pick.index(digits.len())];
            let c = lines[l].as_bytes()[p];
            let wrong = char::from(b'0' + (c - b'0' + delta) % 10);
            let mut bad = lines.clone();
            bad[l].replace_range(p..p + 1, &wrong.to_string());
            let r = run(&bad);
            prop_assert!(!r.valid, "{:?} -> {:?}", bad, r.check_digits);
            prop_assert!(r.repaired.is_empty());
            prop_assert_eq!(&r.lines, &bad);
        }
    }
}
