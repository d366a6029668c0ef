//! Reports: what happened to a verification, and its audit trail.

use crate::required::RequiredReads;
use crate::{Engine, Principal, Result};
use kycd_core::{Applicant, Attempt, Capture, TenantId, TimelineEntry, Verification, VerificationId};
use kycd_store::Tx;

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
        let applicant = tx.required_applicant(&p.tenant_id, &verification.applicant_id).await?;
        let attempts = tx.list_attempts(&p.tenant_id, id).await?;
        let captures = tx.list_captures(&p.tenant_id, id).await?.into_iter().map(|(c, _)| c).collect();
        // What happened to the verification; its reads (this one too) stay in the audit
        // log and the console's audit trail, or every read would grow the report.
        let timeline = about(&mut tx, &p.tenant_id, id.as_str(), Reads::Left).await?;
        tx.commit_with_read(&p.tenant_id, &p.actor(), "report.read", id.as_str(), now)
            .await?;
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
        let trail = about(&mut tx, tenant, object_id, Reads::Kept).await?;
        tx.commit().await?;
        Ok(trail)
    }
}

/// Whether reads of an object (report, image and evidence downloads) are among its entries.
pub(crate) enum Reads {
    /// Its audit trail: everything, reads included.
    Kept,
    /// A report's timeline: what happened to it.
    Left,
}

/// The audit entries about one object of a tenant, oldest first, as timeline entries.
pub(crate) async fn about(tx: &mut Tx<'_>, tenant: &TenantId, object_id: &str, reads: Reads) -> Result<Vec<TimelineEntry>> {
    let entries = match reads {
        Reads::Kept => tx.audit_for_object(tenant, object_id).await?,
        Reads::Left => tx.timeline_for_object(tenant, object_id).await?,
    };
    Ok(entries.into_iter().map(TimelineEntry::from).collect())
}
