//! Sender identities: the other senders a tenant's account may act for (BoldSign's
//! `OnBehalfOf`). The email address is personal data: sealed with the tenant key and found
//! through a blind index, like an applicant's.

use crate::repo::{Columns, FromRow, corrupt};
use crate::{Result, Store, Tx, from_ms, ms};
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

fn email_aad(id: &str) -> String {
    crate::sealed::aad::sender(id, "email")
}

fn name_aad(id: &str) -> String {
    crate::sealed::aad::sender(id, "name")
}

impl FromRow for SenderIdentity {
    fn from_row(store: &Store, row: &AnyRow) -> Result<Self> {
        let id: String = row.try_get("id")?;
        let tenant_id = row.tenant_id()?;
        let keys = store.tenant_keys(&tenant_id);
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
            tenant_id,
            created_at: from_ms(row.try_get("created_at")?)?,
            id,
        })
    }
}

impl Tx<'_> {
    fn sender_email_index(&self, tenant: &TenantId, email: &Email) -> String {
        crate::sealed::blind::sender_email(&self.keys(tenant), email)
    }

    /// Insert a sender identity; `false` (nothing written) when the tenant already has one
    /// with this email address.
    pub async fn insert_sender_identity(&mut self, s: &SenderIdentity) -> Result<bool> {
        if self.find_sender_identity(&s.tenant_id, &s.email).await?.is_some() {
            return Ok(false);
        }
        let keys = self.keys(&s.tenant_id);
        let email = keys.seal_text(&email_aad(&s.id), s.email.expose().as_bytes());
        let name = s.name.as_ref().map(|n| keys.seal_text(&name_aad(&s.id), n.expose().as_bytes()));
        self.execute(
            "INSERT INTO sender_identities (id, tenant_id, email_bidx, email_enc, name_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            (
                &s.id,
                s.tenant_id.as_str(),
                self.sender_email_index(&s.tenant_id, &s.email),
                email,
                name,
                ms(s.created_at),
            ),
        )
        .await?;
        Ok(true)
    }

    /// The tenant's sender identity with this email address (case-insensitive), if any.
    pub async fn find_sender_identity(&mut self, tenant: &TenantId, email: &Email) -> Result<Option<SenderIdentity>> {
        let bidx = self.sender_email_index(tenant, email);
        self.find(
            "SELECT * FROM sender_identities WHERE tenant_id = $1 AND email_bidx = $2",
            (tenant.as_str(), bidx),
        )
        .await
    }

    /// Every sender identity of the tenant, oldest first.
    pub async fn list_sender_identities(&mut self, tenant: &TenantId) -> Result<Vec<SenderIdentity>> {
        self.find_all_of_tenant("sender_identities", tenant).await
    }
}
