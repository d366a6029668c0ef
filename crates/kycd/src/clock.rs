//! Clocks for the engine. `OffsetFileClock` exists for black-box tests: they move time
//! forward (expiry, retries, retention) by writing seconds into a file instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use kycd_engine::Clock;
use std::path::PathBuf;

pub struct OffsetFileClock {
    path: PathBuf,
}

impl OffsetFileClock {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> DateTime<Utc> {
        // Read on every call: tests change it while the server runs. Missing or garbage = 0.
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        Utc::now() + Duration::seconds(offset)
    }
}
