//! Reads of one tenant's records that must be there: "not found" when a record is absent
//! or another tenant's, the answer every use case gives alike.

use crate::{EngineError, Result};
use kycd_core::{Applicant, ApplicantId, Tenant, TenantId, Verification, VerificationId, WebhookEndpointId};
use kycd_store::{Tx, WebhookEndpoint};

pub(crate) trait RequiredReads {
    async fn required_tenant(&mut self, tenant: &TenantId) -> Result<Tenant>;
    async fn required_applicant(&mut self, tenant: &TenantId, id: &ApplicantId) -> Result<Applicant>;
    async fn required_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Verification>;
    async fn required_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<WebhookEndpoint>;
}

impl RequiredReads for Tx<'_> {
    async fn required_tenant(&mut self, tenant: &TenantId) -> Result<Tenant> {
        self.get_tenant(tenant).await?.ok_or(EngineError::NotFound("tenant"))
    }

    async fn required_applicant(&mut self, tenant: &TenantId, id: &ApplicantId) -> Result<Applicant> {
        self.get_applicant(tenant, id).await?.ok_or(EngineError::NotFound("applicant"))
    }

    async fn required_verification(&mut self, tenant: &TenantId, id: &VerificationId) -> Result<Verification> {
        self.get_verification(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("verification"))
    }

    async fn required_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<WebhookEndpoint> {
        self.get_webhook_endpoint(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("webhook endpoint"))
    }
}
