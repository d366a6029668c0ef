//! Evidence signing keys per tenant (the private part sealed); retired keys stay published.

use crate::repo::{Columns, FromRow};
use crate::sealed::aad;
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A tenant's evidence signing key; the private part never leaves the store unsealed
/// except to the engine that signs.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub tenant_id: TenantId,
    pub alg: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// `SELECT` the columns `SigningKeyRecord::from_row` reads `FROM signing_keys` (with the
/// sealed private part when asked for), then the rest of the query: one column list for
/// every query whose rows it maps.
macro_rules! select_signing_keys {
    (@columns) => {
        "kid, tenant_id, alg, public_jwk, created_at, retired_at"
    };
    (with private_enc, $rest:literal) => {
        concat!("SELECT private_enc, ", select_signing_keys!(@columns), " FROM signing_keys ", $rest)
    };
    ($rest:literal) => {
        concat!("SELECT ", select_signing_keys!(@columns), " FROM signing_keys ", $rest)
    };
}

impl FromRow for SigningKeyRecord {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(SigningKeyRecord {
            kid: row.try_get("kid")?,
            tenant_id: row.tenant_id()?,
            alg: row.try_get("alg")?,
            public_jwk: row.try_get("public_jwk")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            retired_at: row.opt_time("retired_at")?,
        })
    }
}

impl Tx<'_> {
    /// Store a tenant's new signing key (private part sealed) and retire the previous
    /// active one; retired keys stay published so old evidence still verifies.
    pub async fn insert_signing_key(&mut self, k: &SigningKeyRecord, private_der: &[u8], now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE signing_keys SET retired_at = $1 WHERE tenant_id = $2 AND retired_at IS NULL",
            (ms(now), k.tenant_id.as_str()),
        )
        .await?;
        let sealed = self.keys(&k.tenant_id).seal_text(&aad::signing_key(&k.kid), private_der);
        self.execute(
            "INSERT INTO signing_keys (kid, tenant_id, alg, private_enc, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            (&k.kid, k.tenant_id.as_str(), &k.alg, sealed, &k.public_jwk, ms(k.created_at)),
        )
        .await
    }

    /// The tenant's active signing key with its decrypted private part (PKCS#8 DER).
    pub async fn active_signing_key(&mut self, tenant: &TenantId) -> Result<Option<(SigningKeyRecord, Vec<u8>)>> {
        let sql = select_signing_keys!(with private_enc, "WHERE tenant_id = $1 AND retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1");
        let Some(row) = self.fetch_optional(sql, (tenant.as_str(),)).await? else {
            return Ok(None);
        };
        let rec = SigningKeyRecord::from_row(self.store, &row)?;
        let sealed: String = row.try_get("private_enc")?;
        let der = self.keys(tenant).open_text(&aad::signing_key(&rec.kid), &sealed)?;
        Ok(Some((rec, der)))
    }

    /// Public keys (active and retired) of one tenant, or of every tenant.
    pub async fn public_signing_keys(&mut self, tenant: Option<&TenantId>) -> Result<Vec<SigningKeyRecord>> {
        let sql = select_signing_keys!("WHERE ($1 = '' OR tenant_id = $1) ORDER BY tenant_id, created_at");
        self.find_all(sql, (tenant.map_or("", |t| t.as_str()),)).await
    }
}
