//! Checkout.com request shapes and their parsing into engine inputs. Every field is read
//! once here, checked, and turned into a typed value; a request with problems is refused
//! with 422 `request_invalid` naming every field at fault (`<field>_required`,
//! `<field>_invalid`, the vendor's code style). Unknown fields are ignored, as the vendor
//! does.

use super::error::CheckoutError;
use super::map;
use kycd_core::*;
use kycd_engine::{ApplicantRef, NewApplicant, NewVerification};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

type Obj = Map<String, Value>;

/// The JSON object of a request body; an empty body is `{}` (the SDK sends none for
/// anonymize). Not JSON → 400; JSON but not an object → 422.
pub fn json_object(body: &[u8]) -> Result<Obj, CheckoutError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Obj::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CheckoutError::invalid_one("request_body_invalid")),
        Err(_) => Err(CheckoutError::malformed("request_body_malformed")),
    }
}

/// Collects the field codes of one request.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn required(&mut self, field: &str) {
        self.0.push(format!("{field}_required"));
    }
    fn invalid(&mut self, field: &str) {
        self.0.push(format!("{field}_invalid"));
    }
    fn finish(self) -> Result<(), CheckoutError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CheckoutError::invalid(self.0))
        }
    }
}

/// A string field: absent or null is `None`; another JSON type is a problem.
fn string(p: &mut Problems, o: &Obj, key: &str, field: &str) -> Option<String> {
    match o.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            p.invalid(field);
            None
        }
    }
}

fn object<'a>(p: &mut Problems, o: &'a Obj, key: &str, field: &str) -> Option<&'a Obj> {
    match o.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            p.invalid(field);
            None
        }
    }
}

fn text(p: &mut Problems, o: &Obj, key: &str, field: &'static str, min: usize, max: usize) -> Option<PersonalText> {
    let s = string(p, o, key, field)?;
    let n = s.trim().chars().count();
    if n < min || n > max {
        p.invalid(field);
        return None;
    }
    match PersonalText::parse(field, s.trim(), max) {
        Ok(t) => Some(t),
        Err(_) => {
            p.invalid(field);
            None
        }
    }
}

fn email(p: &mut Problems, o: &Obj, key: &str, field: &str) -> Option<Email> {
    let s = string(p, o, key, field)?;
    match Email::parse(s.trim()) {
        Ok(e) => Some(e),
        Err(_) => {
            p.invalid(field);
            None
        }
    }
}

fn date(p: &mut Problems, o: &Obj, key: &str, field: &'static str) -> Option<PersonalDate> {
    let s = string(p, o, key, field)?;
    let shaped = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    match PersonalDate::parse(field, &s) {
        Ok(d) if shaped => Some(d),
        _ => {
            p.invalid(field);
            None
        }
    }
}

/// `{country_code: "+33", number: "5555550102"}`.
fn phone(p: &mut Problems, o: &Obj, key: &str, field: &str) -> Option<Phone> {
    let m = object(p, o, key, field)?;
    let cc = m.get("country_code").and_then(Value::as_str);
    let number = m.get("number").and_then(Value::as_str);
    let (Some(cc), Some(number)) = (cc, number) else {
        p.invalid(field);
        return None;
    };
    let cc_ok = cc
        .strip_prefix('+')
        .is_some_and(|d| (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    let n_ok = (1..=14).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
    match Phone::parse(cc, number) {
        Ok(ph) if cc_ok && n_ok => Some(ph),
        _ => {
            p.invalid(field);
            None
        }
    }
}

fn alpha2(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `address`: checked against the vendor's limits, not kept (kycd keeps no address).
fn check_address(p: &mut Problems, o: &Obj, key: &str, field: &str) {
    let Some(m) = object(p, o, key, field) else { return };
    for (k, max) in [
        ("address_line1", 250),
        ("address_line2", 250),
        ("city", 50),
        ("state", 50),
        ("zip", 50),
        ("country", 2),
    ] {
        match m.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() <= max && (k != "country" || alpha2(s)) => {}
            Some(_) => p.invalid(&format!("{field}_{k}")),
        }
    }
}

/// An absolute http(s) URL of at most 2048 characters.
fn url(p: &mut Problems, o: &Obj, key: &str, field: &str, required: bool) -> Option<String> {
    let Some(u) = string(p, o, key, field) else {
        if required && !matches!(o.get(key), Some(v) if !v.is_null()) {
            p.required(field);
        }
        return None;
    };
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Some(u)
    } else {
        p.invalid(field);
        None
    }
}

fn user_journey_id(p: &mut Problems, o: &Obj) -> Option<String> {
    let s = string(p, o, "user_journey_id", "user_journey_id")?;
    let ok = s
        .strip_prefix("usj_")
        .is_some_and(|r| (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if ok {
        Some(s)
    } else {
        p.invalid("user_journey_id");
        None
    }
}

fn applicant_id(p: &mut Problems, o: &Obj, required: bool) -> Option<ApplicantId> {
    let Some(s) = string(p, o, "applicant_id", "applicant_id") else {
        if required && !matches!(o.get("applicant_id"), Some(v) if !v.is_null()) {
            p.required("applicant_id");
        }
        return None;
    };
    match s.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            p.invalid("applicant_id");
            None
        }
    }
}

// ----- applicants ---------------------------------------------------------------------

/// `POST /applicants` and `PATCH /applicants/{id}`: `external_applicant_id` (create only),
/// `email`, `external_applicant_name` (kycd's full name).
pub fn applicant(o: &Obj, create: bool) -> Result<NewApplicant, CheckoutError> {
    let mut p = Problems::default();
    let external_applicant_id = if create {
        text(&mut p, o, "external_applicant_id", "external_applicant_id", 1, 255)
    } else {
        None
    };
    let email = email(&mut p, o, "email", "email");
    let full_name = text(&mut p, o, "external_applicant_name", "external_applicant_name", 1, 255);
    p.finish()?;
    Ok(NewApplicant {
        external_applicant_id,
        person: PersonData {
            full_name,
            email,
            phone: None,
            birth_date: None,
        },
    })
}

// ----- identity verifications -----------------------------------------------------------

/// What the dialect keeps beside a verification (never personal data).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerificationState {
    pub user_journey_id: Option<String>,
}

