//! `RateLimit-*` response headers for the per-tenant request limit. The auth extractors
//! (native and dialects) count the request once they know the tenant and leave the
//! outcome in a slot this middleware put in the request; the middleware then writes the
//! headers on whatever the handler answered, in any dialect's format.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use kycd_engine::ratelimit::RateState;
use kycd_engine::{EngineError, Principal};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Copy)]
enum Outcome {
    Admitted(RateState),
    Refused { retry_after_secs: u64 },
}

#[derive(Clone, Default)]
struct Slot(Arc<Mutex<Option<Outcome>>>);

impl Slot {
    fn set(&self, o: Outcome) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(o);
    }
    fn get(&self) -> Option<Outcome> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Count one request of `p`'s tenant; refused → `EngineError::RateLimited`, which each
/// dialect answers as its own 429.
pub(crate) fn admit(parts: &Parts, state: &AppState, p: &Principal) -> Result<(), EngineError> {
    let slot = parts.extensions.get::<Slot>();
    match state.engine.admit(p) {
        Ok(Some(s)) => {
            if let Some(slot) = slot {
                slot.set(Outcome::Admitted(s));
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => {
            if let (Some(slot), EngineError::RateLimited { retry_after_secs, .. }) = (slot, &e) {
                slot.set(Outcome::Refused {
                    retry_after_secs: *retry_after_secs,
                });
            }
            Err(e)
        }
    }
}

pub(crate) async fn headers(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    let Some(outcome) = slot.get() else { return resp };
    let h = resp.headers_mut();
    let num = |n: u64| HeaderValue::from(n);
    match outcome {
        Outcome::Admitted(st) => {
            h.insert("ratelimit-limit", num(st.limit.into()));
            h.insert("ratelimit-remaining", num(st.remaining.into()));
            h.insert("ratelimit-reset", num(st.reset_secs));
            policy(h, st.limit, st.window_secs);
        }
        Outcome::Refused { retry_after_secs } => {
            if let Some((limit, window)) = s.engine.request_rate_policy() {
                h.insert("ratelimit-limit", num(limit.into()));
                policy(h, limit, window);
            }
            h.insert("ratelimit-remaining", num(0));
            h.insert("ratelimit-reset", num(retry_after_secs));
            h.insert(axum::http::header::RETRY_AFTER, num(retry_after_secs));
        }
    }
    resp
}

fn policy(h: &mut axum::http::HeaderMap, limit: u32, window_secs: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("{limit};w={window_secs}")) {
        h.insert("ratelimit-policy", v);
    }
}
