//! Transmit request shapes and their parsing into engine inputs. Unknown fields are
//! ignored, as the vendor does; known fields are validated and refused with 400.

use super::error::TransmitError;
use super::map;
use base64::Engine as _;
use kycd_core::*;
use kycd_engine::sessions::{MockBehavior, MockOutcome};
use kycd_engine::{ApplicantRef, NewApplicant, NewVerification};
use serde::Deserialize;
use serde_json::Value;

/// Transmit's default session time to live.
const DEFAULT_TTL_SECONDS: i64 = 90 * 86_400;
const MIN_TTL_SECONDS: i64 = 300;
const MAX_TTL_SECONDS: i64 = 90 * 86_400;

pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TransmitError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(TransmitError::bad_request("the request body is required (JSON)"));
    }
    serde_json::from_slice(body).map_err(|e| TransmitError::bad_request(format!("malformed request: {e}")))
}

/// `POST /api/v1/verification`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateSessionRequest {
    pub callback_url: Option<String>,
    pub state: Option<String>,
    /// Deprecated by the vendor, still honoured: a duration such as `"30d"`.
    pub time_to_live: Option<String>,
    /// Testing only (test-mode tenants).
    pub mock_behavior: Option<Value>,
    /// Deprecated: see `start`.
    pub auto_start: Option<bool>,
    /// Present (an object) when the backend drives the session.
    pub start: Option<Value>,
    pub customer_information: Option<CustomerInformation>,
}

/// What the business already knows about the person; becomes kycd's declared data.
#[derive(Debug, Default, Deserialize)]
pub struct CustomerInformation {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub email: Option<String>,
    pub document_number: Option<String>,
    /// ISO 3166-1 alpha-2 or alpha-3.
    pub nationality: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct MockBehaviorInput {
    recommendation: Option<String>,
    processing_time: Option<Value>,
    force_poor_quality: Option<bool>,
}

/// A duration written `<n>d`, `<n>h`, `<n>m` or `<n>s` (or a number of seconds).
fn duration_seconds(field: &str, v: &Value) -> Result<i64, TransmitError> {
    let bad = || TransmitError::bad_request(format!("{field} must be a duration such as \"90d\", \"12h\", \"30m\" or \"5s\""));
    if let Some(n) = v.as_i64() {
        return if n >= 0 { Ok(n) } else { Err(bad()) };
    }
    let s = v.as_str().ok_or_else(bad)?.trim();
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let mult = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(bad()),
    };
    if n < 0 {
        return Err(bad());
    }
    n.checked_mul(mult).ok_or_else(bad)
}

fn text(field: &'static str, v: Option<String>, max: usize) -> Result<Option<PersonalText>, TransmitError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| PersonalText::parse(field, &s, max).map_err(|e| TransmitError::bad_request(e.to_string())))
        .transpose()
}

impl CreateSessionRequest {
    /// The verification to create, its mock behaviour, and whether the backend starts it.
    pub fn parse(self) -> Result<(NewVerification, Option<MockBehavior>, bool), TransmitError> {
        if let Some(url) = &self.callback_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() > 8
                && url.len() <= 2048
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(TransmitError::bad_request(
                    "callback_url must be an absolute http or https URL of at most 2048 characters",
                ));
            }
        }
        if self.state.as_ref().is_some_and(|s| s.chars().count() > 1024) {
            return Err(TransmitError::bad_request("state must be at most 1024 characters"));
        }
        let ttl = match &self.time_to_live {
            None => DEFAULT_TTL_SECONDS,
            Some(s) => duration_seconds("time_to_live", &Value::String(s.clone()))?,
        };
        if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err(TransmitError::bad_request("time_to_live must be between 5m and 90d"));
        }
        let mock = match self.mock_behavior {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(parse_mock(v)?),
            Some(_) => return Err(TransmitError::bad_request("mock_behavior must be an object")),
        };
        let start = match self.start {
            None | Some(Value::Null) => false,
            Some(Value::Object(_)) => true,
            Some(_) => return Err(TransmitError::bad_request("start must be an object")),
        } || self.auto_start == Some(true);

        let c = self.customer_information.unwrap_or_default();
        let nationality = match c.nationality {
            Some(n) if (2..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphabetic()) => Some(n.to_ascii_uppercase()),
            Some(_) => {
                return Err(TransmitError::bad_request(
                    "customer_information.nationality must be an ISO 3166-1 alpha-2 or alpha-3 code",
                ));
            }
            None => None,
        };
        let birth_date = c
            .date_of_birth
            .map(|d| PersonalDate::parse("customer_information.date_of_birth", &d).map_err(TransmitError::bad_request))
            .transpose()?;
        let email = c
            .email
            .map(|e| Email::parse(&e).map_err(|e| TransmitError::bad_request(format!("customer_information.email: {e}"))))
            .transpose()?;
        let first_name = text("customer_information.first_name", c.first_name, 200)?;
        let last_name = text("customer_information.last_name", c.last_name, 200)?;
        let full_name = match text("customer_information.full_name", c.full_name, 300)? {
            Some(n) => Some(n),
            None => {
                let parts: Vec<&str> = [&first_name, &last_name].into_iter().flatten().map(|p| p.expose()).collect();
                if parts.is_empty() {
                    None
                } else {
                    text("customer_information.full_name", Some(parts.join(" ")), 300)?
                }
            }
        };
        let declared = DeclaredData {
            full_name: full_name.clone(),
            first_name,
            last_name,
            birth_date,
            document_number: text("customer_information.document_number", c.document_number, 60)?,
            nationality,
        };
        let new = NewVerification {
            applicant: ApplicantRef::Inline(NewApplicant {
                external_applicant_id: None,
                person: PersonData {
                    full_name,
                    email,
                    phone: None,
                    birth_date,
                },
            }),
            declared,
            reference: HostReference::default(),
            delivery: DeliveryChannel::None,
            callback_url: self.callback_url,
            state: self.state,
            time_to_live: Some(chrono::Duration::seconds(ttl)),
            policy: None,
            retention_days: None,
        };
        Ok((new, mock, start))
    }
}

