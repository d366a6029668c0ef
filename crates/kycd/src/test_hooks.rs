//! Hooks for black-box tests, built only with the `testing` feature (the `it` tests
//! turn it on; `cargo build --release` leaves it out): a clock the tests move forward
//! (expiry, retries, retention) by writing seconds into a file instead of sleeping, and
//! fault injection (a crash after a blob write, a pause mid-processing, a rotation that
//! stops half-way). A production binary has none of them: the flags and variables do not
//! exist there, and the clock is the system's.

use clap::Args;
use kycd_engine::{Clock, EngineConfig, SystemClock};
use std::sync::Arc;

#[cfg(feature = "testing")]
const HEADING: &str = "Test hooks (testing builds only; never in production)";

#[derive(Args, Debug, Clone, Default)]
pub struct TestHooks {
    /// Shift the clock by the whole seconds written in this file, read on every call
    /// (missing or unreadable: 0). Default: none (the system clock).
    #[cfg(feature = "testing")]
    #[arg(long, global = true, env = "KYCD_TEST_CLOCK_OFFSET_FILE", value_name = "FILE", help_heading = HEADING)]
    test_clock_offset_file: Option<std::path::PathBuf>,
    /// Abort the process right after an upload's blob is written, before its row is
    /// committed.
    #[cfg(feature = "testing")]
    #[arg(long, global = true, env = "KYCD_FAULT_CRASH_AFTER_BLOB_WRITE", value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), help_heading = HEADING)]
    fault_crash_after_blob_write: bool,
    /// Processing pauses this long after reading the captures, holding its job lease.
    /// Default: none.
    #[cfg(feature = "testing")]
    #[arg(long, global = true, env = "KYCD_FAULT_PAUSE_IN_PROCESSING_MS", value_name = "MS", help_heading = HEADING)]
    fault_pause_in_processing_ms: Option<u64>,
    /// `keys rotate-master` exits (137) after this many committed batches, as a crash
    /// would. Default: none.
    #[cfg(feature = "testing")]
    #[arg(long, global = true, env = "KYCD_FAULT_ABORT_ROTATION_AFTER_BATCHES", value_name = "N", help_heading = HEADING)]
    fault_abort_rotation_after_batches: Option<u64>,
    /// Every liveness challenge asks for these steps (e.g. `left,up`) instead of random
    /// ones: a browser test's fake camera plays a video rendered beforehand. Default: none.
    #[cfg(feature = "testing")]
    #[arg(long, global = true, env = "KYCD_TEST_LIVENESS_STEPS", value_name = "STEPS", value_parser = liveness_steps, help_heading = HEADING)]
    test_liveness_steps: Option<LivenessSteps>,
}

/// The steps of `KYCD_TEST_LIVENESS_STEPS` (one value: clap would take a bare `Vec` for
/// repeated flags).
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
struct LivenessSteps(Vec<kycd_checks::liveness::Step>);

#[cfg(feature = "testing")]
fn liveness_steps(s: &str) -> Result<LivenessSteps, String> {
    kycd_checks::liveness::parse_challenge(s).map(LivenessSteps)
}

impl TestHooks {
    /// The engine's clock: the system's, or in a testing build the shifted test clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        #[cfg(feature = "testing")]
        if let Some(path) = &self.test_clock_offset_file {
            tracing::warn!(
                "KYCD_TEST_CLOCK_OFFSET_FILE is set: time is shifted by the seconds in {} (for tests only)",
                path.display()
            );
            return Arc::new(OffsetFileClock { path: path.clone() });
        }
        Arc::new(SystemClock)
    }

    /// Set the engine's fault injection (nothing in a production build).
    pub fn apply(&self, _engine: &mut EngineConfig) {
        #[cfg(feature = "testing")]
        {
            _engine.crash_after_blob_write = self.fault_crash_after_blob_write;
            _engine.pause_in_processing = self.fault_pause_in_processing_ms.map(std::time::Duration::from_millis);
            _engine.fixed_liveness_steps = self.test_liveness_steps.clone().map(|s| s.0);
        }
    }

    /// After how many committed batches `keys rotate-master` stops as if it crashed.
    #[cfg(feature = "testing")]
    pub fn abort_rotation_after_batches(&self) -> Option<u64> {
        self.fault_abort_rotation_after_batches
    }

    /// Never, in a production build.
    #[cfg(not(feature = "testing"))]
    pub fn abort_rotation_after_batches(&self) -> Option<u64> {
        None
    }
}

#[cfg(feature = "testing")]
struct OffsetFileClock {
    path: std::path::PathBuf,
}

#[cfg(feature = "testing")]
impl Clock for OffsetFileClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        // Read on every call: tests change it while the server runs. Missing or garbage = 0.
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        chrono::Utc::now() + chrono::Duration::seconds(offset)
    }
}
