//! What the repository files (`repo_*.rs`, one per subject, each an `impl Tx` block)
//! share: parsing stored values, JSON columns, keyset pagination. Row ⇄ domain mapping
//! stays in the repository files, one column list and one mapper per row type; personal
//! fields are sealed with the tenant key, bound to their row by the AEAD's associated data.

use crate::{Result, StoreError, Tx};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kycd_core::TenantId;
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn parse<T: std::str::FromStr>(s: String, what: &str) -> Result<T> {
    s.parse().map_err(|_| corrupt(format!("bad {what}: {s}")))
}

/// Two id columns of each row, parsed: `(column, what it is)` each.
pub(crate) fn id_pairs<A: std::str::FromStr, B: std::str::FromStr>(
    rows: &[AnyRow],
    a: (&str, &str),
    b: (&str, &str),
) -> Result<Vec<(A, B)>> {
    rows.iter()
        .map(|r| Ok((parse(r.try_get(a.0)?, a.1)?, parse(r.try_get(b.0)?, b.1)?)))
        .collect()
}

pub(crate) fn days(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(format!("bad number of days: {v}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing our own plain structs to a String cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("{what}: {e}")))
}

// ----- pagination ------------------------------------------------------------------

/// Opaque keyset cursor over (created_at, id), newest first.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at, self.id))
    }
    pub fn decode(s: &str) -> Result<Self> {
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| StoreError::BadCursor)?;
        let text = String::from_utf8(raw).map_err(|_| StoreError::BadCursor)?;
        let (t, id) = text.split_once('.').ok_or(StoreError::BadCursor)?;
        if id.is_empty() || id.len() > 80 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::BadCursor);
        }
        Ok(Self {
            created_at: t.parse().map_err(|_| StoreError::BadCursor)?,
            id: id.to_owned(),
        })
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub(crate) fn page<T>(mut rows: Vec<(T, i64, String)>, limit: usize) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, t, id)| {
            Cursor {
                created_at: *t,
                id: id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(v, _, _)| v).collect(),
        next_cursor,
    }
}

impl Tx<'_> {
    pub(crate) fn keys(&self, t: &TenantId) -> crate::crypto::TenantKeys {
        self.store.tenant_keys(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = Cursor {
            created_at: 1_700_000_000_000,
            id: "idv_abc".into(),
        };
        let d = Cursor::decode(&c.encode()).unwrap();
        assert_eq!((d.created_at, d.id.as_str()), (c.created_at, "idv_abc"));
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12.x' OR 1=1")).is_err());
    }
}
