//! Skribble's callbacks, as Skribble calls them: a GET to the URL given at creation, with
//! the placeholders `SKRIBBLE_SIGNATURE_REQUEST_ID`, `SKRIBBLE_SIGNATURE_ID` and
//! `SKRIBBLE_DOCUMENT_ID` filled in (percent-encoded), retried every 10 minutes for 2 hours
//! while the answer is not 2xx. Which change calls which URL is `map::callbacks_for`; the
//! engine queues and delivers them.

use super::{SkribbleState, map};
use kycd_core::{EventType, VerificationStatus};
use kycd_engine::callbacks::{Callback, CallbackEvent, CallbackRenderer};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a filled-in value may keep as is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Every 10 minutes for 2 hours.
const RETRY_DELAYS: [i64; 12] = [600; 12];

pub struct SkribbleCallbacks;

fn fill(url: &str, sr: &str, signature: &str) -> String {
    let enc = |s: &str| utf8_percent_encode(s, UNRESERVED).to_string();
    url.replace("SKRIBBLE_SIGNATURE_REQUEST_ID", &enc(sr))
        .replace("SKRIBBLE_SIGNATURE_ID", &enc(signature))
        // kycd keeps no document: signing it stays with the e-signature platform.
        .replace("SKRIBBLE_DOCUMENT_ID", "")
}

impl CallbackRenderer for SkribbleCallbacks {
    fn kind(&self) -> &'static str {
        super::STATE
    }

    fn callbacks(&self, e: &CallbackEvent<'_>) -> Vec<Callback> {
        let v = e.verification;
        // Only the change into a status calls back, not later events in it.
        if EventType::for_status(v.status) != Some(e.kycd_type) {
            return Vec::new();
        }
        let Ok(state) = serde_json::from_str::<SkribbleState>(e.state) else {
            tracing::error!("skribble callback state is malformed; no callback made");
            return Vec::new();
        };
        let Some(sr) = v.reference.signature_request_id.as_deref() else {
            return Vec::new();
        };
        let signers = map::latest_per_signer(e.siblings);
        let all_approved = !signers.is_empty() && signers.iter().all(|s| s.status == VerificationStatus::Approved);
        map::callbacks_for(v.status, all_approved)
            .into_iter()
            .filter_map(|label| {
                let url = match label {
                    map::CALLBACK_SUCCESS => state.callback_success_url.as_deref(),
                    map::CALLBACK_UPDATE => state.callback_update_url.as_deref(),
                    _ => state.callback_error_url.as_deref(),
                }?;
                Some(Callback {
                    label,
                    url: fill(url, sr, v.applicant_id.as_str()),
                })
            })
            .collect()
    }

    fn retry_delays(&self) -> &'static [i64] {
        &RETRY_DELAYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_encoded() {
        assert_eq!(
            fill(
                "https://x.example/cb/SKRIBBLE_SIGNATURE_REQUEST_ID?sig=SKRIBBLE_SIGNATURE_ID&doc=SKRIBBLE_DOCUMENT_ID",
                "sr 1/ä",
                "aplt_1"
            ),
            "https://x.example/cb/sr%201%2F%C3%A4?sig=aplt_1&doc="
        );
        assert_eq!(fill("https://x.example/plain", "a", "b"), "https://x.example/plain");
        assert_eq!(RETRY_DELAYS.iter().sum::<i64>(), 2 * 3600, "every 10 minutes for 2 hours");
    }
}
