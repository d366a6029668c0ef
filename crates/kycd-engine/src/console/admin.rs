//! An admin's settings: operators, API keys, four eyes.

use super::*;

impl Engine {
    pub async fn list_operators(&self, s: &OperatorSession) -> Result<Vec<Operator>> {
        s.require_admin()?;
        let ops = self.in_tx(async |tx| Ok(tx.list_operators(&s.operator.tenant_id).await?)).await?;
        Ok(ops.iter().map(Operator::from_record).collect())
    }

    pub async fn set_operator_disabled(&self, s: &OperatorSession, id: &OperatorId, disabled: bool) -> Result<()> {
        s.require_admin()?;
        if *id == s.operator.id {
            return Err(EngineError::Conflict(
                "you cannot disable your own account; ask another admin".into(),
            ));
        }
        let now = self.now();
        self.in_tx(async |tx| {
            if !tx.set_operator_disabled(&s.operator.tenant_id, id, disabled, now).await? {
                return Err(EngineError::NotFound("operator"));
            }
            let action = if disabled { "operator.disabled" } else { "operator.enabled" };
            tx.audit(&s.operator.tenant_id, &s.actor(), action, id.as_str(), now).await?;
            Ok(())
        })
        .await
    }

    pub async fn console_api_keys(&self, s: &OperatorSession) -> Result<Vec<kycd_store::ApiKeyRecord>> {
        s.require_admin()?;
        self.in_tx(async |tx| Ok(tx.list_api_keys(&s.operator.tenant_id).await?)).await
    }

    /// A new API key of this tenant (its secret is shown once).
    pub async fn console_create_api_key(&self, s: &OperatorSession, scope: Scope) -> Result<crate::CreatedKey> {
        s.require_admin()?;
        let key = self.create_api_key(&s.operator.tenant_id, scope, crate::KeyFormat::Kycd).await?;
        let now = self.now();
        self.in_tx(async |tx| {
            tx.audit(&s.operator.tenant_id, &s.actor(), "api_key.created", key.key_id.as_str(), now)
                .await?;
            Ok(())
        })
        .await?;
        Ok(key)
    }

    pub async fn console_revoke_api_key(&self, s: &OperatorSession, id: &ApiKeyId) -> Result<()> {
        s.require_admin()?;
        let now = self.now();
        self.in_tx(async |tx| {
            if !tx.revoke_tenant_api_key(&s.operator.tenant_id, id, now).await? {
                return Err(EngineError::NotFound("live API key"));
            }
            tx.audit(&s.operator.tenant_id, &s.actor(), "api_key.revoked", id.as_str(), now)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn four_eyes(&self, tenant: &TenantId) -> Result<bool> {
        self.in_tx(async |tx| Ok(tx.four_eyes(tenant).await?)).await
    }

    pub async fn set_four_eyes(&self, s: &OperatorSession, on: bool) -> Result<()> {
        s.require_admin()?;
        let tenant = &s.operator.tenant_id;
        let now = self.now();
        self.in_tx(async |tx| {
            tx.set_four_eyes(tenant, on).await?;
            let action = if on { "settings.four_eyes.on" } else { "settings.four_eyes.off" };
            tx.audit(tenant, &s.actor(), action, tenant.as_str(), now).await?;
            Ok(())
        })
        .await
    }
}
