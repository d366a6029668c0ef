//! The review console's use cases: operators of one tenant (reviewers and admins), sign-in
//! with argon2 passwords, an optional TOTP second factor, lockout and idle sessions; the
//! review queue; a reviewer's decision (with four eyes where the tenant asks for it) or
//! request for a new capture; admin settings. Every read of a verification's personal data
//! or images is an audit entry with the operator's id.
//!
//! A signed-in operator acts through an ordinary [`Principal`] (tenant, `Caller::Operator`,
//! scope reviewer or admin), so every other use case applies the same tenant and scope
//! rules to the console as to an API key.

mod admin;
mod cases;
mod sign_in;

pub use sign_in::{new_totp_secret, totp_code};

use crate::{Caller, Engine, EngineError, Principal, Report, Result};
use chrono::{DateTime, Duration, Utc};
use kycd_core::*;
use kycd_store::{OperatorRecord, OperatorRole, OperatorSessionRecord, ReviewProposal, secret_hash};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// …and in any case this long after sign-in.
pub const SESSION_MAX: Duration = Duration::hours(12);
/// Wrong passwords (or codes) in a row before the account is locked…
pub const MAX_FAILED_SIGN_INS: u32 = 5;
/// …for this long.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// How long an invitation link works.
pub const INVITE_TTL: Duration = Duration::hours(72);
pub const MIN_PASSWORD_CHARS: usize = 12;
/// At most this many accounts (of different tenants) of one email are tried at sign-in.
pub const MAX_ACCOUNTS_PER_EMAIL: usize = 8;
const SESSION_PREFIX: &str = "kycd_op_";
const INVITE_PREFIX: &str = "kycd_inv_";
/// The queue shows at most this many cases per view (filters narrow it).
pub const QUEUE_LIMIT: usize = 500;

/// What a reviewer does with a case in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    Approve,
    Decline,
    Retry,
}

/// The fixed list of reasons a reviewer picks from, by the action each goes with (the words
/// are the console's to show).
pub const REVIEW_REASONS: &[(ReviewAction, &[&str])] = &[
    (
        ReviewAction::Approve,
        &["document_verified_manually", "selfie_matches_document", "quality_acceptable"],
    ),
    (
        ReviewAction::Decline,
        &[
            "document_expired",
            "document_not_accepted",
            "data_mismatch",
            "face_mismatch",
            "suspected_fraud",
        ],
    ),
    (
        ReviewAction::Retry,
        &["poor_image_quality", "wrong_document", "document_cut_off", "selfie_missing"],
    ),
];

/// Every reason code with its action, in the list's order.
pub fn review_reasons() -> impl Iterator<Item = (&'static str, ReviewAction)> {
    REVIEW_REASONS
        .iter()
        .flat_map(|(action, codes)| codes.iter().map(move |code| (*code, *action)))
}

pub fn reason_action(code: &str) -> Option<ReviewAction> {
    review_reasons().find(|(c, _)| *c == code).map(|(_, a)| a)
}

/// The check a reviewer's retry request leaves on the verification: the person's capture
/// page and the API show it (its figures hold the reason code and the user-safe message).
pub const RETRY_CHECK: &str = "review_retry_requested";

#[derive(Debug, Clone)]
pub struct Operator {
    pub id: OperatorId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: OperatorRole,
    pub totp_enabled: bool,
    /// `false` until the invitation is accepted.
    pub active: bool,
    pub disabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Operator {
    fn from_record(r: &OperatorRecord) -> Self {
        Self {
            id: r.id.clone(),
            tenant_id: r.tenant_id.clone(),
            email: r.email.clone(),
            role: r.role,
            totp_enabled: r.totp_secret.is_some(),
            active: r.password_hash.is_some(),
            disabled: r.disabled,
            locked_until: r.locked_until,
        }
    }
}

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub operator: Operator,
    pub principal: Principal,
    pub tenant_name: String,
    pub expires_at: DateTime<Utc>,
}

impl OperatorSession {
    pub fn is_admin(&self) -> bool {
        self.operator.role == OperatorRole::Admin
    }
    fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(EngineError::Forbidden("only a console admin may do this".into()))
        }
    }
    fn actor(&self) -> Actor {
        Actor::Operator(self.operator.id.clone())
    }
}

/// A new session: the secret goes into the cookie and is never shown again.
pub struct SignedIn {
    pub secret: String,
    pub session: OperatorSession,
}

