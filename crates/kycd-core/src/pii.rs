//! Personal data. Every type here redacts itself in `Debug` and `Display`, so a stray
//! `tracing::info!(?applicant)` can never write a name, email or phone number to a log.
//! Values are parsed and validated once, at the edge; the engine only sees these types.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("email is not a valid address (expected something like name@example.com)")]
    Email,
    #[error("phone_country_code must be '+' followed by 1 to 3 digits, e.g. '+44'")]
    CountryCode,
    #[error("phone_number must be 4 to 14 digits (spaces, dashes and dots are ignored)")]
    PhoneNumber,
    #[error("{0} must not be empty and at most {1} characters")]
    Length(&'static str, usize),
    #[error("{0} must not contain control characters (such as NUL, tab or escape)")]
    Control(&'static str),
}

macro_rules! redacted {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<redacted>")
            }
        }
    };
}

/// Free text that is personal (a name, a document number, an external id).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalText(String);
redacted!(PersonalText);

impl PersonalText {
    pub fn parse(field: &'static str, s: &str, max: usize) -> Result<Self, PiiError> {
        let t = s.trim();
        if t.chars().any(char::is_control) {
            return Err(PiiError::Control(field));
        }
        if t.is_empty() || t.chars().count() > max {
            return Err(PiiError::Length(field, max));
        }
        Ok(Self(t.to_owned()))
    }
    /// The plain value, for encryption and for rendering to an authorised caller.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);
redacted!(Email);

impl Email {
    pub fn parse(s: &str) -> Result<Self, PiiError> {
        let t = s.trim();
        if t.len() > 254 || !email_address::EmailAddress::is_valid(t) || !t.contains('@') {
            return Err(PiiError::Email);
        }
        // The domain part is case-insensitive; keep the local part as given.
        let (local, domain) = t.rsplit_once('@').ok_or(PiiError::Email)?;
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Normalised form used for blind-index lookups (case-insensitive match).
    pub fn lookup_key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    country_code: String,
    number: String,
}
redacted!(Phone);

impl Phone {
    pub fn parse(country_code: &str, number: &str) -> Result<Self, PiiError> {
        let cc = country_code.trim();
        let cc_digits = cc.strip_prefix('+').unwrap_or(cc);
        if cc_digits.is_empty() || cc_digits.len() > 3 || !cc_digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PiiError::CountryCode);
        }
        let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        if digits.len() < 4 || digits.len() > 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PiiError::PhoneNumber);
        }
        Ok(Self {
            country_code: format!("+{cc_digits}"),
            number: digits,
        })
    }
    pub fn country_code(&self) -> &str {
        &self.country_code
    }
    pub fn number(&self) -> &str {
        &self.number
    }
    pub fn lookup_key(&self) -> String {
        format!("{}{}", self.country_code, self.number)
    }
}

/// A calendar date that is personal (birth date, expiry of a person's document).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalDate(chrono::NaiveDate);
redacted!(PersonalDate);

impl PersonalDate {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, String> {
        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Self)
            .map_err(|_| format!("{field} must be a date written YYYY-MM-DD"))
    }
    pub fn expose(&self) -> chrono::NaiveDate {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let e = Email::parse("Jane.Doe@Example.com").unwrap();
        assert_eq!(e.expose(), "Jane.Doe@example.com");
        assert!(!format!("{e:?} {e}").contains("Jane"));
        let n = PersonalText::parse("full_name", "Jane Doe", 200).unwrap();
        assert!(!format!("{n:?} {n}").contains("Jane"));
        let p = Phone::parse("44", "7700 900-123").unwrap();
        assert_eq!(p.lookup_key(), "+447700900123");
        assert!(!format!("{p:?}").contains("7700"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Phone::parse("+1234", "5551234").is_err());
        assert!(Phone::parse("+1", "12ab").is_err());
        assert!(PersonalText::parse("full_name", "   ", 10).is_err());
        assert!(PersonalDate::parse("birth_date", "1990-02-30").is_err());
    }

    #[test]
    fn names_with_control_characters_say_so_and_unicode_names_are_kept() {
        for bad in ["Ann\u{0}Lee", "Ann\u{7}Lee", "Ann\u{1b}[31mLee", "Ann\tLee"] {
            let e = PersonalText::parse("full_name", bad, 300).unwrap_err();
            assert_eq!(e, PiiError::Control("full_name"));
            assert!(e.to_string().contains("control characters"), "{e}");
        }
        let long = "A".repeat(301);
        assert_eq!(
            PersonalText::parse("full_name", &long, 300).unwrap_err(),
            PiiError::Length("full_name", 300)
        );
        // Format characters (bidi controls, joiners) and combining marks are text, kept as given.
        for ok in ["Ann\u{202E}eeL\u{202C}", "Zo\u{200D}e", "Jose\u{0301}", "\u{0410}lex"] {
            assert_eq!(PersonalText::parse("full_name", ok, 300).unwrap().expose(), ok);
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(a in ".{0,300}", b in ".{0,40}") {
            let _ = Email::parse(&a);
            let _ = Phone::parse(&b, &a);
            let _ = PersonalText::parse("x", &a, 100);
            let _ = PersonalDate::parse("x", &a);
        }
    }
}
