use super::*;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}
fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Parses `lines` as read today.
fn read(lines: &[&str]) -> MrzResult {
    parse_lines(lines, today()).unwrap()
}

/// [`read`], which must find a zone of `format` with every check passing.
fn read_valid(lines: &[&str], format: MrzFormat) -> MrzResult {
    let r = read(lines);
    assert_eq!(r.format, format);
    assert!(r.valid, "{:?}", r.check_digits);
    r
}

// The specimens printed in ICAO Doc 9303 (fictional holder, fictional state "UTO").

/// The TD3 (passport) specimen.
const TD3_SPECIMEN: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];

#[test]
fn td3_icao_specimen() {
    let r = read_valid(&TD3_SPECIMEN, MrzFormat::Td3);
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
    let r = read_valid(
        &[
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ],
        MrzFormat::Td1,
    );
    assert_eq!(r.fields.document_number, "D23145890");
    assert_eq!(r.fields.document_type, Some(DocumentType::IdCard));
    assert_eq!(r.fields.surname, "ERIKSSON");
    assert_eq!(r.fields.given_names, "ANNA MARIA");
    assert_eq!(r.fields.birth_date, Some(date(1974, 8, 12)));
    assert_eq!(r.fields.expiry_date, Some(date(2012, 4, 15)));
}

#[test]
fn td2_icao_specimen() {
    let r = read_valid(
        &["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"],
        MrzFormat::Td2,
    );
    assert_eq!(r.fields.document_number, "D23145890");
    assert_eq!(r.fields.given_names, "ANNA MARIA");
}

#[test]
fn french_identity_card() {
    // Composed here (fictional holder); the check digits were computed by hand from
    // the 7-3-1 rule: card number 8, birth date 8, both lines 5.
    let lines = ["IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013", "0506932020438CHRISTIANE<<NI6512068F5"];
    let r = read_valid(&lines, MrzFormat::FrenchId);
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
    let r = read(&altered);
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
    let a = read_valid(
        &[
            "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
        ],
        MrzFormat::MrvA,
    );
    assert_eq!(a.check_digits.len(), 3);
    assert_eq!(a.fields.document_number, "L8988901C");
    assert_eq!(a.fields.nationality, "XXX");
    assert_eq!(a.fields.birth_date, Some(date(1940, 9, 7)));
    assert_eq!(a.fields.expiry_date, Some(date(1996, 12, 10)));
    assert_eq!(a.fields.document_type, None);
    read_valid(
        &["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"],
        MrzFormat::MrvB,
    );
}

#[test]
fn check_digit_examples() {
    // ICAO 9303 part 3's worked examples.
    for (field, digit) in [
        ("520727", Some(3)),
        ("AB2134<<<", Some(5)),
        ("HA672242<658022549601086<<<<<<<<<<<<<<0", Some(8)),
        ("a", None),
    ] {
        assert_eq!(check_digit(field), digit, "{field}");
    }
}

#[test]
fn ocr_confusions_in_typed_fields_are_repaired_and_confirmed() {
    // Birth date 740812 read as 74O8I2; a name letter O read as 0.
    let r = read(&[
        "P<UTOERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO74O8I22F1204159ZE184226B<<<<<10",
    ]);
    assert!(r.valid);
    assert_eq!(r.lines[1], "L898902C36UTO7408122F1204159ZE184226B<<<<<10");
    assert_eq!(r.fields.surname, "ERIKSSON");
    let moved: Vec<(usize, usize, char, char)> = r.repaired.iter().map(|x| (x.line, x.position, x.from, x.to)).collect();
    assert_eq!(moved, vec![(0, 11, '0', 'O'), (1, 15, 'O', '0'), (1, 17, 'I', '1')]);
}

#[test]
fn a_wrong_digit_is_reported_not_repaired() {
    let r = read(&[
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408132F1204159ZE184226B<<<<<10",
    ]);
    assert!(!r.valid);
    assert!(r.repaired.is_empty());
    let failed: Vec<&str> = r.check_digits.iter().filter(|c| !c.passed).map(|c| c.field).collect();
    assert_eq!(failed, vec!["birth_date", "composite"]);
    // A confusion in the document number (alphanumeric) is not guessed either.
    let r = read(&[
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902CB6UTO7408122F1204159ZE184226B<<<<<10",
    ]);
    assert!(!r.valid && r.repaired.is_empty());
}

#[test]
fn ocr_noise_in_layout_is_tolerated() {
    // Lower case, spaces, a dropped trailing filler.
    let r = read(&[
        "p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<",
        " L898902C36 UTO7408122F1204159ZE184226B<<<<<10 ",
        "",
    ]);
    assert!(r.valid);
    assert_eq!(r.lines[0].len(), 44);
    assert!(matches!(parse_lines(&["hello"], today()), Err(MrzError::Layout(_))));
    // Other text read above the zone is skipped.
    let r = read(&[
        "PASSPORT  PASSEPORT",
        "UTOPIA",
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ]);
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
    let r = run(&lines);
    assert!(r.valid, "{lines:?} {:?}", r.check_digits);
    assert_eq!(r.fields.document_number, "D23145890123");
    assert_eq!(r.fields.optional_data, "XY");
}

#[test]
fn debug_output_redacts_personal_fields() {
    let r = read(&TD3_SPECIMEN);
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
    read(&refs)
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
