//! Fingerprints of captures (SHA-256 of the bytes, 64-bit perceptual hash of the pixels),
//! so that the same document or selfie seen in another applicant's verification of the
//! tenant is noticed. The perceptual hash is also kept split into four 16-bit bands, each
//! indexed: a picture within 3 bits of another always shares a band (pigeonhole), and
//! re-encodings, whose changed bits rarely touch all four bands, are found up to the
//! caller's distance; candidates are then compared bit by bit.

use crate::repo::{Columns, FromRow};
use crate::{Result, Store, Tx, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored fingerprint that may be the same picture.
#[derive(Debug, Clone)]
pub struct FingerprintMatch {
    pub file_id: FileId,
    pub verification_id: VerificationId,
    pub sha256: String,
    pub phash: u64,
}

fn band(phash: u64, i: u32) -> i64 {
    i64::from(((phash >> (16 * i)) & 0xFFFF) as u16)
}

pub struct NewFingerprint<'a> {
    pub file_id: &'a FileId,
    pub verification_id: &'a VerificationId,
    pub applicant_id: &'a ApplicantId,
    /// `document` or `selfie`: pictures are compared within their class only.
    pub kind_class: &'a str,
    pub sha256: &'a str,
    pub phash: u64,
}

impl FromRow for FingerprintMatch {
    fn from_row(_: &Store, r: &AnyRow) -> Result<Self> {
        Ok(FingerprintMatch {
            file_id: r.parsed("file_id", "file id")?,
            verification_id: r.parsed("verification_id", "verification id")?,
            sha256: r.try_get("sha256")?,
            phash: r.try_get::<i64, _>("phash")? as u64,
        })
    }
}

impl Tx<'_> {
    /// Record a capture's fingerprint (again: no change).
    pub async fn insert_capture_fingerprint(&mut self, tenant: &TenantId, f: &NewFingerprint<'_>, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO capture_fingerprints
             (file_id, tenant_id, verification_id, applicant_id, kind_class, sha256, phash, band0, band1, band2, band3, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (file_id) DO NOTHING",
            (
                f.file_id.as_str(),
                tenant.as_str(),
                f.verification_id.as_str(),
                f.applicant_id.as_str(),
                f.kind_class,
                f.sha256,
                f.phash as i64,
                band(f.phash, 0),
                band(f.phash, 1),
                band(f.phash, 2),
                band(f.phash, 3),
                ms(now),
            ),
        )
        .await
    }

    /// Fingerprints of this tenant's other applicants' captures of the same class that
    /// are byte-identical or share a band of the perceptual hash (at most 50).
    pub async fn fingerprint_candidates(
        &mut self,
        tenant: &TenantId,
        kind_class: &str,
        sha256: &str,
        phash: u64,
        other_than: &ApplicantId,
    ) -> Result<Vec<FingerprintMatch>> {
        self.find_all(
            "SELECT file_id, verification_id, sha256, phash FROM capture_fingerprints
             WHERE tenant_id = $1 AND kind_class = $2 AND applicant_id <> $3
             AND (sha256 = $4 OR band0 = $5 OR band1 = $6 OR band2 = $7 OR band3 = $8)
             ORDER BY created_at LIMIT 50",
            (
                tenant.as_str(),
                kind_class,
                other_than.as_str(),
                sha256,
                band(phash, 0),
                band(phash, 1),
                band(phash, 2),
                band(phash, 3),
            ),
        )
        .await
    }

    pub async fn delete_capture_fingerprints(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<()> {
        self.delete_where("capture_fingerprints", "verification_id", tenant, verification.as_str())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bands_cover_the_hash() {
        let h = 0x1234_5678_9abc_def0_u64;
        let b: Vec<i64> = (0..4).map(|i| super::band(h, i)).collect();
        assert_eq!(b, vec![0xdef0, 0x9abc, 0x5678, 0x1234]);
    }
}