fn parse_mock(v: Value) -> Result<MockBehavior, TransmitError> {
    let m: MockBehaviorInput =
        serde_json::from_value(v).map_err(|e| TransmitError::bad_request(format!("malformed mock_behavior: {e}")))?;
    let outcome = match m.recommendation.as_deref() {
        None => None,
        Some("ALLOW") => Some(MockOutcome::Approved),
        Some("CHALLENGE") => Some(MockOutcome::ReviewRequired),
        Some("DENY") => Some(MockOutcome::Declined),
        Some(_) => {
            return Err(TransmitError::bad_request(
                "mock_behavior.recommendation must be ALLOW, CHALLENGE or DENY",
            ));
        }
    };
    let processing_seconds = match &m.processing_time {
        None | Some(Value::Null) => 0,
        Some(v) => u32::try_from(duration_seconds("mock_behavior.processing_time", v)?)
            .map_err(|_| TransmitError::bad_request("mock_behavior.processing_time is too long"))?,
    };
    Ok(MockBehavior {
        outcome,
        processing_seconds,
        poor_quality: m.force_poor_quality.unwrap_or(false),
        degraded: Vec::new(),
    })
}

/// `POST /api/v1/verification/{sid}/images`.
#[derive(Debug, Deserialize)]
pub struct AddImageRequest {
    pub image: Option<ImageInput>,
    /// Accepted and not kept.
    #[allow(dead_code)]
    pub device_info: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ImageInput {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `jpg`, `jpeg`, `png` or `webp`; the bytes decide.
    pub format: Option<String>,
    pub data: Option<ImageData>,
}

/// The image bytes, base64: either the string itself or `{"content": "...", "type": ...}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ImageData {
    Base64(String),
    Object {
        content: String,
        #[serde(rename = "type")]
        kind: Option<String>,
    },
}

impl AddImageRequest {
    pub fn parse(self) -> Result<(CaptureKind, Vec<u8>), TransmitError> {
        let img = self.image.ok_or_else(|| TransmitError::bad_request("image is required"))?;
        let (content, inner_kind) = match img.data {
            Some(ImageData::Base64(s)) => (s, None),
            Some(ImageData::Object { content, kind }) => (content, kind),
            None => return Err(TransmitError::bad_request("image.data is required (the image, base64-encoded)")),
        };
        let kind = img
            .kind
            .or(inner_kind)
            .ok_or_else(|| TransmitError::bad_request("image.type is required: document_front, document_back or selfie"))?;
        let kind = map::parse_image_type(&kind)
            .ok_or_else(|| TransmitError::bad_request("image.type must be document_front, document_back or selfie"))?;
        if let Some(f) = &img.format
            && !matches!(f.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "webp")
        {
            return Err(TransmitError::bad_request("image.format must be jpg, png or webp"));
        }
        Ok((kind, decode_base64(&content)?))
    }
}

/// Standard or URL-safe base64, padded or not, optionally as a `data:` URL.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, TransmitError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = match s.split_once(";base64,") {
        Some((head, rest)) if head.starts_with("data:") => rest,
        _ => s,
    };
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if clean.is_empty() {
        return Err(TransmitError::bad_request("image.data is empty"));
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(&clean).ok())
        .ok_or_else(|| TransmitError::bad_request("image.data is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(duration_seconds("t", &Value::from("90d")).unwrap(), 7_776_000);
        assert_eq!(duration_seconds("t", &Value::from("5s")).unwrap(), 5);
        assert_eq!(duration_seconds("t", &Value::from(7)).unwrap(), 7);
        for bad in ["", "d", "5w", "-1d", "1.5h", "99999999999999999999d", "5é"] {
            assert!(duration_seconds("t", &Value::from(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_variants_decode() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64("data:image/png;base64,aGk=").unwrap(), b"hi");
        assert!(decode_base64("***").is_err());
        assert!(decode_base64("").is_err());
    }

    #[test]
    fn image_request_shapes() {
        let r: AddImageRequest = serde_json::from_str(r#"{"image":{"type":"selfie","data":"aGk="}}"#).unwrap();
        assert_eq!(r.parse().unwrap(), (CaptureKind::Selfie, b"hi".to_vec()));
        let r: AddImageRequest =
            serde_json::from_str(r#"{"image":{"format":"jpg","data":{"type":"document_back","content":"aGk="}},"device_info":{}}"#)
                .unwrap();
        assert_eq!(r.parse().unwrap().0, CaptureKind::DocumentBack);
        let r: AddImageRequest = serde_json::from_str(r#"{"image":{"type":"passport","data":"aGk="}}"#).unwrap();
        assert!(r.parse().is_err());
    }
}
