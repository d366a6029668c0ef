//! Policy: which documents are accepted and which captures a verification needs.
//! A verification stores a snapshot of its policy, so a later change never rewrites an
//! old decision.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Passport,
    IdCard,
    DriverLicense,
    ResidencePermit,
}

impl DocumentType {
    pub const ALL: [Self; 4] = [Self::Passport, Self::IdCard, Self::DriverLicense, Self::ResidencePermit];
    /// Cards carry data on both sides; a passport's data page is one image.
    pub fn has_back(self) -> bool {
        !matches!(self, Self::Passport)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    DocumentFront,
    DocumentBack,
    Selfie,
    /// The portrait kycd cut from the document front (never uploaded).
    DocumentPortrait,
    /// The frames of a head-turn liveness challenge, uploaded together as one capture
    /// that names the challenge the server issued (`kycd_checks::burst` keeps them).
    LivenessBurst,
}

impl CaptureKind {
    /// The still images a person or an integration uploads.
    pub const ALL: [Self; 3] = [Self::DocumentFront, Self::DocumentBack, Self::Selfie];
    /// Everything uploaded: the still images and the liveness burst.
    pub const UPLOADED: [Self; 4] = [Self::DocumentFront, Self::DocumentBack, Self::Selfie, Self::LivenessBurst];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DocumentFront => "document_front",
            Self::DocumentBack => "document_back",
            Self::Selfie => "selfie",
            Self::DocumentPortrait => "document_portrait",
            Self::LivenessBurst => "liveness_burst",
        }
    }

    /// Whether the capture is one image (a burst is a container of frames, which the
    /// vendor dialects' image lists leave out).
    pub fn is_image(self) -> bool {
        self != Self::LivenessBurst
    }

    /// Whether kycd made this capture itself (it is not uploaded, nor required).
    pub fn is_derived(self) -> bool {
        self == Self::DocumentPortrait
    }

    /// A kind as the store keeps it: any kind, derived ones included. Input from users
    /// goes through `FromStr`, which takes only the kinds they upload.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::UPLOADED.into_iter().chain([Self::DocumentPortrait]).find(|k| k.as_str() == s)
    }
}

