//! The one canonical verification state machine. Dialects map these words onto their own.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    Created,
    Pending,
    CaptureInProgress,
    Processing,
    Approved,
    Declined,
    ReviewRequired,
    RetryRequired,
    Expired,
    Cancelled,
}

impl VerificationStatus {
    pub const ALL: [Self; 10] = [
        Self::Created,
        Self::Pending,
        Self::CaptureInProgress,
        Self::Processing,
        Self::Approved,
        Self::Declined,
        Self::ReviewRequired,
        Self::RetryRequired,
        Self::Expired,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Pending => "pending",
            Self::CaptureInProgress => "capture_in_progress",
            Self::Processing => "processing",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::ReviewRequired => "review_required",
            Self::RetryRequired => "retry_required",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// No transition leaves a final state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Approved | Self::Declined | Self::Expired | Self::Cancelled)
    }

    /// The person can still capture images in this state.
    pub fn accepts_captures(self) -> bool {
        matches!(self, Self::Created | Self::Pending | Self::CaptureInProgress | Self::RetryRequired)
    }

    /// Whether the machine allows `self → to`.
    pub fn can_transition_to(self, to: Self) -> bool {
        use VerificationStatus::*;
        if self.is_final() || self == to {
            return false;
        }
        match to {
            Created => false,
            Pending => matches!(self, Created | RetryRequired),
            CaptureInProgress => matches!(self, Created | Pending | RetryRequired),
            Processing => matches!(self, Created | Pending | CaptureInProgress | RetryRequired),
            ReviewRequired => self == Processing,
            // A reviewer may ask the person for a new attempt instead of deciding.
            RetryRequired => matches!(self, Processing | ReviewRequired),
            Approved | Declined => matches!(self, Processing | ReviewRequired),
            Expired | Cancelled => true,
        }
    }
}

worded_enum!(VerificationStatus, Self::ALL, |s| crate::unknown_word(
    "status",
    s,
    40,
    "expected one of",
    &Self::ALL.map(Self::as_str)
));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Open: the person may capture and submit.
    Active,
    Submitted,
    Expired,
    Cancelled,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Submitted => "submitted",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

worded_enum!(
    AttemptStatus,
    [Self::Active, Self::Submitted, Self::Expired, Self::Cancelled],
    |s| format!("unknown attempt status '{s}'")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_are_terminal() {
        for from in VerificationStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in VerificationStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn happy_path_is_allowed_and_shortcuts_are_not() {
        use VerificationStatus::*;
        let path = [Created, Pending, CaptureInProgress, Processing, ReviewRequired, Approved];
        for w in path.windows(2) {
            assert!(w[0].can_transition_to(w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(!Created.can_transition_to(Approved));
        assert!(!CaptureInProgress.can_transition_to(ReviewRequired));
    }

    #[test]
    fn status_words_round_trip() {
        for s in VerificationStatus::ALL {
            assert_eq!(s.as_str().parse::<VerificationStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert!("approve".parse::<VerificationStatus>().is_err());
    }
}
