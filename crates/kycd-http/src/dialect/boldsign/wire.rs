//! BoldSign request shapes and their parsing into engine inputs. Field names are matched
//! without regard to case, as the vendor's ASP.NET binding does: the SDKs send camelCase
//! (`emailId`), the vendor's cURL samples PascalCase (`EmailId`). Every field is read once
//! here and turned into a typed value; unknown fields are ignored.

use super::error::BoldSignError;
use super::map;
use kycd_core::{Email, FileId, Phone};
use kycd_engine::signers::{SignerQuery, SignerRef};
use serde_json::{Map, Value};

type Obj = Map<String, Value>;

/// The `documentId` query parameter (any case), required and non-empty.
pub fn document_id(query: Option<&str>) -> Result<String, BoldSignError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| BoldSignError::bad_request("malformed query string"))?;
    let id = pairs
        .into_iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case("documentId"))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| BoldSignError::bad_request(map::DOCUMENT_ID_REQUIRED))?;
    if id.len() > 200 || id.chars().any(char::is_control) {
        return Err(BoldSignError::invalid_document());
    }
    Ok(id)
}

/// The JSON object of a request body; an empty body is `{}`.
pub fn json_object(body: &[u8]) -> Result<Obj, BoldSignError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Obj::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(BoldSignError::bad_request(map::INVALID_BODY)),
    }
}

fn field<'a>(o: &'a Obj, name: &str) -> Option<&'a Value> {
    o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A string field; absent, null or blank is `None`; another JSON type is refused.
fn string(o: &Obj, name: &str) -> Result<Option<String>, BoldSignError> {
    match field(o, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(BoldSignError::bad_request(format!("{name} must be a string"))),
    }
}

/// `Order`: a whole number from 1.
fn order(o: &Obj) -> Result<Option<u32>, BoldSignError> {
    match field(o, "order") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(BoldSignError::bad_request(map::INVALID_ORDER_VALUE)),
        },
    }
}

/// The signer (`EmailId`, or `CountryCode` + `PhoneNumber`), `Order` and `OnBehalfOf`.
pub fn signer_query(document_id: String, o: &Obj) -> Result<SignerQuery, BoldSignError> {
    let email = string(o, "emailId")?
        .map(|e| Email::parse(&e).map_err(|_| BoldSignError::bad_request(map::INVALID_EMAIL)))
        .transpose()?;
    let phone = match (string(o, "countryCode")?, string(o, "phoneNumber")?) {
        (Some(cc), Some(n)) => Some(Phone::parse(&cc, &n).map_err(|_| BoldSignError::bad_request(map::INVALID_PHONE))?),
        (None, None) => None,
        // Half a phone number names nobody; with an email it is ignored.
        _ if email.is_some() => None,
        _ => return Err(BoldSignError::bad_request(map::PHONE_INCOMPLETE)),
    };
    let signer = match (email, phone) {
        (Some(e), Some(p)) => SignerRef::Both(e, p),
        (Some(e), None) => SignerRef::Email(e),
        (None, Some(p)) => SignerRef::Phone(p),
        (None, None) => return Err(BoldSignError::bad_request(map::SIGNER_REQUIRED)),
    };
    let on_behalf_of = string(o, "onBehalfOf")?
        .map(|e| Email::parse(&e).map_err(|_| BoldSignError::bad_request(map::INVALID_ON_BEHALF_OF)))
        .transpose()?;
    Ok(SignerQuery {
        document_id,
        signer,
        order: order(o)?,
        on_behalf_of,
    })
}

/// `FileId`: required; a value that is no kycd file id names no file.
pub fn file_id(o: &Obj) -> Result<FileId, BoldSignError> {
    let raw = string(o, "fileId")?.ok_or_else(|| BoldSignError::bad_request(map::FILE_ID_REQUIRED))?;
    raw.parse().map_err(|_| BoldSignError::bad_request(map::INVALID_FILE))
}

/// `RedirectUrl`: where the browser returns after capture; an absolute http(s) URL.
pub fn redirect_url(o: &Obj) -> Result<Option<String>, BoldSignError> {
    let Some(u) = string(o, "redirectUrl")? else { return Ok(None) };
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Some(u))
    } else {
        Err(BoldSignError::bad_request(map::INVALID_REDIRECT_URL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn document_id_is_required_in_any_case() {
        assert_eq!(document_id(Some("documentId=abc")).unwrap(), "abc");
        assert_eq!(document_id(Some("DocumentId=abc")).unwrap(), "abc");
        for q in [None, Some(""), Some("documentId="), Some("other=1")] {
            assert_eq!(document_id(q).unwrap_err().message, map::DOCUMENT_ID_REQUIRED, "{q:?}");
        }
    }

    #[test]
    fn signer_fields_in_camel_and_pascal_case() {
        let q = signer_query("d".into(), &obj(json!({"EmailId": "a@example.com", "Order": 2}))).unwrap();
        assert!(matches!(q.signer, SignerRef::Email(_)));
        assert_eq!(q.order, Some(2));
        let q = signer_query("d".into(), &obj(json!({"countryCode": "+44", "phoneNumber": "7700900123"}))).unwrap();
        assert!(matches!(q.signer, SignerRef::Phone(_)));
        let q = signer_query(
            "d".into(),
            &obj(json!({"emailId": "a@example.com", "countryCode": "+44", "phoneNumber": "7700900123", "onBehalfOf": "s@example.com"})),
        )
        .unwrap();
        assert!(matches!(q.signer, SignerRef::Both(..)));
        assert!(q.on_behalf_of.is_some());
    }

    #[test]
    fn signer_errors() {
        let err = |v: Value| signer_query("d".into(), &obj(v)).unwrap_err().message;
        assert_eq!(err(json!({})), map::SIGNER_REQUIRED);
        assert_eq!(err(json!({"emailId": ""})), map::SIGNER_REQUIRED);
        assert_eq!(err(json!({"countryCode": "+44"})), map::PHONE_INCOMPLETE);
        assert_eq!(err(json!({"phoneNumber": "7700900123"})), map::PHONE_INCOMPLETE);
        assert_eq!(err(json!({"emailId": "not an email"})), map::INVALID_EMAIL);
        assert_eq!(err(json!({"countryCode": "44x", "phoneNumber": "1"})), map::INVALID_PHONE);
        assert_eq!(err(json!({"emailId": "a@example.com", "order": 0})), map::INVALID_ORDER_VALUE);
        assert_eq!(err(json!({"emailId": "a@example.com", "order": "1"})), map::INVALID_ORDER_VALUE);
        assert_eq!(err(json!({"emailId": 7})), "emailId must be a string");
        assert_eq!(
            err(json!({"emailId": "a@example.com", "onBehalfOf": "x"})),
            map::INVALID_ON_BEHALF_OF
        );
    }

    #[test]
    fn file_id_and_redirect_url() {
        assert_eq!(file_id(&obj(json!({}))).unwrap_err().message, map::FILE_ID_REQUIRED);
        assert_eq!(file_id(&obj(json!({"FileId": "nope"}))).unwrap_err().message, map::INVALID_FILE);
        assert_eq!(
            redirect_url(&obj(json!({"redirectUrl": "https://example.com/done"})))
                .unwrap()
                .as_deref(),
            Some("https://example.com/done")
        );
        assert_eq!(
            redirect_url(&obj(json!({"RedirectUrl": "www.boldsign.com"}))).unwrap_err().message,
            map::INVALID_REDIRECT_URL
        );
        assert_eq!(json_object(b"[1]").unwrap_err().message, map::INVALID_BODY);
        assert!(json_object(b"").unwrap().is_empty());
    }
}
