//! OAuth2 client credentials for the dialects that expect a bearer token from a token
//! endpoint, and short-lived download links (pre-signed URLs).
//!
//! The client is a kycd API key: `client_id` is its id (`key_…`), `client_secret` the key
//! itself (`kycd_live_…` / `kycd_test_…`), both from `kycd apikey create`. A token is
//! random, shown once, stored as its SHA-256 only, bound to one audience (the dialect it
//! was issued for), and expires after [`ACCESS_TOKEN_TTL`]. It acts with its key's tenant,
//! scope and mode, and stops working when the key is revoked.
//!
//! Some vendors' clients expect the token to be a JWT (Skribble's login answers one): those
//! dialects get [`Engine::issue_signed_access_token`], an HS256 JWT signed with a key derived
//! per tenant from the master key. It is stored by hash like the others (so revoking the
//! key ends it), and its signature lets kycd tell an expired token from a forged one.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};
use chrono::{DateTime, Duration, Utc};
use kycd_core::*;
use kycd_store::{AccessTokenRecord, Tx, secret_hash};
use serde::{Deserialize, Serialize};

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

/// What a signed (JWT) access token says.
#[derive(Debug, Serialize, Deserialize)]
struct SignedTokenClaims {
    /// The kycd instance (its public URL).
    iss: String,
    /// The API key the token acts as (`key_…`).
    sub: String,
    /// The dialect it was issued for.
    aud: String,
    /// The tenant: picks the key that verifies the signature.
    tid: String,
    iat: i64,
    exp: i64,
    /// Makes every token unique (two logins in the same second differ).
    jti: String,
}

/// The outcome of checking a signed access token: the dialect answers each in its words.
#[derive(Debug)]
pub enum SignedTokenCheck {
    Valid(Principal),
    /// Issued by kycd for this dialect, and its time is up.
    Expired,
    /// Malformed, forged, for another dialect, or its key was revoked.
    Invalid,
}

fn invalid_token() -> EngineError {
    EngineError::Unauthorized("the access token is not valid: request one from the token endpoint with your client credentials".into())
}

impl Engine {
    /// The caller behind client credentials: an API key's id and the key itself. `refused`
    /// is the error for wrong ones, in the words of the endpoint that asked.
    async fn client(&self, key_id: &str, api_key: &str, refused: &str) -> Result<Principal> {
        let bad = || EngineError::Unauthorized(refused.to_owned());
        let p = self.authenticate(api_key.trim()).await.map_err(|e| match e {
            EngineError::Unauthorized(_) => bad(),
            other => other,
        })?;
        if p.api_key()?.as_str() != key_id.trim() {
            return Err(bad());
        }
        Ok(p)
    }

    /// Keep a new bearer token's hash for `p` (forgetting the tenant's expired ones), audited.
    async fn store_token(&self, p: &Principal, token: String, audience: &str, ttl: Duration) -> Result<AccessToken> {
        let tx = self.store.begin().await?;
        self.keep_token(tx, p, token, audience, None, ttl).await
    }

    /// Keep a token's hash in `tx` for `p` and `audience`, forgetting the tenant's expired
    /// ones, and commit: a download link (with its `object`) audited on the object, an
    /// access token on the API key.
    async fn keep_token(
        &self,
        mut tx: Tx<'_>,
        p: &Principal,
        token: String,
        audience: &str,
        object: Option<&VerificationId>,
        ttl: Duration,
    ) -> Result<AccessToken> {
        let now = self.now();
        let expires_at = now + ttl;
        let object = object.map(VerificationId::as_str);
        let key = p.api_key()?;
        tx.delete_expired_access_tokens(&p.tenant_id, now).await?;
        tx.insert_access_token(&secret_hash(&token), &p.tenant_id, key, audience, object, expires_at, now)
            .await?;
        let (action, audited) = match object {
            Some(id) => (format!("download_link.issued.{audience}"), id),
            None => (format!("access_token.issued.{audience}"), key.as_str()),
        };
        tx.audit(&p.tenant_id, &p.actor(), &action, audited, now).await?;
        tx.commit().await?;
        Ok(AccessToken {
            token,
            expires_at,
            expires_in: (expires_at - now).num_seconds(),
        })
    }

