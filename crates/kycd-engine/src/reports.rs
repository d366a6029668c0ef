//! Reports: what happened to a verification, and its audit trail.

use crate::{Engine, EngineError, Principal, Result};
use kycd_core::{Applicant, Attempt, Capture, TenantId, TimelineEntry, Verification, VerificationId};

pub struct Report {
    pub verification: Verification,
    pub applicant: Applicant,
    pub attempts: Vec<Attempt>,
    pub captures: Vec<Capture>,
    pub timeline: Vec<TimelineEntry>,
}

impl Engine {
    pub async fn report(&self, p: &Principal, id: &VerificationId) -> Result<Report> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let verification = self.load(&mut tx, &p.tenant_id, id).await?;
        let applicant = tx
            .get_applicant(&p.tenant_id, &verification.applicant_id)
            .await?
            .ok_or(EngineError::NotFound("applicant"))?;
        let attempts = tx.list_attempts(&p.tenant_id, id).await?;
        let captures = tx.list_captures(&p.tenant_id, id).await?.into_iter().map(|(c, _)| c).collect();
        tx.audit(&p.tenant_id, &p.actor(), "report.read", id.as_str(), now).await?;
        // What happened to the verification; its reads (this one included) stay in the
        // audit log and the console's audit trail, or every read would grow the report.
        let timeline = tx
            .timeline_for_object(&p.tenant_id, id.as_str())
            .await?
            .into_iter()
            .map(TimelineEntry::from)
            .collect();
        tx.commit().await?;
        Ok(Report {
            verification,
            applicant,
            attempts,
            captures,
            timeline,
        })
    }

    /// Every audit entry about one object of a tenant, reads included, oldest first: the
    /// audit trail `kycd audit trail` prints and the console shows.
    pub async fn audit_trail(&self, tenant: &TenantId, object_id: &str) -> Result<Vec<TimelineEntry>> {
        let mut tx = self.store.begin().await?;
        let trail = tx.audit_for_object(tenant, object_id).await?;
        tx.commit().await?;
        Ok(trail.into_iter().map(TimelineEntry::from).collect())
    }
}
