//! Skribble request bodies and their parsing into typed values, once, at the edge. Field
//! names and limits are Skribble's (its API docs and the `skribble-sdk` models); unknown
//! fields are ignored, as the vendor does. The document (`content`, `file_url`,
//! `document_id`) is not kycd's to sign: it is accepted and skipped unread.

use super::error::SkribbleError;
use kycd_core::{DeclaredData, Email, PersonData, PersonalText};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

type Obj = serde_json::Map<String, Value>;

/// `POST /access/login`: `{"username", "api-key"}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub api_key: String,
}

/// The credentials, from a JSON object or a form (`application/x-www-form-urlencoded`),
/// as Skribble accepts both.
pub fn login(content_type: &str, body: &[u8]) -> Result<Login, SkribbleError> {
    let ct = content_type.to_ascii_lowercase();
    let fields: Vec<(String, String)> = if ct.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|_| SkribbleError::bad_request("the body is not application/x-www-form-urlencoded"))?
    } else if ct.is_empty() || ct.starts_with("application/json") {
        let Value::Object(o) = json_value(body)? else {
            return Err(SkribbleError::bad_request(
                "the body must be a JSON object {\"username\", \"api-key\"}",
            ));
        };
        o.into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect()
    } else {
        return Err(SkribbleError::bad_request(
            "send the credentials as application/json or application/x-www-form-urlencoded",
        ));
    };
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 256)
    };
    match (get("username"), get("api-key")) {
        (Some(username), Some(api_key)) => Ok(Login { username, api_key }),
        _ => Err(SkribbleError::bad_request(
            "username and api-key are required (strings of at most 256 characters): username is an API key id (key_…), api-key that key",
        )),
    }
}

/// A JSON body: UTF-8 (checked whole: serde skips ignored fields unchecked) and well formed.
fn json_value(body: &[u8]) -> Result<Value, SkribbleError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        SkribbleError::bad_request(format!(
            "malformed JSON: the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(SkribbleError::bad_request("the request body is required (JSON)"));
    }
    serde_json::from_str(text).map_err(|e| SkribbleError::bad_request(format!("malformed JSON: {e}")))
}

/// `POST /signature-requests`, as read: the document fields are skipped without being
/// kept in memory (a PDF may be megabytes of base64).
#[derive(Debug, Deserialize)]
struct RawSignatureRequest {
    title: Option<Value>,
    message: Option<Value>,
    legislation: Option<Value>,
    quality: Option<Value>,
    callback_success_url: Option<Value>,
    callback_error_url: Option<Value>,
    callback_update_url: Option<Value>,
    signatures: Option<Value>,
    #[allow(dead_code)]
    content: Option<IgnoredAny>,
}

/// The callback URLs of a signature request (checked by the engine's network policy before
/// anything is created).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Callbacks {
    pub success: Option<String>,
    pub error: Option<String>,
    pub update: Option<String>,
}

#[derive(Debug)]
pub struct NewSignatureRequest {
    pub title: String,
    pub message: Option<String>,
    pub legislation: Option<String>,
    pub quality: Option<String>,
    pub callbacks: Callbacks,
    pub signers: Vec<NewSigner>,
}

/// A signer to identify: a no-account signer's `signer_identity_data`.
#[derive(Debug)]
pub struct NewSigner {
    pub email: Email,
    pub first_name: Option<PersonalText>,
    pub last_name: Option<PersonalText>,
    /// The capture page's language (Skribble's `language`, of the identity data or the
    /// signature).
    pub language: Option<String>,
    /// Signing order, 1–999.
    pub sequence: Option<u32>,
    pub notify: bool,
}

impl NewSigner {
    /// The applicant: the signer's name and email.
    pub fn person(&self) -> PersonData {
        let full = match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => PersonalText::parse("name", &format!("{} {}", f.expose(), l.expose()), 2049).ok(),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        PersonData {
            full_name: full,
            email: Some(self.email.clone()),
            ..PersonData::default()
        }
    }
    /// What the document must say: the signer's names, when given.
    pub fn declared(&self) -> DeclaredData {
        DeclaredData {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            ..DeclaredData::default()
        }
    }
}

fn text(field: &str, v: Option<&Value>, max: usize) -> Result<Option<String>, SkribbleError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => Ok(Some(s.trim().to_owned())),
        Some(Value::String(_)) => Err(SkribbleError::bad_request(format!(
            "{field} must be at most {max} characters, without control characters"
        ))),
        Some(_) => Err(SkribbleError::bad_request(format!("{field} must be a string"))),
    }
}

fn personal(field: &'static str, v: Option<&Value>, max: usize) -> Result<Option<PersonalText>, SkribbleError> {
    text(field, v, max)?
        .map(|s| PersonalText::parse(field, &s, max).map_err(|e| SkribbleError::bad_request(e.to_string())))
        .transpose()
}

