//! Every Argon2 hash and check of the process goes through one [`PasswordHasher`]: at
//! most `concurrency` at once (each takes 19 MiB and a core for tens of milliseconds), on
//! the blocking pool. A request that finds them all busy waits briefly and is then
//! refused with [`EngineError::Busy`] (503 + `Retry-After`), so a flood of sign-ins or
//! invitation posts costs the process `concurrency` × 19 MiB, not 19 MiB per request.

use crate::{EngineError, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString, rand_core::OsRng};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a request waits for a free hashing slot before it is refused.
pub const HASH_WAIT: Duration = Duration::from_secs(3);

/// The default number of hashes at once: the cores this process may use.
pub fn default_concurrency() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

pub struct PasswordHasher {
    gate: Semaphore,
    concurrency: u32,
    wait: Duration,
}

impl PasswordHasher {
    /// `concurrency` hashes at once (at least one); a request waits at most `wait` for one.
    pub fn new(concurrency: u32, wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            gate: Semaphore::new(concurrency as usize),
            concurrency,
            wait,
        }
    }

    pub fn concurrency(&self) -> u32 {
        self.concurrency
    }

    /// The argon2id PHC string of `password` (its length is checked first, without hashing).
    pub async fn hash(&self, password: &str) -> Result<String> {
        check_password(password)?;
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches the PHC string `phc` (an unparsable `phc` never matches,
    /// but costs a hash all the same, so that an unknown account answers as slowly).
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move || matches_now(&password, &phc)).await
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = match tokio::time::timeout(self.wait, self.gate.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(EngineError::Internal("the password hasher is closed".into())),
            Err(_) => {
                return Err(EngineError::Busy {
                    detail: "the server is busy checking other passwords: try again in a few seconds".into(),
                    retry_after_secs: 2,
                });
            }
        };
        let out = tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| EngineError::Internal(format!("password hash task: {e}")));
        drop(permit);
        out
    }
}

/// The password rule, checked before any hashing.
pub(crate) fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < crate::console::MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(EngineError::Invalid(format!(
            "the password must be {} to 1024 characters long: a passphrase of a few words works well",
            crate::console::MIN_PASSWORD_CHARS
        )));
    }
    Ok(())
}

/// Hash on the calling thread (the hasher's blocking task, and tests).
pub(crate) fn hash_now(password: &str) -> Result<String> {
    check_password(password)?;
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Internal(format!("argon2: {e}")))
}

pub(crate) fn matches_now(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => {
            // Spend the same work as a real check (see `verify`).
            let _ = argon2::Argon2::default().hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_the_gate_run_at_once_and_the_rest_are_refused_after_the_wait() {
        let hasher = Arc::new(PasswordHasher::new(2, Duration::from_millis(50)));
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (h, running, peak) = (hasher.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                h.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(200));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(EngineError::Busy { retry_after_secs, .. }) => {
                    assert!(retry_after_secs >= 1);
                    busy += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(peak.load(Ordering::SeqCst) <= 2, "at most 2 at once");
        assert!(busy >= 1, "12 jobs of 200 ms behind 2 slots and a 50 ms wait: some are refused");
    }

    #[tokio::test]
    async fn hashes_verify_and_short_passwords_are_refused_without_hashing() {
        let h = PasswordHasher::new(1, HASH_WAIT);
        let phc = h.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(h.verify("correct horse battery", &phc).await.unwrap());
        assert!(!h.verify("correct horse batterY", &phc).await.unwrap());
        assert!(!h.verify("x", "not a phc string").await.unwrap());
        assert!(matches!(h.hash("short").await, Err(EngineError::Invalid(_))));
    }
}
