//! Operators' accounts: invitations, sign-in (argon2 passwords, an optional TOTP second
//! factor, lockout), sessions that end when idle, sign-out, TOTP enrolment.

use super::*;
use crate::required::RequiredReads;

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

impl Engine {
    /// Create an operator of `tenant` and an invitation link for them to set a password
    /// (`kycd operator add`, or an admin in the console).
    pub async fn add_operator(&self, tenant: &TenantId, email: &str, role: OperatorRole, by: &Actor) -> Result<Invitation> {
        let email = normalise_email(email)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
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
        let tenant = tx.required_tenant(&rec.tenant_id).await?;
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
}

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
        for (code, action) in review_reasons() {
            assert_eq!(reason_action(code), Some(action));
        }
        assert_eq!(reason_action("made_up"), None);
    }
}
