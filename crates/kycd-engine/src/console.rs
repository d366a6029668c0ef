//! The review console's use cases: operators of one tenant (reviewers and admins), sign-in
//! with argon2 passwords, an optional TOTP second factor, lockout and idle sessions; the
//! review queue; a reviewer's decision (with four eyes where the tenant asks for it) or
//! request for a new capture; admin settings. Every read of a verification's personal data
//! or images is an audit entry with the operator's id.
//!
//! A signed-in operator acts through an ordinary [`Principal`] (tenant, `Caller::Operator`,
//! scope reviewer or admin), so every other use case applies the same tenant and scope
//! rules to the console as to an API key.

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

/// The fixed list of reasons a reviewer picks from (the words are the console's to show).
pub const REVIEW_REASONS: &[(&str, ReviewAction)] = &[
    ("document_verified_manually", ReviewAction::Approve),
    ("selfie_matches_document", ReviewAction::Approve),
    ("quality_acceptable", ReviewAction::Approve),
    ("document_expired", ReviewAction::Decline),
    ("document_not_accepted", ReviewAction::Decline),
    ("data_mismatch", ReviewAction::Decline),
    ("face_mismatch", ReviewAction::Decline),
    ("suspected_fraud", ReviewAction::Decline),
    ("poor_image_quality", ReviewAction::Retry),
    ("wrong_document", ReviewAction::Retry),
    ("document_cut_off", ReviewAction::Retry),
    ("selfie_missing", ReviewAction::Retry),
];

pub fn reason_action(code: &str) -> Option<ReviewAction> {
    REVIEW_REASONS.iter().find(|(c, _)| *c == code).map(|(_, a)| *a)
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

fn normalise_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(EngineError::Invalid(
            "the operator's email is not a valid address: give their work address, e.g. reviewer@example.com".into(),
        ))
    }
}

/// A hash to check against when the email is unknown, so that a wrong email costs as
/// long as a wrong password (no account enumeration by timing).
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| crate::passwords::hash_now("not-a-password-of-anyone").unwrap_or_default())
}

fn totp(secret: &[u8]) -> Result<totp_rs::TOTP> {
    // SHA-1, 6 digits, 30 s: what every authenticator app speaks; one step of skew.
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).map_err(|e| EngineError::Internal(format!("totp: {e}")))
}

/// The 30-second step whose code `code` is, within one step of `now` either way (clock
/// drift), newer than `after` (a code already used, or an older one, is refused).
fn totp_step(secret: &[u8], code: &str, now: DateTime<Utc>, after: Option<u64>) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 {
        return None;
    }
    let t = totp(secret).ok()?;
    let step = u64::try_from(now.timestamp()).unwrap_or(0) / 30;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .filter(|s| after.is_none_or(|a| *s > a))
        // Constant-time comparison of the six digits, as totp-rs's own check does.
        .find(|s| bool::from(t.generate(s * 30).as_bytes().ct_eq(code.as_bytes())))
}

fn totp_ok(secret: &[u8], code: &str, now: DateTime<Utc>) -> bool {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    code.len() == 6 && totp(secret).is_ok_and(|t| t.check(&code, u64::try_from(now.timestamp()).unwrap_or(0)))
}

/// A new TOTP secret, as the base32 text authenticator apps take.
pub fn new_totp_secret() -> String {
    let mut raw = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    totp_rs::Secret::Raw(raw.to_vec()).to_encoded().to_string()
}

/// The current code of a base32 TOTP secret (tests and the CLI's check use it).
pub fn totp_code(secret_base32: &str, at: DateTime<Utc>) -> Result<String> {
    let raw = decode_totp_secret(secret_base32)?;
    Ok(totp(&raw)?.generate(u64::try_from(at.timestamp()).unwrap_or(0)))
}

fn decode_totp_secret(secret_base32: &str) -> Result<Vec<u8>> {
    totp_rs::Secret::Encoded(secret_base32.trim().to_uppercase())
        .to_bytes()
        .ok()
        .filter(|b| b.len() >= 16)
        .ok_or_else(|| EngineError::Invalid("the TOTP secret is not valid base32 of at least 128 bits".into()))
}

