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
//!
//! About 600 lines on purpose: parsing and check-digit repair of every format in one
//! place, where the repair rules are read together; the layouts are `layout`, writing
//! zones `compose`.

mod compose;
mod layout;

use chrono::{Datelike, NaiveDate};
pub use compose::{MrzData, compose};
use kycd_core::DocumentType;
pub use layout::{CellRule, FieldKind, cell_rules};
use layout::{Field, layout};
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

debug_showing!(MrzFields {
    document_code,
    document_type,
    issuing_state,
    nationality
});

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

#[cfg(test)]
mod tests;
