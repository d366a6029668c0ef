//! Applicants: the people being verified.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Page, Principal, Result};
use kycd_core::{Applicant, ApplicantId, PersonData, PersonalText};
use kycd_store::{Cursor, Tx};

pub struct NewApplicant {
    pub external_applicant_id: Option<PersonalText>,
    pub person: PersonData,
}

pub enum ApplicantRef {
    Existing(ApplicantId),
    Inline(NewApplicant),
}

impl Engine {
    pub async fn create_applicant(&self, p: &Principal, new: NewApplicant) -> Result<Applicant> {
        p.require_write()?;
        self.in_tx(async |tx| self.insert_applicant(tx, p, new).await).await
    }

    pub(crate) async fn insert_applicant(&self, tx: &mut Tx<'_>, p: &Principal, new: NewApplicant) -> Result<Applicant> {
        let now = self.now();
        let a = Applicant {
            id: ApplicantId::generate(),
            tenant_id: p.tenant_id.clone(),
            external_applicant_id: new.external_applicant_id,
            person: new.person,
            redacted: false,
            created_at: now,
            updated_at: now,
        };
        tx.insert_applicant(&a).await?;
        tx.audit(&p.tenant_id, &p.actor(), "applicant.created", a.id.as_str(), now).await?;
        Ok(a)
    }

    pub async fn get_applicant(&self, p: &Principal, id: &ApplicantId) -> Result<Applicant> {
        self.store.begin().await?.required_applicant(&p.tenant_id, id).await
    }

    pub async fn list_applicants(&self, p: &Principal, cursor: Option<&str>, limit: usize) -> Result<Page<Applicant>> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        Ok(self
            .store
            .begin()
            .await?
            .list_applicants(&p.tenant_id, cursor.as_ref(), limit)
            .await?)
    }

    /// Replace the given fields (`None` leaves a field as it is).
    pub async fn update_applicant(&self, p: &Principal, id: &ApplicantId, patch: NewApplicant) -> Result<Applicant> {
        p.require_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut a = tx.required_applicant(&p.tenant_id, id).await?;
        if a.redacted {
            return Err(EngineError::Gone(
                "this applicant was anonymized; its personal data cannot be set again".into(),
            ));
        }
        if patch.external_applicant_id.is_some() {
            a.external_applicant_id = patch.external_applicant_id;
        }
        let new = patch.person;
        a.person.full_name = new.full_name.or(a.person.full_name);
        a.person.email = new.email.or(a.person.email);
        a.person.phone = new.phone.or(a.person.phone);
        a.person.birth_date = new.birth_date.or(a.person.birth_date);
        a.updated_at = now;
        tx.update_applicant(&a).await?;
        tx.audit(&p.tenant_id, &p.actor(), "applicant.updated", a.id.as_str(), now).await?;
        tx.commit().await?;
        Ok(a)
    }
}
