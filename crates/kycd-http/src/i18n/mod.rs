//! The words of the console and the capture page, in English and French, and how a
//! request's language is chosen. Each page's words are one typed table (`texts!`): a word
//! missing in one language, or asked for by a name that does not exist, does not compile.
//! Plain text: the templates escape it.

pub mod capture;
pub mod console;

/// One page's table: a struct with a field per word, and its English and French values
/// (`ALL`, the same as a list by name, is for the tests).
macro_rules! texts {
    ($(#[$doc:meta])* $name:ident { $($(#[$kdoc:meta])* $key:ident: $en:expr, $fr:expr;)* }) => {
        $(#[$doc])*
        pub struct $name {
            $($(#[$kdoc])* pub $key: &'static str,)*
        }
        pub const EN: $name = $name { $($key: $en,)* };
        pub const FR: $name = $name { $($key: $fr,)* };
        /// Every word by name: (name, English, French).
        #[cfg(test)]
        pub const ALL: &[(&str, &str, &str)] = &[$((stringify!($key), $en, $fr),)*];
    };
}
use texts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fr => "Français",
        }
    }
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Fr,
            Self::Fr => Self::En,
        }
    }
    /// `fr`, `fr-FR`, `FR` → French; `en…` → English; anything else: none.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "fr" => Some(Self::Fr),
            "en" => Some(Self::En),
            _ => None,
        }
    }
    /// The preferred supported language of an `Accept-Language` header (highest `q`).
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Self::parse) else {
                continue;
            };
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }
    /// The request's `Accept-Language` choice, if it names a supported language.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<Self> {
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::from_accept_language)
    }
    /// The language of a request: `chosen` (`?lang=`) first, then the one a cookie
    /// `remembered`, then one the integrator `preselected`, then `Accept-Language`;
    /// English by default.
    pub fn negotiate(chosen: Option<Self>, remembered: Option<&str>, preselected: Option<&str>, headers: &axum::http::HeaderMap) -> Self {
        chosen
            .or_else(|| remembered.and_then(Self::parse))
            .or_else(|| preselected.and_then(Self::parse))
            .or_else(|| Self::from_headers(headers))
            .unwrap_or(Self::En)
    }
    /// The capture page's words.
    pub fn capture(self) -> &'static capture::Texts {
        match self {
            Self::En => &capture::EN,
            Self::Fr => &capture::FR,
        }
    }
    /// The console's words.
    pub fn console(self) -> &'static console::Texts {
        match self {
            Self::En => &console::EN,
            Self::Fr => &console::FR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE,en;q=0.5,fr;q=0.7"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("en-GB, fr;q=0.2"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, es"), None);
        assert_eq!(Lang::from_accept_language("fr;q=0"), None);
        assert_eq!(Lang::parse("FR_be"), Some(Lang::Fr));
    }
}
