//! The review console's records: operators (reviewers and admins of one tenant), their
//! sessions and invitations, the tenant's four-eyes setting, and first decisions waiting
//! for a second reviewer. Session secrets and invitation tokens are kept as SHA-256
//! hashes; passwords as argon2 hashes (made by the engine); TOTP secrets and free-text
//! review notes sealed with the tenant's key.

use crate::repo::{Columns, FromRow};
use crate::repo_verifications::select_verifications;
use crate::sealed::aad;
use crate::{Result, Store, Tx, corrupt, from_ms, ms};
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

impl FromRow for OperatorRecord {
    fn from_row(store: &Store, row: &AnyRow) -> Result<Self> {
        let id: OperatorId = row.parsed("id", "operator id")?;
        let tenant_id = row.tenant_id()?;
        let totp_secret = match row.try_get::<Option<String>, _>("totp_enc")? {
            Some(sealed) => Some(
                store
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
            locked_until: row.opt_time("locked_until")?,
            disabled: row.flag("disabled")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            id,
            tenant_id,
        })
    }
}

impl Tx<'_> {
    pub async fn insert_operator(&mut self, o: &OperatorRecord) -> Result<()> {
        self.execute(
            "INSERT INTO operators (id, tenant_id, email, role, password_hash, failed_logins, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $6)",
            (
                o.id.as_str(),
                o.tenant_id.as_str(),
                &o.email,
                o.role.as_str(),
                o.password_hash.clone(),
                ms(o.created_at),
            ),
        )
        .await
    }

    /// The operators with this login, of every tenant (sign-in finds the tenant this way;
    /// an email is unique within a tenant only), oldest first.
    pub async fn find_operators_by_email(&mut self, email: &str) -> Result<Vec<OperatorRecord>> {
        self.find_all("SELECT * FROM operators WHERE email = $1 ORDER BY created_at, id", (email,))
            .await
    }

    /// The operator of `tenant` with this login, if any.
    pub async fn find_operator_in_tenant_by_email(&mut self, tenant: &TenantId, email: &str) -> Result<Option<OperatorRecord>> {
        self.find(
            "SELECT * FROM operators WHERE tenant_id = $1 AND email = $2",
            (tenant.as_str(), email),
        )
        .await
    }

    pub async fn get_operator(&mut self, tenant: &TenantId, id: &OperatorId) -> Result<Option<OperatorRecord>> {
        self.find_by_id("operators", tenant, id.as_str()).await
    }

    pub async fn list_operators(&mut self, tenant: &TenantId) -> Result<Vec<OperatorRecord>> {
        self.find_all_of_tenant("operators", tenant).await
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
        let row = self
            .fetch_optional(
                "UPDATE operators SET
                 failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until > $1 THEN failed_logins
                                      WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                 locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until > $1 THEN locked_until
                                     WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END,
                 updated_at = $1
             WHERE id = $4
             RETURNING locked_until",
                (ms(now), i64::from(max), ms(lock_until), id.as_str()),
            )
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
                self.rows_affected(
                    "UPDATE operators SET failed_logins = 0, locked_until = NULL, updated_at = $1
                     WHERE id = $2 AND (locked_until IS NULL OR locked_until <= $1)",
                    (ms(now), id.as_str()),
                )
                .await?
            }
            Some(step) => {
                self.rows_affected(
                    "UPDATE operators SET failed_logins = 0, locked_until = NULL, totp_last_step = $3, updated_at = $1
                     WHERE id = $2 AND (locked_until IS NULL OR locked_until <= $1)
                       AND (totp_last_step IS NULL OR totp_last_step < $3)",
                    (ms(now), id.as_str(), i64::try_from(step).unwrap_or(i64::MAX)),
                )
                .await?
            }
        };
        Ok(r == 1)
    }

    /// Spend the TOTP code of `step` (e.g. to confirm a change of the secret): `false` if
    /// that code, or a later one, was accepted already.
    pub async fn use_operator_totp_step(&mut self, id: &OperatorId, step: u64, now: DateTime<Utc>) -> Result<bool> {
        let r = self
            .rows_affected(
                "UPDATE operators SET totp_last_step = $1, updated_at = $2
             WHERE id = $3 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                (i64::try_from(step).unwrap_or(i64::MAX), ms(now), id.as_str()),
            )
            .await?;
        Ok(r == 1)
    }

    /// End every console session of an operator (a new password, a disabled account).
    pub async fn delete_operator_sessions(&mut self, id: &OperatorId) -> Result<u64> {
        self.rows_affected("DELETE FROM operator_sessions WHERE operator_id = $1", (id.as_str(),))
            .await
    }

    pub async fn set_operator_password(&mut self, id: &OperatorId, password_hash: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE operators SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3",
            (password_hash, ms(now), id.as_str()),
        )
        .await
    }

    /// Enroll (`Some`) or remove (`None`) an operator's TOTP secret.
    pub async fn set_operator_totp(&mut self, o: &OperatorRecord, secret: Option<&[u8]>, now: DateTime<Utc>) -> Result<()> {
        let sealed = secret.map(|s| self.store.tenant_keys(&o.tenant_id).seal_text(&aad::totp(o.id.as_str()), s));
        self.execute(
            "UPDATE operators SET totp_enc = $1, totp_last_step = NULL, updated_at = $2 WHERE id = $3",
            (sealed, ms(now), o.id.as_str()),
        )
        .await
    }

    /// Disable (and sign out) or re-enable an operator of this tenant.
    pub async fn set_operator_disabled(&mut self, tenant: &TenantId, id: &OperatorId, disabled: bool, now: DateTime<Utc>) -> Result<bool> {
        let r = self
            .rows_affected(
                "UPDATE operators SET disabled = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
                (i64::from(disabled), ms(now), tenant.as_str(), id.as_str()),
            )
            .await?;
        if disabled {
            self.delete_operator_sessions(id).await?;
        }
        Ok(r > 0)
    }

    // ----- sessions --------------------------------------------------------------------

    pub async fn insert_operator_session(&mut self, secret_hash: &str, s: &OperatorSessionRecord, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO operator_sessions (secret_hash, tenant_id, operator_id, last_seen_at, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            (
                secret_hash,
                s.tenant_id.as_str(),
                s.operator_id.as_str(),
                ms(s.last_seen_at),
                ms(s.expires_at),
                ms(now),
            ),
        )
        .await
    }

    pub async fn find_operator_session(&mut self, secret_hash: &str) -> Result<Option<OperatorSessionRecord>> {
        self.find(
            "SELECT tenant_id, operator_id, last_seen_at, expires_at FROM operator_sessions WHERE secret_hash = $1",
            (secret_hash,),
        )
        .await
    }

    pub async fn touch_operator_session(&mut self, secret_hash: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE operator_sessions SET last_seen_at = $1 WHERE secret_hash = $2",
            (ms(now), secret_hash),
        )
        .await
    }

    pub async fn delete_operator_session(&mut self, secret_hash: &str) -> Result<()> {
        self.execute("DELETE FROM operator_sessions WHERE secret_hash = $1", (secret_hash,))
            .await
    }

    /// Housekeeping: forget sessions idle since `idle_before` or past their end.
    pub async fn delete_stale_operator_sessions(
        &mut self,
        tenant: &TenantId,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.rows_affected(
            "DELETE FROM operator_sessions WHERE tenant_id = $1 AND (last_seen_at < $2 OR expires_at < $3)",
            (tenant.as_str(), ms(idle_before), ms(now)),
        )
        .await
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
        self.execute("DELETE FROM operator_invites WHERE operator_id = $1", (operator.as_str(),))
            .await?;
        self.execute(
            "INSERT INTO operator_invites (token_hash, tenant_id, operator_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            (token_hash, tenant.as_str(), operator.as_str(), ms(expires_at), ms(now)),
        )
        .await
    }

    /// The (tenant, operator) of an unexpired invitation, without spending it.
    pub async fn find_operator_invite(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(TenantId, OperatorId)>> {
        let row = self
            .fetch_optional(
                "SELECT tenant_id, operator_id FROM operator_invites WHERE token_hash = $1 AND expires_at > $2",
                (token_hash, ms(now)),
            )
            .await?;
        row.as_ref().map(tenant_and_operator).transpose()
    }

    /// Spend an invitation, in one statement (of concurrent uses, one gets it): its
    /// (tenant, operator) if it existed and had not expired.
    pub async fn take_operator_invite(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(TenantId, OperatorId)>> {
        let row = self
            .fetch_optional(
                "DELETE FROM operator_invites WHERE token_hash = $1 RETURNING tenant_id, operator_id, expires_at",
                (token_hash,),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        if from_ms(row.try_get("expires_at")?)? <= now {
            return Ok(None);
        }
        tenant_and_operator(&row).map(Some)
    }

    // ----- settings and four eyes ------------------------------------------------------

    pub async fn four_eyes(&mut self, tenant: &TenantId) -> Result<bool> {
        let row = self
            .fetch_one("SELECT four_eyes FROM tenants WHERE id = $1", (tenant.as_str(),))
            .await?;
        row.flag("four_eyes")
    }

    pub async fn set_four_eyes(&mut self, tenant: &TenantId, on: bool) -> Result<()> {
        self.execute("UPDATE tenants SET four_eyes = $1 WHERE id = $2", (i64::from(on), tenant.as_str()))
            .await
    }

    pub async fn insert_review_proposal(&mut self, tenant: &TenantId, p: &ReviewProposal) -> Result<()> {
        let text = serde_json::json!({"note": p.note, "user_message": p.user_message}).to_string();
        let sealed = self
            .keys(tenant)
            .seal_text(&aad::proposal(p.verification_id.as_str()), text.as_bytes());
        self.execute(
            "INSERT INTO review_proposals (verification_id, tenant_id, decision, reason_code, sealed, proposed_by, proposed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (
                p.verification_id.as_str(),
                tenant.as_str(),
                decision_str(p.decision),
                &p.reason_code,
                sealed,
                &p.proposed_by,
                ms(p.proposed_at),
            ),
        )
        .await
    }

    pub async fn get_review_proposal(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Option<ReviewProposal>> {
        let row = self
            .fetch_optional(
                "SELECT * FROM review_proposals WHERE tenant_id = $1 AND verification_id = $2",
                (tenant.as_str(), id.as_str()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("sealed")?;
        let plain = self
            .keys(tenant)
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
        self.delete_where("review_proposals", "verification_id", tenant, id.as_str())
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
        let sql = select_verifications!(
            "WHERE tenant_id = $1 AND status = $2 AND created_at >= $3 AND created_at < $4
             ORDER BY created_at, id LIMIT $5"
        );
        let binds = (
            tenant.as_str(),
            status.as_str(),
            from.map_or(i64::MIN, ms),
            to.map_or(i64::MAX, ms),
            limit as i64,
        );
        self.verifications_where(tenant, sql, binds).await
    }

    /// The tenant's policies, newest first: (version, policy JSON, actor label, when).
    pub async fn tenant_policies(&mut self, tenant: &TenantId, limit: usize) -> Result<Vec<TenantPolicyRecord>> {
        self.find_all(
            "SELECT version, policy_json, created_by, created_at FROM tenant_policies WHERE tenant_id = $1 ORDER BY version DESC LIMIT $2",
            (tenant.as_str(), limit as i64),
        )
        .await
    }

    /// Store the next version of the tenant's policy; returns its version number.
    pub async fn insert_tenant_policy(&mut self, tenant: &TenantId, policy: &Policy, by: &Actor, now: DateTime<Utc>) -> Result<u32> {
        let row = self
            .fetch_one(
                "SELECT COALESCE(MAX(version), 0) AS v FROM tenant_policies WHERE tenant_id = $1",
                (tenant.as_str(),),
            )
            .await?;
        let version = row.try_get::<i64, _>("v")? + 1;
        self.execute(
            "INSERT INTO tenant_policies (tenant_id, version, policy_json, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
            (
                tenant.as_str(),
                version,
                serde_json::to_string(policy).map_err(|_| corrupt("tenant policy"))?,
                by.label(),
                ms(now),
            ),
        )
        .await?;
        u32::try_from(version).map_err(|_| corrupt("policy version"))
    }

    /// Verifications of the applicants whose external id is `external_id` (blind index).
    pub async fn find_verifications_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> Result<Vec<Verification>> {
        let bidx = crate::sealed::blind::external_id(&self.keys(tenant), external_id);
        let sql = select_verifications!(
            "WHERE tenant_id = $1
             AND applicant_id IN (SELECT id FROM applicants WHERE tenant_id = $1 AND external_id_bidx = $2)
             ORDER BY created_at LIMIT 100"
        );
        self.verifications_where(tenant, sql, (tenant.as_str(), bidx)).await
    }
}

impl FromRow for OperatorSessionRecord {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        let (tenant_id, operator_id) = tenant_and_operator(row)?;
        Ok(OperatorSessionRecord {
            tenant_id,
            operator_id,
            last_seen_at: from_ms(row.try_get("last_seen_at")?)?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        })
    }
}

impl FromRow for TenantPolicyRecord {
    fn from_row(_: &Store, r: &AnyRow) -> Result<Self> {
        Ok(TenantPolicyRecord {
            version: u32::try_from(r.try_get::<i64, _>("version")?).map_err(|_| corrupt("policy version"))?,
            policy: serde_json::from_str(&r.try_get::<String, _>("policy_json")?).map_err(|_| corrupt("tenant policy"))?,
            created_by: r.try_get("created_by")?,
            created_at: from_ms(r.try_get("created_at")?)?,
        })
    }
}

/// The (tenant, operator) of a session's or an invitation's row.
fn tenant_and_operator(row: &AnyRow) -> Result<(TenantId, OperatorId)> {
    Ok((row.tenant_id()?, row.parsed("operator_id", "operator id")?))
}
