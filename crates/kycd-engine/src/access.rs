//! OAuth2 client credentials for the dialects that expect a bearer token from a token
//! endpoint, and short-lived download links (pre-signed URLs).
//!
//! The client is a kycd API key: `client_id` is its id (`key_…`), `client_secret` the key
//! itself (`kycd_live_…` / `kycd_test_…`), both from `kycd apikey create`. A token is
//! random, shown once, stored as its SHA-256 only, bound to one audience (the dialect it
//! was issued for), and expires after [`ACCESS_TOKEN_TTL`]. It acts with its key's tenant,
//! scope and mode, and stops working when the key is revoked.

use crate::{Engine, EngineError, Principal, Result};
use chrono::{DateTime, Duration, Utc};
use kycd_core::*;
use kycd_store::{AccessTokenRecord, secret_hash};

/// How long an access token lives.
pub const ACCESS_TOKEN_TTL: Duration = Duration::hours(1);
/// How long a download link lives.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::minutes(15);

const TOKEN_PREFIX: &str = "kycd_at_";
const LINK_PREFIX: &str = "kycd_dl_";

/// A freshly issued access token (shown once).
#[derive(Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Seconds until it expires.
    pub expires_in: i64,
}

fn invalid_token() -> EngineError {
    EngineError::Unauthorized("the access token is not valid: request one from the token endpoint with your client credentials".into())
}

impl Engine {
    /// Client credentials grant: authenticate the client and issue a token for `audience`.
    pub async fn issue_access_token(&self, client_id: &str, client_secret: &str, audience: &str) -> Result<AccessToken> {
        let bad_client = || {
            EngineError::Unauthorized(
                "client authentication failed: client_id is an API key id (key_…) and client_secret that API key (kycd_…), from 'kycd apikey create'"
                    .into(),
            )
        };
        let p = self.authenticate(client_secret.trim()).await.map_err(|e| match e {
            EngineError::Unauthorized(_) => bad_client(),
            other => other,
        })?;
        if p.api_key()?.as_str() != client_id.trim() {
            return Err(bad_client());
        }
        let now = self.now();
        let token = format!("{TOKEN_PREFIX}{}", random_token(43));
        let expires_at = now + ACCESS_TOKEN_TTL;
        let mut tx = self.store.begin().await?;
        tx.delete_expired_access_tokens(&p.tenant_id, now).await?;
        tx.insert_access_token(&secret_hash(&token), &p.tenant_id, p.api_key()?, audience, None, expires_at, now)
            .await?;
        tx.audit(
            &p.tenant_id,
            &p.actor(),
            &format!("access_token.issued.{audience}"),
            p.api_key()?.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(AccessToken {
            token,
            expires_at,
            expires_in: (expires_at - now).num_seconds(),
        })
    }

    /// The stored record of a token of this kind (`prefix`), if any: only its hash is kept.
    async fn lookup_token(&self, token: &str, prefix: &str) -> Result<Option<AccessTokenRecord>> {
        if !token.starts_with(prefix) || token.len() > 200 {
            return Ok(None);
        }
        Ok(self.store.begin().await?.find_access_token(&secret_hash(token)).await?)
    }

    /// The caller behind a bearer access token issued for `audience`.
    pub async fn authenticate_access_token(&self, token: &str, audience: &str) -> Result<Principal> {
        let rec = self.lookup_token(token, TOKEN_PREFIX).await?.ok_or_else(invalid_token)?;
        if rec.audience != audience || rec.object_id.is_some() {
            return Err(invalid_token());
        }
        if self.now() >= rec.expires_at {
            return Err(EngineError::Unauthorized(
                "the access token expired: request a new one from the token endpoint".into(),
            ));
        }
        if rec.key_revoked {
            return Err(EngineError::Unauthorized("the API key this token was issued to was revoked".into()));
        }
        Ok(principal_of(rec))
    }

    /// A link that opens one verification's `audience` download (e.g. a PDF report) without
    /// credentials until it expires. The verification must exist in the caller's tenant.
    pub async fn issue_download_link(&self, p: &Principal, id: &VerificationId, audience: &str) -> Result<AccessToken> {
        let now = self.now();
        let token = format!("{LINK_PREFIX}{}", random_token(43));
        let expires_at = now + DOWNLOAD_LINK_TTL;
        let mut tx = self.store.begin().await?;
        tx.get_verification(&p.tenant_id, id)
            .await?
            .ok_or(EngineError::NotFound("verification"))?;
        tx.delete_expired_access_tokens(&p.tenant_id, now).await?;
        tx.insert_access_token(
            &secret_hash(&token),
            &p.tenant_id,
            p.api_key()?,
            audience,
            Some(id.as_str()),
            expires_at,
            now,
        )
        .await?;
        tx.audit(
            &p.tenant_id,
            &p.actor(),
            &format!("download_link.issued.{audience}"),
            id.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(AccessToken {
            token,
            expires_at,
            expires_in: (expires_at - now).num_seconds(),
        })
    }

    /// A download link for the evidence of a decided verification only: conflict while it
    /// is not approved or declined (some vendors publish their report only then), gone once
    /// it was anonymized.
    pub async fn issue_decided_download_link(&self, p: &Principal, id: &VerificationId, audience: &str) -> Result<AccessToken> {
        let v = self.get_verification(p, id).await?;
        if v.redacted {
            return Err(EngineError::Gone(
                "this verification was anonymized; its evidence was erased".into(),
            ));
        }
        if !matches!(v.status, VerificationStatus::Approved | VerificationStatus::Declined) {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; its report is available once it is approved or declined",
                v.status
            )));
        }
        self.issue_download_link(p, id, audience).await
    }

    /// Who issued a download link, and the verification it opens. Unknown, expired or
    /// foreign links are all simply not found.
    pub async fn redeem_download_link(&self, token: &str, audience: &str) -> Result<(Principal, VerificationId)> {
        let gone = || EngineError::NotFound("download link");
        let rec = self.lookup_token(token, LINK_PREFIX).await?.ok_or_else(gone)?;
        if rec.audience != audience || self.now() >= rec.expires_at || rec.key_revoked {
            return Err(gone());
        }
        let id: VerificationId = rec.object_id.as_deref().ok_or_else(gone)?.parse().map_err(|_| gone())?;
        Ok((principal_of(rec), id))
    }
}

/// A token acts as the API key it was issued to.
fn principal_of(rec: AccessTokenRecord) -> Principal {
    Principal {
        tenant_id: rec.tenant_id,
        caller: crate::Caller::ApiKey(rec.key_id),
        scope: rec.scope,
        mode: rec.mode,
    }
}
