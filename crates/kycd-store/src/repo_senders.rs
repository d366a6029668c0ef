//! Sender identities: the other senders a tenant's account may act for (BoldSign's
//! `OnBehalfOf`). The email address is personal data: sealed with the tenant key and found
//! through a blind index, like an applicant's.

use crate::{Result, StoreError, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::{Email, PersonalText, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One sender identity of a tenant.
#[derive(Debug, Clone)]
pub struct SenderIdentity {
    /// `snd_…`, random.
    pub id: String,
    pub tenant_id: TenantId,
    pub email: Email,
    pub name: Option<PersonalText>,
    pub created_at: DateTime<Utc>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn email_aad(id: &str) -> String {
    crate::sealed::aad::sender(id, "email")
}

fn name_aad(id: &str) -> String {
    crate::sealed::aad::sender(id, "name")
}

impl Tx<'_> {
    fn sender_email_index(&self, tenant: &TenantId, email: &Email) -> String {
        crate::sealed::blind::sender_email(&self.store.tenant_keys(tenant), email)
    }

    /// Insert a sender identity; `false` (nothing written) when the tenant already has one
    /// with this email address.
    pub async fn insert_sender_identity(&mut self, s: &SenderIdentity) -> Result<bool> {
        if self.find_sender_identity(&s.tenant_id, &s.email).await?.is_some() {
            return Ok(false);
        }
        let keys = self.store.tenant_keys(&s.tenant_id);
        let email = keys.seal_text(&email_aad(&s.id), s.email.expose().as_bytes());
        let name = s.name.as_ref().map(|n| keys.seal_text(&name_aad(&s.id), n.expose().as_bytes()));
        sqlx::query(
            "INSERT INTO sender_identities (id, tenant_id, email_bidx, email_enc, name_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(s.tenant_id.as_str())
        .bind(self.sender_email_index(&s.tenant_id, &s.email))
        .bind(email)
        .bind(name)
        .bind(ms(s.created_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    fn sender_from(&self, tenant: &TenantId, row: &AnyRow) -> Result<SenderIdentity> {
        let id: String = row.try_get("id")?;
        let keys = self.store.tenant_keys(tenant);
        let text = |aad: String, sealed: &str| -> Result<String> {
            String::from_utf8(keys.open_text(&aad, sealed)?).map_err(|_| corrupt("sender identity is not UTF-8"))
        };
        let email = text(email_aad(&id), &row.try_get::<String, _>("email_enc")?)?;
        let name = row
            .try_get::<Option<String>, _>("name_enc")?
            .map(|n| text(name_aad(&id), &n))
            .transpose()?;
        Ok(SenderIdentity {
            email: Email::parse(&email).map_err(|_| corrupt("sender identity email"))?,
            name: name
                .map(|n| PersonalText::parse("name", &n, 300).map_err(|_| corrupt("sender identity name")))
                .transpose()?,
            tenant_id: tenant.clone(),
            created_at: from_ms(row.try_get("created_at")?)?,
            id,
        })
    }

    /// The tenant's sender identity with this email address (case-insensitive), if any.
    pub async fn find_sender_identity(&mut self, tenant: &TenantId, email: &Email) -> Result<Option<SenderIdentity>> {
        let row = sqlx::query("SELECT * FROM sender_identities WHERE tenant_id = $1 AND email_bidx = $2")
            .bind(tenant.as_str())
            .bind(self.sender_email_index(tenant, email))
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.sender_from(tenant, &r)).transpose()
    }

    /// Every sender identity of the tenant, oldest first.
    pub async fn list_sender_identities(&mut self, tenant: &TenantId) -> Result<Vec<SenderIdentity>> {
        let rows = sqlx::query("SELECT * FROM sender_identities WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| self.sender_from(tenant, r)).collect()
    }
}
