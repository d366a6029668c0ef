//! What webhook and callback deliveries share: the store keeps both with the same retry
//! fields (status, attempts, when next, the last answer), so one macro makes a new one and
//! one records a try on either.

/// A delivery not tried yet, due at `$now`: a webhook's or a callback's (the store keeps both
/// with the same retry fields), given its own fields.
macro_rules! pending_delivery {
    ($record:ident { $($field:ident $(: $value:expr)?),* $(,)? }, $now:expr) => {{
        let now = $now;
        $record {
            $($field $(: $value)?,)*
            status: $crate::webhooks::DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }};
}
pub(crate) use pending_delivery;

/// Records one delivery attempt's `$outcome` on delivery `$d` (a webhook's or a callback's):
/// on failure the next try from the schedule `$delays`, or failed once it is spent. Answers
/// when to try again, if ever.
macro_rules! record_try {
    ($d:ident, $outcome:expr, $delays:expr, $now:expr) => {{
        let now = $now;
        $d.attempts += 1;
        $d.last_attempt_at = Some(now);
        $d.updated_at = now;
        match $outcome {
            Ok(code) => {
                $d.status = $crate::webhooks::DeliveryStatus::Succeeded;
                $d.last_status_code = Some(i64::from(*code));
                $d.last_error = None;
                $d.next_attempt_at = None;
            }
            Err((code, err)) => {
                $d.last_status_code = code.map(i64::from);
                $d.last_error = Some(err.clone());
                $d.next_attempt_at = $crate::webhooks::next_retry($delays, $d.attempts, now);
                if $d.next_attempt_at.is_none() {
                    $d.status = $crate::webhooks::DeliveryStatus::Failed;
                }
            }
        }
        $d.next_attempt_at
    }};
}
pub(crate) use record_try;
