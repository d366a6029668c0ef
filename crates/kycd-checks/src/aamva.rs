//! The AAMVA DL/ID Card Design Standard payload: the text a PDF417 barcode on the back of
//! a US or Canadian driving licence or ID card carries.
//!
//! ```text
//! @ LF RS CR "ANSI " IIN(6) version(2) jurisdiction-version(2) entries(2)
//!   { subfile-type(2) offset(4) length(4) } × entries
//! subfile: type(2) { element-id(3) value LF } … CR
//! ```
//!
//! Version 01 (AAMVA 2000) has no jurisdiction version. Dates are `MMDDCCYY` in the US and
//! `CCYYMMDD` in Canada (and in version 01). Offsets written by some issuers are wrong,
//! so a subfile that does not start where its designator says is looked for by its type.

use chrono::NaiveDate;
use kycd_core::DocumentType;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AamvaError {
    #[error("not an AAMVA payload: no 'ANSI ' (or 'AAMVA') header near the start")]
    NoHeader,
    #[error("the AAMVA header is cut short or malformed ({0})")]
    Header(&'static str),
    #[error("no DL or ID subfile with data elements was found")]
    NoSubfile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    /// `MMDDCCYY` (United States).
    MonthDayYear,
    /// `CCYYMMDD` (Canada; version 01).
    YearMonthDay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AamvaSex {
    Male,
    Female,
    NotSpecified,
    Invalid,
}

/// The parsed payload. Personal: `Debug` shows only the header and the problems.
#[derive(Clone, PartialEq, Serialize)]
pub struct AamvaRecord {
    /// Issuer identification number (6 digits, e.g. 636014 for California).
    pub iin: String,
    pub version: u8,
    pub jurisdiction_version: Option<u8>,
    /// Subfile types present (`DL`, `ID`, `ZC`…).
    pub subfiles: Vec<String>,
    /// `DL` → driver licence, `ID` → ID card.
    pub document_type: Option<DocumentType>,
    pub family_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_names: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    pub issue_date: Option<NaiveDate>,
    /// DAQ, the customer ID number.
    pub document_number: Option<String>,
    pub sex: Option<AamvaSex>,
    pub street: Option<String>,
    pub street_2: Option<String>,
    pub city: Option<String>,
    /// DAJ, the state or province code.
    pub jurisdiction: Option<String>,
    pub postal_code: Option<String>,
    /// DCG (`USA`/`CAN`), or inferred from the jurisdiction.
    pub country: Option<String>,
    pub eye_color: Option<String>,
    pub height: Option<String>,
    pub date_order: DateOrder,
    /// Every data element of the DL/ID subfile, raw (ID → value).
    pub elements: BTreeMap<String, String>,
    /// What did not validate (an impossible date, a missing mandatory element).
    pub problems: Vec<String>,
}

debug_showing!(AamvaRecord {
    iin,
    version,
    subfiles,
    document_type,
    jurisdiction,
    problems
});

const PROVINCES: [&str; 13] = ["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"];

fn digits(s: &str, n: usize) -> Option<u32> {
    let t = s.get(..n)?;
    if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// Parse a date in the given order; `None` when it is not 8 digits or not a real date.
pub fn parse_date(s: &str, order: DateOrder) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b).and_then(|t| t.parse::<u32>().ok());
    let (y, m, d) = match order {
        DateOrder::MonthDayYear => (n(4, 8)?, n(0, 2)?, n(2, 4)?),
        DateOrder::YearMonthDay => (n(0, 4)?, n(4, 6)?, n(6, 8)?),
    };
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// Text of a value: UTF-8 when it is valid UTF-8, else ISO 8859-1 (one byte, one char).
fn decode_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse an AAMVA payload (the bytes a PDF417 decoder returned).
pub fn parse(payload: &[u8]) -> Result<AamvaRecord, AamvaError> {
    let window = &payload[..payload.len().min(64)];
    let head_at = find(window, b"ANSI ")
        .or_else(|| find(window, b"AAMVA"))
        .ok_or(AamvaError::NoHeader)?;
    let mut pos = head_at + 5;
    let mut take = |n: usize, what: &'static str| -> Result<String, AamvaError> {
        let s = payload.get(pos..pos + n).ok_or(AamvaError::Header(what))?;
        pos += n;
        Ok(s.iter().map(|&c| char::from(c)).collect())
    };
    let iin = take(6, "issuer identification number")?;
    if !iin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AamvaError::Header("issuer identification number is not 6 digits"));
    }
    let two = |s: String, what: &'static str| digits(&s, 2).map(|v| v as u8).ok_or(AamvaError::Header(what));
    let version = two(take(2, "version")?, "version is not 2 digits")?;
    let jurisdiction_version = if version >= 2 {
        Some(two(take(2, "jurisdiction version")?, "jurisdiction version is not 2 digits")?)
    } else {
        None
    };
    let entries = two(take(2, "number of entries")?, "number of entries is not 2 digits")?;
    let mut designators = Vec::new();
    for _ in 0..entries {
        let d = take(10, "subfile designator")?;
        let kind = d.get(0..2).unwrap_or_default().to_owned();
        let offset = d.get(2..6).and_then(|s| digits(s, 4)).map(|v| v as usize);
        let length = d.get(6..10).and_then(|s| digits(s, 4)).map(|v| v as usize);
        designators.push((kind, offset, length));
    }
    let after_header = pos;

    let mut subfiles = Vec::new();
    let mut data: Option<(String, &[u8])> = None;
    for (kind, offset, length) in &designators {
        subfiles.push(kind.clone());
        if data.is_some() || !(kind == "DL" || kind == "ID") {
            continue;
        }
        let by_offset = match (offset, length) {
            (Some(o), Some(l)) => payload.get(*o..(o + l).min(payload.len())),
            _ => None,
        }
        .filter(|s| s.starts_with(kind.as_bytes()));
        // Fall back to the first occurrence of the type after the designators that is
        // followed by an element id.
        let found = by_offset.or_else(|| {
            let rest = payload.get(after_header..)?;
            (0..rest.len().saturating_sub(4))
                .find(|&i| rest[i..].starts_with(kind.as_bytes()) && rest[i + 2..i + 5].iter().all(u8::is_ascii_uppercase))
                .map(|i| &rest[i..])
        });
        if let Some(body) = found {
            data = Some((kind.clone(), body));
        }
    }
    let (kind, body) = data.ok_or(AamvaError::NoSubfile)?;
    let body = decode_text(body);

    let mut elements = BTreeMap::new();
    // Skip the 2-character subfile type; elements are separated by LF and the subfile
    // ends with CR (some issuers use CR as the separator too).
    let body = body.get(2..).unwrap_or_default();
    // Only this subfile: it ends at its segment terminator.
    let body = body.split_once('\r').map_or(body, |(b, _)| b);
    for piece in body.split(['\n', '\r']) {
        let piece = piece.trim_matches(|c: char| c == '\u{1e}' || c == '\u{1c}' || c.is_whitespace());
        if piece.len() < 3 {
            continue;
        }
        // `get` refuses a split inside a multi-byte character (untrusted bytes).
        let (Some(id), Some(value)) = (piece.get(..3), piece.get(3..)) else {
            continue;
        };
        if id.bytes().all(|b| b.is_ascii_uppercase()) && !elements.contains_key(id) {
            elements.insert(id.to_owned(), value.trim().to_owned());
        }
    }
    if elements.is_empty() {
        return Err(AamvaError::NoSubfile);
    }
    Ok(interpret(iin, version, jurisdiction_version, subfiles, &kind, elements))
}

