//! The review console's records: operators (reviewers and admins of one tenant), their
//! sessions and invitations, the tenant's four-eyes setting, and first decisions waiting
//! for a second reviewer. Session secrets and invitation tokens are kept as SHA-256
//! hashes; passwords as argon2 hashes (made by the engine); TOTP secrets and free-text
//! review notes sealed with the tenant's key.

use crate::repo_verifications::select_verifications;
use crate::sealed::aad;
use crate::{Result, Tx, corrupt, from_ms, ms, parse};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// What an operator may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorRole {
    /// Works the review queue: reads verifications, decides, requests retries.
    Reviewer,
    /// A reviewer who also manages operators, API keys, webhooks, retention and policy.
    Admin,
}

impl OperatorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reviewer" => Some(Self::Reviewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OperatorRecord {
    pub id: OperatorId,
    pub tenant_id: TenantId,
    /// The login name, lowercased.
    pub email: String,
    pub role: OperatorRole,
    /// argon2 PHC string; `None` until the invitation is accepted.
    pub password_hash: Option<String>,
    /// The TOTP secret, once a second factor is enrolled (opened from its sealed column).
    pub totp_secret: Option<Vec<u8>>,
    /// The 30-second TOTP step of the last code accepted: that code, and earlier ones,
    /// are refused afterwards (RFC 6238 §5.2).
    pub totp_last_step: Option<u64>,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// One version of a tenant's default policy.
#[derive(Debug, Clone)]
pub struct TenantPolicyRecord {
    pub version: u32,
    pub policy: Policy,
    /// Actor label of who set it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OperatorSessionRecord {
    pub tenant_id: TenantId,
    pub operator_id: OperatorId,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A first decision under four eyes, waiting for a second reviewer.
#[derive(Debug, Clone)]
pub struct ReviewProposal {
    pub verification_id: VerificationId,
    pub decision: ReviewDecision,
    pub reason_code: String,
    pub note: String,
    pub user_message: String,
    /// Actor label of the first reviewer.
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
}

fn decision_str(d: ReviewDecision) -> &'static str {
    match d {
        ReviewDecision::Approve => "approve",
        ReviewDecision::Decline => "decline",
    }
}