/// What the dialect keeps beside an attempt: the vendor's own words for what was asked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttemptState {
    pub redirect_url: Option<String>,
    pub client_information: Option<ClientInformation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_selected_residence_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_selected_document_issuing_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_selected_document_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_selected_language: Option<String>,
}

struct Declared {
    declared: DeclaredData,
    email: Option<Email>,
    phone: Option<Phone>,
}

/// `declared_data`: `name` (required, 2 to 255 characters), `birth_date` (`yyyy-MM-dd`),
/// `email`, `phone_number`, `address`. kycd's declared data keeps the name and birth date;
/// the email and phone go to a new applicant (create-and-open without `applicant_id`),
/// the address is checked and not kept.
fn declared_data(p: &mut Problems, o: &Obj) -> Option<Declared> {
    let Some(d) = object(p, o, "declared_data", "declared_data") else {
        if !matches!(o.get("declared_data"), Some(v) if !v.is_null()) {
            p.required("declared_data");
        }
        return None;
    };
    if !matches!(d.get("name"), Some(v) if !v.is_null()) {
        p.required("declared_data_name");
    }
    let name = text(p, d, "name", "declared_data_name", 2, 255);
    let birth_date = date(p, d, "birth_date", "declared_data_birth_date");
    let email = email(p, d, "email", "declared_data_email");
    let phone = phone(p, d, "phone_number", "declared_data_phone_number");
    check_address(p, d, "address", "declared_data_address");
    Some(Declared {
        declared: DeclaredData {
            full_name: name,
            birth_date,
            ..DeclaredData::default()
        },
        email,
        phone,
    })
}

pub struct CreateVerification {
    pub new: NewVerification,
    pub state: VerificationState,
}

/// What both verification requests read: `applicant_id` (required or not), `declared_data`
/// and `user_journey_id`, with the problems found so far (the caller may read more before
/// it finishes them).
fn verification_fields(o: &Obj, applicant_required: bool) -> (Problems, Option<ApplicantId>, Option<Declared>, VerificationState) {
    let mut p = Problems::default();
    let applicant = applicant_id(&mut p, o, applicant_required);
    let declared = declared_data(&mut p, o);
    let state = VerificationState {
        user_journey_id: user_journey_id(&mut p, o),
    };
    (p, applicant, declared, state)
}

/// `POST /identity-verifications`: `applicant_id` and `declared_data` required,
/// `user_journey_id` optional.
pub fn create_verification(o: &Obj) -> Result<CreateVerification, CheckoutError> {
    let (p, applicant, declared, state) = verification_fields(o, true);
    p.finish()?;
    let (Some(applicant), Some(d)) = (applicant, declared) else {
        return Err(CheckoutError::invalid_one("request_invalid"));
    };
    Ok(CreateVerification {
        new: NewVerification::of(ApplicantRef::Existing(applicant), d.declared),
        state,
    })
}

pub struct CreateAndOpen {
    pub create: CreateVerification,
    pub attempt: AttemptState,
}