/// A BCP 47-ish language tag (`de`, `en`, `fr-CH`): letters, digits and hyphens.
fn language(field: &str, v: Option<&Value>) -> Result<Option<String>, SkribbleError> {
    let Some(l) = text(field, v, 35)? else { return Ok(None) };
    if l.split('-')
        .all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        Ok(Some(l))
    } else {
        Err(SkribbleError::bad_request(format!(
            "{field} must be a language tag such as de, en or fr-CH"
        )))
    }
}

fn signer(i: usize, v: &Value) -> Result<NewSigner, SkribbleError> {
    let at = |f: &str| format!("signatures[{i}].{f}");
    let Value::Object(o) = v else {
        return Err(SkribbleError::bad_request(format!("signatures[{i}] must be an object")));
    };
    if let Some(e) = text(&at("account_email"), o.get("account_email"), 254)? {
        Email::parse(&e).map_err(|_| SkribbleError::bad_request(format!("{} is not an email address", at("account_email"))))?;
    }
    let id: &Obj = match o.get("signer_identity_data") {
        Some(Value::Object(id)) => id,
        None | Some(Value::Null) => {
            return Err(SkribbleError::bad_request(format!(
                "{} is required: kycd identifies no-account signers, so each signature needs their email_address (and names, to check against the document)",
                at("signer_identity_data")
            )));
        }
        Some(_) => {
            return Err(SkribbleError::bad_request(format!(
                "{} must be an object",
                at("signer_identity_data")
            )));
        }
    };
    let field = |f: &str| format!("signatures[{i}].signer_identity_data.{f}");
    let email = text(&field("email_address"), id.get("email_address"), 254)?
        .ok_or_else(|| SkribbleError::bad_request(format!("{} is required", field("email_address"))))?;
    let email =
        Email::parse(&email).map_err(|_| SkribbleError::bad_request(format!("{} is not an email address", field("email_address"))))?;
    // Checked, not kept: kycd sends no SMS to a signer (see docs/dialects.md).
    if let Some(m) = text(&field("mobile_number"), id.get("mobile_number"), 100)? {
        let digits = m.strip_prefix('+').unwrap_or(&m).replace([' ', '-'], "");
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SkribbleError::bad_request(format!(
                "{} must be a phone number in international form, e.g. +41791234567",
                field("mobile_number")
            )));
        }
    }
    let sequence = match o.get("sequence") {
        None | Some(Value::Null) => None,
        // Skribble's default: no order.
        Some(v) if v.as_i64() == Some(-1) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n @ 1..=999) => Some(n),
            _ => {
                return Err(SkribbleError::bad_request(format!(
                    "{} must be a whole number from 1 to 999",
                    at("sequence")
                )));
            }
        },
    };
    let notify = match o.get("notify") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(SkribbleError::bad_request(format!("{} must be true or false", at("notify")))),
    };
    Ok(NewSigner {
        email,
        first_name: personal("first_name", id.get("first_name"), 1024)?,
        last_name: personal("last_name", id.get("last_name"), 1024)?,
        language: match language(&field("language"), id.get("language"))? {
            Some(l) => Some(l),
            None => language(&at("language"), o.get("language"))?,
        },
        sequence,
        notify,
    })
}

