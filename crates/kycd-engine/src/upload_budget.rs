//! The bytes of request bodies the process holds at once. Every upload route (the native
//! API, the capture page, the dialects) reserves its body's size here, after it has
//! authenticated the caller and before it reads a byte, and keeps the reservation until
//! it has answered: the upload's bytes, and the copies the handler makes of them, are then
//! bounded by `upload_memory_mib` for the whole process. A request that finds the budget
//! spent waits briefly and is refused with [`EngineError::Busy`] (503 + `Retry-After`).
//! (Decoding has a budget of its own: `decode_memory_mib`.)

use crate::{Engine, EngineError, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an upload waits for its share of the budget before it is refused. Waiting
/// holds no body bytes (they stay with the client and the kernel), so uploads queue here
/// rather than fail under a burst; the body timeout still counts meanwhile.
pub const UPLOAD_WAIT: Duration = Duration::from_secs(15);

pub(crate) struct UploadBudget {
    /// One permit per KiB.
    kib: Arc<Semaphore>,
    total_kib: u32,
}

impl UploadBudget {
    pub(crate) fn new(mib: u32) -> Self {
        let total_kib = mib.max(1).saturating_mul(1024);
        Self {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }
}

/// Bytes of the budget held by one request, given back when it is dropped.
#[must_use = "the reservation ends when this is dropped"]
pub struct UploadPermit {
    _permit: OwnedSemaphorePermit,
}

/// The KiB a body of `declared` bytes (or, without a `Content-Length`, of up to `limit`)
/// takes from a budget of `total_kib` (at most all of it: one upload at the limit always
/// gets through alone).
fn cost_kib(declared: Option<u64>, limit: usize, total_kib: u32) -> u32 {
    let bytes = declared.unwrap_or(limit as u64).min(limit as u64);
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX).min(total_kib)
}

impl Engine {
    /// Reserve room for a request body of `declared` bytes (its `Content-Length`; `None`
    /// for a chunked body: room for `limit` bytes, the route's most). A body declared
    /// larger than `limit` is refused at once (413) without reading it.
    pub async fn reserve_upload(&self, declared: Option<u64>, limit: usize) -> Result<UploadPermit> {
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(EngineError::TooLarge(format!(
                "the request body is too large: {} bytes, the limit is {limit} bytes; compress or downscale the image",
                declared.unwrap_or_default()
            )));
        }
        let b = &self.upload_budget;
        let n = cost_kib(declared, limit, b.total_kib);
        match tokio::time::timeout(UPLOAD_WAIT, b.kib.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(UploadPermit { _permit: permit }),
            Ok(Err(_)) => Err(EngineError::Internal("the upload budget is closed".into())),
            Err(_) => Err(EngineError::Busy {
                detail: "the server is receiving as many uploads as it takes at once: send the image again in a few seconds".into(),
                retry_after_secs: 2,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_declared_length_within_the_limit_and_the_budget() {
        assert_eq!(cost_kib(Some(3 * 1024 * 1024), 15 << 20, 65536), 3072);
        assert_eq!(cost_kib(None, 15 << 20, 65536), 15360, "chunked: the route's limit");
        assert_eq!(cost_kib(Some(0), 15 << 20, 65536), 1);
        assert_eq!(cost_kib(Some(100 << 20), 200 << 20, 65536), 65536, "never more than all of it");
    }

    #[tokio::test]
    async fn the_budget_is_shared_and_given_back() {
        let b = UploadBudget::new(1);
        let first = b
            .kib
            .clone()
            .acquire_many_owned(cost_kib(Some(700 * 1024), 1 << 20, b.total_kib))
            .await
            .unwrap();
        assert!(
            b.kib
                .clone()
                .try_acquire_many_owned(cost_kib(Some(700 * 1024), 1 << 20, b.total_kib))
                .is_err()
        );
        drop(first);
        assert!(
            b.kib
                .clone()
                .try_acquire_many_owned(cost_kib(Some(700 * 1024), 1 << 20, b.total_kib))
                .is_ok()
        );
    }
}
