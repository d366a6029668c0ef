//! Repository methods on `Tx`. Row ⇄ domain mapping stays here; personal fields are
//! sealed with the tenant key, bound to their row by the AEAD's associated data.

use crate::sealed::{aad, blind};
use crate::{Result, StoreError, Tx, from_ms, ms};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kycd_core::*;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn parse<T: std::str::FromStr>(s: String, what: &str) -> Result<T> {
    s.parse().map_err(|_| corrupt(format!("bad {what}: {s}")))
}

/// Two id columns of each row, parsed: `(column, what it is)` each.
pub(crate) fn id_pairs<A: std::str::FromStr, B: std::str::FromStr>(
    rows: &[AnyRow],
    a: (&str, &str),
    b: (&str, &str),
) -> Result<Vec<(A, B)>> {
    rows.iter()
        .map(|r| Ok((parse(r.try_get(a.0)?, a.1)?, parse(r.try_get(b.0)?, b.1)?)))
        .collect()
}

pub(crate) fn days(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(format!("bad number of days: {v}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing our own plain structs to a String cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("{what}: {e}")))
}

/// A review's free text, sealed in `verifications.review_enc`.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReviewText {
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_message: Option<String>,
}

// ----- pagination ------------------------------------------------------------------

/// Opaque keyset cursor over (created_at, id), newest first.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at, self.id))
    }
    pub fn decode(s: &str) -> Result<Self> {
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| StoreError::BadCursor)?;
        let text = String::from_utf8(raw).map_err(|_| StoreError::BadCursor)?;
        let (t, id) = text.split_once('.').ok_or(StoreError::BadCursor)?;
        if id.is_empty() || id.len() > 80 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::BadCursor);
        }
        Ok(Self {
            created_at: t.parse().map_err(|_| StoreError::BadCursor)?,
            id: id.to_owned(),
        })
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn page<T>(mut rows: Vec<(T, i64, String)>, limit: usize) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, t, id)| {
            Cursor {
                created_at: *t,
                id: id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(v, _, _)| v).collect(),
        next_cursor,
    }
}

// ----- records that only the store and engine see ----------------------------------

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub scope: Scope,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub blob_key: String,
    pub wrapped_key: String,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for kycd_core::TimelineEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            at: e.at,
            action: e.action,
            actor: e.actor,
        }
    }
}

/// Where a tenant's audit chain first fails to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    pub tenant_id: String,
    pub seq: i64,
    pub reason: String,
}

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

#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
}

/// Which jobs a worker takes: each pool of workers claims its own kinds, so that a pool
/// busy with slow work (webhook receivers that hang) never holds up the others.
#[derive(Debug, Clone, Copy)]
pub enum JobKinds<'a> {
    All,
    Only(&'a [&'a str]),
    Except(&'a [&'a str]),
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn audit_hash(prev: &str, tenant: &str, seq: i64, at: i64, actor: &str, action: &str, object: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev, tenant, &seq.to_string(), &at.to_string(), actor, action, object] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