/// The one answer to every refused sign-in: a wrong email, password or code, a code used
/// already, and a locked account read alike (no telling which accounts exist or are locked).
fn unauthorized() -> EngineError {
    EngineError::Unauthorized(
        "the email, password or sign-in code is wrong, or the account is locked after 5 wrong tries in a row: \
         check them and try again, or wait 15 minutes"
            .into(),
    )
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

    /// Create an operator of `tenant` and an invitation link for them to set a password
    /// (`kycd operator add`, or an admin in the console).
    pub async fn add_operator(&self, tenant: &TenantId, email: &str, role: OperatorRole, by: &Actor) -> Result<Invitation> {
        let email = normalise_email(email)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.get_tenant(tenant).await?.ok_or(EngineError::NotFound("tenant"))?;
        // Unique within the tenant only: whether another tenant has an operator of this
        // email is none of this admin's business, and the answer must not tell.
        if tx.find_operator_in_tenant_by_email(tenant, &email).await?.is_some() {
            return Err(EngineError::Conflict(
                "an operator of this account has this email already: re-invite them from the list instead".into(),
            ));
        }
        let rec = OperatorRecord {
            id: OperatorId::generate(),
            tenant_id: tenant.clone(),
            email,
            role,
            password_hash: None,
            totp_secret: None,
            totp_last_step: None,
            failed_logins: 0,
            locked_until: None,
            disabled: false,
            created_at: now,
        };
        tx.insert_operator(&rec).await?;
        tx.audit(tenant, by, &format!("operator.invited.{}", role.as_str()), rec.id.as_str(), now)
            .await?;
        let inv = self.invite_in(&mut tx, &rec, now).await?;
        tx.commit().await?;
        Ok(inv)
    }

    async fn invite_in(&self, tx: &mut kycd_store::Tx<'_>, rec: &OperatorRecord, now: DateTime<Utc>) -> Result<Invitation> {
        let token = format!("{INVITE_PREFIX}{}", random_token(43));
        let expires_at = now + INVITE_TTL;
        tx.insert_operator_invite(&secret_hash(&token), &rec.tenant_id, &rec.id, expires_at, now)
            .await?;
        Ok(Invitation {
            operator: Operator::from_record(rec),
            url: format!("{}/console/invite?token={token}", self.cfg.public_url),
            token,
            expires_at,
        })
    }

    /// An admin invites a reviewer or another admin.
    pub async fn invite_operator(&self, s: &OperatorSession, email: &str, role: OperatorRole) -> Result<Invitation> {
        s.require_admin()?;
        self.add_operator(&s.operator.tenant_id, email, role, &s.actor()).await
    }

    /// An admin sends a new invitation link (a forgotten password, an expired link): the
    /// old password stops working once the new one is set.
    pub async fn reinvite_operator(&self, s: &OperatorSession, id: &OperatorId) -> Result<Invitation> {
        s.require_admin()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let rec = tx
            .get_operator(&s.operator.tenant_id, id)
            .await?
            .ok_or(EngineError::NotFound("operator"))?;
        let inv = self.invite_in(&mut tx, &rec, now).await?;
        tx.audit(&rec.tenant_id, &s.actor(), "operator.reinvited", rec.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(inv)
    }

    /// The invited person sets their password; the link stops working, and every console
    /// session the operator had ends (a re-invitation is how a password is reset). The
    /// link is checked before the password is hashed: a made-up token costs no hash.
    pub async fn accept_invitation(&self, token: &str, password: &str, from: Option<IpAddr>) -> Result<Operator> {
        let gone = || EngineError::NotFound("invitation (the link was used already or has expired: ask your admin for a new one)");
        let token_hash = secret_hash(token.trim());
        crate::passwords::check_password(password)?;
        let mut tx = self.store.begin().await?;
        let (_, invited) = tx.find_operator_invite(&token_hash, self.now()).await?.ok_or_else(gone)?;
        tx.commit().await?;
        self.rate_limits.admit_sign_in(from, invited.as_str())?;
        let hash = self.passwords.hash(password).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (tenant, id) = tx.take_operator_invite(&token_hash, now).await?.ok_or_else(gone)?;
        let rec = tx.get_operator(&tenant, &id).await?.ok_or(EngineError::NotFound("operator"))?;
        tx.set_operator_password(&id, &hash, now).await?;
        let ended = tx.delete_operator_sessions(&id).await?;
        tx.audit(&tenant, &Actor::Operator(id.clone()), "operator.password_set", id.as_str(), now)
            .await?;
        if ended > 0 {
            tx.audit(&tenant, &Actor::Operator(id.clone()), "operator.sessions_ended", id.as_str(), now)
                .await?;
        }
        tx.commit().await?;
        let mut op = Operator::from_record(&rec);
        op.active = true;
        Ok(op)
    }

    /// Sign in with email, password and (once enrolled) the authenticator's code. Counted
    /// against the per-address and per-account sign-in limits before any hashing. Every
    /// refusal answers the same (see [`unauthorized`]); the lockout and a code's single use
    /// are conditional updates, so concurrent tries cannot get around them.
    pub async fn operator_sign_in(&self, email: &str, password: &str, code: Option<&str>, from: Option<IpAddr>) -> Result<SignedIn> {
        let email = email.trim().to_lowercase();
        self.rate_limits.admit_sign_in(from, &email)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // One email may be an operator of several tenants (invited by each): the password
        // picks the account. Unknown emails cost one hash like a single account.
        let candidates: Vec<OperatorRecord> = tx
            .find_operators_by_email(&email)
            .await?
            .into_iter()
            .filter(|r| r.password_hash.is_some() && !r.disabled)
            .take(MAX_ACCOUNTS_PER_EMAIL)
            .collect();
        tx.commit().await?;
        let mut matched = None;
        for r in &candidates {
            if self
                .passwords
                .verify(password, r.password_hash.as_deref().unwrap_or_default())
                .await?
            {
                matched = Some(r.clone());
                break;
            }
        }
        if candidates.is_empty() {
            self.passwords.verify(password, dummy_hash()).await?;
            return Err(unauthorized());
        }
        let Some(rec) = matched else {
            // A wrong password counts against every account of this email.
            let mut tx = self.store.begin().await?;
            for r in &candidates {
                self.record_failure(&mut tx, r, now).await?;
            }
            tx.commit().await?;
            return Err(unauthorized());
        };
        if rec.locked_until.is_some_and(|u| u > now) {
            metrics::counter!("kycd_rate_limit_refusals_total", "limit" => "console_lockout").increment(1);
            return Err(unauthorized());
        }
        let code_step = match (&rec.totp_secret, code.map(str::trim).filter(|c| !c.is_empty())) {
            (None, _) => Ok(None),
            (Some(secret), Some(code)) => totp_step(secret, code, now, rec.totp_last_step).map(Some).ok_or(()),
            (Some(_), None) => Err(()),
        };
        let mut tx = self.store.begin().await?;
        let accepted = match code_step {
            Ok(step) => tx.record_sign_in(&rec.id, step, now).await?,
            Err(()) => false,
        };
        if !accepted {
            self.record_failure(&mut tx, &rec, now).await?;
            tx.commit().await?;
            return Err(unauthorized());
        }
        tx.delete_stale_operator_sessions(&rec.tenant_id, now - SESSION_IDLE, now).await?;
        let secret = format!("{SESSION_PREFIX}{}", random_token(43));
        let expires_at = now + SESSION_MAX;
        tx.insert_operator_session(
            &secret_hash(&secret),
            &OperatorSessionRecord {
                tenant_id: rec.tenant_id.clone(),
                operator_id: rec.id.clone(),
                last_seen_at: now,
                expires_at,
            },
            now,
        )
        .await?;
        tx.audit(
            &rec.tenant_id,
            &Actor::Operator(rec.id.clone()),
            "operator.signed_in",
            rec.id.as_str(),
            now,
        )
        .await?;
        let tenant = tx.get_tenant(&rec.tenant_id).await?.ok_or(EngineError::NotFound("tenant"))?;
        tx.commit().await?;
        Ok(SignedIn {
            secret,
            session: OperatorSession {
                principal: self.operator_principal(&rec, tenant.mode),
                operator: Operator::from_record(&rec),
                tenant_name: tenant.name,
                expires_at,
            },
        })
    }

    /// Count a failed sign-in of `rec` (one conditional update) and audit it.
    async fn record_failure(&self, tx: &mut kycd_store::Tx<'_>, rec: &OperatorRecord, now: DateTime<Utc>) -> Result<()> {
        let locked = tx.record_failed_sign_in(&rec.id, MAX_FAILED_SIGN_INS, now + LOCKOUT, now).await?;
        let action = if locked.is_some() {
            "operator.locked"
        } else {
            "operator.sign_in_failed"
        };
        tx.audit(&rec.tenant_id, &Actor::Operator(rec.id.clone()), action, rec.id.as_str(), now)
            .await?;
        Ok(())
    }

    /// The session behind a cookie's secret: unknown, idle past [`SESSION_IDLE`], past its
    /// end, or of a disabled operator is "not found" (sign in again). Each use keeps it alive.
    pub async fn operator_session(&self, secret: &str) -> Result<OperatorSession> {
        let gone = || EngineError::Unauthorized("your console session has ended (30 minutes idle, or 12 hours): sign in again".into());
        let now = self.now();
        let hash = secret_hash(secret);
        let mut tx = self.store.begin().await?;
        let s = tx.find_operator_session(&hash).await?.ok_or_else(gone)?;
        if s.last_seen_at + SESSION_IDLE < now || s.expires_at < now {
            tx.delete_operator_session(&hash).await?;
            tx.commit().await?;
            return Err(gone());
        }
        let rec = tx.get_operator(&s.tenant_id, &s.operator_id).await?.ok_or_else(gone)?;
        if rec.disabled || rec.password_hash.is_none() {
            return Err(gone());
        }
        let tenant = tx.get_tenant(&s.tenant_id).await?.ok_or_else(gone)?;
        // Touch at most once a minute: a page with many images is one write, not many.
        if now - s.last_seen_at > Duration::minutes(1) {
            tx.touch_operator_session(&hash, now).await?;
        }
        tx.commit().await?;
        Ok(OperatorSession {
            principal: self.operator_principal(&rec, tenant.mode),
            operator: Operator::from_record(&rec),
            tenant_name: tenant.name,
            expires_at: s.expires_at,
        })
    }

    pub async fn operator_sign_out(&self, secret: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if let Some(s) = tx.find_operator_session(&secret_hash(secret)).await? {
            tx.delete_operator_session(&secret_hash(secret)).await?;
            tx.audit(
                &s.tenant_id,
                &Actor::Operator(s.operator_id.clone()),
                "operator.signed_out",
                s.operator_id.as_str(),
                self.now(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Turn on the second factor: `secret_base32` from [`new_totp_secret`], shown to the
    /// operator, confirmed with a code their app made from it. Replacing a key already
    /// enrolled also takes a `current_code` of that key (a stolen session alone cannot
    /// move the second factor to the thief's phone); that code is spent.
    pub async fn enroll_totp(&self, s: &OperatorSession, secret_base32: &str, code: &str, current_code: Option<&str>) -> Result<()> {
        let raw = decode_totp_secret(secret_base32)?;
        let now = self.now();
        if !totp_ok(&raw, code, now) {
            return Err(EngineError::Invalid(
                "the code does not match: type the 6 digits your authenticator app shows for this key now (check the phone's clock)".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let rec = tx
            .get_operator(&s.operator.tenant_id, &s.operator.id)
            .await?
            .ok_or(EngineError::NotFound("operator"))?;
        if let Some(old) = &rec.totp_secret {
            let wrong = || {
                EngineError::Invalid(
                    "a second factor is on already: to replace its key, also type the current code of the app that has the old key".into(),
                )
            };
            let current = current_code.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(wrong)?;
            let step = totp_step(old, current, now, rec.totp_last_step).ok_or_else(wrong)?;
            if !tx.use_operator_totp_step(&rec.id, step, now).await? {
                return Err(wrong());
            }
        }
        tx.set_operator_totp(&rec, Some(&raw), now).await?;
        let action = if rec.totp_secret.is_some() {
            "operator.totp_replaced"
        } else {
            "operator.totp_enrolled"
        };
        tx.audit(&rec.tenant_id, &s.actor(), action, rec.id.as_str(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- the queue and one case -----------------------------------------------------

    pub async fn review_queue(&self, s: &OperatorSession, f: &QueueFilter) -> Result<Vec<QueueItem>> {
        let tenant = &s.operator.tenant_id;
        let mut tx = self.store.begin().await?;
        let found = match f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => {
                let mut v = Vec::new();
                if let Ok(id) = q.parse::<VerificationId>() {
                    v.extend(tx.get_verification(tenant, &id).await?);
                }
                v.extend(tx.find_verifications_by_external_id(tenant, q).await?);
                v.extend(tx.find_verifications_by_document(tenant, q).await?);
                v.extend(tx.find_verifications_by_signature_request(tenant, q).await?);
                v.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
                v.dedup_by(|a, b| a.id == b.id);
                v.retain(|x| f.status.is_none_or(|st| x.status == st));
                v
            }
            None => {
                tx.oldest_verifications(
                    tenant,
                    f.status.unwrap_or(VerificationStatus::ReviewRequired),
                    f.from,
                    f.to,
                    QUEUE_LIMIT,
                )
                .await?
            }
        };
        let mut items = Vec::new();
        for v in found {
            let reasons = failed_reasons(&v);
            if f.reason.as_deref().is_some_and(|r| !reasons.contains(&r)) {
                continue;
            }
            let proposal = tx.get_review_proposal(tenant, &v.id).await?;
            items.push(QueueItem {
                verification: v,
                reasons,
                proposal,
            });
        }
        tx.audit(tenant, &s.actor(), "console.queue.viewed", s.operator.id.as_str(), self.now())
            .await?;
        tx.commit().await?;
        Ok(items)
    }

    /// One case with everything the console shows; an audit entry records the view.
    pub async fn console_case(&self, s: &OperatorSession, id: &VerificationId) -> Result<ConsoleCase> {
        let report = self.report(&s.principal, id).await?;
        let mut tx = self.store.begin().await?;
        let proposal = tx.get_review_proposal(&s.operator.tenant_id, id).await?;
        let four_eyes = tx.four_eyes(&s.operator.tenant_id).await?;
        let queue = tx
            .oldest_verifications(&s.operator.tenant_id, VerificationStatus::ReviewRequired, None, None, 100)
            .await?;
        let next = queue
            .iter()
            .skip_while(|v| v.id != *id)
            .nth(1)
            .or_else(|| queue.iter().find(|v| v.id != *id))
            .map(|v| v.id.clone());
        tx.audit(
            &s.operator.tenant_id,
            &s.actor(),
            "console.verification.viewed",
            id.as_str(),
            self.now(),
        )
        .await?;
        let audit_trail = tx
            .audit_for_object(&s.operator.tenant_id, id.as_str())
            .await?
            .into_iter()
            .map(TimelineEntry::from)
            .collect();
        tx.commit().await?;
        Ok(ConsoleCase {
            report,
            audit_trail,
            proposal,
            four_eyes,
            next,
        })
    }

    /// One image of a case, for the console (audited as an image view).
    pub async fn console_image(&self, s: &OperatorSession, id: &VerificationId, file: &FileId) -> Result<(Capture, crate::BlobStream)> {
        let got = self.read_verification_file(&s.principal, id, file).await?;
        let mut tx = self.store.begin().await?;
        // Recorded on the verification, so its page's audit trail shows every image view.
        let action = format!("console.image.viewed.{}", got.0.kind.as_str());
        tx.audit(&s.operator.tenant_id, &s.actor(), &action, id.as_str(), self.now())
            .await?;
        tx.commit().await?;
        Ok(got)
    }

    /// Approve, decline or ask for a new capture. With four eyes on, a decline, or an
    /// approval of a case with risk signals, is recorded first and takes effect when a
    /// second reviewer makes the same decision.
    pub async fn console_decide(&self, s: &OperatorSession, id: &VerificationId, d: ConsoleDecision) -> Result<DecideOutcome> {
        let Some(kind) = reason_action(&d.reason_code) else {
            return Err(EngineError::Invalid("pick a reason from the list".into()));
        };
        if kind != d.action {
            return Err(EngineError::Invalid(
                "the reason does not belong to this decision: pick one from its list".into(),
            ));
        }
        let note = check_note("internal note", &d.note, 2000)?;
        let user_message = check_note("message for the person", &d.user_message, 500)?;
        let tenant = s.operator.tenant_id.clone();
        let actor = s.actor();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_verification(&tenant, id).await?;
        let mut v = self.load(&mut tx, &tenant, id).await?;
        if v.status != VerificationStatus::ReviewRequired {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only review_required verifications can be decided (someone may have decided it a moment ago)",
                v.status
            )));
        }
        let decision = match d.action {
            ReviewAction::Retry => {
                tx.delete_review_proposal(&tenant, id).await?;
                v.checks.retain(|c| c.name != RETRY_CHECK);
                v.checks.push(CheckResult {
                    name: RETRY_CHECK.into(),
                    passed: false,
                    detail: format!("A reviewer asked for a new capture ({}).", d.reason_code),
                    figures: serde_json::json!({"reason_code": d.reason_code}),
                });
                // The message is free text for the person: sealed with the rest, not a figure.
                v.private.retry_message = (!user_message.is_empty()).then_some(user_message);
                tx.audit(
                    &tenant,
                    &actor,
                    &format!("review.retry_requested.{}", d.reason_code),
                    id.as_str(),
                    now,
                )
                .await?;
                self.transition(&mut tx, &mut v, VerificationStatus::RetryRequired, &actor).await?;
                tx.commit().await?;
                self.jobs_ready.notify_one();
                return Ok(DecideOutcome::Decided(Box::new(v)));
            }
            ReviewAction::Approve => ReviewDecision::Approve,
            ReviewAction::Decline => ReviewDecision::Decline,
        };
        let high_risk = !risk_signals(&v).is_empty();
        let needs_second = tx.four_eyes(&tenant).await? && (decision == ReviewDecision::Decline || high_risk);
        let mut review = Review {
            decision,
            reason: if note.is_empty() {
                d.reason_code.clone()
            } else {
                format!("{}: {note}", d.reason_code)
            },
            reviewer: actor.label(),
            reviewed_at: now,
            reason_code: Some(d.reason_code.clone()),
            user_message: (!user_message.is_empty()).then_some(user_message.clone()),
            confirmed_by: None,
        };
        if needs_second {
            match tx.get_review_proposal(&tenant, id).await? {
                Some(p) if p.decision == decision && p.proposed_by != actor.label() => {
                    // The second reviewer confirms: the first one's reason and note stand.
                    review.reviewer = p.proposed_by.clone();
                    review.reason_code = Some(p.reason_code.clone());
                    review.reason = if p.note.is_empty() {
                        p.reason_code.clone()
                    } else {
                        format!("{}: {}", p.reason_code, p.note)
                    };
                    review.user_message = (!p.user_message.is_empty()).then_some(p.user_message.clone());
                    review.confirmed_by = Some(actor.label());
                    tx.delete_review_proposal(&tenant, id).await?;
                }
                Some(p) if p.proposed_by == actor.label() => {
                    return Err(EngineError::Conflict(
                        "you made the first decision on this case; four eyes: a second reviewer must confirm it".into(),
                    ));
                }
                other => {
                    // No first decision yet, or the second reviewer disagrees: theirs now
                    // waits for confirmation by someone else.
                    if other.is_some() {
                        tx.delete_review_proposal(&tenant, id).await?;
                    }
                    tx.insert_review_proposal(
                        &tenant,
                        &ReviewProposal {
                            verification_id: id.clone(),
                            decision,
                            reason_code: d.reason_code.clone(),
                            note,
                            user_message,
                            proposed_by: actor.label(),
                            proposed_at: now,
                        },
                    )
                    .await?;
                    let what = if decision == ReviewDecision::Approve {
                        "approve"
                    } else {
                        "decline"
                    };
                    tx.audit(&tenant, &actor, &format!("review.proposed.{what}"), id.as_str(), now)
                        .await?;
                    tx.commit().await?;
                    return Ok(DecideOutcome::AwaitingSecondReviewer);
                }
            }
        }
        self.apply_review(&mut tx, &mut v, review, &actor).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(DecideOutcome::Decided(Box::new(v)))
    }

    // ----- admin ------------------------------------------------------------------------

    pub async fn list_operators(&self, s: &OperatorSession) -> Result<Vec<Operator>> {
        s.require_admin()?;
        let mut tx = self.store.begin().await?;
        let ops = tx.list_operators(&s.operator.tenant_id).await?;
        tx.commit().await?;
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
        let mut tx = self.store.begin().await?;
        if !tx.set_operator_disabled(&s.operator.tenant_id, id, disabled, now).await? {
            return Err(EngineError::NotFound("operator"));
        }
        let action = if disabled { "operator.disabled" } else { "operator.enabled" };
        tx.audit(&s.operator.tenant_id, &s.actor(), action, id.as_str(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn console_api_keys(&self, s: &OperatorSession) -> Result<Vec<kycd_store::ApiKeyRecord>> {
        s.require_admin()?;
        let mut tx = self.store.begin().await?;
        let keys = tx.list_api_keys(&s.operator.tenant_id).await?;
        tx.commit().await?;
        Ok(keys)
    }

    /// A new API key of this tenant (its secret is shown once).
    pub async fn console_create_api_key(&self, s: &OperatorSession, scope: Scope) -> Result<crate::CreatedKey> {
        s.require_admin()?;
        let key = self.create_api_key(&s.operator.tenant_id, scope, crate::KeyFormat::Kycd).await?;
        let mut tx = self.store.begin().await?;
        tx.audit(
            &s.operator.tenant_id,
            &s.actor(),
            "api_key.created",
            key.key_id.as_str(),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn console_revoke_api_key(&self, s: &OperatorSession, id: &ApiKeyId) -> Result<()> {
        s.require_admin()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.revoke_tenant_api_key(&s.operator.tenant_id, id, now).await? {
            return Err(EngineError::NotFound("live API key"));
        }
        tx.audit(&s.operator.tenant_id, &s.actor(), "api_key.revoked", id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn four_eyes(&self, tenant: &TenantId) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let on = tx.four_eyes(tenant).await?;
        tx.commit().await?;
        Ok(on)
    }

    pub async fn set_four_eyes(&self, s: &OperatorSession, on: bool) -> Result<()> {
        s.require_admin()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.set_four_eyes(&s.operator.tenant_id, on).await?;
        let action = if on { "settings.four_eyes.on" } else { "settings.four_eyes.off" };
        tx.audit(&s.operator.tenant_id, &s.actor(), action, s.operator.tenant_id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: secret "12345678901234567890", T = 59 s → 94287082
        // (8 digits); the 6-digit code is its last six.
        let raw = b"12345678901234567890";
        let at = DateTime::<Utc>::from_timestamp(59, 0).unwrap();
        assert!(totp_ok(raw, "287082", at));
        assert!(totp_ok(raw, "287 082", at), "spaces are ignored");
        assert!(!totp_ok(raw, "287083", at));
        assert!(!totp_ok(raw, "", at));
        let b32 = totp_rs::Secret::Raw(raw.to_vec()).to_encoded().to_string();
        assert_eq!(totp_code(&b32, at).unwrap(), "287082");
        assert_eq!(decode_totp_secret(&new_totp_secret()).unwrap().len(), 20);
        // Step 1 (30–59 s): accepted once; after it, that code and older ones are refused.
        assert_eq!(totp_step(raw, "287082", at, None), Some(1));
        assert_eq!(totp_step(raw, "287 082", at, Some(0)), Some(1));
        assert_eq!(totp_step(raw, "287082", at, Some(1)), None, "a code works once");
        assert_eq!(totp_step(raw, "287083", at, None), None);
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalise_email("  Rev@Example.COM ").unwrap(), "rev@example.com");
        assert!(normalise_email("no-at-sign").is_err());
        assert!(normalise_email("a@b").is_err());
        assert!(normalise_email("a b@c.de").is_err());
    }

    #[test]
    fn every_reason_code_belongs_to_one_action() {
        for (code, action) in REVIEW_REASONS {
            assert_eq!(reason_action(code), Some(*action));
        }
        assert_eq!(reason_action("made_up"), None);
    }
}
