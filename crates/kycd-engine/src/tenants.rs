//! Tenants and their API keys: the operator's side (bootstrap, create, revoke) and the
//! lookup that turns a presented key into a [`Principal`].

use crate::required::RequiredReads;
use crate::{AuditBreak, Caller, Engine, EngineError, Principal, Result, lifecycle};
use kycd_core::{Actor, ApiKeyId, Mode, RetentionSettings, Scope, Tenant, TenantId, random_token};
use kycd_store::{ApiKeyRecord, Tx, secret_hash};

pub struct CreatedKey {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub api_key: String,
}

/// The textual form of an API key. Every form is stored hashed, scoped, moded and revoked
/// alike and is accepted wherever a key is; the form only exists for clients that check
/// it before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `kycd_test_…` / `kycd_live_…`.
    #[default]
    Kycd,
    /// Checkout.com's secret key form (`sk_sbox_…` / `sk_…`), which its SDKs' builders
    /// insist on: the Checkout dialect's integrators keep their SDK code unchanged.
    Checkout,
}

impl KeyFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kycd" => Some(Self::Kycd),
            "checkout" => Some(Self::Checkout),
            _ => None,
        }
    }
}

/// Every prefix an API key of some [`KeyFormat`] starts with.
pub(crate) const API_KEY_PREFIXES: [&str; 3] = ["kycd_live_", "kycd_test_", "sk_"];

pub(crate) fn new_api_key(mode: Mode, format: KeyFormat) -> String {
    match format {
        KeyFormat::Kycd => format!("kycd_{}_{}", mode.as_str(), random_token(40)),
        KeyFormat::Checkout => checkout_secret_key(mode),
    }
}

/// Checkout.com's secret key: `sk_sbox_` (sandbox, for a test tenant) or `sk_` (live),
/// then 26 lower-case base32 characters and one of `[a-z2-7*#$=]` (the SDKs' pattern
/// `^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$`). All 27 are drawn from base32: 135 random bits.
pub(crate) fn checkout_secret_key(mode: Mode) -> String {
    use rand::Rng;
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    let body: String = (0..27).map(|_| char::from(BASE32[rng.gen_range(0..32)])).collect();
    match mode {
        Mode::Test => format!("sk_sbox_{body}"),
        Mode::Live => format!("sk_{body}"),
    }
}

impl Engine {
    /// First start: if there is no tenant, create one with an admin key.
    pub async fn bootstrap(&self, mode: Mode) -> Result<Option<CreatedKey>> {
        let mut tx = self.store.begin().await?;
        if !tx.list_tenants().await?.is_empty() {
            return Ok(None);
        }
        drop(tx);
        Ok(Some(self.create_tenant("Default", mode).await?))
    }

    pub async fn create_tenant(&self, name: &str, mode: Mode) -> Result<CreatedKey> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(EngineError::Invalid("tenant name must be 1 to 200 characters".into()));
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            mode,
            retention: RetentionSettings::default(),
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_tenant(&tenant).await?;
        tx.audit(&tenant.id, &Actor::Cli, "tenant.created", tenant.id.as_str(), now).await?;
        let key = self.insert_key(&mut tx, &tenant, Scope::Admin, KeyFormat::Kycd).await?;
        tx.enqueue_job(&tenant.id, lifecycle::JOB_SWEEP, "", now).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub(crate) async fn insert_key(&self, tx: &mut Tx<'_>, tenant: &Tenant, scope: Scope, format: KeyFormat) -> Result<CreatedKey> {
        let now = self.now();
        let api_key = new_api_key(tenant.mode, format);
        let rec = ApiKeyRecord {
            id: ApiKeyId::generate(),
            tenant_id: tenant.id.clone(),
            scope,
            mode: tenant.mode,
            created_at: now,
            revoked_at: None,
        };
        tx.insert_api_key(&rec, &secret_hash(&api_key)).await?;
        tx.audit(
            &tenant.id,
            &Actor::Cli,
            &format!("api_key.created.{}", scope.as_str()),
            rec.id.as_str(),
            now,
        )
        .await?;
        Ok(CreatedKey {
            tenant_id: tenant.id.clone(),
            key_id: rec.id,
            api_key,
        })
    }

    pub async fn create_api_key(&self, tenant: &TenantId, scope: Scope, format: KeyFormat) -> Result<CreatedKey> {
        let mut tx = self.store.begin().await?;
        let tenant = tx.required_tenant(tenant).await?;
        let key = self.insert_key(&mut tx, &tenant, scope, format).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn revoke_api_key(&self, key: &ApiKeyId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let tenant = tx.revoke_api_key(key, now).await?.ok_or(EngineError::NotFound("active API key"))?;
        tx.audit(&tenant, &Actor::Cli, "api_key.revoked", key.as_str(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(self.store.begin().await?.list_tenants().await?)
    }

    pub async fn verify_audit(&self) -> Result<(usize, Option<AuditBreak>)> {
        Ok(self.store.begin().await?.verify_audit_chains().await?)
    }

    pub async fn authenticate(&self, api_key: &str) -> Result<Principal> {
        let bad = || {
            EngineError::Unauthorized(
                "the API key is not valid: send 'Authorization: Bearer kycd_…' with a key from 'kycd apikey create'".into(),
            )
        };
        if !API_KEY_PREFIXES.iter().any(|p| api_key.starts_with(p)) || api_key.len() > 200 {
            return Err(bad());
        }
        let rec = self.store.find_api_key(&secret_hash(api_key)).await?.ok_or_else(bad)?;
        if rec.revoked_at.is_some() {
            return Err(EngineError::Unauthorized(
                "this API key was revoked; create a new one with 'kycd apikey create'".into(),
            ));
        }
        Ok(Principal {
            tenant_id: rec.tenant_id,
            caller: Caller::ApiKey(rec.id),
            scope: rec.scope,
            mode: rec.mode,
        })
    }
}

#[cfg(test)]
mod key_format_tests {
    use super::*;

    /// The SDKs' `^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$`, written out.
    fn checkout_sdk_accepts(key: &str, sandbox: bool) -> bool {
        let body = if sandbox {
            key.strip_prefix("sk_sbox_")
        } else {
            key.strip_prefix("sk_")
        };
        let base32 = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
        body.is_some_and(|b| {
            let chars: Vec<char> = b.chars().collect();
            chars.len() == 27 && chars[..26].iter().all(|c| base32(*c)) && (base32(chars[26]) || "*#$=".contains(chars[26]))
        })
    }

    #[test]
    fn checkout_keys_take_the_form_its_sdks_check_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let test = new_api_key(Mode::Test, KeyFormat::Checkout);
            let live = new_api_key(Mode::Live, KeyFormat::Checkout);
            assert!(checkout_sdk_accepts(&test, true), "{test}");
            assert!(checkout_sdk_accepts(&live, false) && !live.starts_with("sk_sbox_"), "{live}");
            assert!(API_KEY_PREFIXES.iter().any(|p| test.starts_with(p) && live.starts_with("sk_")));
            assert!(seen.insert(test) && seen.insert(live));
        }
        let kycd = new_api_key(Mode::Test, KeyFormat::Kycd);
        assert!(kycd.starts_with("kycd_test_") && API_KEY_PREFIXES.iter().any(|p| kycd.starts_with(p)));
        assert_eq!(KeyFormat::parse("checkout"), Some(KeyFormat::Checkout));
        assert_eq!(KeyFormat::parse("stripe"), None);
    }
}
