//! Prefixed, random, unguessable identifiers. Each id type only parses from its own
//! prefix, so an attempt id can never be passed where a verification id is expected.

use rand::Rng;
use rand::distributions::Alphanumeric;
use std::fmt;
use std::str::FromStr;

/// Length of the random part of every id (base62, ~143 bits).
const RANDOM_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} id: expected '{prefix}' followed by letters and digits")]
pub struct IdParseError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

/// Random base62 string, used for ids and secrets alike.
pub fn random_token(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_token(RANDOM_LEN)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let ok = s.strip_prefix($prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
                });
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdParseError { kind: $kind, prefix: $prefix, value: s.chars().take(80).collect() })
                }
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(/// A business using kycd.
    TenantId, "ten_", "tenant");
typed_id!(/// An API key's public id (never the secret).
    ApiKeyId, "key_", "api key");
typed_id!(/// A person being verified.
    ApplicantId, "aplt_", "applicant");
typed_id!(/// One identity verification.
    VerificationId, "idv_", "verification");
typed_id!(/// One pass through the capture flow.
    AttemptId, "iatp_", "attempt");
typed_id!(/// A stored capture (image).
    FileId, "file_", "file");
typed_id!(/// A background job.
    JobId, "job_", "job");
typed_id!(/// A webhook endpoint of a tenant.
    WebhookEndpointId, "we_", "webhook endpoint");
typed_id!(/// An event (stable across delivery retries: the `webhook-id` header).
    EventId, "evt_", "event");
typed_id!(/// One delivery of an event to an endpoint.
    DeliveryId, "whd_", "webhook delivery");
typed_id!(/// A person signing in to the review console (a reviewer or admin of one tenant).
    OperatorId, "op_", "operator");
typed_id!(/// A head-turn challenge the server issued for one verification (single use, with a deadline).
    LivenessChallengeId, "lch_", "liveness challenge");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_round_trip_and_are_distinct() {
        let a = VerificationId::generate();
        let b = VerificationId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("idv_"));
        assert_eq!(a.as_str().parse::<VerificationId>().unwrap(), a);
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let a = AttemptId::generate();
        let err = a.as_str().parse::<VerificationId>().unwrap_err();
        assert!(err.to_string().contains("idv_"));
        assert!("idv_".parse::<VerificationId>().is_err());
        assert!("idv_abc/../x".parse::<VerificationId>().is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_prefixed_alnum(s in ".{0,100}") {
            if let Ok(id) = s.parse::<FileId>() {
                prop_assert!(id.as_str().starts_with("file_"));
                prop_assert!(id.as_str()[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
    }
}