impl Tx<'_> {
    fn keys(&self, t: &TenantId) -> crate::crypto::TenantKeys {
        self.store.tenant_keys(t)
    }

    // ----- tenants and keys ----------------------------------------------------------

    pub async fn insert_tenant(&mut self, t: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, name, mode, created_at, retention_days, max_retention_days, tombstone_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(t.mode.as_str())
        .bind(ms(t.created_at))
        .bind(i64::from(t.retention.retention_days))
        .bind(i64::from(t.retention.max_retention_days))
        .bind(i64::from(t.retention.tombstone_days))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)")
            .bind(t.id.as_str())
            .bind(GENESIS)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    fn tenant_from(row: &AnyRow) -> Result<Tenant> {
        Ok(Tenant {
            id: parse(row.try_get("id")?, "tenant id")?,
            name: row.try_get("name")?,
            mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("tenant mode"))?,
            retention: RetentionSettings {
                retention_days: days(row.try_get("retention_days")?)?,
                max_retention_days: days(row.try_get("max_retention_days")?)?,
                tombstone_days: days(row.try_get("tombstone_days")?)?,
            },
            created_at: from_ms(row.try_get("created_at")?)?,
        })
    }

    pub async fn get_tenant(&mut self, id: &TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::tenant_from).transpose()
    }

    pub async fn update_tenant_retention(&mut self, id: &TenantId, r: &RetentionSettings) -> Result<()> {
        sqlx::query("UPDATE tenants SET retention_days = $1, max_retention_days = $2, tombstone_days = $3 WHERE id = $4")
            .bind(i64::from(r.retention_days))
            .bind(i64::from(r.max_retention_days))
            .bind(i64::from(r.tombstone_days))
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Operator view (CLI): every tenant.
    pub async fn list_tenants(&mut self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY created_at, id")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::tenant_from).collect()
    }

    pub async fn insert_api_key(&mut self, k: &ApiKeyRecord, key_hash: &str) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, scope, mode, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(k.id.as_str())
            .bind(k.tenant_id.as_str())
            .bind(key_hash)
            .bind(k.scope.as_str())
            .bind(k.mode.as_str())
            .bind(ms(k.created_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Authentication: the key's hash identifies its tenant.
    pub async fn find_api_key(&mut self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query("SELECT id, tenant_id, scope, mode, created_at, revoked_at FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(api_key_from).transpose()
    }

    /// A tenant's API keys (ids and scopes, never secrets), newest first.
    pub async fn list_api_keys(&mut self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, scope, mode, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(api_key_from).collect()
    }

    /// Revoke one of this tenant's live keys; `false` if it has no such live key.
    pub async fn revoke_tenant_api_key(&mut self, tenant: &TenantId, id: &ApiKeyId, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Operator action (CLI). Returns the key's tenant when a live key was revoked.
    pub async fn revoke_api_key(&mut self, id: &ApiKeyId, now: DateTime<Utc>) -> Result<Option<TenantId>> {
        let row = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING tenant_id")
            .bind(ms(now))
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| parse(r.try_get("tenant_id")?, "tenant id")).transpose()
    }

    // ----- applicants ----------------------------------------------------------------

    pub async fn insert_applicant(&mut self, a: &Applicant) -> Result<()> {
        sqlx::query("INSERT INTO applicants (id, tenant_id, person_enc, redacted, created_at, updated_at) VALUES ($1, $2, '', 0, $3, $3)")
            .bind(a.id.as_str())
            .bind(a.tenant_id.as_str())
            .bind(ms(a.created_at))
            .execute(&mut *self.tx)
            .await?;
        self.update_applicant(a).await
    }

    pub async fn update_applicant(&mut self, a: &Applicant) -> Result<()> {
        let k = self.keys(&a.tenant_id);
        let aad_of = |col: &str| aad::applicant(a.id.as_str(), col);
        let person = k.seal_text(&aad_of("person"), to_json(&a.person).as_bytes());
        let ext = a
            .external_applicant_id
            .as_ref()
            .map(|e| k.seal_text(&aad_of("external_id"), e.expose().as_bytes()));
        let [ext_bidx, email_bidx, phone_bidx] = blind::applicant(&k, &a.person, a.external_applicant_id.as_ref().map(|e| e.expose()));
        sqlx::query(
            "UPDATE applicants SET external_id_enc = $1, external_id_bidx = $2, person_enc = $3, email_bidx = $4,
             phone_bidx = $5, redacted = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(ext)
        .bind(ext_bidx)
        .bind(person)
        .bind(email_bidx)
        .bind(phone_bidx)
        .bind(i64::from(a.redacted))
        .bind(ms(a.updated_at))
        .bind(a.tenant_id.as_str())
        .bind(a.id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    fn applicant_from(&self, tenant: &TenantId, row: &AnyRow) -> Result<(Applicant, i64, String)> {
        let id: String = row.try_get("id")?;
        let k = self.keys(tenant);
        let aad_of = |col: &str| aad::applicant(&id, col);
        let person_enc: String = row.try_get("person_enc")?;
        let person: PersonData = from_json(&String::from_utf8_lossy(&k.open_text(&aad_of("person"), &person_enc)?), "person")?;
        let external_applicant_id = match row.try_get::<Option<String>, _>("external_id_enc")? {
            Some(s) => Some(
                PersonalText::parse(
                    "external_applicant_id",
                    &String::from_utf8_lossy(&k.open_text(&aad_of("external_id"), &s)?),
                    1000,
                )
                .map_err(corrupt)?,
            ),
            None => None,
        };
        let created: i64 = row.try_get("created_at")?;
        Ok((
            Applicant {
                id: parse(id.clone(), "applicant id")?,
                tenant_id: tenant.clone(),
                external_applicant_id,
                person,
                redacted: row.try_get::<i64, _>("redacted")? != 0,
                created_at: from_ms(created)?,
                updated_at: from_ms(row.try_get("updated_at")?)?,
            },
            created,
            id,
        ))
    }

    pub async fn get_applicant(&mut self, tenant: &TenantId, id: &ApplicantId) -> Result<Option<Applicant>> {
        let row = sqlx::query("SELECT * FROM applicants WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.applicant_from(tenant, &r).map(|x| x.0)).transpose()
    }

    pub async fn list_applicants(&mut self, tenant: &TenantId, cursor: Option<&Cursor>, limit: usize) -> Result<Page<Applicant>> {
        let (t, id) = cursor.map_or((i64::MAX, String::new()), |c| (c.created_at, c.id.clone()));
        let rows = sqlx::query(
            "SELECT * FROM applicants WHERE tenant_id = $1 AND (created_at, id) < ($2, $3)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(t)
        .bind(&id)
        .bind(limit as i64 + 1)
        .fetch_all(&mut *self.tx)
        .await?;
        let rows = rows.iter().map(|r| self.applicant_from(tenant, r)).collect::<Result<Vec<_>>>()?;
        Ok(page(rows, limit))
    }

    /// Applicants of this tenant with this email (through the blind index).
    pub async fn find_applicants_by_email(&mut self, tenant: &TenantId, email: &Email) -> Result<Vec<ApplicantId>> {
        let bidx = blind::email(&self.keys(tenant), email);
        self.applicant_ids_where(tenant, "email_bidx", &bidx).await
    }

    pub async fn find_applicants_by_phone(&mut self, tenant: &TenantId, phone: &Phone) -> Result<Vec<ApplicantId>> {
        let bidx = blind::phone(&self.keys(tenant), phone);
        self.applicant_ids_where(tenant, "phone_bidx", &bidx).await
    }

    async fn applicant_ids_where(&mut self, tenant: &TenantId, column: &'static str, bidx: &str) -> Result<Vec<ApplicantId>> {
        let rows = sqlx::query(&format!(
            "SELECT id FROM applicants WHERE tenant_id = $1 AND {column} = $2 ORDER BY created_at"
        ))
        .bind(tenant.as_str())
        .bind(bidx)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| parse(r.try_get("id")?, "applicant id")).collect()
    }

    // ----- verifications -------------------------------------------------------------

    pub async fn insert_verification(&mut self, v: &Verification) -> Result<()> {
        sqlx::query(
            "INSERT INTO verifications (id, tenant_id, applicant_id, status, delivery, private_enc, policy_json, expires_at,
             checks_json, created_at, updated_at) VALUES ($1, $2, $3, $4, '', '', '', 0, '[]', $5, $5)",
        )
        .bind(v.id.as_str())
        .bind(v.tenant_id.as_str())
        .bind(v.applicant_id.as_str())
        .bind(v.status.as_str())
        .bind(ms(v.created_at))
        .execute(&mut *self.tx)
        .await?;
        self.update_verification(v).await
    }

    /// Write every mutable column of `v`. The review's free text (reason, message) is
    /// sealed apart from the rest of the review, which stays readable for queries.
    pub async fn update_verification(&mut self, v: &Verification) -> Result<()> {
        let k = self.keys(&v.tenant_id);
        let private = k.seal_text(&aad::verification(v.id.as_str(), "private"), to_json(&v.private).as_bytes());
        let (review, review_enc) = match &v.review {
            Some(r) => {
                let text = ReviewText {
                    reason: r.reason.clone(),
                    user_message: r.user_message.clone(),
                };
                let sealed = k.seal_text(&aad::verification(v.id.as_str(), "review"), to_json(&text).as_bytes());
                let mut open = r.clone();
                open.reason = String::new();
                open.user_message = None;
                (Some(to_json(&open)), Some(sealed))
            }
            None => (None, None),
        };
        sqlx::query(
            "UPDATE verifications SET status = $1, ref_document_id = $2, ref_signer_order = $3, ref_signature_request_id = $4,
             delivery = $5, private_enc = $6, policy_json = $7, expires_at = $8, checks_json = $9, review_json = $10,
             redacted = $11, updated_at = $12, retention_days = $13, legal_hold = $14, retain_until = $15,
             delete_after = $16, review_enc = $17 WHERE tenant_id = $18 AND id = $19",
        )
        .bind(v.status.as_str())
        .bind(v.reference.document_id.clone())
        .bind(v.reference.signer_order.map(i64::from))
        .bind(v.reference.signature_request_id.clone())
        .bind(to_json(&v.delivery))
        .bind(private)
        .bind(to_json(&v.policy))
        .bind(ms(v.expires_at))
        .bind(to_json(&v.checks))
        .bind(review)
        .bind(i64::from(v.redacted))
        .bind(ms(v.updated_at))
        .bind(v.lifecycle.retention_days.map(i64::from))
        .bind(i64::from(v.lifecycle.legal_hold))
        .bind(v.lifecycle.retain_until.map(ms))
        .bind(v.lifecycle.delete_after.map(ms))
        .bind(review_enc)
        .bind(v.tenant_id.as_str())
        .bind(v.id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub(crate) fn verification_from(&self, tenant: &TenantId, row: &AnyRow) -> Result<(Verification, i64, String)> {
        let id: String = row.try_get("id")?;
        let k = self.keys(tenant);
        let private_enc: String = row.try_get("private_enc")?;
        let private: VerificationPrivate = from_json(
            &String::from_utf8_lossy(&k.open_text(&aad::verification(&id, "private"), &private_enc)?),
            "private",
        )?;
        let created: i64 = row.try_get("created_at")?;
        let signer_order = row
            .try_get::<Option<i64>, _>("ref_signer_order")?
            .map(|o| u32::try_from(o).map_err(|_| corrupt("signer order")))
            .transpose()?;
        Ok((
            Verification {
                id: parse(id.clone(), "verification id")?,
                tenant_id: tenant.clone(),
                applicant_id: parse(row.try_get("applicant_id")?, "applicant id")?,
                status: parse(row.try_get("status")?, "status")?,
                reference: HostReference {
                    document_id: row.try_get("ref_document_id")?,
                    signer_order,
                    signature_request_id: row.try_get("ref_signature_request_id")?,
                },
                delivery: from_json(&row.try_get::<String, _>("delivery")?, "delivery")?,
                private,
                policy: from_json(&row.try_get::<String, _>("policy_json")?, "policy")?,
                expires_at: from_ms(row.try_get("expires_at")?)?,
                checks: from_json(&row.try_get::<String, _>("checks_json")?, "checks")?,
                review: self.review_from(&k, &id, row)?,
                redacted: row.try_get::<i64, _>("redacted")? != 0,
                lifecycle: Lifecycle {
                    retention_days: row.try_get::<Option<i64>, _>("retention_days")?.map(days).transpose()?,
                    legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
                    retain_until: row.try_get::<Option<i64>, _>("retain_until")?.map(from_ms).transpose()?,
                    delete_after: row.try_get::<Option<i64>, _>("delete_after")?.map(from_ms).transpose()?,
                },
                created_at: from_ms(created)?,
                updated_at: from_ms(row.try_get("updated_at")?)?,
            },
            created,
            id,
        ))
    }

    /// The review, its sealed free text put back (a row written before the text was
    /// sealed has it in `review_json`, until it is written again).
    fn review_from(&self, k: &crate::crypto::TenantKeys, id: &str, row: &AnyRow) -> Result<Option<Review>> {
        let Some(json) = row.try_get::<Option<String>, _>("review_json")? else {
            return Ok(None);
        };
        let mut review: Review = from_json(&json, "review")?;
        if let Some(sealed) = row.try_get::<Option<String>, _>("review_enc")? {
            let text: ReviewText = from_json(
                &String::from_utf8_lossy(&k.open_text(&aad::verification(id, "review"), &sealed)?),
                "review text",
            )?;
            review.reason = text.reason;
            review.user_message = text.user_message;
        }
        Ok(Some(review))
    }

    /// Verifications whose review text or retry message is still stored in clear (written
    /// before they were sealed).
    pub async fn verifications_with_clear_review_text(&mut self, after: &str, limit: usize) -> Result<Vec<(TenantId, VerificationId)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, id FROM verifications WHERE id > $1
             AND ((review_json IS NOT NULL AND review_enc IS NULL) OR checks_json LIKE '%\"user_message\"%')
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        id_pairs(&rows, ("tenant_id", "tenant id"), ("id", "verification id"))
    }

    pub async fn get_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Option<Verification>> {
        let row = sqlx::query("SELECT * FROM verifications WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.verification_from(tenant, &r).map(|x| x.0)).transpose()
    }

    /// Hold the verification's row until this transaction ends, so that concurrent
    /// read-then-write transactions on one verification (e.g. two uploads of one kind,
    /// each replacing the other) run one after the other. On SQLite, whose writers are
    /// serialised already, there is nothing to do.
    pub async fn lock_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        if let crate::Backend::Postgres = self.store.backend() {
            sqlx::query("SELECT id FROM verifications WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn list_verifications(
        &mut self,
        tenant: &TenantId,
        status: Option<VerificationStatus>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Verification>> {
        // A row-value bound the index serves directly (no cursor: below every row), and
        // the status condition only when filtering: a generic plan for `($2 = '' OR
        // status = $2)` or `(… OR $5 = 1)` scans from the top of the list, so a page far
        // down cost as much as every page before it.
        let (t, id) = cursor.map_or((i64::MAX, String::new()), |c| (c.created_at, c.id.clone()));
        let q = match status {
            Some(s) => sqlx::query(
                "SELECT * FROM verifications WHERE tenant_id = $1 AND (created_at, id) < ($2, $3) AND status = $4
                 ORDER BY created_at DESC, id DESC LIMIT $5",
            )
            .bind(tenant.as_str())
            .bind(t)
            .bind(id)
            .bind(s.as_str()),
            None => sqlx::query(
                "SELECT * FROM verifications WHERE tenant_id = $1 AND (created_at, id) < ($2, $3)
                 ORDER BY created_at DESC, id DESC LIMIT $4",
            )
            .bind(tenant.as_str())
            .bind(t)
            .bind(id),
        };
        let q = q.bind(limit as i64 + 1);
        let rows = q.fetch_all(&mut *self.tx).await?;
        let rows = rows.iter().map(|r| self.verification_from(tenant, r)).collect::<Result<Vec<_>>>()?;
        Ok(page(rows, limit))
    }

    /// Verifications of this tenant bound to a host document (e-signature dialects).
    pub async fn find_verifications_by_document(&mut self, tenant: &TenantId, document_id: &str) -> Result<Vec<Verification>> {
        let rows = sqlx::query("SELECT * FROM verifications WHERE tenant_id = $1 AND ref_document_id = $2 ORDER BY created_at")
            .bind(tenant.as_str())
            .bind(document_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| self.verification_from(tenant, r).map(|x| x.0)).collect()
    }

    /// Verifications of this tenant bound to a host signature request, oldest first.
    pub async fn find_verifications_by_signature_request(
        &mut self,
        tenant: &TenantId,
        signature_request_id: &str,
    ) -> Result<Vec<Verification>> {
        let rows =
            sqlx::query("SELECT * FROM verifications WHERE tenant_id = $1 AND ref_signature_request_id = $2 ORDER BY created_at, id")
                .bind(tenant.as_str())
                .bind(signature_request_id)
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter().map(|r| self.verification_from(tenant, r).map(|x| x.0)).collect()
    }

    /// Delete a verification with its attempts and capture rows (blobs are the caller's).
    pub async fn delete_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<bool> {
        for table in ["captures", "attempts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND verification_id = $2"))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        let r = sqlx::query("DELETE FROM verifications WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    // ----- attempts ------------------------------------------------------------------

    pub async fn insert_attempt(&mut self, a: &Attempt, token_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO attempts (id, tenant_id, verification_id, status, token_hash, token_expires_at, token_used_at,
             client_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(a.id.as_str())
        .bind(a.tenant_id.as_str())
        .bind(a.verification_id.as_str())
        .bind(a.status.as_str())
        .bind(token_hash)
        .bind(ms(a.token_expires_at))
        .bind(a.token_used_at.map(ms))
        .bind(to_json(&a.client))
        .bind(ms(a.created_at))
        .bind(ms(a.updated_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn update_attempt(&mut self, a: &Attempt) -> Result<()> {
        sqlx::query(
            "UPDATE attempts SET status = $1, token_used_at = $2, client_json = $3, updated_at = $4
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(a.status.as_str())
        .bind(a.token_used_at.map(ms))
        .bind(to_json(&a.client))
        .bind(ms(a.updated_at))
        .bind(a.tenant_id.as_str())
        .bind(a.id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    fn attempt_from(row: &AnyRow) -> Result<Attempt> {
        Ok(Attempt {
            id: parse(row.try_get("id")?, "attempt id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            verification_id: parse(row.try_get("verification_id")?, "verification id")?,
            status: parse(row.try_get("status")?, "attempt status")?,
            client: from_json(&row.try_get::<String, _>("client_json")?, "client")?,
            token_expires_at: from_ms(row.try_get("token_expires_at")?)?,
            token_used_at: row.try_get::<Option<i64>, _>("token_used_at")?.map(from_ms).transpose()?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }

    pub async fn list_attempts(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<Attempt>> {
        let rows = sqlx::query("SELECT * FROM attempts WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::attempt_from).collect()
    }

    pub async fn get_attempt(&mut self, tenant: &TenantId, verification: &VerificationId, id: &AttemptId) -> Result<Option<Attempt>> {
        let row = sqlx::query("SELECT * FROM attempts WHERE tenant_id = $1 AND verification_id = $2 AND id = $3")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::attempt_from).transpose()
    }

    /// Spend an attempt's start token, in one conditional statement: `false` if it was
    /// spent already (of concurrent openings of one link, exactly one gets `true`).
    pub async fn spend_start_token(&mut self, tenant: &TenantId, id: &AttemptId, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE attempts SET token_used_at = $1, updated_at = $1
             WHERE tenant_id = $2 AND id = $3 AND token_used_at IS NULL",
        )
        .bind(ms(now))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The start token's hash identifies its attempt (and so its tenant).
    pub async fn find_attempt_by_token(&mut self, token_hash: &str) -> Result<Option<Attempt>> {
        let row = sqlx::query("SELECT * FROM attempts WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::attempt_from).transpose()
    }

    // ----- captures ------------------------------------------------------------------

    pub async fn insert_capture(&mut self, c: &Capture, blob: &StoredBlob) -> Result<()> {
        sqlx::query(
            "INSERT INTO captures (id, tenant_id, verification_id, attempt_id, kind, media_type, size, sha256, feedback_json,
             blob_key, wrapped_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(c.id.as_str())
        .bind(c.tenant_id.as_str())
        .bind(c.verification_id.as_str())
        .bind(c.attempt_id.as_str())
        .bind(c.kind.as_str())
        .bind(c.media_type.as_str())
        .bind(i64::try_from(c.size).unwrap_or(i64::MAX))
        .bind(&c.sha256)
        .bind(to_json(&c.feedback))
        .bind(&blob.blob_key)
        .bind(&blob.wrapped_key)
        .bind(ms(c.created_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    fn capture_from(row: &AnyRow) -> Result<(Capture, Option<StoredBlob>)> {
        let blob_key: Option<String> = row.try_get("blob_key")?;
        let wrapped: Option<String> = row.try_get("wrapped_key")?;
        let blob = blob_key
            .zip(wrapped)
            .map(|(blob_key, wrapped_key)| StoredBlob { blob_key, wrapped_key });
        Ok((
            Capture {
                id: parse(row.try_get("id")?, "file id")?,
                tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
                verification_id: parse(row.try_get("verification_id")?, "verification id")?,
                attempt_id: parse(row.try_get("attempt_id")?, "attempt id")?,
                kind: CaptureKind::from_stored(&row.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("capture kind"))?,
                media_type: MediaType::parse(&row.try_get::<String, _>("media_type")?).ok_or_else(|| corrupt("media type"))?,
                size: u64::try_from(row.try_get::<i64, _>("size")?).map_err(corrupt)?,
                sha256: row.try_get("sha256")?,
                feedback: from_json(&row.try_get::<String, _>("feedback_json")?, "feedback")?,
                available: blob.is_some(),
                created_at: from_ms(row.try_get("created_at")?)?,
            },
            blob,
        ))
    }

    /// Captures of a verification, oldest first, with where their bytes are.
    pub async fn list_captures(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<(Capture, Option<StoredBlob>)>> {
        let rows = sqlx::query("SELECT * FROM captures WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::capture_from).collect()
    }

    pub async fn get_capture(&mut self, tenant: &TenantId, id: &FileId) -> Result<Option<(Capture, Option<StoredBlob>)>> {
        let row = sqlx::query("SELECT * FROM captures WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::capture_from).transpose()
    }

    pub async fn delete_capture(&mut self, tenant: &TenantId, id: &FileId) -> Result<()> {
        sqlx::query("DELETE FROM captures WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Forget where a verification's images are and their data keys (anonymize).
    pub async fn erase_capture_keys(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<()> {
        sqlx::query("UPDATE captures SET blob_key = NULL, wrapped_key = NULL WHERE tenant_id = $1 AND verification_id = $2")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .execute(&mut *self.tx)
            .await?;
        // The images' fingerprints go with them: an erased image is matched by nothing.
        self.delete_capture_fingerprints(tenant, verification).await
    }

    // ----- audit chain -------------------------------------------------------------

    /// Append to the tenant's hash chain. The head row's UPDATE serialises concurrent
    /// appenders (a row lock on PostgreSQL, the single writer on SQLite).
    pub async fn audit(&mut self, tenant: &TenantId, actor: &Actor, action: &str, object_id: &str, at: DateTime<Utc>) -> Result<()> {
        append_audit(&mut self.tx, tenant, actor, action, object_id, at).await
    }

    fn audit_from(row: &AnyRow) -> Result<AuditEntry> {
        Ok(AuditEntry {
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            seq: row.try_get("seq")?,
            at: from_ms(row.try_get("at")?)?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            object_id: row.try_get("object_id")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// Audit entries about one object that changed or decided something, in order: the
    /// reads of it (`report.read`, `file.read`, `evidence.*.read`, the console's
    /// `console.verification.viewed` and `console.image.viewed.*`) left out. A verification's
    /// report timeline, which would otherwise grow with every read of the report. The reads
    /// are skipped by the `(tenant_id, object_id, is_read, seq)` index: a report read often
    /// costs the same as one read once.
    pub async fn timeline_for_object(&mut self, tenant: &TenantId, object_id: &str) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_entries WHERE tenant_id = $1 AND object_id = $2 AND is_read = 0 ORDER BY seq")
            .bind(tenant.as_str())
            .bind(object_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::audit_from).collect()
    }

    /// Every audit entry about one object, reads included, in order (its audit trail).
    pub async fn audit_for_object(&mut self, tenant: &TenantId, object_id: &str) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_entries WHERE tenant_id = $1 AND object_id = $2 ORDER BY seq")
            .bind(tenant.as_str())
            .bind(object_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::audit_from).collect()
    }

    /// Walk every tenant's chain; the first entry that does not verify, if any.
    pub async fn verify_audit_chains(&mut self) -> Result<(usize, Option<AuditBreak>)> {
        let heads = sqlx::query("SELECT tenant_id, seq, hash FROM audit_heads ORDER BY tenant_id")
            .fetch_all(&mut *self.tx)
            .await?;
        let mut checked = 0;
        for head in heads {
            let tenant: String = head.try_get("tenant_id")?;
            let head_seq: i64 = head.try_get("seq")?;
            let head_hash: String = head.try_get("hash")?;
            let rows = sqlx::query("SELECT * FROM audit_entries WHERE tenant_id = $1 ORDER BY seq")
                .bind(&tenant)
                .fetch_all(&mut *self.tx)
                .await?;
            let mut prev = GENESIS.to_owned();
            let mut expected_seq = 1;
            let brk = |seq, reason: &str| {
                Some(AuditBreak {
                    tenant_id: tenant.clone(),
                    seq,
                    reason: reason.to_owned(),
                })
            };
            for row in &rows {
                let e = Self::audit_from(row)?;
                checked += 1;
                if e.seq != expected_seq {
                    return Ok((checked, brk(expected_seq, "entry missing (sequence gap)")));
                }
                if e.prev_hash != prev {
                    return Ok((checked, brk(e.seq, "prev_hash does not match the entry before")));
                }
                let h = audit_hash(
                    &e.prev_hash,
                    e.tenant_id.as_str(),
                    e.seq,
                    ms(e.at),
                    &e.actor,
                    &e.action,
                    &e.object_id,
                );
                if h != e.hash {
                    return Ok((checked, brk(e.seq, "entry content does not match its hash")));
                }
                prev = e.hash;
                expected_seq += 1;
            }
            if head_seq != expected_seq - 1 || head_hash != prev {
                return Ok((
                    checked,
                    brk(
                        expected_seq,
                        "chain head does not match the last entry (entries removed at the end?)",
                    ),
                ));
            }
        }
        Ok((checked, None))
    }

    // ----- evidence signing keys ----------------------------------------------------

    /// Store a tenant's new signing key (private part sealed) and retire the previous
    /// active one; retired keys stay published so old evidence still verifies.
    pub async fn insert_signing_key(&mut self, k: &SigningKeyRecord, private_der: &[u8], now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE tenant_id = $2 AND retired_at IS NULL")
            .bind(ms(now))
            .bind(k.tenant_id.as_str())
            .execute(&mut *self.tx)
            .await?;
        let sealed = self.keys(&k.tenant_id).seal_text(&aad::signing_key(&k.kid), private_der);
        sqlx::query("INSERT INTO signing_keys (kid, tenant_id, alg, private_enc, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.kid)
            .bind(k.tenant_id.as_str())
            .bind(&k.alg)
            .bind(sealed)
            .bind(&k.public_jwk)
            .bind(ms(k.created_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The tenant's active signing key with its decrypted private part (PKCS#8 DER).
    pub async fn active_signing_key(&mut self, tenant: &TenantId) -> Result<Option<(SigningKeyRecord, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT * FROM signing_keys WHERE tenant_id = $1 AND retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let rec = Self::signing_key_from(&row)?;
        let sealed: String = row.try_get("private_enc")?;
        let der = self.keys(tenant).open_text(&aad::signing_key(&rec.kid), &sealed)?;
        Ok(Some((rec, der)))
    }

    /// Public keys (active and retired) of one tenant, or of every tenant.
    pub async fn public_signing_keys(&mut self, tenant: Option<&TenantId>) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, tenant_id, alg, public_jwk, created_at, retired_at FROM signing_keys
             WHERE ($1 = '' OR tenant_id = $1) ORDER BY tenant_id, created_at",
        )
        .bind(tenant.map_or("", |t| t.as_str()))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(Self::signing_key_from).collect()
    }

    fn signing_key_from(row: &AnyRow) -> Result<SigningKeyRecord> {
        Ok(SigningKeyRecord {
            kid: row.try_get("kid")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            alg: row.try_get("alg")?,
            public_jwk: row.try_get("public_jwk")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            retired_at: row.try_get::<Option<i64>, _>("retired_at")?.map(from_ms).transpose()?,
        })
    }

    // ----- jobs ----------------------------------------------------------------------

    pub async fn enqueue_job(&mut self, tenant: &TenantId, kind: &str, payload: &str, run_at: DateTime<Utc>) -> Result<JobId> {
        let id = JobId::generate();
        sqlx::query(
            "INSERT INTO jobs (id, tenant_id, kind, payload, status, run_at, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'queued', $5, 0, $5, $5)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(kind)
        .bind(payload)
        .bind(ms(run_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Claim one due job of the `kinds` wanted, leasing it until `lease_until`. A job
    /// whose lease ran out (its worker died) is claimable again. On PostgreSQL,
    /// `SKIP LOCKED` lets many workers and instances claim concurrently with each job run
    /// once; SQLite's write lock (`BEGIN IMMEDIATE`) serialises the claims.
    pub async fn claim_job(&mut self, now: DateTime<Utc>, lease_until: DateTime<Utc>, kinds: JobKinds<'_>) -> Result<Option<Job>> {
        let lock = match self.store.backend() {
            crate::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let (not, list) = match kinds {
            JobKinds::All => ("NOT", &[][..]),
            JobKinds::Only(list) => ("", list),
            JobKinds::Except(list) => ("NOT", list),
        };
        // `kind NOT IN ('')` for every kind: no job has an empty kind.
        let placeholders = if list.is_empty() {
            "''".to_owned()
        } else {
            (0..list.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ")
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id = (SELECT id FROM jobs WHERE ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < $2))
                           AND kind {not} IN ({placeholders})
                         ORDER BY run_at LIMIT 1 {lock})
             RETURNING id, tenant_id, kind, payload, attempts"
        );
        let mut q = sqlx::query(&sql).bind(ms(lease_until)).bind(ms(now));
        for k in list {
            q = q.bind(*k);
        }
        let row = q.fetch_optional(&mut *self.tx).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Job {
            id: parse(row.try_get("id")?, "job id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            kind: row.try_get("kind")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
        }))
    }

    /// Give a claimed job back unfinished (its worker is stopping): claimable again now,
    /// by any worker, without waiting for the lease to run out; its last error says so.
    /// `false` when the claim no longer held it.
    pub async fn release_job(&mut self, job: &Job, now: DateTime<Utc>) -> Result<bool> {
        self.fail_job(job, "given back unfinished: its instance was stopping", Some(now), now)
            .await
    }

    /// Extend a claimed job's lease while its worker is still at it; `false` when the
    /// claim no longer holds the job.
    pub async fn renew_job_lease(&mut self, job: &Job, lease_until: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND status = 'running' AND attempts = $3")
            .bind(ms(lease_until))
            .bind(job.id.as_str())
            .bind(job.attempts)
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Mark a claimed job done. Only the claim that holds the job counts: when its lease
    /// ran out and another worker claimed the job again (`attempts` moved on), this one's
    /// result is dropped and `false` returned, so a job is finished once in effect.
    pub async fn finish_job(&mut self, job: &Job, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1
             WHERE id = $2 AND status = 'running' AND attempts = $3",
        )
        .bind(ms(now))
        .bind(job.id.as_str())
        .bind(job.attempts)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Record a failure of a claimed job: retry at `retry_at`, or give up (`None`). Like
    /// [`Self::finish_job`], only the claim that holds the job counts.
    pub async fn fail_job(&mut self, job: &Job, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<bool> {
        let (status, run_at) = match retry_at {
            Some(t) => ("queued", ms(t)),
            None => ("failed", ms(now)),
        };
        let r = sqlx::query(
            "UPDATE jobs SET status = $1, run_at = $2, locked_until = NULL, last_error = $3, updated_at = $4
             WHERE id = $5 AND status = 'running' AND attempts = $6",
        )
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(ms(now))
        .bind(job.id.as_str())
        .bind(job.attempts)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

fn api_key_from(row: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: parse(row.try_get("id")?, "key id")?,
        tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
        scope: Scope::parse(&row.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
        mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
        created_at: from_ms(row.try_get("created_at")?)?,
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_ms).transpose()?,
    })
}

/// Append an entry to the tenant's hash chain, inside the caller's transaction.
/// Whether an audit action records a read of its object (`report.read`, `file.read`,
/// `evidence.*.read`, the console's `console.verification.viewed` and
/// `console.image.viewed.*`) rather than a change. Migration 29 applies the same rule to
/// the entries written before it.
pub(crate) fn is_read_action(action: &str) -> bool {
    action.ends_with(".read") || action.strip_prefix("console.").is_some_and(|rest| rest.contains(".viewed"))
}

pub(crate) async fn append_audit(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    actor: &Actor,
    action: &str,
    object_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let head = sqlx::query("UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1 RETURNING seq, hash")
        .bind(tenant.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("hash")?;
    let actor = actor.label();
    let hash = audit_hash(&prev, tenant.as_str(), seq, ms(at), &actor, action, object_id);
    sqlx::query(
        "INSERT INTO audit_entries (tenant_id, seq, at, actor, action, object_id, prev_hash, hash, is_read)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.as_str())
    .bind(seq)
    .bind(ms(at))
    .bind(&actor)
    .bind(action)
    .bind(object_id)
    .bind(&prev)
    .bind(&hash)
    .bind(i64::from(is_read_action(action)))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $1 WHERE tenant_id = $2")
        .bind(&hash)
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_changes_as_migration_29_tells_them() {
        for read in [
            "report.read",
            "file.read",
            "evidence.zip.read",
            "console.verification.viewed",
            "console.image.viewed.selfie",
        ] {
            assert!(is_read_action(read), "{read}");
        }
        for change in [
            "verification.created",
            "capture.received",
            "review.decided",
            "console.review.proposed",
            "readiness",
            "read",
        ] {
            assert!(!is_read_action(change), "{change}");
        }
    }

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = Cursor {
            created_at: 1_700_000_000_000,
            id: "idv_abc".into(),
        };
        let d = Cursor::decode(&c.encode()).unwrap();
        assert_eq!((d.created_at, d.id.as_str()), (c.created_at, "idv_abc"));
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12.x' OR 1=1")).is_err());
    }

    /// A new in-memory store (SQLite and blobs) with a random master key.
    async fn memory_store() -> crate::Store {
        let db = crate::Database::connect("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        db.unlock(
            crate::crypto::MasterKey::generate().0,
            std::sync::Arc::new(object_store::memory::InMemory::new()),
        )
        .await
        .unwrap()
    }

    /// A worker whose lease ran out (it stalled) must not finish a job that another
    /// worker claimed since: only the current claim's result counts.
    #[tokio::test]
    async fn only_the_claim_holding_a_job_finishes_it() {
        let store = memory_store().await;
        let t0 = Utc::now();
        let s = chrono::Duration::seconds;
        let tenant = TenantId::generate();
        let mut tx = store.begin().await.unwrap();
        tx.enqueue_job(&tenant, "process", "x", t0).await.unwrap();
        let stalled = tx.claim_job(t0, t0 + s(10), JobKinds::All).await.unwrap().unwrap();
        assert!(
            tx.claim_job(t0 + s(1), t0 + s(11), JobKinds::All).await.unwrap().is_none(),
            "leased"
        );
        let current = tx.claim_job(t0 + s(11), t0 + s(21), JobKinds::All).await.unwrap().unwrap();
        assert_eq!(
            (stalled.id.as_str(), stalled.attempts, current.attempts),
            (current.id.as_str(), 1, 2)
        );
        assert!(
            !tx.finish_job(&stalled, t0 + s(12)).await.unwrap(),
            "the stalled claim lost the job"
        );
        assert!(!tx.fail_job(&stalled, "late", None, t0 + s(12)).await.unwrap());
        assert!(
            !tx.renew_job_lease(&stalled, t0 + s(40)).await.unwrap(),
            "no renewal for a lost claim"
        );
        assert!(tx.renew_job_lease(&current, t0 + s(40)).await.unwrap());
        assert!(
            tx.claim_job(t0 + s(30), t0 + s(50), JobKinds::All).await.unwrap().is_none(),
            "renewed lease holds"
        );
        assert!(tx.finish_job(&current, t0 + s(13)).await.unwrap());
        assert!(!tx.finish_job(&current, t0 + s(14)).await.unwrap(), "finished once");
        assert!(
            tx.claim_job(t0 + s(100), t0 + s(110), JobKinds::All).await.unwrap().is_none(),
            "done for good"
        );
        tx.commit().await.unwrap();
    }

    /// Each pool claims only its own kinds; a released job is claimable again at once.
    #[tokio::test]
    async fn pools_claim_their_own_kinds_and_a_released_job_comes_back() {
        let store = memory_store().await;
        let t0 = Utc::now();
        let s = chrono::Duration::seconds;
        let tenant = TenantId::generate();
        let deliveries: &[&str] = &["deliver_webhook", "deliver_callback"];
        let mut tx = store.begin().await.unwrap();
        // The delivery is older: a single queue would hand it out first.
        tx.enqueue_job(&tenant, "deliver_webhook", "d", t0 - s(5)).await.unwrap();
        tx.enqueue_job(&tenant, "process", "p", t0).await.unwrap();
        let p = tx.claim_job(t0, t0 + s(30), JobKinds::Except(deliveries)).await.unwrap().unwrap();
        assert_eq!(p.kind, "process");
        assert!(tx.claim_job(t0, t0 + s(30), JobKinds::Except(deliveries)).await.unwrap().is_none());
        let d = tx.claim_job(t0, t0 + s(30), JobKinds::Only(deliveries)).await.unwrap().unwrap();
        assert_eq!(d.kind, "deliver_webhook");
        assert!(tx.claim_job(t0, t0 + s(30), JobKinds::Only(deliveries)).await.unwrap().is_none());
        // Stopping mid-delivery: the job goes back before its lease ends.
        assert!(tx.release_job(&d, t0 + s(1)).await.unwrap());
        assert!(!tx.release_job(&d, t0 + s(1)).await.unwrap(), "released once");
        let again = tx
            .claim_job(t0 + s(2), t0 + s(32), JobKinds::Only(deliveries))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.id.as_str(), again.attempts), (d.id.as_str(), 2));
        assert!(!tx.finish_job(&d, t0 + s(3)).await.unwrap(), "the released claim cannot finish it");
        assert!(tx.finish_job(&again, t0 + s(3)).await.unwrap());
        tx.commit().await.unwrap();
    }
}
