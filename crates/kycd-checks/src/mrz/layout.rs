//! Where each field of each zone format lies, and what each cell may hold.

use super::{MrzFormat, wrong_type};

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
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) line: usize,
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) kind: FieldKind,
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
pub(super) fn layout(format: MrzFormat) -> Vec<Field> {
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
