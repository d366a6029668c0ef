//! Per-tenant features (add-ons an operator enables for one business with
//! `kycd tenant features`), and the lookups the e-signature dialects need around them:
//! the verifications of a host signature request and a verification's status history.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};
use chrono::{DateTime, Utc};
use kycd_core::*;
use std::fmt;
use std::str::FromStr;

/// A feature an operator turns on per tenant. Off unless enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The Skribble dialect's identification evidence endpoints (status, JSON, ZIP, JWT).
    ExpressQesEvidence,
}

impl Feature {
    pub const ALL: [Self; 1] = [Self::ExpressQesEvidence];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExpressQesEvidence => "express_qes_evidence",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Feature {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|f| f.as_str()).collect();
            EngineError::Invalid(format!("unknown feature '{s}': known features are {}", known.join(", ")))
        })
    }
}

impl Engine {
    /// The features enabled for a tenant (operator view). Names this version does not
    /// know (left by a newer one) are skipped.
    pub async fn tenant_features(&self, tenant: &TenantId) -> Result<Vec<Feature>> {
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
        let names = tx.tenant_features(tenant).await?;
        let mut out: Vec<Feature> = names.iter().filter_map(|n| n.parse().ok()).collect();
        out.sort();
        Ok(out)
    }

    /// Enable and disable features of a tenant (operator action, audited); returns the
    /// features enabled afterwards.
    pub async fn set_tenant_features(&self, tenant: &TenantId, enable: &[Feature], disable: &[Feature]) -> Result<Vec<Feature>> {
        if let Some(f) = enable.iter().find(|f| disable.contains(f)) {
            return Err(EngineError::Invalid(format!("feature '{f}' cannot be both enabled and disabled")));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
        for (list, on) in [(enable, true), (disable, false)] {
            for f in list {
                if tx.set_tenant_feature(tenant, f.as_str(), on, now).await? {
                    let action = format!("tenant.feature.{}.{f}", if on { "enabled" } else { "disabled" });
                    tx.audit(tenant, &Actor::Cli, &action, tenant.as_str(), now).await?;
                }
            }
        }
        tx.commit().await?;
        self.tenant_features(tenant).await
    }

    /// Whether the caller's tenant has `feature` enabled.
    pub async fn has_feature(&self, p: &Principal, feature: Feature) -> Result<bool> {
        let names = self.store.begin().await?.tenant_features(&p.tenant_id).await?;
        Ok(names.iter().any(|n| n == feature.as_str()))
    }

    /// The caller's verifications bound to a host signature request
    /// (`reference.signature_request_id`), oldest first.
    pub async fn verifications_for_signature_request(&self, p: &Principal, signature_request_id: &str) -> Result<Vec<Verification>> {
        Ok(self
            .store
            .begin()
            .await?
            .find_verifications_by_signature_request(&p.tenant_id, signature_request_id)
            .await?)
    }

    /// Every status a verification entered, oldest first, from its audit trail (metadata
    /// only: reading it is not an audited read).
    pub async fn status_history(&self, p: &Principal, id: &VerificationId) -> Result<Vec<(DateTime<Utc>, VerificationStatus)>> {
        let trail = self.store.begin().await?.audit_for_object(&p.tenant_id, id.as_str()).await?;
        Ok(trail
            .into_iter()
            .filter_map(|e| {
                let s = e.action.strip_prefix("verification.status.")?.parse().ok()?;
                Some((e.at, s))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>().ok(), Some(f));
        }
        let e = "express-qes".parse::<Feature>().unwrap_err().to_string();
        assert!(e.contains("express_qes_evidence"), "{e}");
    }
}
