//! Verifications: their state, policy, checks and review (the review's free text and the
//! private fields sealed).

use crate::repo::{Binds, Columns, Cursor, Page, corrupt, days, from_json, id_pairs, parse, to_json};
use crate::sealed::aad;
use crate::{Result, Tx, from_ms, ms};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A review's free text, sealed in `verifications.review_enc`.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReviewText {
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_message: Option<String>,
}

/// `SELECT` the columns [`Tx::verification_from`] reads `FROM verifications`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_verifications {
    ($rest:literal) => {
        concat!(
            "SELECT ",
            "id, applicant_id, status, ref_document_id, ref_signer_order, ",
            "ref_signature_request_id, delivery, private_enc, policy_json, expires_at, ",
            "checks_json, review_json, review_enc, redacted, retention_days, legal_hold, ",
            "retain_until, delete_after, created_at, updated_at",
            " FROM verifications ",
            $rest
        )
    };
}
pub(crate) use select_verifications;

impl Tx<'_> {
    pub async fn insert_verification(&mut self, v: &Verification) -> Result<()> {
        self.execute(
            "INSERT INTO verifications (id, tenant_id, applicant_id, status, delivery, private_enc, policy_json, expires_at,
             checks_json, created_at, updated_at) VALUES ($1, $2, $3, $4, '', '', '', 0, '[]', $5, $5)",
            (
                v.id.as_str(),
                v.tenant_id.as_str(),
                v.applicant_id.as_str(),
                v.status.as_str(),
                ms(v.created_at),
            ),
        )
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
        self.execute(
            "UPDATE verifications SET status = $1, ref_document_id = $2, ref_signer_order = $3, ref_signature_request_id = $4,
             delivery = $5, private_enc = $6, policy_json = $7, expires_at = $8, checks_json = $9, review_json = $10,
             redacted = $11, updated_at = $12, retention_days = $13, legal_hold = $14, retain_until = $15,
             delete_after = $16, review_enc = $17 WHERE tenant_id = $18 AND id = $19",
            (
                v.status.as_str(),
                v.reference.document_id.clone(),
                v.reference.signer_order.map(i64::from),
                v.reference.signature_request_id.clone(),
                to_json(&v.delivery),
                private,
                to_json(&v.policy),
                ms(v.expires_at),
                to_json(&v.checks),
                review,
                i64::from(v.redacted),
                ms(v.updated_at),
                v.lifecycle.retention_days.map(i64::from),
                i64::from(v.lifecycle.legal_hold),
                v.lifecycle.retain_until.map(ms),
                v.lifecycle.delete_after.map(ms),
                review_enc,
                v.tenant_id.as_str(),
                v.id.as_str(),
            ),
        )
        .await
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
                applicant_id: row.parsed("applicant_id", "applicant id")?,
                status: row.parsed("status", "status")?,
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
                redacted: row.flag("redacted")?,
                lifecycle: Lifecycle {
                    retention_days: row.try_get::<Option<i64>, _>("retention_days")?.map(days).transpose()?,
                    legal_hold: row.flag("legal_hold")?,
                    retain_until: row.opt_time("retain_until")?,
                    delete_after: row.opt_time("delete_after")?,
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
        let rows = self
            .fetch_all(
                "SELECT tenant_id, id FROM verifications WHERE id > $1
             AND ((review_json IS NOT NULL AND review_enc IS NULL) OR checks_json LIKE '%\"user_message\"%')
             ORDER BY id LIMIT $2",
                (after, limit as i64),
            )
            .await?;
        id_pairs(&rows, ("tenant_id", "tenant id"), ("id", "verification id"))
    }

    pub async fn get_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Option<Verification>> {
        let sql = select_verifications!("WHERE tenant_id = $1 AND id = $2");
        let row = self.fetch_optional(sql, (tenant.as_str(), id.as_str())).await?;
        row.map(|r| self.verification_from(tenant, &r).map(|x| x.0)).transpose()
    }

    /// Hold the verification's row until this transaction ends, so that concurrent
    /// read-then-write transactions on one verification (e.g. two uploads of one kind,
    /// each replacing the other) run one after the other. On SQLite, whose writers are
    /// serialised already, there is nothing to do.
    pub async fn lock_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        if let crate::Backend::Postgres = self.store.backend() {
            self.fetch_optional(
                "SELECT id FROM verifications WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                (tenant.as_str(), id.as_str()),
            )
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
        let sql = match status {
            Some(_) => select_verifications!(
                "WHERE tenant_id = $1 AND (created_at, id) < ($2, $3) AND status = $4
                 ORDER BY created_at DESC, id DESC LIMIT $5"
            ),
            None => select_verifications!(
                "WHERE tenant_id = $1 AND (created_at, id) < ($2, $3)
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
        };
        let status = status.map(VerificationStatus::as_str);
        self.page_of(sql, tenant, status, cursor, limit, |tx, r| tx.verification_from(tenant, r))
            .await
    }

    /// Verifications of this tenant bound to a host document (e-signature dialects).
    pub async fn find_verifications_by_document(&mut self, tenant: &TenantId, document_id: &str) -> Result<Vec<Verification>> {
        let sql = select_verifications!("WHERE tenant_id = $1 AND ref_document_id = $2 ORDER BY created_at");
        self.verifications_where(tenant, sql, (tenant.as_str(), document_id)).await
    }

    /// Verifications of this tenant bound to a host signature request, oldest first.
    pub async fn find_verifications_by_signature_request(
        &mut self,
        tenant: &TenantId,
        signature_request_id: &str,
    ) -> Result<Vec<Verification>> {
        let sql = select_verifications!("WHERE tenant_id = $1 AND ref_signature_request_id = $2 ORDER BY created_at, id");
        self.verifications_where(tenant, sql, (tenant.as_str(), signature_request_id)).await
    }

    /// The tenant's verifications a query of [`select_verifications`] finds.
    pub(crate) async fn verifications_where<'q>(
        &mut self,
        tenant: &TenantId,
        sql: &'q str,
        binds: impl Binds<'q>,
    ) -> Result<Vec<Verification>> {
        let rows = self.fetch_all(sql, binds).await?;
        rows.iter().map(|r| self.verification_from(tenant, r).map(|x| x.0)).collect()
    }

    /// Delete a verification with its attempts and capture rows (blobs are the caller's).
    pub async fn delete_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<bool> {
        for table in ["captures", "attempts"] {
            self.delete_where(table, "verification_id", tenant, id.as_str()).await?;
        }
        Ok(self.delete_where("verifications", "id", tenant, id.as_str()).await? > 0)
    }
}