impl Tx<'_> {
    fn operator_from(&self, row: &AnyRow) -> Result<OperatorRecord> {
        let id: OperatorId = parse(row.try_get("id")?, "operator id")?;
        let tenant_id: TenantId = parse(row.try_get("tenant_id")?, "tenant id")?;
        let totp_secret = match row.try_get::<Option<String>, _>("totp_enc")? {
            Some(sealed) => Some(
                self.store
                    .tenant_keys(&tenant_id)
                    .open_text(&aad::totp(id.as_str()), &sealed)
                    .map_err(|_| corrupt("operator TOTP secret does not open with this master key"))?,
            ),
            None => None,
        };
        Ok(OperatorRecord {
            role: OperatorRole::parse(&row.try_get::<String, _>("role")?).ok_or_else(|| corrupt("operator role"))?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            totp_secret,
            totp_last_step: row
                .try_get::<Option<i64>, _>("totp_last_step")?
                .map(|s| u64::try_from(s).unwrap_or(0)),
            failed_logins: u32::try_from(row.try_get::<i64, _>("failed_logins")?).unwrap_or(u32::MAX),
            locked_until: row.try_get::<Option<i64>, _>("locked_until")?.map(from_ms).transpose()?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            created_at: from_ms(row.try_get("created_at")?)?,
            id,
            tenant_id,
        })
    }

    pub async fn insert_operator(&mut self, o: &OperatorRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO operators (id, tenant_id, email, role, password_hash, failed_logins, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $6)",
        )
        .bind(o.id.as_str())
        .bind(o.tenant_id.as_str())
        .bind(&o.email)
        .bind(o.role.as_str())
        .bind(o.password_hash.clone())
        .bind(ms(o.created_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The operators with this login, of every tenant (sign-in finds the tenant this way;
    /// an email is unique within a tenant only), oldest first.
    pub async fn find_operators_by_email(&mut self, email: &str) -> Result<Vec<OperatorRecord>> {
        let rows = sqlx::query("SELECT * FROM operators WHERE email = $1 ORDER BY created_at, id")
            .bind(email)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| self.operator_from(r)).collect()
    }

    /// The operator of `tenant` with this login, if any.
    pub async fn find_operator_in_tenant_by_email(&mut self, tenant: &TenantId, email: &str) -> Result<Option<OperatorRecord>> {
        let row = sqlx::query("SELECT * FROM operators WHERE tenant_id = $1 AND email = $2")
            .bind(tenant.as_str())
            .bind(email)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| self.operator_from(r)).transpose()
    }

    pub async fn get_operator(&mut self, tenant: &TenantId, id: &OperatorId) -> Result<Option<OperatorRecord>> {
        let row = sqlx::query("SELECT * FROM operators WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| self.operator_from(r)).transpose()
    }

    pub async fn list_operators(&mut self, tenant: &TenantId) -> Result<Vec<OperatorRecord>> {
        let rows = sqlx::query("SELECT * FROM operators WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| self.operator_from(r)).collect()
    }

    /// Count one failed sign-in, in one conditional statement (concurrent failures each
    /// count): the `max`-th failure in a row locks the account until `lock_until` and
    /// starts the count again; failures while it is locked change nothing. Returns the
    /// lock this failure set, if it set one.
    pub async fn record_failed_sign_in(
        &mut self,
        id: &OperatorId,
        max: u32,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "UPDATE operators SET
                 failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until > $1 THEN failed_logins
                                      WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                 locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until > $1 THEN locked_until
                                     WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END,
                 updated_at = $1
             WHERE id = $4
             RETURNING locked_until",
        )
        .bind(ms(now))
        .bind(i64::from(max))
        .bind(ms(lock_until))
        .bind(id.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        let locked = match row {
            Some(r) => r.try_get::<Option<i64>, _>("locked_until")?,
            None => None,
        };
        Ok((locked == Some(ms(lock_until))).then_some(lock_until))
    }

    /// A successful sign-in, in one conditional statement: refused (`false`) when the
    /// account is locked at `now`, or when `totp_step` is not newer than the last code
    /// accepted (a code works once, even for concurrent sign-ins). Clears the failures.
    pub async fn record_sign_in(&mut self, id: &OperatorId, totp_step: Option<u64>, now: DateTime<Utc>) -> Result<bool> {
        let r = match totp_step {
            None => {
                sqlx::query(
                    "UPDATE operators SET failed_logins = 0, locked_until = NULL, updated_at = $1
                     WHERE id = $2 AND (locked_until IS NULL OR locked_until <= $1)",
                )
                .bind(ms(now))
                .bind(id.as_str())
                .execute(&mut *self.tx)
                .await?
            }
            Some(step) => {
                sqlx::query(
                    "UPDATE operators SET failed_logins = 0, locked_until = NULL, totp_last_step = $3, updated_at = $1
                     WHERE id = $2 AND (locked_until IS NULL OR locked_until <= $1)
                       AND (totp_last_step IS NULL OR totp_last_step < $3)",
                )
                .bind(ms(now))
                .bind(id.as_str())
                .bind(i64::try_from(step).unwrap_or(i64::MAX))
                .execute(&mut *self.tx)
                .await?
            }
        };
        Ok(r.rows_affected() == 1)
    }

    /// Spend the TOTP code of `step` (e.g. to confirm a change of the secret): `false` if
    /// that code, or a later one, was accepted already.
    pub async fn use_operator_totp_step(&mut self, id: &OperatorId, step: u64, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE operators SET totp_last_step = $1, updated_at = $2
             WHERE id = $3 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .bind(ms(now))
        .bind(id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// End every console session of an operator (a new password, a disabled account).
    pub async fn delete_operator_sessions(&mut self, id: &OperatorId) -> Result<u64> {
        let r = sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1")
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn set_operator_password(&mut self, id: &OperatorId, password_hash: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE operators SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(ms(now))
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Enroll (`Some`) or remove (`None`) an operator's TOTP secret.
    pub async fn set_operator_totp(&mut self, o: &OperatorRecord, secret: Option<&[u8]>, now: DateTime<Utc>) -> Result<()> {
        let sealed = secret.map(|s| self.store.tenant_keys(&o.tenant_id).seal_text(&aad::totp(o.id.as_str()), s));
        sqlx::query("UPDATE operators SET totp_enc = $1, totp_last_step = NULL, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(ms(now))
            .bind(o.id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Disable (and sign out) or re-enable an operator of this tenant.
    pub async fn set_operator_disabled(&mut self, tenant: &TenantId, id: &OperatorId, disabled: bool, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE operators SET disabled = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(i64::from(disabled))
            .bind(ms(now))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1")
                .bind(id.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(r.rows_affected() > 0)
    }

    // ----- sessions --------------------------------------------------------------------

    pub async fn insert_operator_session(&mut self, secret_hash: &str, s: &OperatorSessionRecord, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO operator_sessions (secret_hash, tenant_id, operator_id, last_seen_at, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret_hash)
        .bind(s.tenant_id.as_str())
        .bind(s.operator_id.as_str())
        .bind(ms(s.last_seen_at))
        .bind(ms(s.expires_at))
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn find_operator_session(&mut self, secret_hash: &str) -> Result<Option<OperatorSessionRecord>> {
        let row = sqlx::query("SELECT tenant_id, operator_id, last_seen_at, expires_at FROM operator_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(OperatorSessionRecord {
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            operator_id: parse(row.try_get("operator_id")?, "operator id")?,
            last_seen_at: from_ms(row.try_get("last_seen_at")?)?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        }))
    }

    pub async fn touch_operator_session(&mut self, secret_hash: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE secret_hash = $2")
            .bind(ms(now))
            .bind(secret_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn delete_operator_session(&mut self, secret_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM operator_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Housekeeping: forget sessions idle since `idle_before` or past their end.
    pub async fn delete_stale_operator_sessions(
        &mut self,
        tenant: &TenantId,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let r = sqlx::query("DELETE FROM operator_sessions WHERE tenant_id = $1 AND (last_seen_at < $2 OR expires_at < $3)")
            .bind(tenant.as_str())
            .bind(ms(idle_before))
            .bind(ms(now))
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    // ----- invitations -----------------------------------------------------------------

    pub async fn insert_operator_invite(
        &mut self,
        token_hash: &str,
        tenant: &TenantId,
        operator: &OperatorId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM operator_invites WHERE operator_id = $1")
            .bind(operator.as_str())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO operator_invites (token_hash, tenant_id, operator_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(tenant.as_str())
        .bind(operator.as_str())
        .bind(ms(expires_at))
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The (tenant, operator) of an unexpired invitation, without spending it.
    pub async fn find_operator_invite(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(TenantId, OperatorId)>> {
        let row = sqlx::query("SELECT tenant_id, operator_id FROM operator_invites WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(ms(now))
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            parse(row.try_get("tenant_id")?, "tenant id")?,
            parse(row.try_get("operator_id")?, "operator id")?,
        )))
    }

    /// Spend an invitation, in one statement (of concurrent uses, one gets it): its
    /// (tenant, operator) if it existed and had not expired.
    pub async fn take_operator_invite(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(TenantId, OperatorId)>> {
        let row = sqlx::query("DELETE FROM operator_invites WHERE token_hash = $1 RETURNING tenant_id, operator_id, expires_at")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        if from_ms(row.try_get("expires_at")?)? <= now {
            return Ok(None);
        }
        Ok(Some((
            parse(row.try_get("tenant_id")?, "tenant id")?,
            parse(row.try_get("operator_id")?, "operator id")?,
        )))
    }

    // ----- settings and four eyes ------------------------------------------------------

    pub async fn four_eyes(&mut self, tenant: &TenantId) -> Result<bool> {
        let row = sqlx::query("SELECT four_eyes FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get::<i64, _>("four_eyes")? != 0)
    }

    pub async fn set_four_eyes(&mut self, tenant: &TenantId, on: bool) -> Result<()> {
        sqlx::query("UPDATE tenants SET four_eyes = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(tenant.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_review_proposal(&mut self, tenant: &TenantId, p: &ReviewProposal) -> Result<()> {
        let text = serde_json::json!({"note": p.note, "user_message": p.user_message}).to_string();
        let sealed = self
            .store
            .tenant_keys(tenant)
            .seal_text(&aad::proposal(p.verification_id.as_str()), text.as_bytes());
        sqlx::query(
            "INSERT INTO review_proposals (verification_id, tenant_id, decision, reason_code, sealed, proposed_by, proposed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.verification_id.as_str())
        .bind(tenant.as_str())
        .bind(decision_str(p.decision))
        .bind(&p.reason_code)
        .bind(sealed)
        .bind(&p.proposed_by)
        .bind(ms(p.proposed_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_review_proposal(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Option<ReviewProposal>> {
        let row = sqlx::query("SELECT * FROM review_proposals WHERE tenant_id = $1 AND verification_id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("sealed")?;
        let plain = self
            .store
            .tenant_keys(tenant)
            .open_text(&aad::proposal(id.as_str()), &sealed)
            .map_err(|_| corrupt("review proposal does not open with this master key"))?;
        let text: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| corrupt("review proposal text"))?;
        let field = |k: &str| text.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Ok(Some(ReviewProposal {
            verification_id: id.clone(),
            decision: match row.try_get::<String, _>("decision")?.as_str() {
                "approve" => ReviewDecision::Approve,
                "decline" => ReviewDecision::Decline,
                _ => return Err(corrupt("review proposal decision")),
            },
            reason_code: row.try_get("reason_code")?,
            note: field("note"),
            user_message: field("user_message"),
            proposed_by: row.try_get("proposed_by")?,
            proposed_at: from_ms(row.try_get("proposed_at")?)?,
        }))
    }

    pub async fn delete_review_proposal(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        sqlx::query("DELETE FROM review_proposals WHERE tenant_id = $1 AND verification_id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The review queue: this tenant's verifications in `status`, oldest first, created in
    /// `[from, to)`, at most `limit`.
    pub async fn oldest_verifications(
        &mut self,
        tenant: &TenantId,
        status: VerificationStatus,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Verification>> {
        let rows = sqlx::query(select_verifications!(
            "WHERE tenant_id = $1 AND status = $2 AND created_at >= $3 AND created_at < $4
                 ORDER BY created_at, id LIMIT $5"
        ))
        .bind(tenant.as_str())
        .bind(status.as_str())
        .bind(from.map_or(i64::MIN, ms))
        .bind(to.map_or(i64::MAX, ms))
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| self.verification_from(tenant, r).map(|x| x.0)).collect()
    }

    /// The tenant's policies, newest first: (version, policy JSON, actor label, when).
    pub async fn tenant_policies(&mut self, tenant: &TenantId, limit: usize) -> Result<Vec<TenantPolicyRecord>> {
        let rows = sqlx::query(
            "SELECT version, policy_json, created_by, created_at FROM tenant_policies WHERE tenant_id = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TenantPolicyRecord {
                    version: u32::try_from(r.try_get::<i64, _>("version")?).map_err(|_| corrupt("policy version"))?,
                    policy: serde_json::from_str(&r.try_get::<String, _>("policy_json")?).map_err(|_| corrupt("tenant policy"))?,
                    created_by: r.try_get("created_by")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    /// Store the next version of the tenant's policy; returns its version number.
    pub async fn insert_tenant_policy(&mut self, tenant: &TenantId, policy: &Policy, by: &Actor, now: DateTime<Utc>) -> Result<u32> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM tenant_policies WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *self.tx)
            .await?;
        let version = row.try_get::<i64, _>("v")? + 1;
        sqlx::query("INSERT INTO tenant_policies (tenant_id, version, policy_json, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.as_str())
            .bind(version)
            .bind(serde_json::to_string(policy).map_err(|_| corrupt("tenant policy"))?)
            .bind(by.label())
            .bind(ms(now))
            .execute(&mut *self.tx)
            .await?;
        u32::try_from(version).map_err(|_| corrupt("policy version"))
    }

    /// Verifications of the applicants whose external id is `external_id` (blind index).
    pub async fn find_verifications_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> Result<Vec<Verification>> {
        let bidx = crate::sealed::blind::external_id(&self.store.tenant_keys(tenant), external_id);
        let rows = sqlx::query(select_verifications!(
            "WHERE tenant_id = $1
                 AND applicant_id IN (SELECT id FROM applicants WHERE tenant_id = $1 AND external_id_bidx = $2)
                 ORDER BY created_at LIMIT 100"
        ))
        .bind(tenant.as_str())
        .bind(bidx)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| self.verification_from(tenant, r).map(|x| x.0)).collect()
    }
}
