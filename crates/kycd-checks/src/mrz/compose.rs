//! Writing zones (tests, fuzzing, synthetic documents): [`compose`] fills the fields of
//! [`MrzData`] into a format's lines with correct check digits.

use super::{MrzFormat, check_digit};
use std::fmt;

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
