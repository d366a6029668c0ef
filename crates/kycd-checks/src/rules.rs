//! Document rules: not expired, holder's age within bounds, document type and issuing
//! country allowed, and the data of the MRZ, the barcode and what the business declared
//! consistent with each other (names by [`crate::names`], dates exactly).
//!
//! Each rule answers pass, fail or **inconclusive** (the data to decide was missing or
//! unreadable). Inconclusive is never a pass: as a `CheckResult` it has `passed: false`
//! and `figures.outcome = "inconclusive"`, so the decision can send it to a human.
//! Details and figures carry no personal data (ages and day counts, not dates or names).

use crate::aamva::AamvaRecord;
use crate::mrz::MrzResult;
use crate::names::{self, Strictness};
use chrono::{Datelike, NaiveDate};
use kycd_core::{CheckResult, DeclaredData, DocumentType, Policy};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub figures: serde_json::Value,
}

impl RuleResult {
    fn new(name: &'static str, outcome: Outcome, detail: impl Into<String>, mut figures: serde_json::Value) -> Self {
        if let Some(map) = figures.as_object_mut() {
            map.insert("outcome".into(), json!(outcome));
        }
        Self {
            name,
            outcome,
            detail: detail.into(),
            figures,
        }
    }

    pub fn to_check_result(&self) -> CheckResult {
        CheckResult {
            name: self.name.to_owned(),
            passed: self.outcome == Outcome::Pass,
            detail: self.detail.clone(),
            figures: self.figures.clone(),
        }
    }
}

/// What the document rules enforce, from the verification's policy snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentRules {
    pub accepted_document_types: Vec<DocumentType>,
    /// ISO 3166-1 alpha-3 (ICAO) issuing countries; `None` accepts all.
    pub accepted_countries: Option<Vec<String>>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub name_strictness: Strictness,
}

impl DocumentRules {
    pub fn from_policy(p: &Policy) -> Self {
        Self {
            accepted_document_types: p.accepted_document_types.clone(),
            accepted_countries: p.accepted_countries.clone(),
            min_age: p.min_age,
            max_age: p.max_age,
            name_strictness: p.name_matching,
        }
    }
}

/// Everything the rules look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    pub mrz: Option<&'a MrzResult>,
    pub barcode: Option<&'a AamvaRecord>,
    pub declared: Option<&'a DeclaredData>,
    /// The document the person said they would present.
    pub chosen_type: Option<DocumentType>,
}

impl Evidence<'_> {
    /// Dates and names are taken from a verified MRZ only (a zone with failed check
    /// digits is not trusted), then from the barcode.
    fn trusted_mrz(&self) -> Option<&MrzResult> {
        self.mrz.filter(|m| m.valid)
    }
    fn expiry(&self) -> Option<(NaiveDate, &'static str)> {
        self.trusted_mrz()
            .and_then(|m| m.fields.expiry_date.map(|d| (d, "mrz")))
            .or_else(|| self.barcode.and_then(|b| b.expiry_date.map(|d| (d, "barcode"))))
    }
    fn birth(&self) -> Option<(NaiveDate, &'static str)> {
        self.trusted_mrz()
            .and_then(|m| m.fields.birth_date.map(|d| (d, "mrz")))
            .or_else(|| self.barcode.and_then(|b| b.birth_date.map(|d| (d, "barcode"))))
    }
}

/// Completed years between `birth` and `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

pub fn not_expired(e: &Evidence<'_>, today: NaiveDate) -> RuleResult {
    const NAME: &str = "document_not_expired";
    match e.expiry() {
        None => RuleResult::new(NAME, Outcome::Inconclusive, "no verified expiry date was read", json!({})),
        Some((expiry, source)) => {
            let days = (expiry - today).num_days();
            let figures = json!({ "days_until_expiry": days, "source": source });
            // A document is valid through its expiry date.
            if days >= 0 {
                RuleResult::new(NAME, Outcome::Pass, format!("the document is valid for {days} more days"), figures)
            } else {
                RuleResult::new(NAME, Outcome::Fail, format!("the document expired {} days ago", -days), figures)
            }
        }
    }
}

pub fn holder_age(e: &Evidence<'_>, rules: &DocumentRules, today: NaiveDate) -> RuleResult {
    const NAME: &str = "holder_age";
    let Some((birth, source)) = e.birth() else {
        return RuleResult::new(NAME, Outcome::Inconclusive, "no verified birth date was read", json!({}));
    };
    let age = age_on(birth, today);
    let figures = json!({ "age": age, "min_age": rules.min_age, "max_age": rules.max_age, "source": source });
    let too_young = rules.min_age.is_some_and(|m| age < m as i32);
    let too_old = rules.max_age.is_some_and(|m| age > m as i32);
    if age < 0 {
        RuleResult::new(NAME, Outcome::Fail, "the birth date lies in the future", figures)
    } else if too_young {
        RuleResult::new(
            NAME,
            Outcome::Fail,
            format!("the holder is {age}, younger than the policy allows"),
            figures,
        )
    } else if too_old {
        RuleResult::new(
            NAME,
            Outcome::Fail,
            format!("the holder would be {age}, older than the policy allows"),
            figures,
        )
    } else {
        RuleResult::new(
            NAME,
            Outcome::Pass,
            format!("the holder is {age}, within the policy's bounds"),
            figures,
        )
    }
}

