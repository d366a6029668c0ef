//! Head-turn liveness challenges: the steps the server chose for one verification, their
//! deadline, and when a burst used them (each works once). The steps (`left,up`) are not
//! personal data; the rows go with their verification.

use crate::repo::Columns;
use crate::{Result, StoreError, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;

/// A challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessChallengeRecord {
    pub id: LivenessChallengeId,
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    /// The steps in order, as words (`left`, `right`, `up`, `down`).
    pub steps: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Tx<'_> {
    pub async fn insert_liveness_challenge(&mut self, c: &LivenessChallengeRecord) -> Result<()> {
        self.execute(
            "INSERT INTO liveness_challenges (id, tenant_id, verification_id, steps, expires_at, used_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (
                c.id.as_str(),
                c.tenant_id.as_str(),
                c.verification_id.as_str(),
                c.steps.join(","),
                ms(c.expires_at),
                c.used_at.map(ms),
                ms(c.created_at),
            ),
        )
        .await
    }

    /// A challenge of this tenant's verification (another tenant's, or another
    /// verification's, is not found).
    pub async fn get_liveness_challenge(
        &mut self,
        tenant: &TenantId,
        verification: &VerificationId,
        id: &LivenessChallengeId,
    ) -> Result<Option<LivenessChallengeRecord>> {
        let row = self
            .fetch_optional(
                "SELECT steps, expires_at, used_at, created_at FROM liveness_challenges
             WHERE tenant_id = $1 AND verification_id = $2 AND id = $3",
                (tenant.as_str(), verification.as_str(), id.as_str()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let steps: String = row.try_get("steps")?;
        Ok(Some(LivenessChallengeRecord {
            id: id.clone(),
            tenant_id: tenant.clone(),
            verification_id: verification.clone(),
            steps: steps.split(',').map(str::to_owned).collect(),
            expires_at: from_ms(row.try_get("expires_at")?)?,
            used_at: row.opt_time("used_at")?,
            created_at: from_ms(row.try_get("created_at")?)?,
        }))
    }

    /// How many challenges this verification was issued, and how many a burst used.
    pub async fn count_liveness_challenges(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<(u64, u64)> {
        let row = self
            .fetch_one(
                "SELECT COUNT(*) AS issued, COUNT(used_at) AS used FROM liveness_challenges
             WHERE tenant_id = $1 AND verification_id = $2",
                (tenant.as_str(), verification.as_str()),
            )
            .await?;
        let n = |col: &str| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(col)?).unwrap_or(0)) };
        Ok((n("issued")?, n("used")?))
    }

    /// Spend a challenge: true when this call marked it used, false when it was already
    /// used (of two uploads racing with one challenge, one wins) or is not this
    /// verification's.
    pub async fn use_liveness_challenge(
        &mut self,
        tenant: &TenantId,
        verification: &VerificationId,
        id: &LivenessChallengeId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let r = self
            .rows_affected(
                "UPDATE liveness_challenges SET used_at = $1
             WHERE tenant_id = $2 AND verification_id = $3 AND id = $4 AND used_at IS NULL",
                (ms(now), tenant.as_str(), verification.as_str(), id.as_str()),
            )
            .await?;
        match r {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(StoreError::Corrupt(format!("{n} liveness challenges share one id"))),
        }
    }
}