/// An invitation: the link is shown once to the admin who invited (or printed by the CLI).
pub struct Invitation {
    pub operator: Operator,
    pub token: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The queue's filters. `reason` keeps cases with a failed check of that reason word
/// (`decision::Reason::as_str`, e.g. `poor_image_quality`).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<VerificationStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// A verification id, an applicant's external id, or a host reference (document or
    /// signature request id): exact matches only, never a search over personal data.
    pub search: Option<String>,
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub verification: Verification,
    /// Reason words of its failed checks.
    pub reasons: Vec<&'static str>,
    /// A first decision waits for a second reviewer.
    pub proposal: Option<ReviewProposal>,
}

/// One case as the console shows it.
pub struct ConsoleCase {
    pub report: Report,
    /// Everything recorded about the case, the reads of it (report, images, evidence,
    /// console views) included, oldest first; the report's timeline leaves reads out.
    pub audit_trail: Vec<TimelineEntry>,
    pub proposal: Option<ReviewProposal>,
    pub four_eyes: bool,
    /// The next case of the queue (oldest first) after this one, if any.
    pub next: Option<VerificationId>,
}

/// What a decision in the console came to.
#[derive(Debug)]
pub enum DecideOutcome {
    Decided(Box<Verification>),
    /// Four eyes: recorded, waiting for a second reviewer.
    AwaitingSecondReviewer,
}

/// A reviewer's decision as posted from the console.
pub struct ConsoleDecision {
    pub action: ReviewAction,
    pub reason_code: String,
    /// Internal note (may be empty).
    pub note: String,
    /// What the person or the business may be shown (may be empty).
    pub user_message: String,
}

/// The form token of a console session: every POST carries it, so a form posted from
/// elsewhere is refused even where SameSite cookies are not enforced. Derived from the
/// session secret (which never leaves the HttpOnly cookie), so nothing more is stored.
pub fn form_token(secret: &str) -> String {
    secret_hash(&format!("console-form:{secret}"))
}

/// Whether `sent` is the form token of the session `secret` (constant time).
pub fn form_token_matches(secret: &str, sent: &str) -> bool {
    crate::capture::same_token(&form_token(secret), sent)
}

fn check_note(what: &str, s: &str, max: usize) -> Result<String> {
    let s = s.trim();
    if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(EngineError::Invalid(format!(
            "the {what} must be at most {max} characters of plain text"
        )));
    }
    Ok(s.to_owned())
}

impl Engine {
    fn operator_principal(&self, o: &OperatorRecord, mode: Mode) -> Principal {
        Principal {
            tenant_id: o.tenant_id.clone(),
            caller: Caller::Operator(o.id.clone()),
            scope: match o.role {
                OperatorRole::Admin => Scope::Admin,
                OperatorRole::Reviewer => Scope::Reviewer,
            },
            mode,
        }
    }
}

/// Risk words of the checks that failed on what they read (an expired document, an
/// underage holder, a document not accepted, data that disagrees); a check that could not
/// decide ("inconclusive") is a reason for review, not a risk.
pub fn risk_signals(v: &Verification) -> Vec<&'static str> {
    use crate::decision::Reason;
    let mut out: Vec<&'static str> = Vec::new();
    for c in v.checks.iter().filter(|c| !c.passed) {
        if c.figures.get("outcome").and_then(|o| o.as_str()) == Some("inconclusive") {
            continue;
        }
        let word = signal_word(&c.name).or_else(|| {
            let r = crate::decision::reason_for_check(&c.name);
            matches!(
                r,
                Reason::DocumentExpired | Reason::HolderAge | Reason::DocumentNotAccepted | Reason::DataMismatch
            )
            .then(|| r.as_str())
        });
        if let Some(w) = word.filter(|w| !out.contains(w)) {
            out.push(w);
        }
    }
    out
}

/// Why a case is in the queue: the reason words of its failed checks, and `inconclusive`
/// once for the checks that could not decide (a reason for review, not a finding).
pub fn failed_reasons(v: &Verification) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in v.checks.iter().filter(|c| !c.passed) {
        let r = if c.figures.get("outcome").and_then(|o| o.as_str()) == Some("inconclusive") {
            INCONCLUSIVE
        } else {
            signal_word(&c.name).unwrap_or_else(|| crate::decision::reason_for_check(&c.name).as_str())
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The word of a fraud signal check: a picture seen in another applicant's verification,
/// or a file showing signs of editing (`None` for every other check).
fn signal_word(check: &str) -> Option<&'static str> {
    match check {
        crate::duplicates::DOCUMENT_REUSED | crate::duplicates::SELFIE_REUSED => Some("capture_reused"),
        n if n.starts_with("image_provenance") => Some("image_provenance"),
        // A burst that failed (not one that could not be judged): approving it takes a
        // second reviewer where the tenant requires four eyes.
        kycd_core::decide::LIVENESS => Some("liveness_failed"),
        _ => None,
    }
}

/// The queue's word for checks that could not reach a verdict.
pub const INCONCLUSIVE: &str = "inconclusive";