/// ICAO codes that are not ISO 3166 alpha-3.
fn iso3(code: &str) -> String {
    match code {
        "D" => "DEU".to_owned(),
        other => other.to_owned(),
    }
}

pub fn document_allowed(e: &Evidence<'_>, rules: &DocumentRules) -> RuleResult {
    const NAME: &str = "document_allowed";
    // Type and country from a verified zone only: a zone whose check digits failed, or
    // whose unchecked cells (the country codes among them) are not sure, must not decline
    // a person on a country it may have misread.
    let detected = e
        .trusted_mrz()
        .and_then(|m| m.fields.document_type)
        .or_else(|| e.barcode.and_then(|b| b.document_type));
    let doc_type = detected.or(e.chosen_type);
    let country = e
        .trusted_mrz()
        .map(|m| iso3(&m.fields.issuing_state))
        .filter(|c| !c.is_empty())
        .or_else(|| e.barcode.and_then(|b| b.country.clone()));
    let figures = json!({
        "document_type": doc_type,
        "detected_type": detected,
        "chosen_type": e.chosen_type,
        "issuing_country": country,
        "accepted_document_types": rules.accepted_document_types,
        "accepted_countries": rules.accepted_countries,
    });
    let Some(t) = doc_type else {
        return RuleResult::new(NAME, Outcome::Inconclusive, "the document type could not be established", figures);
    };
    if !rules.accepted_document_types.contains(&t) {
        return RuleResult::new(NAME, Outcome::Fail, "this document type is not accepted by the policy", figures);
    }
    if let (Some(detected), Some(chosen)) = (detected, e.chosen_type)
        && detected != chosen
        // TD1 cards cover both ID cards and residence permits; the code letter is not decisive.
        && !matches!((detected, chosen), (DocumentType::IdCard, DocumentType::ResidencePermit) | (DocumentType::ResidencePermit, DocumentType::IdCard))
    {
        return RuleResult::new(
            NAME,
            Outcome::Fail,
            "the document presented is not the type the person chose",
            figures,
        );
    }
    match (&rules.accepted_countries, &country) {
        (None, _) => RuleResult::new(NAME, Outcome::Pass, "document type accepted; all countries accepted", figures),
        (Some(_), None) => RuleResult::new(NAME, Outcome::Inconclusive, "the issuing country could not be read", figures),
        (Some(list), Some(c)) if list.iter().any(|a| a.eq_ignore_ascii_case(c)) => {
            RuleResult::new(NAME, Outcome::Pass, "document type and issuing country accepted", figures)
        }
        (Some(_), Some(_)) => RuleResult::new(NAME, Outcome::Fail, "documents from this issuing country are not accepted", figures),
    }
}

