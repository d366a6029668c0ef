//! Webhook event types: one word per state change a business may want pushed to it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "verification.created")]
    VerificationCreated,
    #[serde(rename = "attempt.started")]
    AttemptStarted,
    #[serde(rename = "attempt.expired")]
    AttemptExpired,
    #[serde(rename = "capture.received")]
    CaptureReceived,
    #[serde(rename = "verification.processing")]
    Processing,
    #[serde(rename = "verification.review_required")]
    ReviewRequired,
    #[serde(rename = "verification.retry_required")]
    RetryRequired,
    #[serde(rename = "verification.reviewed")]
    Reviewed,
    #[serde(rename = "verification.approved")]
    Approved,
    #[serde(rename = "verification.declined")]
    Declined,
    #[serde(rename = "verification.expired")]
    Expired,
    #[serde(rename = "verification.cancelled")]
    Cancelled,
    #[serde(rename = "verification.anonymized")]
    Anonymized,
    #[serde(rename = "verification.deleted")]
    Deleted,
    #[serde(rename = "webhook_endpoint.disabled")]
    EndpointDisabled,
}

impl EventType {
    pub const ALL: [Self; 15] = [
        Self::VerificationCreated,
        Self::AttemptStarted,
        Self::AttemptExpired,
        Self::CaptureReceived,
        Self::Processing,
        Self::ReviewRequired,
        Self::RetryRequired,
        Self::Reviewed,
        Self::Approved,
        Self::Declined,
        Self::Expired,
        Self::Cancelled,
        Self::Anonymized,
        Self::Deleted,
        Self::EndpointDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerificationCreated => "verification.created",
            Self::AttemptStarted => "attempt.started",
            Self::AttemptExpired => "attempt.expired",
            Self::CaptureReceived => "capture.received",
            Self::Processing => "verification.processing",
            Self::ReviewRequired => "verification.review_required",
            Self::RetryRequired => "verification.retry_required",
            Self::Reviewed => "verification.reviewed",
            Self::Approved => "verification.approved",
            Self::Declined => "verification.declined",
            Self::Expired => "verification.expired",
            Self::Cancelled => "verification.cancelled",
            Self::Anonymized => "verification.anonymized",
            Self::Deleted => "verification.deleted",
            Self::EndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    /// The event a status change emits, if any (`created`/`pending`/`capture_in_progress`
    /// have their own, more specific events).
    pub fn for_status(s: crate::VerificationStatus) -> Option<Self> {
        use crate::VerificationStatus as S;
        Some(match s {
            S::Processing => Self::Processing,
            S::ReviewRequired => Self::ReviewRequired,
            S::RetryRequired => Self::RetryRequired,
            S::Approved => Self::Approved,
            S::Declined => Self::Declined,
            S::Expired => Self::Expired,
            S::Cancelled => Self::Cancelled,
            S::Created | S::Pending | S::CaptureInProgress => return None,
        })
    }
}

worded_enum!(EventType, Self::ALL, |s| crate::unknown_word(
    "event type",
    s,
    60,
    "use \"*\" or one of",
    &Self::ALL.map(Self::as_str)
));

/// Which events an endpoint wants: all (`["*"]`) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

impl EventFilter {
    pub fn parse(list: &[String]) -> Result<Self, String> {
        if list.is_empty() {
            return Err("enabled_events must not be empty: use [\"*\"] for every event".into());
        }
        if list.iter().any(|e| e == "*") {
            return if list.len() == 1 {
                Ok(Self::All)
            } else {
                Err("\"*\" already means every event; give it alone".into())
            };
        }
        let mut out = Vec::new();
        for e in list {
            let t: EventType = e.parse()?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(Self::Only(out))
    }
    pub fn matches(&self, t: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(list) => list.contains(&t),
        }
    }
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".into()],
            Self::Only(list) => list.iter().map(|e| e.as_str().to_owned()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_words_round_trip_and_filters_match() {
        for e in EventType::ALL {
            assert_eq!(e.as_str().parse::<EventType>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{}\"", e.as_str()));
        }
        let f = EventFilter::parse(&["verification.approved".into()]).unwrap();
        assert!(f.matches(EventType::Approved) && !f.matches(EventType::Declined));
        assert!(EventFilter::parse(&["*".into()]).unwrap().matches(EventType::Deleted));
        assert!(EventFilter::parse(&[]).is_err());
        assert!(EventFilter::parse(&["*".into(), "verification.approved".into()]).is_err());
        assert!(
            EventFilter::parse(&["verification.aproved".into()])
                .unwrap_err()
                .contains("unknown event type")
        );
    }
}

/// The body shape an endpoint receives: kycd's own events, or a vendor dialect's (for an
/// integration that already parses that vendor's webhooks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{id, type, created_at, final, data}`, Standard Webhooks signatures.
    #[default]
    Kycd,
    /// Checkout.com's `identity_verification_*` events, with a `Cko-Signature` header as well.
    Checkout,
}

impl WebhookFormat {
    pub const ALL: [Self; 2] = [Self::Kycd, Self::Checkout];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kycd => "kycd",
            Self::Checkout => "checkout",
        }
    }
}

worded_enum!(WebhookFormat, Self::ALL, |s| format!(
    "unknown webhook format '{s}': expected kycd or checkout"
));