worded_enum!(CaptureKind, Self::UPLOADED, |_s| {
    "kind must be one of document_front, document_back, selfie, liveness_burst".to_owned()
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Documents the person may present. Default: all.
    #[serde(default = "all_documents")]
    pub accepted_document_types: Vec<DocumentType>,
    /// Whether a selfie must be captured. Default: true.
    #[serde(default = "yes")]
    pub selfie_required: bool,
    /// How many attempts the person gets before the verification is declined. Default: 3.
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Issuing states accepted, as ICAO 9303 three-letter codes (`D` for Germany, `GBR`,
    /// `USA`…). Default: all.
    #[serde(default)]
    pub accepted_countries: Option<Vec<String>>,
    /// Youngest accepted holder, in completed years; `null` for no bound. Default: 18.
    #[serde(default = "adult")]
    pub min_age: Option<u32>,
    /// Oldest accepted holder, in completed years. Default: no bound.
    #[serde(default)]
    pub max_age: Option<u32>,
    /// How closely the names on the document must match the declared ones. Default: moderate.
    #[serde(default)]
    pub name_matching: NameStrictness,
    /// Similarity of the selfie to the document's portrait (0‥1, `1 − ` the distance of
    /// dlib's face embeddings) from which the faces match. Default: 0.50.
    #[serde(default = "face_match_default")]
    pub face_match_threshold: f64,
    /// Similarity below which the faces are different people: the verification is
    /// declined. Between the two thresholds a person compares them. Default: 0.30.
    #[serde(default = "face_mismatch_default")]
    pub face_mismatch_threshold: f64,
    /// Send every verification with a selfie to a person, whatever the face match says
    /// (a still selfie alone proves no presence: see `liveness_required`). Default: false.
    #[serde(default)]
    pub selfie_review: bool,
    /// Whether the person must pass the head-turn liveness challenge (a `liveness_burst`
    /// capture): without one the verification cannot be submitted, a burst that moved like
    /// a flat picture or changed face declines it, one whose turns were not followed asks
    /// for a new attempt (declines when none is left), an inconclusive one goes to a
    /// person (docs/checks.md). When false an uploaded burst is still checked and a
    /// failure goes to a person. Default: false.
    #[serde(default)]
    pub liveness_required: bool,
}

// Thresholds are finite (validate refuses NaN), so equality is an equivalence.
impl Eq for Policy {}

fn face_match_default() -> f64 {
    0.50
}
fn face_mismatch_default() -> f64 {
    0.30
}

/// Name matching strictness (BoldSign's Strict / Moderate / Lenient): `strict` wants the
/// same tokens after transliteration; `moderate` forgives a typo or a missing middle name;
/// `lenient` also forgives reordered or abbreviated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameStrictness {
    Strict,
    #[default]
    Moderate,
    Lenient,
}

fn adult() -> Option<u32> {
    Some(18)
}

fn all_documents() -> Vec<DocumentType> {
    DocumentType::ALL.to_vec()
}
fn yes() -> bool {
    true
}
fn three() -> u32 {
    3
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            accepted_document_types: all_documents(),
            selfie_required: true,
            max_attempts: 3,
            accepted_countries: None,
            min_age: adult(),
            max_age: None,
            name_matching: NameStrictness::default(),
            face_match_threshold: face_match_default(),
            face_mismatch_threshold: face_mismatch_default(),
            selfie_review: false,
            liveness_required: false,
        }
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), String> {
        if self.accepted_document_types.is_empty() {
            return Err("policy.accepted_document_types must name at least one document type".into());
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err("policy.max_attempts must be between 1 and 10".into());
        }
        if let Some(cs) = &self.accepted_countries {
            if cs.is_empty() {
                return Err("policy.accepted_countries must name at least one country, or be null for all".into());
            }
            if let Some(bad) = cs
                .iter()
                .find(|c| !(1..=3).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(format!(
                    "policy.accepted_countries: '{bad}' is not an ICAO 9303 country code (one to three capital letters, e.g. GBR, D, USA)"
                ));
            }
        }
        if self.min_age.is_some_and(|a| a > 150) || self.max_age.is_some_and(|a| a > 150) {
            return Err("policy.min_age and policy.max_age must be at most 150".into());
        }
        if let (Some(lo), Some(hi)) = (self.min_age, self.max_age)
            && lo > hi
        {
            return Err(format!("policy.min_age ({lo}) must not exceed policy.max_age ({hi})"));
        }
        let (hi, lo) = (self.face_match_threshold, self.face_mismatch_threshold);
        if !(0.0..=1.0).contains(&hi) || !(0.0..=1.0).contains(&lo) {
            return Err(
                "policy.face_match_threshold and policy.face_mismatch_threshold are similarities between 0 and 1 (e.g. 0.50 and 0.30)"
                    .into(),
            );
        }
        if lo > hi {
            return Err(format!(
                "policy.face_mismatch_threshold ({lo}) must not exceed policy.face_match_threshold ({hi}): between the two a person compares the faces"
            ));
        }
        Ok(())
    }

    /// The captures a submission needs. Without knowing which document the person chose,
    /// the back is required only when no accepted document is single-sided.
    pub fn required_captures(&self, chosen: Option<DocumentType>) -> Vec<CaptureKind> {
        let mut kinds = vec![CaptureKind::DocumentFront];
        let needs_back = match chosen {
            Some(d) => d.has_back(),
            None => self.accepted_document_types.iter().all(|d| d.has_back()),
        };
        if needs_back {
            kinds.push(CaptureKind::DocumentBack);
        }
        if self.selfie_required {
            kinds.push(CaptureKind::Selfie);
        }
        if self.liveness_required {
            kinds.push(CaptureKind::LivenessBurst);
        }
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_captures_follow_the_document() {
        let p = Policy::default();
        assert_eq!(p.required_captures(None), vec![CaptureKind::DocumentFront, CaptureKind::Selfie]);
        assert_eq!(
            p.required_captures(Some(DocumentType::IdCard)),
            vec![CaptureKind::DocumentFront, CaptureKind::DocumentBack, CaptureKind::Selfie]
        );
        let cards = Policy {
            accepted_document_types: vec![DocumentType::DriverLicense],
            selfie_required: false,
            max_attempts: 1,
            ..Policy::default()
        };
        assert_eq!(
            cards.required_captures(None),
            vec![CaptureKind::DocumentFront, CaptureKind::DocumentBack]
        );
    }

    #[test]
    fn policy_json_defaults_and_refuses_unknown_fields() {
        let p: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Policy::default());
        assert!(serde_json::from_str::<Policy>(r#"{"selfie":true}"#).is_err());
        assert!(
            Policy {
                accepted_document_types: vec![],
                ..Policy::default()
            }
            .validate()
            .is_err()
        );
    }
}
