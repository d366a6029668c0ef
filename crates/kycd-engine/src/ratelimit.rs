//! Rate limits: requests per tenant and uploads per verification (so per live attempt:
//! a verification has at most one). GCRA through `governor`, kept in this process's
//! memory: with N instances behind a load balancer a tenant gets up to N times the quota,
//! which is documented (a shared counter would put a database write on every request).

use crate::{Engine, EngineError, Principal, Result};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use kycd_core::ids::{TenantId, VerificationId};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// A rate: `per_minute` admitted on average, `burst` at once. `per_minute == 0` disables it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    pub const OFF: Rate = Rate { per_minute: 0, burst: 0 };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Authenticated API requests per tenant (native API and every dialect).
    pub tenant_requests: Rate,
    /// Image uploads per verification (API, dialects and the hosted capture page alike).
    pub uploads: Rate,
    /// Console sign-ins and invitation acceptances per client address (each costs a
    /// password hash). Behind a reverse proxy every client has the proxy's address.
    pub sign_ins_per_address: Rate,
    /// …and per account (the email typed, known or not, or the invited operator).
    pub sign_ins_per_account: Rate,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            tenant_requests: Rate {
                per_minute: 6000,
                burst: 300,
            },
            uploads: Rate { per_minute: 30, burst: 15 },
            sign_ins_per_address: Rate { per_minute: 60, burst: 20 },
            sign_ins_per_account: Rate { per_minute: 10, burst: 5 },
        }
    }
}

/// What a client may still do under the limit that admitted its request, for the
/// `RateLimit-*` response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateState {
    /// Requests allowed at once (the burst).
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the whole burst is available again.
    pub reset_secs: u64,
    /// Seconds over which `limit` requests are replenished.
    pub window_secs: u64,
}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

struct Limiter<K: Hash + Eq + Clone> {
    inner: Keyed<K>,
    quota: Quota,
    rate: Rate,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(rate: Rate) -> Option<Self> {
        let per_minute = NonZeroU32::new(rate.per_minute)?;
        let burst = NonZeroU32::new(rate.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Some(Self {
            inner: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
            quota,
            rate: Rate {
                per_minute: per_minute.get(),
                burst: burst.get(),
            },
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        })
    }

    fn check(&self, key: &K) -> std::result::Result<RateState, u64> {
        // Forget keys whose buckets are full again now and then, so memory follows the
        // active tenants/verifications rather than every one ever seen.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.inner.retain_recent();
        }
        let interval = self.quota.replenish_interval();
        let limit = self.quota.burst_size().get();
        let window_secs = (interval * limit).as_secs().max(1);
        match self.inner.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(RateState {
                    limit,
                    remaining,
                    reset_secs: (interval * (limit - remaining)).as_secs_f64().ceil() as u64,
                    window_secs,
                })
            }
            Err(not_until) => Err(not_until.wait_time_from(self.clock.now()).as_secs_f64().ceil().max(1.0) as u64),
        }
    }
}

pub(crate) struct RateLimits {
    tenants: Option<Limiter<TenantId>>,
    uploads: Option<Limiter<(TenantId, VerificationId)>>,
    sign_in_addresses: Option<Limiter<IpAddr>>,
    sign_in_accounts: Option<Limiter<String>>,
}

impl RateLimits {
    pub(crate) fn new(cfg: RateLimitConfig) -> Self {
        Self {
            tenants: Limiter::new(cfg.tenant_requests),
            uploads: Limiter::new(cfg.uploads),
            sign_in_addresses: Limiter::new(cfg.sign_ins_per_address),
            sign_in_accounts: Limiter::new(cfg.sign_ins_per_account),
        }
    }

    /// One console sign-in (or invitation acceptance) from `from` for `account`: refused
    /// before any password is hashed. The words are the same whether the account exists.
    pub(crate) fn admit_sign_in(&self, from: Option<IpAddr>, account: &str) -> Result<()> {
        let refuse = |retry_after_secs: u64| {
            metrics::counter!("kycd_rate_limit_refusals_total", "limit" => "console_sign_in").increment(1);
            EngineError::RateLimited {
                detail: format!("too many sign-in tries: wait {retry_after_secs} s and try again"),
                retry_after_secs,
            }
        };
        if let (Some(l), Some(ip)) = (&self.sign_in_addresses, from) {
            l.check(&ip).map_err(refuse)?;
        }
        if let Some(l) = &self.sign_in_accounts {
            l.check(&account.to_owned()).map_err(refuse)?;
        }
        Ok(())
    }