fn declared_name(d: &DeclaredData) -> Option<String> {
    d.full_name.as_ref().map(|n| n.expose().to_owned()).or_else(|| {
        let parts: Vec<&str> = [&d.first_name, &d.last_name].into_iter().flatten().map(|p| p.expose()).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// Names from every source that has one, compared pairwise; the weakest pair decides.
pub fn names_consistent(e: &Evidence<'_>, strictness: Strictness) -> RuleResult {
    const NAME: &str = "name_consistency";
    let mut sources: Vec<(&str, String)> = Vec::new();
    if let Some(m) = e.trusted_mrz() {
        sources.push(("mrz", format!("{} {}", m.fields.given_names, m.fields.surname)));
    }
    if let Some(b) = e.barcode {
        let parts: Vec<&str> = [&b.first_name, &b.middle_names, &b.family_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !parts.is_empty() {
            sources.push(("barcode", parts.join(" ")));
        }
    }
    if let Some(n) = e.declared.and_then(declared_name) {
        sources.push(("declared", n));
    }
    if sources.len() < 2 {
        return RuleResult::new(
            NAME,
            Outcome::Inconclusive,
            "fewer than two sources of the name to compare",
            json!({ "sources": sources.iter().map(|s| s.0).collect::<Vec<_>>() }),
        );
    }
    let mut pairs = Vec::new();
    for i in 0..sources.len() {
        for j in i + 1..sources.len() {
            let m = names::compare(&sources[i].1, &sources[j].1, strictness);
            pairs.push(json!({ "a": sources[i].0, "b": sources[j].0, "score": m.score, "threshold": m.threshold, "passed": m.passed }));
        }
    }
    let all = pairs.iter().all(|p| p["passed"] == json!(true));
    let figures = json!({ "strictness": strictness, "pairs": pairs });
    if all {
        RuleResult::new(NAME, Outcome::Pass, "the names agree across sources", figures)
    } else {
        RuleResult::new(NAME, Outcome::Fail, "the names differ between sources", figures)
    }
}

/// Birth dates from every source, compared exactly.
pub fn birth_dates_consistent(e: &Evidence<'_>) -> RuleResult {
    const NAME: &str = "birth_date_consistency";
    let mut sources: Vec<(&str, NaiveDate)> = Vec::new();
    if let Some(d) = e.trusted_mrz().and_then(|m| m.fields.birth_date) {
        sources.push(("mrz", d));
    }
    if let Some(d) = e.barcode.and_then(|b| b.birth_date) {
        sources.push(("barcode", d));
    }
    if let Some(d) = e.declared.and_then(|d| d.birth_date.as_ref()) {
        sources.push(("declared", d.expose()));
    }
    let names: Vec<&str> = sources.iter().map(|s| s.0).collect();
    if sources.len() < 2 {
        return RuleResult::new(
            NAME,
            Outcome::Inconclusive,
            "fewer than two sources of the birth date to compare",
            json!({ "sources": names }),
        );
    }
    let disagreeing: Vec<&str> = sources.iter().filter(|s| s.1 != sources[0].1).map(|s| s.0).collect();
    let figures = json!({ "sources": names, "disagreeing": disagreeing });
    if disagreeing.is_empty() {
        RuleResult::new(NAME, Outcome::Pass, "the birth dates agree across sources", figures)
    } else {
        RuleResult::new(NAME, Outcome::Fail, "the birth dates differ between sources", figures)
    }
}

/// Document numbers of the MRZ and the declared data (when declared), exactly (fillers
/// and spaces ignored).
pub fn document_number_consistent(e: &Evidence<'_>) -> Option<RuleResult> {
    const NAME: &str = "document_number_consistency";
    let declared = e
        .declared?
        .document_number
        .as_ref()?
        .expose()
        .replace([' ', '-', '<'], "")
        .to_ascii_uppercase();
    let read = e
        .trusted_mrz()
        .map(|m| m.fields.document_number.clone())
        .or_else(|| e.barcode.and_then(|b| b.document_number.clone()))?;
    let same = read.replace([' ', '-'], "").eq_ignore_ascii_case(&declared);
    Some(if same {
        RuleResult::new(NAME, Outcome::Pass, "the document number matches the declared one", json!({}))
    } else {
        RuleResult::new(NAME, Outcome::Fail, "the document number differs from the declared one", json!({}))
    })
}

/// All document rules.
pub fn evaluate(e: &Evidence<'_>, rules: &DocumentRules, today: NaiveDate) -> Vec<RuleResult> {
    let mut out = vec![
        not_expired(e, today),
        holder_age(e, rules, today),
        document_allowed(e, rules),
        names_consistent(e, rules.name_strictness),
        birth_dates_consistent(e),
    ];
    out.extend(document_number_consistent(e));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aamva;
    use crate::mrz::{self, MrzData, MrzFormat};
    use kycd_core::{PersonalDate, PersonalText};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn passport(birth: &str, expiry: &str) -> MrzResult {
        let d = MrzData {
            format: MrzFormat::Td3,
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            birth_date: birth.into(),
            sex: 'F',
            expiry_date: expiry.into(),
            optional_data: String::new(),
            optional_data_2: String::new(),
        };
        let lines = mrz::compose(&d);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        mrz::parse_lines(&refs, today()).unwrap()
    }

    fn declared(name: &str, birth: &str) -> DeclaredData {
        DeclaredData {
            full_name: Some(PersonalText::parse("full_name", name, 200).unwrap()),
            birth_date: Some(PersonalDate::parse("birth_date", birth).unwrap()),
            ..DeclaredData::default()
        }
    }

    /// Evidence of a zone and nothing else.
    fn with_zone(m: &MrzResult) -> Evidence<'_> {
        Evidence {
            mrz: Some(m),
            ..Evidence::default()
        }
    }

    fn rules() -> DocumentRules {
        DocumentRules::from_policy(&Policy::default())
    }

    #[test]
    fn a_consistent_valid_passport_passes_everything() {
        let m = passport("740812", "320415");
        let d = declared("Anna Maria Eriksson", "1974-08-12");
        let e = Evidence {
            mrz: Some(&m),
            declared: Some(&d),
            chosen_type: Some(DocumentType::Passport),
            ..Evidence::default()
        };
        let results = evaluate(&e, &rules(), today());
        for r in &results {
            assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
            assert!(r.to_check_result().passed);
        }
        let s = serde_json::to_string(&results).unwrap();
        assert!(!s.contains("ERIKSSON") && !s.contains("1974"), "personal data in figures: {s}");
    }

    #[test]
    fn expiry_is_inclusive_and_expired_fails() {
        let on_the_day = passport("740812", "261122");
        let e = with_zone(&on_the_day);
        assert_eq!(not_expired(&e, today()).outcome, Outcome::Pass);
        let expired = passport("740812", "261121");
        let e = with_zone(&expired);
        let r = not_expired(&e, today());
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.figures["days_until_expiry"], json!(-1));
    }

    #[test]
    fn age_bounds() {
        // 18 tomorrow: too young today.
        let m = passport("081123", "320101");
        let e = with_zone(&m);
        let r = holder_age(&e, &rules(), today());
        assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
        assert_eq!(r.figures["age"], json!(17));
        let m = passport("081122", "320101");
        let e = with_zone(&m);
        assert_eq!(holder_age(&e, &rules(), today()).outcome, Outcome::Pass);
        assert_eq!(
            age_on(
                NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
                NaiveDate::from_ymd_opt(2001, 2, 28).unwrap()
            ),
            0
        );
    }

    #[test]
    fn missing_or_unverified_data_is_inconclusive_never_a_pass() {
        let e = Evidence::default();
        for r in evaluate(&e, &rules(), today()) {
            assert_eq!(r.outcome, Outcome::Inconclusive, "{r:?}");
            assert!(!r.to_check_result().passed);
        }
        // A zone with a failed check digit is not trusted for dates.
        let mut m = passport("740812", "320415");
        m.valid = false;
        let e = with_zone(&m);
        assert_eq!(not_expired(&e, today()).outcome, Outcome::Inconclusive);
        // Nor for the issuing country: an unverified zone never fails the country rule.
        let e = Evidence {
            chosen_type: Some(DocumentType::Passport),
            ..with_zone(&m)
        };
        let mut r = rules();
        r.accepted_countries = Some(vec!["DEU".into()]);
        let got = document_allowed(&e, &r);
        assert_eq!(got.outcome, Outcome::Inconclusive, "{got:?}");
        m.valid = true;
        let e = Evidence {
            chosen_type: Some(DocumentType::Passport),
            ..with_zone(&m)
        };
        assert_eq!(
            document_allowed(&e, &r).outcome,
            Outcome::Fail,
            "a verified zone of another country fails"
        );
    }

    #[test]
    fn policy_type_country_and_chosen_type() {
        let m = passport("740812", "320415");
        let e = with_zone(&m);
        let mut r = rules();
        r.accepted_document_types = vec![DocumentType::IdCard];
        assert_eq!(document_allowed(&e, &r).outcome, Outcome::Fail);
        let mut r = rules();
        r.accepted_countries = Some(vec!["DEU".into(), "FRA".into()]);
        assert_eq!(document_allowed(&e, &r).outcome, Outcome::Fail);
        r.accepted_countries = Some(vec!["uto".into()]);
        assert_eq!(document_allowed(&e, &r).outcome, Outcome::Pass);
        let chose_card = Evidence {
            chosen_type: Some(DocumentType::DriverLicense),
            ..e
        };
        assert_eq!(document_allowed(&chose_card, &rules()).outcome, Outcome::Fail);
    }

    #[test]
    fn mrz_barcode_and_declared_are_compared() {
        let m = passport("740812", "320415");
        let payload = aamva::build_payload(
            "636014",
            10,
            0,
            &[(
                "DL",
                &[
                    ("DCS", "ERIKSSON"),
                    ("DAC", "ANNA"),
                    ("DAD", "MARIA"),
                    ("DBB", "08121974"),
                    ("DBA", "08122030"),
                    ("DAQ", "X1"),
                ],
            )],
        );
        let b = aamva::parse(&payload).unwrap();
        let d = declared("Anna Eriksson", "1974-08-12");
        let e = Evidence {
            mrz: Some(&m),
            barcode: Some(&b),
            declared: Some(&d),
            ..Evidence::default()
        };
        assert_eq!(names_consistent(&e, Strictness::Moderate).outcome, Outcome::Pass);
        assert_eq!(names_consistent(&e, Strictness::Strict).outcome, Outcome::Fail);
        assert_eq!(birth_dates_consistent(&e).outcome, Outcome::Pass);
        let other = declared("Anna Andersson", "1974-08-13");
        let e = Evidence {
            declared: Some(&other),
            ..e
        };
        assert_eq!(names_consistent(&e, Strictness::Lenient).outcome, Outcome::Fail);
        let r = birth_dates_consistent(&e);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.figures["disagreeing"], json!(["declared"]));
    }
}
