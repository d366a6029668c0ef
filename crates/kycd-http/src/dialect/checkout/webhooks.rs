//! Checkout.com's `identity_verification_*` webhooks, for endpoints created with
//! `"format": "checkout"`. The engine's outbox stores and delivers them (retries, log,
//! redelivery) like kycd's own events; this module only chooses the vendor's words.

use super::map;
use super::wire::VerificationState;
use chrono::SecondsFormat;
use kycd_core::{EventType, WebhookFormat};
use kycd_engine::webhooks::{DialectEvent, WebhookRenderer, hmac_sha256_hex};
use serde_json::{Value, json};

/// The webhook version Checkout's identity-verification events carry.
const VERSION: &str = "1.2.0";

/// Which Checkout event a kycd event becomes.
///
/// | kycd event | Checkout event |
/// |---|---|
/// | attempt.started | `identity_verification_opened` |
/// | capture.received (the attempt's first capture) | `identity_verification_started` |
/// | verification.processing | `identity_verification_capture_completed` |
/// | verification.approved, verification.declined | `identity_verification_checks_completed` |
/// | verification.retry_required | `identity_verification_checks_inconclusive` |
/// | verification.anonymized | `identity_verification_anonymized` |
///
/// The others (created, review, expiry, cancellation, deletion) have no Checkout event.
pub fn event_type(t: EventType, detail: Option<&Value>) -> Option<&'static str> {
    Some(match t {
        EventType::AttemptStarted => "identity_verification_opened",
        EventType::CaptureReceived => {
            let first = detail.and_then(|d| d.get("first_of_attempt")).and_then(Value::as_bool);
            if first != Some(true) {
                return None;
            }
            "identity_verification_started"
        }
        EventType::Processing => "identity_verification_capture_completed",
        EventType::Approved | EventType::Declined => "identity_verification_checks_completed",
        EventType::RetryRequired => "identity_verification_checks_inconclusive",
        EventType::Anonymized => "identity_verification_anonymized",
        _ => return None,
    })
}

pub struct CheckoutWebhooks {
    /// `<public url>/compat/checkout`, for the event's `_links.self`.
    pub base: String,
}

impl WebhookRenderer for CheckoutWebhooks {
    fn format(&self) -> WebhookFormat {
        WebhookFormat::Checkout
    }

    fn state_kind(&self) -> &'static str {
        super::STATE
    }

    fn render(&self, e: &DialectEvent<'_>) -> Option<Value> {
        let kind = event_type(e.kycd_type, e.detail)?;
        let v = e.verification;
        let journey = e
            .state
            .and_then(|s| serde_json::from_str::<VerificationState>(s).ok())
            .and_then(|s| s.user_journey_id)
            .unwrap_or_else(|| super::default_user_journey(&v.tenant_id));
        let mut data = json!({
            "applicant_id": v.applicant_id,
            "status": map::idv_status(v.status),
            "identity_verification_id": v.id,
            "response_codes": super::codes_json(&map::response_codes(v.status, &v.checks)),
            "user_journey_id": journey,
        });
        if let Some(ext) = e.applicant.and_then(|a| a.external_applicant_id.as_ref()) {
            data["external_applicant_id"] = Value::String(ext.expose().to_owned());
        }
        Some(json!({
            "id": e.id,
            "type": kind,
            "version": VERSION,
            "created_on": e.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "data": data,
            "_links": {"self": {"href": format!("{}/workflows/events/{}", self.base, e.id)}},
        }))
    }

    /// `Cko-Signature`: hex HMAC-SHA256 of the body, keyed with the endpoint's secret (the
    /// whole `whsec_…` string, as Checkout keys it with the dashboard's signature key).
    fn headers(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        vec![("cko-signature", hmac_sha256_hex(secret.as_bytes(), body))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kycd_events_map_to_checkout_events() {
        assert_eq!(event_type(EventType::AttemptStarted, None), Some("identity_verification_opened"));
        let first = json!({"first_of_attempt": true});
        let later = json!({"first_of_attempt": false});
        assert_eq!(
            event_type(EventType::CaptureReceived, Some(&first)),
            Some("identity_verification_started")
        );
        assert_eq!(event_type(EventType::CaptureReceived, Some(&later)), None);
        assert_eq!(event_type(EventType::CaptureReceived, None), None);
        assert_eq!(
            event_type(EventType::Approved, None),
            Some("identity_verification_checks_completed")
        );
        assert_eq!(
            event_type(EventType::Declined, None),
            Some("identity_verification_checks_completed")
        );
        assert_eq!(
            event_type(EventType::RetryRequired, None),
            Some("identity_verification_checks_inconclusive")
        );
        for t in [
            EventType::VerificationCreated,
            EventType::ReviewRequired,
            EventType::Deleted,
            EventType::EndpointDisabled,
        ] {
            assert_eq!(event_type(t, None), None, "{t:?}");
        }
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let h = CheckoutWebhooks { base: String::new() }.headers("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            h,
            vec![(
                "cko-signature",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843".to_owned()
            )]
        );
    }
}
