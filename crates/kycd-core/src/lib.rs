//! kycd's domain: typed ids, personal-data newtypes that never print their contents,
//! the verification state machine, policy and the shapes every other crate shares.
//! Pure: no IO, no clock reads (time is always a parameter), no async.

/// `Display` and `FromStr` for an enum whose words are its `as_str`: `FromStr` finds the
/// word among `$values` and answers `$error` (in terms of the refused text `$s`) otherwise.
macro_rules! worded_enum {
    ($t:ty, $values:expr, |$s:ident| $error:expr) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str($s: &str) -> Result<Self, String> {
                $values.into_iter().find(|v| v.as_str() == $s).ok_or_else(|| $error)
            }
        }
    };
}

/// The error for a word that is none of `words`: the refused text cut to `keep` characters
/// (it may be anything a client sent), then `hint` and every word.
fn unknown_word(what: &str, s: &str, keep: usize, hint: &str, words: &[&str]) -> String {
    format!(
        "unknown {what} '{}'; {hint} {}",
        s.chars().take(keep).collect::<String>(),
        words.join(", ")
    )
}

pub mod decide;
pub mod ids;
pub mod model;
pub mod pii;
pub mod policy;
pub mod status;
pub mod webhook;

pub use ids::*;
pub use model::*;
pub use pii::*;
pub use policy::*;
pub use status::*;
pub use webhook::*;
