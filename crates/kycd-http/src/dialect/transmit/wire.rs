//! Transmit request shapes and their parsing into engine inputs. Unknown fields are
//! ignored, as the vendor does; known fields are validated and refused with 400.

use super::error::TransmitError;
use super::map;
use base64::Engine as _;
use kycd_core::*;
use kycd_engine::sessions::{BackendStart, MockBehavior};
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
    // JSON is UTF-8 (RFC 8259); serde_json skips the bytes of ignored (unknown) fields
    // without checking them, so check the whole body first.
    let text = std::str::from_utf8(body).map_err(|e| {
        TransmitError::bad_request(format!(
            "malformed request: the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| TransmitError::bad_request(format!("malformed request: {e}")))
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
    /// Present when the backend drives the session: `{consent: {granted, document_id}}`.
    pub start: Option<Value>,
    pub customer_information: Option<CustomerInformation>,
}

/// Business context of the session. The vendor asks for no personal data here.
#[derive(Debug, Default, Deserialize)]
pub struct CustomerInformation {
    pub organization_name: Option<String>,
    pub organization_id: Option<String>,
    /// One word, no personal data: kept as the applicant's external id.
    pub external_user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct MockBehaviorInput {
    recommendation: Option<String>,
    /// Deprecated name of `recommendation`.
    mock_recommendation: Option<String>,
    processing_time: Option<Value>,
    force_retry: Option<bool>,
    /// kycd's addition: the first image of each kind gets poor-quality feedback.
    force_poor_quality: Option<bool>,
    /// Accepted; kycd reports what its checks read, never invented data.
    #[allow(dead_code)]
    info: Option<Value>,
}

/// A duration such as `"90d"`, `"12h"`, `"1m30s"` (units d, h, m, s, in that order), or
/// a number of seconds. Hand-written: the vendor's format is this small, and the
/// duration crates accept more (fractions, spaces, other units) than it does.
fn duration_seconds(field: &str, v: &Value) -> Result<i64, TransmitError> {
    let bad = || TransmitError::bad_request(format!("{field} must be a duration such as \"90d\", \"12h\", \"1m30s\" or \"5s\""));
    if let Some(n) = v.as_i64() {
        return if n >= 0 { Ok(n) } else { Err(bad()) };
    }
    let s = v.as_str().ok_or_else(bad)?.trim();
    if s.is_empty() || s.len() > 32 {
        return Err(bad());
    }
    let (mut total, mut digits, mut last_rank) = (0i64, String::new(), 0u8);
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, mult) = match c {
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            's' => (4, 1),
            _ => return Err(bad()),
        };
        if digits.is_empty() || rank <= last_rank {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total = n.checked_mul(mult).and_then(|x| total.checked_add(x)).ok_or_else(bad)?;
        digits.clear();
        last_rank = rank;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

fn short_text(field: &str, v: &Option<String>, max: usize) -> Result<(), TransmitError> {
    match v {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err(TransmitError::bad_request(format!(
            "{field} must be at most {max} characters, without control characters"
        ))),
        _ => Ok(()),
    }
}

fn text(field: &'static str, v: Option<String>, max: usize) -> Result<Option<PersonalText>, TransmitError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| PersonalText::parse(field, &s, max).map_err(|e| TransmitError::bad_request(e.to_string())))
        .transpose()
}

impl CreateSessionRequest {
    /// The verification to create, its mock behaviour, and how the backend starts it.
    pub fn parse(self) -> Result<(NewVerification, Option<MockBehavior>, Option<BackendStart>), TransmitError> {
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
            None | Some(Value::Null) if self.auto_start == Some(true) => Some(BackendStart { consent_granted: false }),
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_start(v)?),
        };

        let c = self.customer_information.unwrap_or_default();
        short_text("customer_information.organization_name", &c.organization_name, 256)?;
        short_text("customer_information.organization_id", &c.organization_id, 256)?;
        if c.external_user_id
            .as_ref()
            .is_some_and(|u| u.is_empty() || u.len() > 128 || u.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
        {
            return Err(TransmitError::bad_request(
                "customer_information.external_user_id must be one word of 1 to 128 characters",
            ));
        }
        let external = text("customer_information.external_user_id", c.external_user_id, 128)?;
        let applicant = ApplicantRef::Inline(NewApplicant {
            external_applicant_id: external,
            person: PersonData::default(),
        });
        let new = NewVerification {
            callback_url: self.callback_url,
            state: self.state,
            time_to_live: Some(chrono::Duration::seconds(ttl)),
            ..NewVerification::of(applicant, DeclaredData::default())
        };
        Ok((new, mock, start))
    }
}

/// `start`: `{"consent": {"granted": bool, "document_id": string}}`, both required inside
/// (the document is the consent text the person agreed to; kycd records that and when,
/// not which text).
fn parse_start(v: Value) -> Result<BackendStart, TransmitError> {
    let bad = || {
        TransmitError::bad_request(
            "start must be {\"consent\": {\"granted\": true|false, \"document_id\": \"<the consent document's id>\"}}",
        )
    };
    let consent = v.get("consent").and_then(Value::as_object).ok_or_else(bad)?;
    let granted = consent.get("granted").and_then(Value::as_bool).ok_or_else(bad)?;
    let document = consent.get("document_id").and_then(Value::as_str).ok_or_else(bad)?;
    if document.trim().is_empty() || document.len() > 256 || document.chars().any(char::is_control) {
        return Err(TransmitError::bad_request(
            "start.consent.document_id must be 1 to 256 characters, without control characters",
        ));
    }
    Ok(BackendStart { consent_granted: granted })
}

fn parse_mock(v: Value) -> Result<MockBehavior, TransmitError> {
    let m: MockBehaviorInput =
        serde_json::from_value(v).map_err(|e| TransmitError::bad_request(format!("malformed mock_behavior: {e}")))?;
    let outcome = match m.recommendation.as_deref().or(m.mock_recommendation.as_deref()) {
        None => None,
        Some(r) => Some(
            map::parse_mock_recommendation(r)
                .ok_or_else(|| TransmitError::bad_request("mock_behavior.recommendation must be ALLOW, CHALLENGE or DENY"))?,
        ),
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
        retry_first: m.force_retry.unwrap_or(false),
        ..MockBehavior::default()
    })
}

/// `POST /verify/api/v1/verification/{sid}/images`: the vendor's `AddImageRequest`,
/// `{"image": ImageDto, "device_info"?: DeviceInfo}`.
#[derive(Debug, Deserialize)]
pub struct AddImageRequest {
    pub image: Option<ImageDto>,
    /// The capturing device (model, os, browser, cameras…): checked to be an object, not kept.
    pub device_info: Option<Value>,
}

/// The vendor's `ImageDto`.
#[derive(Debug, Deserialize)]
pub struct ImageDto {
    /// Required; the vendor defines only `jpg`.
    pub format: Option<String>,
    /// Required: `document_front`, `document_back` or `selfie`.
    pub image_type: Option<String>,
    /// Required: the image, base64.
    pub content: Option<String>,
    /// Margins the vendor crops before processing: checked, not applied (kycd keeps and
    /// checks the image as captured; see docs/dialects.md).
    pub capture_margins: Option<Value>,
    /// The client's own id for the image: checked, not kept.
    pub image_id: Option<Value>,
}

/// `capture_margins`: an object whose `top`, `bottom`, `left`, `right` are non-negative numbers.
fn check_margins(v: &Value) -> Result<(), TransmitError> {
    let bad = || TransmitError::bad_request("image.capture_margins must be an object of non-negative numbers top, bottom, left and right");
    let o = v.as_object().ok_or_else(bad)?;
    for (k, n) in o {
        let known = matches!(k.as_str(), "top" | "bottom" | "left" | "right");
        if known && !n.as_f64().is_some_and(|x| x >= 0.0) {
            return Err(bad());
        }
    }
    Ok(())
}

impl AddImageRequest {
    pub fn parse(self) -> Result<(CaptureKind, Vec<u8>), TransmitError> {
        let img = self.image.ok_or_else(|| {
            TransmitError::bad_request(
                "image is required: {\"image\": {\"format\": \"jpg\", \"image_type\": \"document_front\", \"content\": \"<base64>\"}}",
            )
        })?;
        match img.format.as_deref() {
            Some(f) if f.eq_ignore_ascii_case("jpg") => {}
            Some(_) => {
                return Err(TransmitError::bad_request(
                    "image.format must be \"jpg\", the only format the API defines (kycd reads the image type from its bytes)",
                ));
            }
            None => return Err(TransmitError::bad_request("image.format is required: \"jpg\"")),
        }
        let kind = img
            .image_type
            .ok_or_else(|| TransmitError::bad_request("image.image_type is required: document_front, document_back or selfie"))?;
        let kind = map::parse_image_type(&kind)
            .ok_or_else(|| TransmitError::bad_request("image.image_type must be document_front, document_back or selfie"))?;
        let content = img
            .content
            .ok_or_else(|| TransmitError::bad_request("image.content is required (the image, base64-encoded)"))?;
        if let Some(m) = &img.capture_margins
            && !m.is_null()
        {
            check_margins(m)?;
        }
        match &img.image_id {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.len() <= 256 && !s.chars().any(char::is_control) => {}
            Some(_) => {
                return Err(TransmitError::bad_request(
                    "image.image_id must be a string of at most 256 characters",
                ));
            }
        }
        if self.device_info.as_ref().is_some_and(|d| !d.is_object() && !d.is_null()) {
            return Err(TransmitError::bad_request("device_info must be an object"));
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
        return Err(TransmitError::bad_request("image.content is empty"));
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(&clean).ok())
        .ok_or_else(|| TransmitError::bad_request("image.content is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_utf8_is_malformed_even_in_an_ignored_field() {
        let e = json_body::<CreateSessionRequest>(b"{\"unknown\": \"\xff\xfe\"}").unwrap_err();
        assert!(format!("{e:?}").contains("not UTF-8"), "{e:?}");
        // Deep nesting: in a known field the recursion limit stops it; in an ignored one
        // serde_json skips it without recursing (its own stack on the heap): malformed.
        let nested = "[".repeat(20_000);
        let e = json_body::<CreateSessionRequest>(format!("{{\"state\": {nested}}}").as_bytes()).unwrap_err();
        assert!(format!("{e:?}").contains("malformed request"), "{e:?}");
        let e = json_body::<CreateSessionRequest>(format!("{{\"unknown\": {nested}}}").as_bytes()).unwrap_err();
        assert!(format!("{e:?}").contains("malformed request"), "{e:?}");
        assert!(json_body::<CreateSessionRequest>(br#"{"unknown": "fine \u00e9"}"#).is_ok());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(duration_seconds("t", &Value::from("90d")).unwrap(), 7_776_000);
        assert_eq!(duration_seconds("t", &Value::from("5s")).unwrap(), 5);
        assert_eq!(duration_seconds("t", &Value::from(7)).unwrap(), 7);
        assert_eq!(duration_seconds("t", &Value::from("1m30s")).unwrap(), 90);
        assert_eq!(duration_seconds("t", &Value::from("1d2h")).unwrap(), 93_600);
        for bad in [
            "",
            "d",
            "5w",
            "-1d",
            "1.5h",
            "99999999999999999999d",
            "5é",
            "30s1m",
            "5",
            "1m1m",
            "1 m",
        ] {
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
        let parse = |v: Value| serde_json::from_value::<AddImageRequest>(v).unwrap().parse();
        let r = parse(serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGk="}})).unwrap();
        assert_eq!(r, (CaptureKind::Selfie, b"hi".to_vec()));
        let r = parse(serde_json::json!({
            "image": {"format": "JPG", "image_type": "document_back", "content": "aGk=",
                      "capture_margins": {"top": 0.1, "bottom": 0, "left": 12, "right": 3.5}, "image_id": "img-1"},
            "device_info": {"os": "Android", "cameras": [{"label": "back"}]}
        }))
        .unwrap();
        assert_eq!(r.0, CaptureKind::DocumentBack);
        for (body, needle) in [
            (serde_json::json!({}), "image is required"),
            (
                serde_json::json!({"image": {"image_type": "selfie", "content": "aGk="}}),
                "image.format is required",
            ),
            (
                serde_json::json!({"image": {"format": "png", "image_type": "selfie", "content": "aGk="}}),
                "image.format must be",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "content": "aGk="}}),
                "image.image_type is required",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "passport", "content": "aGk="}}),
                "image.image_type must be",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie"}}),
                "image.content is required",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "***"}}),
                "base64",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGk=", "capture_margins": {"top": -1}}}),
                "capture_margins",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGk=", "capture_margins": [1]}}),
                "capture_margins",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGk=", "image_id": 7}}),
                "image_id",
            ),
            (
                serde_json::json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGk="}, "device_info": "x"}),
                "device_info",
            ),
            // The shape kycd accepted before ImageDto: refused, with the shape to send.
            (
                serde_json::json!({"image": {"type": "selfie", "data": "aGk="}}),
                "image.format is required",
            ),
        ] {
            let e = parse(body.clone()).unwrap_err();
            assert!(e.message.contains(needle), "{body}: {e:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn durations_add_up_and_never_panic(d in 0i64..1000, h in 0i64..1000, m in 0i64..1000, sec in 0i64..1000,
                                            garbage in "\\PC{0,12}") {
            let text = format!("{d}d{h}h{m}m{sec}s");
            proptest::prop_assert_eq!(
                duration_seconds("t", &Value::from(text)).unwrap(),
                d * 86_400 + h * 3_600 + m * 60 + sec
            );
            let _ = duration_seconds("t", &Value::from(garbage));
        }

        #[test]
        fn any_bytes_survive_every_base64_variant(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..300)) {
            use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
            proptest::prop_assert_eq!(decode_base64(&STANDARD.encode(&bytes)).unwrap(), bytes.clone());
            proptest::prop_assert_eq!(decode_base64(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap(), bytes.clone());
            let url = format!("data:image/jpeg;base64,{}", STANDARD.encode(&bytes));
            proptest::prop_assert_eq!(decode_base64(&url).unwrap(), bytes);
        }

        #[test]
        fn hostile_request_bodies_are_refused_not_panicked_on(body in "\\PC{0,200}", doc in json_doc()) {
            for raw in [body.into_bytes(), doc.to_string().into_bytes()] {
                if let Ok(r) = json_body::<CreateSessionRequest>(&raw) {
                    let _ = r.parse();
                }
                if let Ok(r) = json_body::<AddImageRequest>(&raw) {
                    let _ = r.parse();
                }
            }
        }
    }

    /// JSON documents built from the fields these requests know (and a few they do not),
    /// so the parsers see well-formed but hostile shapes, not only syntax errors.
    fn json_doc() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("image".to_owned()),
            Just("image_type".to_owned()),
            Just("format".to_owned()),
            Just("content".to_owned()),
            Just("capture_margins".to_owned()),
            Just("image_id".to_owned()),
            Just("device_info".to_owned()),
            Just("consent".to_owned()),
            Just("granted".to_owned()),
            Just("document_id".to_owned()),
            Just("mock_behavior".to_owned()),
            Just("recommendation".to_owned()),
            Just("processing_time".to_owned()),
            Just("force_retry".to_owned()),
            Just("time_to_live".to_owned()),
            Just("start".to_owned()),
            Just("callback_url".to_owned()),
            Just("customer_information".to_owned()),
            Just("external_user_id".to_owned()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::from),
            Just(Value::from("document_front")),
            Just(Value::from("DENY")),
            Just(Value::from("1m30s")),
            Just(Value::from("aGk=")),
            Just(Value::from("jpg")),
            any::<f64>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
