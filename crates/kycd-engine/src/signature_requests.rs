//! A signature request of an e-signature platform, as kycd keeps it: one verification per
//! signer to identify, bound together by `reference.signature_request_id`. Created through
//! a dialect, all signers are created in one transaction (all or none), each with its
//! first attempt open (the link the signer opens) and the dialect's state beside it.

use crate::{Engine, EngineError, NewVerification, Principal, Result, StartedAttempt};
use kycd_core::*;
use serde::Serialize;

/// The most signers one request may name (one verification each, in one transaction).
pub const MAX_SIGNERS: usize = 50;

/// One signer to identify: the verification to create, the capture page's settings for
/// its first attempt, and the dialect's state to keep beside it.
pub struct NewSigner<T> {
    pub verification: NewVerification,
    pub client: ClientInfo,
    pub state: T,
}

pub struct CreatedSigner {
    pub verification: Verification,
    /// The first attempt, with its capture link (its start token is shown only here).
    pub attempt: StartedAttempt,
}

pub struct CreatedSignatureRequest {
    pub id: String,
    /// In the order they were given.
    pub signers: Vec<CreatedSigner>,
}

/// A new signature request id: a v4 UUID, the form e-signature platforms give theirs.
/// Written out (16 random bytes, the version and variant bits set) rather than taken from
/// the `uuid` crate: this is the only UUID kycd makes.
fn new_signature_request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

impl Engine {
    /// Create a signature request: one verification per signer (their `reference` gets the
    /// new request's id), each with its first attempt open and its state kept beside it
    /// under `state_kind`. Nothing is created unless everything is.
    pub async fn create_signature_request<T: Serialize>(
        &self,
        p: &Principal,
        signers: Vec<NewSigner<T>>,
        state_kind: &str,
    ) -> Result<CreatedSignatureRequest> {
        p.require_write()?;
        if signers.is_empty() || signers.len() > MAX_SIGNERS {
            return Err(EngineError::Invalid(format!(
                "a signature request names 1 to {MAX_SIGNERS} signers to identify"
            )));
        }
        if signers.iter().any(|s| s.verification.callback_url.is_some()) {
            return Err(EngineError::Internal("signers of a signature request take no callback_url".into()));
        }
        let id = new_signature_request_id();
        let actor = p.actor();
        let mut tx = self.store.begin().await?;
        let mut created = Vec::with_capacity(signers.len());
        for NewSigner {
            mut verification,
            client,
            state,
        } in signers
        {
            let json = serde_json::to_string(&state).map_err(|e| EngineError::Internal(format!("serialize dialect state: {e}")))?;
            verification.reference.signature_request_id = Some(id.clone());
            let mut v = self.insert_verification(&mut tx, p, verification).await?;
            tx.put_dialect_state(&p.tenant_id, &v.id, v.id.as_str(), state_kind, &json, self.now())
                .await?;
            let attempt = self.open_attempt(&mut tx, &mut v, client, &actor).await?;
            created.push(CreatedSigner { verification: v, attempt });
        }
        tx.audit(&p.tenant_id, &actor, "signature_request.created", &id, self.now()).await?;
        tx.commit().await?;
        Ok(CreatedSignatureRequest { id, signers: created })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_request_ids_are_v4_uuids() {
        let a = new_signature_request_id();
        assert_eq!(a.len(), 36, "{a}");
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{a}");
        assert!(
            a.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{a}"
        );
        assert!(groups[2].starts_with('4'), "version 4: {a}");
        assert!("89ab".contains(&groups[3][..1]), "RFC 4122 variant: {a}");
        assert_ne!(a, new_signature_request_id());
    }
}