fn interpret(
    iin: String,
    version: u8,
    jurisdiction_version: Option<u8>,
    subfiles: Vec<String>,
    kind: &str,
    elements: BTreeMap<String, String>,
) -> AamvaRecord {
    let get = |id: &str| {
        elements
            .get(id)
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("NONE"))
            .cloned()
    };
    let mut problems = Vec::new();
    let jurisdiction = get("DAJ");
    let country = get("DCG").or_else(|| {
        jurisdiction.as_deref().map(|j| {
            if PROVINCES.contains(&j) {
                "CAN".to_owned()
            } else {
                "USA".to_owned()
            }
        })
    });
    let date_order = if version <= 1 || country.as_deref() == Some("CAN") {
        DateOrder::YearMonthDay
    } else {
        DateOrder::MonthDayYear
    };
    let mut date = |id: &'static str, what: &str| -> Option<NaiveDate> {
        let raw = get(id)?;
        let d = parse_date(&raw, date_order);
        if d.is_none() {
            problems.push(format!("{id} ({what}) is not a valid {} date", order_name(date_order)));
        }
        d
    };
    let birth_date = date("DBB", "birth date");
    let expiry_date = date("DBA", "expiry date");
    let issue_date = date("DBD", "issue date");

    // Names: DCS/DAC/DAD (v3+), DCS/DCT (v2: given names together), DAB/DAC/DAD or
    // DAA "LAST,FIRST,MIDDLE" (v1).
    let mut family_name = get("DCS").or_else(|| get("DAB"));
    let mut first_name = get("DAC");
    let mut middle_names = get("DAD");
    if first_name.is_none()
        && let Some(given) = get("DCT")
    {
        let mut parts = given.splitn(2, [',', ' ']);
        first_name = parts.next().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        middle_names = middle_names.or_else(|| parts.next().map(|s| s.trim().replace(',', " ")).filter(|s| !s.is_empty()));
    }
    if family_name.is_none()
        && let Some(full) = get("DAA")
    {
        let parts: Vec<&str> = full.split(',').map(str::trim).collect();
        family_name = parts.first().map(|s| (*s).to_owned()).filter(|s| !s.is_empty());
        first_name = first_name.or_else(|| parts.get(1).map(|s| (*s).to_owned()).filter(|s| !s.is_empty()));
        middle_names = middle_names.or_else(|| parts.get(2).map(|s| (*s).to_owned()).filter(|s| !s.is_empty()));
    }
    let sex = get("DBC").map(|s| match s.as_str() {
        "1" | "M" => AamvaSex::Male,
        "2" | "F" => AamvaSex::Female,
        "9" | "X" | "U" => AamvaSex::NotSpecified,
        _ => AamvaSex::Invalid,
    });
    for (id, what) in [("DBB", "birth date"), ("DBA", "expiry date"), ("DAQ", "customer ID number")] {
        if get(id).is_none() {
            problems.push(format!("{id} ({what}) is missing"));
        }
    }
    if family_name.is_none() {
        problems.push("no family name (DCS, DAB or DAA)".to_owned());
    }
    if let (Some(b), Some(e)) = (birth_date, expiry_date)
        && e <= b
    {
        problems.push("the expiry date is not after the birth date".to_owned());
    }
    AamvaRecord {
        iin,
        version,
        jurisdiction_version,
        subfiles,
        document_type: match kind {
            "DL" => Some(DocumentType::DriverLicense),
            "ID" => Some(DocumentType::IdCard),
            _ => None,
        },
        family_name,
        first_name,
        middle_names,
        birth_date,
        expiry_date,
        issue_date,
        document_number: get("DAQ"),
        sex,
        street: get("DAG"),
        street_2: get("DAH"),
        city: get("DAI"),
        jurisdiction,
        // ZIP+4 written as 9 digits with an unknown "+4" part of zeros: keep the ZIP.
        postal_code: get("DAK").map(|p| match p.strip_suffix("0000") {
            Some(zip) if p.len() == 9 && zip.bytes().all(|b| b.is_ascii_digit()) => zip.to_owned(),
            _ => p,
        }),
        country,
        eye_color: get("DAY"),
        height: get("DAU"),
        date_order,
        elements,
        problems,
    }
}

