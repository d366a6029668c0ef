//! Every Argon2 hash and check of the process goes through one [`PasswordHasher`]: at
//! most `concurrency` at once (each takes 19 MiB and a core for tens of milliseconds), on
//! `concurrency` threads of its own. A request that finds them all busy waits briefly and
//! is then refused with [`EngineError::Busy`] (503 + `Retry-After`), so a flood of
//! sign-ins or invitation posts costs the process `concurrency` × 19 MiB, not 19 MiB per
//! request.
//!
//! Why threads of its own rather than tokio's blocking pool: the allocator keeps a freed
//! 19 MiB block in the arena of the thread that freed it, for that thread to reuse. On the
//! blocking pool, hashes land on ever other threads (arenas), and a gate of 2 still left
//! 16 arenas × 19 MiB resident after a flood (measured: +361 MiB for 60 sign-ins). The
//! same few threads reuse the same few blocks.

use crate::{EngineError, Result};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// How long a request waits for a free hashing slot before it is refused.
pub const HASH_WAIT: Duration = Duration::from_secs(3);

/// The default number of hashes at once: the cores this process may use.
pub fn default_concurrency() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordHasher {
    gate: Semaphore,
    concurrency: u32,
    wait: Duration,
    /// The hashing threads' queue (never longer than the gate lets it be).
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl PasswordHasher {
    /// `concurrency` hashes at once (at least one); a request waits at most `wait` for one.
    pub fn new(concurrency: u32, wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..concurrency {
            let rx = rx.clone();
            // A thread that cannot be started leaves the others to do the work.
            let _ = std::thread::Builder::new().name(format!("kycd-argon2-{i}")).spawn(move || {
                KEEPS_MEMORY.with(|k| k.set(true));
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panic ends that job (its caller gets an error), not the thread.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return, // the hasher is gone
                    }
                }
            });
        }
        Self {
            gate: Semaphore::new(concurrency as usize),
            concurrency,
            wait,
            jobs: std::sync::Mutex::new(tx),
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
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        let sent = self.jobs.lock().map_err(|_| ()).and_then(|q| q.send(job).map_err(|_| ()));
        if sent.is_err() {
            return Err(EngineError::Internal("the password hashing threads are gone".into()));
        }
        let out = result
            .await
            .map_err(|_| EngineError::Internal("a password hashing thread stopped".into()));
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

thread_local! {
    /// This thread's Argon2 working memory, kept for its next hash (see the module docs).
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Set on the hasher's own threads: only they keep their memory.
    static KEEPS_MEMORY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` on `n` blocks of this thread's kept Argon2 memory, on the hasher's threads; a
/// buffer of its own, not kept, elsewhere (a one-off hash on another thread) and for a
/// hash with more memory than kycd's own parameters.
fn with_blocks<R>(n: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    if n > Params::default().block_count() || !KEEPS_MEMORY.with(std::cell::Cell::get) {
        return f(&mut vec![Block::default(); n]);
    }
    BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < n {
            b.resize(n, Block::default());
        }
        f(&mut b[..n])
    })
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("argon2: {e}"))
}

/// Hash on the calling thread (the hasher's threads, and tests): argon2id with the
/// crate's default parameters (19 MiB, 2 passes), as a PHC string.
pub(crate) fn hash_now(password: &str) -> Result<String> {
    check_password(password)?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |m| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, m)
    })
    .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to the PHC string `phc` (its own algorithm, version and
/// parameters), compared in constant time.
fn verify_now(password: &str, phc: &str) -> Option<bool> {
    let h = PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(h.algorithm).ok()?;
    let version = h.version.map(Version::try_from).transpose().ok()?.unwrap_or_default();
    let params = Params::try_from(&h).ok()?;
    let expected = h.hash?;
    let mut salt_buf = [0u8; 64];
    let salt = h.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    with_blocks(params.block_count(), |m| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, m)
    })
    .ok()?;
    Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

pub(crate) fn matches_now(password: &str, phc: &str) -> bool {
    verify_now(password, phc).unwrap_or_else(|| {
        // Spend the same work as a real check (see `verify`).
        let _ = hash_now("not-a-password-of-anyone");
        false
    })
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
        // Hashes made by the argon2 crate's own API (every stored hash so far) still verify.
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"an older passphrase", &salt).unwrap().to_string();
        assert!(h.verify("an older passphrase", &theirs).await.unwrap());
        assert!(!h.verify("an older passphrasE", &theirs).await.unwrap());
        // …and ours verify with its API.
        use argon2::password_hash::PasswordVerifier as _;
        let ours = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &ours).is_ok());
        assert!(matches!(h.hash("short").await, Err(EngineError::Invalid(_))));
    }
}