/// `POST /create-and-open-idv`: `declared_data` and `redirect_url` required;
/// `applicant_id` optional (without it an applicant is made from the declared data).
pub fn create_and_open(o: &Obj) -> Result<CreateAndOpen, CheckoutError> {
    let (mut p, applicant, declared, state) = verification_fields(o, false);
    let redirect_url = url(&mut p, o, "redirect_url", "redirect_url", true);
    p.finish()?;
    let Some(d) = declared else {
        return Err(CheckoutError::invalid_one("request_invalid"));
    };
    let applicant = match applicant {
        Some(id) => ApplicantRef::Existing(id),
        None => ApplicantRef::Inline(NewApplicant {
            external_applicant_id: None,
            person: PersonData {
                full_name: d.declared.full_name.clone(),
                email: d.email,
                phone: d.phone,
                birth_date: d.declared.birth_date,
            },
        }),
    };
    Ok(CreateAndOpen {
        create: CreateVerification {
            new: NewVerification::of(applicant, d.declared),
            state,
        },
        attempt: AttemptState {
            redirect_url,
            client_information: None,
        },
    })
}

/// `POST /identity-verifications/{id}/attempts`: `redirect_url` required; `phone_number`
/// (checked, not kept: kycd sends no SMS from this dialect) and `client_information`.
pub fn create_attempt(o: &Obj) -> Result<(AttemptState, ClientInfo), CheckoutError> {
    let mut p = Problems::default();
    let redirect_url = url(&mut p, o, "redirect_url", "redirect_url", true);
    let _ = phone(&mut p, o, "phone_number", "phone_number");
    let mut info = ClientInformation::default();
    let mut client = ClientInfo::default();
    if let Some(ci) = object(&mut p, o, "client_information", "client_information") {
        for (key, slot) in [
            ("pre_selected_residence_country", &mut info.pre_selected_residence_country),
            (
                "pre_selected_document_issuing_country",
                &mut info.pre_selected_document_issuing_country,
            ),
        ] {
            let field = format!("client_information_{key}");
            if let Some(c) = string(&mut p, ci, key, &field) {
                if alpha2(&c) {
                    *slot = Some(c);
                } else {
                    p.invalid(&field);
                }
            }
        }
        let field = "client_information_pre_selected_document_type";
        if let Some(t) = string(&mut p, ci, "pre_selected_document_type", field) {
            match map::parse_document_type(&t) {
                Ok(d) => {
                    client.document_type = d;
                    info.pre_selected_document_type = Some(t);
                }
                Err(()) => p.invalid(field),
            }
        }
        let field = "client_information_pre_selected_language";
        if let Some(l) = string(&mut p, ci, "pre_selected_language", field) {
            let ok = (2..=35).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && l.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
            if ok {
                info.pre_selected_language = Some(l);
            } else {
                p.invalid(field);
            }
        }
    }
    p.finish()?;
    client.language = info.pre_selected_language.clone();
    client.country = info
        .pre_selected_document_issuing_country
        .clone()
        .or_else(|| info.pre_selected_residence_country.clone());
    let any = info.pre_selected_residence_country.is_some()
        || info.pre_selected_document_issuing_country.is_some()
        || info.pre_selected_document_type.is_some()
        || info.pre_selected_language.is_some();
    Ok((
        AttemptState {
            redirect_url,
            client_information: any.then_some(info),
        },
        client,
    ))
}

// ----- pagination -----------------------------------------------------------------------

/// `skip` (default 0) and `limit` (default 10, at most 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub skip: usize,
    pub limit: usize,
}

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 100;

/// Not a whole number (or repeated) → 400; out of range → 422.
pub fn page_query(raw: Option<&str>) -> Result<PageQuery, CheckoutError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| CheckoutError::malformed("query_malformed"))?;
    let mut skip: Option<i64> = None;
    let mut limit: Option<i64> = None;
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "skip" => &mut skip,
            "limit" => &mut limit,
            _ => continue,
        };
        if slot.is_some() {
            return Err(CheckoutError::malformed(format!("{k}_invalid")));
        }
        *slot = Some(v.trim().parse().map_err(|_| CheckoutError::malformed(format!("{k}_invalid")))?);
    }
    let mut p = Problems::default();
    let skip = skip.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_LIMIT as i64);
    if skip < 0 {
        p.invalid("skip");
    }
    if !(1..=MAX_LIMIT as i64).contains(&limit) {
        p.invalid("limit");
    }
    p.finish()?;
    Ok(PageQuery {
        skip: usize::try_from(skip).unwrap_or(usize::MAX),
        limit: usize::try_from(limit).unwrap_or(DEFAULT_LIMIT),
    })
}

#[cfg(test)]
mod tests;