fn order_name(o: DateOrder) -> &'static str {
    match o {
        DateOrder::MonthDayYear => "MMDDCCYY",
        DateOrder::YearMonthDay => "CCYYMMDD",
    }
}

/// Build a payload (header, designators with correct offsets, subfiles). For tests and
/// the synthetic corpus.
pub fn build_payload(iin: &str, version: u8, jurisdiction_version: u8, subfiles: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
    let mut header = format!("@\n\u{1e}\rANSI {iin}{version:02}");
    if version >= 2 {
        header.push_str(&format!("{jurisdiction_version:02}"));
    }
    header.push_str(&format!("{:02}", subfiles.len()));
    let bodies: Vec<String> = subfiles
        .iter()
        .map(|(kind, elements)| {
            let mut b = (*kind).to_owned();
            for (i, (id, value)) in elements.iter().enumerate() {
                b.push_str(id);
                b.push_str(value);
                b.push(if i + 1 == elements.len() { '\r' } else { '\n' });
            }
            b
        })
        .collect();
    let mut offset = header.len() + 10 * subfiles.len();
    let mut out = header;
    for ((kind, _), body) in subfiles.iter().zip(&bodies) {
        out.push_str(&format!("{kind}{offset:04}{:04}", body.len()));
        offset += body.len();
    }
    for b in &bodies {
        out.push_str(b);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A version-10 US licence of a fictional person (2020 standard element set).
    fn us_v10() -> Vec<u8> {
        build_payload(
            "636014",
            10,
            0,
            &[
                (
                    "DL",
                    &[
                        ("DCA", "C"),
                        ("DCB", "NONE"),
                        ("DCD", "NONE"),
                        ("DBA", "08312030"),
                        ("DCS", "SAMPLE"),
                        ("DAC", "ALEXANDRA"),
                        ("DAD", "JOY MARIE"),
                        ("DBD", "08312022"),
                        ("DBB", "02291992"),
                        ("DBC", "2"),
                        ("DAY", "BRO"),
                        ("DAU", "065 IN"),
                        ("DAG", "1234 MAIN STREET"),
                        ("DAI", "SACRAMENTO"),
                        ("DAJ", "CA"),
                        ("DAK", "958230000"),
                        ("DAQ", "F9876543"),
                        ("DCF", "00/00/0000NNNAN/ANFD/YY"),
                        ("DCG", "USA"),
                        ("DDE", "N"),
                        ("DDF", "N"),
                        ("DDG", "N"),
                    ],
                ),
                ("ZC", &[("ZCA", "BRN")]),
            ],
        )
    }

    #[test]
    fn parses_a_us_version_10_licence() {
        let payload = us_v10();
        assert!(payload.starts_with(b"@\n\x1e\rANSI 636014100002DL"));
        let r = parse(&payload).unwrap();
        assert_eq!((r.iin.as_str(), r.version, r.jurisdiction_version), ("636014", 10, Some(0)));
        assert_eq!(r.subfiles, vec!["DL", "ZC"]);
        assert_eq!(r.document_type, Some(DocumentType::DriverLicense));
        assert_eq!(r.family_name.as_deref(), Some("SAMPLE"));
        assert_eq!(r.first_name.as_deref(), Some("ALEXANDRA"));
        assert_eq!(r.middle_names.as_deref(), Some("JOY MARIE"));
        assert_eq!(r.birth_date, Some(date(1992, 2, 29)));
        assert_eq!(r.expiry_date, Some(date(2030, 8, 31)));
        assert_eq!(r.issue_date, Some(date(2022, 8, 31)));
        assert_eq!(r.document_number.as_deref(), Some("F9876543"));
        assert_eq!(r.sex, Some(AamvaSex::Female));
        assert_eq!(r.city.as_deref(), Some("SACRAMENTO"));
        assert_eq!(r.jurisdiction.as_deref(), Some("CA"));
        assert_eq!(r.postal_code.as_deref(), Some("95823"));
        assert_eq!(r.country.as_deref(), Some("USA"));
        assert_eq!(r.date_order, DateOrder::MonthDayYear);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(!r.elements.contains_key("ZCA"));
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("SAMPLE") && !dbg.contains("F9876543"), "{dbg}");
    }

    #[test]
    fn canadian_dates_are_year_first() {
        let p = build_payload(
            "636012",
            8,
            1,
            &[(
                "ID",
                &[
                    ("DBA", "20310115"),
                    ("DCS", "TREMBLAY"),
                    ("DAC", "ÉLODIE"),
                    ("DBB", "19880704"),
                    ("DBC", "9"),
                    ("DAJ", "ON"),
                    ("DAQ", "T1234-56789-80704"),
                ],
            )],
        );
        let r = parse(&p).unwrap();
        assert_eq!(r.document_type, Some(DocumentType::IdCard));
        assert_eq!(r.country.as_deref(), Some("CAN"));
        assert_eq!(r.date_order, DateOrder::YearMonthDay);
        assert_eq!(r.birth_date, Some(date(1988, 7, 4)));
        assert_eq!(r.expiry_date, Some(date(2031, 1, 15)));
        assert_eq!(r.sex, Some(AamvaSex::NotSpecified));
    }

    #[test]
    fn version_1_full_name_and_given_names_of_version_2() {
        let v1 = build_payload(
            "636020",
            1,
            0,
            &[(
                "DL",
                &[
                    ("DAA", "DOE,JOHN,QUINCY"),
                    ("DBB", "19700101"),
                    ("DBA", "20300101"),
                    ("DAQ", "123"),
                    ("DBC", "M"),
                ],
            )],
        );
        let r = parse(&v1).unwrap();
        assert_eq!(r.jurisdiction_version, None);
        assert_eq!(
            (r.family_name.as_deref(), r.first_name.as_deref(), r.middle_names.as_deref()),
            (Some("DOE"), Some("JOHN"), Some("QUINCY"))
        );
        assert_eq!(r.birth_date, Some(date(1970, 1, 1)));
        assert_eq!(r.sex, Some(AamvaSex::Male));
        let v2 = build_payload(
            "636020",
            2,
            0,
            &[(
                "DL",
                &[
                    ("DCS", "DOE"),
                    ("DCT", "JOHN QUINCY"),
                    ("DBB", "01011970"),
                    ("DBA", "01012030"),
                    ("DAQ", "123"),
                ],
            )],
        );
        let r = parse(&v2).unwrap();
        assert_eq!((r.first_name.as_deref(), r.middle_names.as_deref()), (Some("JOHN"), Some("QUINCY")));
    }

    #[test]
    fn invalid_dates_and_missing_elements_are_problems() {
        let p = build_payload("636014", 9, 0, &[("DL", &[("DCS", "X"), ("DBB", "02301990"), ("DBA", "13012030")])]);
        let r = parse(&p).unwrap();
        assert_eq!(r.birth_date, None);
        assert_eq!(r.expiry_date, None);
        assert!(r.problems.iter().any(|p| p.starts_with("DBB")), "{:?}", r.problems);
        assert!(r.problems.iter().any(|p| p.starts_with("DBA")));
        assert!(r.problems.iter().any(|p| p.contains("DAQ")));
    }

    #[test]
    fn wrong_offsets_are_survived_and_garbage_refused() {
        let mut p = us_v10();
        // Corrupt the DL designator's offset.
        let at = p.windows(2).position(|w| w == b"DL").unwrap();
        p[at + 2..at + 6].copy_from_slice(b"0002");
        let r = parse(&p).unwrap();
        assert_eq!(r.family_name.as_deref(), Some("SAMPLE"));
        assert_eq!(parse(b"hello"), Err(AamvaError::NoHeader));
        assert!(matches!(parse(b"@\n\x1e\rANSI 63"), Err(AamvaError::Header(_))));
        assert_eq!(parse(b"@\n\x1e\rANSI 636014100001ZC00310010ZCZCAX\r"), Err(AamvaError::NoSubfile));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_after_a_header(rest in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = b"@\n\x1e\rANSI 636014100002".to_vec();
            b.extend(rest);
            let _ = parse(&b);
        }

        #[test]
        fn never_panics_on_mutated_payloads(idx in any::<proptest::sample::Index>(), val in any::<u8>(), cut in any::<proptest::sample::Index>()) {
            let mut p = us_v10();
            let i = idx.index(p.len());
            p[i] = val;
            p.truncate(cut.index(p.len() + 1).max(1));
            let _ = parse(&p);
        }

        #[test]
        fn generated_dates_round_trip(y in 1900i32..2100, m in 1u32..13, d in 1u32..29, canada in any::<bool>()) {
            let order = if canada { DateOrder::YearMonthDay } else { DateOrder::MonthDayYear };
            let s = match order {
                DateOrder::MonthDayYear => format!("{m:02}{d:02}{y:04}"),
                DateOrder::YearMonthDay => format!("{y:04}{m:02}{d:02}"),
            };
            prop_assert_eq!(parse_date(&s, order), NaiveDate::from_ymd_opt(y, m, d));
        }
    }
}