    /// Client credentials grant: authenticate the client and issue a token for `audience`.
    pub async fn issue_access_token(&self, client_id: &str, client_secret: &str, audience: &str) -> Result<AccessToken> {
        let p = self
            .client(
                client_id,
                client_secret,
                "client authentication failed: client_id is an API key id (key_…) and client_secret that API key (kycd_…), from 'kycd apikey create'",
            )
            .await?;
        let token = format!("{TOKEN_PREFIX}{}", random_token(43));
        self.store_token(&p, token, audience, ACCESS_TOKEN_TTL).await
    }

    /// A signed access token (a JWT) for `audience`, living `ttl`: the client credentials
    /// are an API key's id and the key, as for [`Engine::issue_access_token`].
    pub async fn issue_signed_access_token(&self, key_id: &str, api_key: &str, audience: &str, ttl: Duration) -> Result<AccessToken> {
        let p = self
            .client(
                key_id,
                api_key,
                "the credentials are not valid: the username is an API key id (key_…) and the api-key that API key, from 'kycd apikey create'",
            )
            .await?;
        let now = self.now();
        let claims = SignedTokenClaims {
            iss: self.cfg.public_url.clone(),
            sub: p.api_key()?.to_string(),
            aud: audience.to_owned(),
            tid: p.tenant_id.to_string(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: random_token(22),
        };
        let key = jsonwebtoken::EncodingKey::from_secret(self.store.tenant_keys(&p.tenant_id).access_token_key());
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
            .map_err(|e| EngineError::Internal(format!("sign an access token: {e}")))?;
        self.store_token(&p, token, audience, ttl).await
    }

    /// Check a signed access token issued for `audience`. The signature is checked before
    /// anything else (so only a token kycd issued can be called expired), then the stored
    /// record: the token must still be known and its API key not revoked.
    pub async fn check_signed_access_token(&self, token: &str, audience: &str) -> Result<SignedTokenCheck> {
        if token.len() > 2048 {
            return Ok(SignedTokenCheck::Invalid);
        }
        let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode_claims::<SignedTokenClaims>(token) else {
            return Ok(SignedTokenCheck::Invalid);
        };
        let Ok(tenant) = unverified.tid.parse::<TenantId>() else {
            return Ok(SignedTokenCheck::Invalid);
        };
        let mut rules = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        rules.set_audience(&[audience]);
        rules.set_required_spec_claims(&["exp", "aud", "sub"]);
        // Expiry is checked below against the engine's clock, not the system's.
        rules.validate_exp = false;
        let key = jsonwebtoken::DecodingKey::from_secret(self.store.tenant_keys(&tenant).access_token_key());
        let Ok(data) = jsonwebtoken::decode::<SignedTokenClaims>(token, &key, &rules) else {
            return Ok(SignedTokenCheck::Invalid);
        };
        if self.now().timestamp() >= data.claims.exp {
            return Ok(SignedTokenCheck::Expired);
        }
        let Some(rec) = self.store.begin().await?.find_access_token(&secret_hash(token)).await? else {
            return Ok(SignedTokenCheck::Invalid);
        };
        if rec.audience != audience || rec.object_id.is_some() || rec.tenant_id != tenant || rec.key_revoked {
            return Ok(SignedTokenCheck::Invalid);
        }
        if self.now() >= rec.expires_at {
            return Ok(SignedTokenCheck::Expired);
        }
        Ok(SignedTokenCheck::Valid(principal_of(rec)))
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
        let token = format!("{LINK_PREFIX}{}", random_token(43));
        let mut tx = self.store.begin().await?;
        tx.required_verification(&p.tenant_id, id).await?;
        self.keep_token(tx, p, token, audience, Some(id), DOWNLOAD_LINK_TTL).await
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