    /// One upload to `id` (keyed with the tenant, so another tenant guessing the id
    /// spends only its own budget and still gets its 404 later).
    pub(crate) fn admit_upload(&self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        let Some(l) = &self.uploads else { return Ok(()) };
        l.check(&(tenant.clone(), id.clone())).map(|_| ()).map_err(|retry_after_secs| {
            metrics::counter!("kycd_rate_limit_refusals_total", "limit" => "uploads").increment(1);
            EngineError::RateLimited {
                detail: format!(
                    "too many uploads to this verification: at most {} at once and {} a minute; wait {retry_after_secs} s before sending the next image",
                    l.rate.burst, l.rate.per_minute
                ),
                retry_after_secs,
            }
        })
    }
}

impl Engine {
    /// The per-tenant request limit as (burst, seconds to replenish it), if on.
    pub fn request_rate_policy(&self) -> Option<(u32, u64)> {
        self.rate_limits.tenants.as_ref().map(|l| {
            let limit = l.quota.burst_size().get();
            (limit, (l.quota.replenish_interval() * limit).as_secs().max(1))
        })
    }

    /// Count one authenticated request against the caller's tenant. `Ok(None)` when
    /// request limits are off.
    pub fn admit(&self, p: &Principal) -> Result<Option<RateState>> {
        let Some(l) = &self.rate_limits.tenants else { return Ok(None) };
        l.check(&p.tenant_id).map(Some).map_err(|retry_after_secs| {
            metrics::counter!("kycd_rate_limit_refusals_total", "limit" => "tenant_requests").increment(1);
            EngineError::RateLimited {
                detail: format!(
                    "too many requests for this account: at most {} at once; retry after {retry_after_secs} s (see the RateLimit-* headers)",
                    l.quota.burst_size()
                ),
                retry_after_secs,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_with_retry_after() {
        let l = Limiter::<u32>::new(Rate { per_minute: 6, burst: 3 }).unwrap();
        let first = l.check(&1).unwrap();
        assert_eq!((first.limit, first.remaining), (3, 2));
        assert_eq!(first.window_secs, 30);
        assert_eq!(first.reset_secs, 10);
        assert_eq!(l.check(&1).unwrap().remaining, 1);
        assert_eq!(l.check(&1).unwrap().remaining, 0);
        let retry = l.check(&1).unwrap_err();
        assert!((1..=10).contains(&retry), "retry after {retry}");
        // Another key has its own budget.
        assert_eq!(l.check(&2).unwrap().remaining, 2);
    }

    #[test]
    fn zero_disables() {
        assert!(Limiter::<u32>::new(Rate::OFF).is_none());
        let limits = RateLimits::new(RateLimitConfig {
            tenant_requests: Rate::OFF,
            uploads: Rate::OFF,
            sign_ins_per_address: Rate::OFF,
            sign_ins_per_account: Rate::OFF,
        });
        let t = TenantId::generate();
        let v = VerificationId::generate();
        for _ in 0..1000 {
            limits.admit_upload(&t, &v).unwrap();
        }
    }

    #[test]
    fn uploads_are_keyed_per_tenant_and_verification() {
        let limits = RateLimits::new(RateLimitConfig {
            uploads: Rate { per_minute: 1, burst: 2 },
            ..RateLimitConfig::default()
        });
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let v = VerificationId::generate();
        limits.admit_upload(&a, &v).unwrap();
        limits.admit_upload(&a, &v).unwrap();
        let e = limits.admit_upload(&a, &v).unwrap_err();
        assert!(matches!(e, EngineError::RateLimited { retry_after_secs, .. } if retry_after_secs >= 1));
        assert!(
            e.to_string()
                .contains("too many uploads to this verification: at most 2 at once and 1 a minute"),
            "{e}"
        );
        limits.admit_upload(&b, &v).unwrap();
        limits.admit_upload(&a, &VerificationId::generate()).unwrap();
    }

    #[test]
    fn sign_ins_are_limited_per_address_and_per_account() {
        let limits = RateLimits::new(RateLimitConfig {
            sign_ins_per_address: Rate { per_minute: 1, burst: 3 },
            sign_ins_per_account: Rate { per_minute: 1, burst: 2 },
            ..RateLimitConfig::default()
        });
        let (ip, other_ip): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        limits.admit_sign_in(Some(ip), "a@example.com").unwrap();
        limits.admit_sign_in(Some(ip), "a@example.com").unwrap();
        // The account's burst is spent, from any address.
        let e = limits.admit_sign_in(Some(other_ip), "a@example.com").unwrap_err();
        assert!(
            matches!(e, EngineError::RateLimited { retry_after_secs, .. } if retry_after_secs >= 1),
            "{e}"
        );
        // The address has one try of its burst of 3 left; then it is spent.
        limits.admit_sign_in(Some(ip), "b@example.com").unwrap();
        let e = limits.admit_sign_in(Some(ip), "c@example.com").unwrap_err();
        assert!(e.to_string().starts_with("too many sign-in tries"), "{e}");
        limits.admit_sign_in(Some(other_ip), "c@example.com").unwrap();
    }
}
