//! The people being verified: personal data sealed, email, phone and external id found
//! through blind indexes.

use crate::repo::{Columns, Cursor, Page, corrupt, from_json, parse, to_json};
use crate::sealed::{aad, blind};
use crate::{Result, Tx, from_ms, ms};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// `SELECT` the columns [`Tx::applicant_from`] reads `FROM applicants`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_applicants {
    ($rest:literal) => {
        concat!(
            "SELECT id, external_id_enc, person_enc, redacted, created_at, updated_at FROM applicants ",
            $rest
        )
    };
}

impl Tx<'_> {
    pub async fn insert_applicant(&mut self, a: &Applicant) -> Result<()> {
        self.execute(
            "INSERT INTO applicants (id, tenant_id, person_enc, redacted, created_at, updated_at) VALUES ($1, $2, '', 0, $3, $3)",
            (a.id.as_str(), a.tenant_id.as_str(), ms(a.created_at)),
        )
        .await?;
        self.update_applicant(a).await
    }

    pub async fn update_applicant(&mut self, a: &Applicant) -> Result<()> {
        let k = self.keys(&a.tenant_id);
        let aad_of = |col: &str| aad::applicant(a.id.as_str(), col);
        let person = k.seal_text(&aad_of("person"), to_json(&a.person).as_bytes());
        let ext = a
            .external_applicant_id
            .as_ref()
            .map(|e| k.seal_text(&aad_of("external_id"), e.expose().as_bytes()));
        let [ext_bidx, email_bidx, phone_bidx] = blind::applicant(&k, &a.person, a.external_applicant_id.as_ref().map(|e| e.expose()));
        self.execute(
            "UPDATE applicants SET external_id_enc = $1, external_id_bidx = $2, person_enc = $3, email_bidx = $4,
             phone_bidx = $5, redacted = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
            (
                ext,
                ext_bidx,
                person,
                email_bidx,
                phone_bidx,
                i64::from(a.redacted),
                ms(a.updated_at),
                a.tenant_id.as_str(),
                a.id.as_str(),
            ),
        )
        .await
    }

    fn applicant_from(&self, tenant: &TenantId, row: &AnyRow) -> Result<(Applicant, i64, String)> {
        let id: String = row.try_get("id")?;
        let k = self.keys(tenant);
        let aad_of = |col: &str| aad::applicant(&id, col);
        let person_enc: String = row.try_get("person_enc")?;
        let person: PersonData = from_json(&String::from_utf8_lossy(&k.open_text(&aad_of("person"), &person_enc)?), "person")?;
        let external_applicant_id = match row.try_get::<Option<String>, _>("external_id_enc")? {
            Some(s) => Some(
                PersonalText::parse(
                    "external_applicant_id",
                    &String::from_utf8_lossy(&k.open_text(&aad_of("external_id"), &s)?),
                    1000,
                )
                .map_err(corrupt)?,
            ),
            None => None,
        };
        let created: i64 = row.try_get("created_at")?;
        Ok((
            Applicant {
                id: parse(id.clone(), "applicant id")?,
                tenant_id: tenant.clone(),
                external_applicant_id,
                person,
                redacted: row.flag("redacted")?,
                created_at: from_ms(created)?,
                updated_at: from_ms(row.try_get("updated_at")?)?,
            },
            created,
            id,
        ))
    }

    pub async fn get_applicant(&mut self, tenant: &TenantId, id: &ApplicantId) -> Result<Option<Applicant>> {
        let row = self
            .fetch_optional(
                select_applicants!("WHERE tenant_id = $1 AND id = $2"),
                (tenant.as_str(), id.as_str()),
            )
            .await?;
        row.map(|r| self.applicant_from(tenant, &r).map(|x| x.0)).transpose()
    }

    pub async fn list_applicants(&mut self, tenant: &TenantId, cursor: Option<&Cursor>, limit: usize) -> Result<Page<Applicant>> {
        let sql = select_applicants!(
            "WHERE tenant_id = $1 AND (created_at, id) < ($2, $3)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        self.page_of(sql, tenant, None, cursor, limit, |tx, r| tx.applicant_from(tenant, r))
            .await
    }

    /// Applicants of this tenant with this email (through the blind index).
    pub async fn find_applicants_by_email(&mut self, tenant: &TenantId, email: &Email) -> Result<Vec<ApplicantId>> {
        let bidx = blind::email(&self.keys(tenant), email);
        self.applicant_ids_where(tenant, "email_bidx", &bidx).await
    }

    pub async fn find_applicants_by_phone(&mut self, tenant: &TenantId, phone: &Phone) -> Result<Vec<ApplicantId>> {
        let bidx = blind::phone(&self.keys(tenant), phone);
        self.applicant_ids_where(tenant, "phone_bidx", &bidx).await
    }

    async fn applicant_ids_where(&mut self, tenant: &TenantId, column: &'static str, bidx: &str) -> Result<Vec<ApplicantId>> {
        let sql = format!("SELECT id FROM applicants WHERE tenant_id = $1 AND {column} = $2 ORDER BY created_at");
        self.fetch_ids(&sql, (tenant.as_str(), bidx), "applicant id").await
    }
}