/// `POST /signature-requests`: `title` and at least one signature with
/// `signer_identity_data` are required.
pub fn signature_request(body: &[u8]) -> Result<NewSignatureRequest, SkribbleError> {
    std::str::from_utf8(body).map_err(|e| {
        SkribbleError::bad_request(format!(
            "malformed JSON: the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    match body.trim_ascii_start().first() {
        None => return Err(SkribbleError::bad_request("the request body is required (JSON)")),
        // serde reads a struct from an array too; Skribble's body is an object.
        Some(b'{') => {}
        Some(_) => return Err(SkribbleError::bad_request("the body must be a JSON object (a signature request)")),
    }
    let raw: RawSignatureRequest = serde_json::from_slice(body).map_err(|e| SkribbleError::bad_request(format!("malformed JSON: {e}")))?;
    let title = text("title", raw.title.as_ref(), 1024)?.ok_or_else(|| SkribbleError::bad_request("title is required"))?;
    let url = |f: &str, v: &Option<Value>| text(f, v.as_ref(), 2048);
    let signatures = match raw.signatures {
        Some(Value::Array(list)) if !list.is_empty() => list,
        None | Some(Value::Null) | Some(Value::Array(_)) => {
            return Err(SkribbleError::bad_request(
                "signatures is required: at least one signature with signer_identity_data",
            ));
        }
        Some(_) => return Err(SkribbleError::bad_request("signatures must be an array")),
    };
    let signers = signatures
        .iter()
        .enumerate()
        .map(|(i, s)| signer(i, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewSignatureRequest {
        title,
        message: text("message", raw.message.as_ref(), 1024)?,
        legislation: text("legislation", raw.legislation.as_ref(), 100)?,
        quality: text("quality", raw.quality.as_ref(), 100)?,
        callbacks: Callbacks {
            success: url("callback_success_url", &raw.callback_success_url)?,
            error: url("callback_error_url", &raw.callback_error_url)?,
            update: url("callback_update_url", &raw.callback_update_url)?,
        },
        signers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sr(v: Value) -> Result<NewSignatureRequest, SkribbleError> {
        signature_request(v.to_string().as_bytes())
    }

    #[test]
    fn login_takes_json_or_a_form() {
        let want = Login {
            username: "key_1".into(),
            api_key: "kycd_test_x".into(),
        };
        assert_eq!(
            login("application/json", br#"{"username":"key_1","api-key":"kycd_test_x"}"#).unwrap(),
            want
        );
        assert_eq!(login("", br#"{"username":"key_1","api-key":"kycd_test_x"}"#).unwrap(), want);
        assert_eq!(
            login(
                "application/x-www-form-urlencoded; charset=utf-8",
                b"username=key_1&api-key=kycd_test_x"
            )
            .unwrap(),
            want
        );
        for (ct, body) in [
            ("application/json", &br#"{"username":"key_1"}"#[..]),
            ("application/json", br#"{"username":"key_1","api_key":"x"}"#),
            ("application/json", br#"{"username":1,"api-key":"x"}"#),
            ("application/json", b"[]"),
            ("application/json", b"{"),
            ("application/json", b""),
            ("text/plain", b"username=key_1&api-key=x"),
            ("application/x-www-form-urlencoded", b"username=&api-key=x"),
        ] {
            let e = login(ct, body).unwrap_err();
            assert_eq!(e.status, 400, "{ct} {body:?}: {e:?}");
        }
    }

    #[test]
    fn a_signature_request_needs_a_title_and_identity_data() {
        let ok = sr(json!({
            "title": "Contract", "message": "Please sign", "content": "JVBERi0xLjQK", "quality": "QES",
            "callback_success_url": "https://example.org/ok?sr=SKRIBBLE_SIGNATURE_REQUEST_ID",
            "signatures": [
                {"account_email": "ada@example.org", "sequence": 2, "notify": false,
                 "signer_identity_data": {"email_address": "Ada@Example.org", "first_name": "Ada", "last_name": "Muster",
                                          "mobile_number": "+41 79 123 45 67", "language": "de"}},
                {"signer_identity_data": {"email_address": "bob@example.org"}, "language": "fr-CH", "sequence": -1}
            ]
        }))
        .unwrap();
        assert_eq!(ok.title, "Contract");
        assert_eq!(
            ok.callbacks.success.as_deref(),
            Some("https://example.org/ok?sr=SKRIBBLE_SIGNATURE_REQUEST_ID")
        );
        assert_eq!(ok.signers.len(), 2);
        let (a, b) = (&ok.signers[0], &ok.signers[1]);
        assert_eq!(a.email.expose(), "Ada@example.org");
        assert_eq!((a.sequence, a.notify, a.language.as_deref()), (Some(2), false, Some("de")));
        assert_eq!(a.person().full_name.map(|n| n.expose().to_owned()).as_deref(), Some("Ada Muster"));
        assert_eq!((b.sequence, b.notify, b.language.as_deref()), (None, true, Some("fr-CH")));
        assert!(b.person().full_name.is_none() && b.declared().first_name.is_none());

        let bad = |v: Value, needle: &str| {
            let e = sr(v).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        };
        let id = json!({"email_address": "a@example.org"});
        bad(json!({"signatures": [{"signer_identity_data": id}]}), "title is required");
        bad(json!({"title": "T"}), "signatures is required");
        bad(json!({"title": "T", "signatures": []}), "signatures is required");
        bad(
            json!({"title": "T", "signatures": [{"account_email": "a@example.org"}]}),
            "signatures[0].signer_identity_data is required",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": {}}]}),
            "email_address is required",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": {"email_address": "nope"}}]}),
            "not an email",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": id, "sequence": 1000}]}),
            "1 to 999",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": id, "notify": "yes"}]}),
            "true or false",
        );
        bad(
            json!({"title": 5, "signatures": [{"signer_identity_data": id}]}),
            "title must be a string",
        );
        bad(
            json!({"title": "x".repeat(1025), "signatures": [{"signer_identity_data": id}]}),
            "at most 1024",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": {"email_address": "a@example.org", "mobile_number": "call me"}}]}),
            "international form",
        );
        bad(
            json!({"title": "T", "signatures": [{"signer_identity_data": {"email_address": "a@example.org", "language": "de_CH!"}}]}),
            "language tag",
        );
        bad(json!([1, 2]), "JSON object");
        assert!(signature_request(b"{\"title\": \"\xff\"}").unwrap_err().message.contains("UTF-8"));
        assert!(signature_request(b"{").unwrap_err().message.contains("malformed JSON"));
    }

    proptest::proptest! {
        #[test]
        fn hostile_bodies_are_refused_not_panicked_on(body in "\\PC{0,200}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = signature_request(body.as_bytes());
            let _ = signature_request(&bytes);
            let _ = login("application/json", body.as_bytes());
            let _ = login("application/x-www-form-urlencoded", &bytes);
        }
    }
}
