//! What the repository files (`repo_*.rs`, one per subject, each an `impl Tx` block)
//! share: running a statement with its values, reading rows through their type's
//! [`FromRow`], parsing stored values, JSON columns, keyset pagination. Row ⇄ domain
//! mapping stays in the repository files, one column list and one mapper per row type;
//! personal fields are sealed with the tenant key, bound to their row by the AEAD's
//! associated data.

use crate::{Result, Store, StoreError, Tx, from_ms, ms};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kycd_core::TenantId;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Row};

// ----- statements ------------------------------------------------------------------

/// A statement with its values bound (the same SQL on SQLite and PostgreSQL).
pub(crate) type Statement<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// The values of a statement's `$1, $2, …`, in order, as one tuple: each is bound as
/// `Query::bind` binds it, so a call names the statement and its values together.
pub(crate) trait Binds<'q> {
    fn bind_to(self, q: Statement<'q>) -> Statement<'q>;
}

/// [`Binds`] for the tuples of every width up to the widest statement's (19 values).
macro_rules! tuple_binds {
    () => {
        impl<'q> Binds<'q> for () {
            fn bind_to(self, q: Statement<'q>) -> Statement<'q> {
                q
            }
        }
    };
    ($first:ident $($rest:ident)*) => {
        impl<'q, $first, $($rest),*> Binds<'q> for ($first, $($rest,)*)
        where
            $first: 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
            $($rest: 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,)*
        {
            #[allow(non_snake_case)]
            fn bind_to(self, q: Statement<'q>) -> Statement<'q> {
                let ($first, $($rest,)*) = self;
                q.bind($first)$(.bind($rest))*
            }
        }
        tuple_binds!($($rest)*);
    };
}
tuple_binds!(A B C D E F G H I J K L M N O P Q R S);

/// `sql` with `binds` bound to its parameters.
pub(crate) fn statement<'q>(sql: &'q str, binds: impl Binds<'q>) -> Statement<'q> {
    binds.bind_to(sqlx::query(sql))
}

/// A row type's one mapper: read from the columns its query selects, the store at hand
/// for the tenant keys that open its sealed columns.
pub(crate) trait FromRow: Sized {
    fn from_row(store: &Store, row: &AnyRow) -> Result<Self>;
}

/// Typed reads of the columns as kycd stores them (ids and enums as text, times as
/// milliseconds, flags as 0 or 1).
pub(crate) trait Columns {
    /// A text column parsed (`what` names it in the error).
    fn parsed<T: std::str::FromStr>(&self, column: &str, what: &str) -> Result<T>;
    /// The `tenant_id` column every tenant's row has.
    fn tenant_id(&self) -> Result<TenantId> {
        self.parsed("tenant_id", "tenant id")
    }
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>>;
    fn flag(&self, column: &str) -> Result<bool>;
}

impl Columns for AnyRow {
    fn parsed<T: std::str::FromStr>(&self, column: &str, what: &str) -> Result<T> {
        parse(self.try_get(column)?, what)
    }
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        self.try_get::<Option<i64>, _>(column)?.map(from_ms).transpose()
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.try_get::<i64, _>(column)? != 0)
    }
}

impl Tx<'_> {
    /// Run a statement in this transaction.
    pub(crate) async fn execute<'q>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<()> {
        self.rows_affected(sql, binds).await.map(drop)
    }

    /// Run a statement in this transaction; how many rows it changed.
    pub(crate) async fn rows_affected<'q>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<u64> {
        self.tx.rows_affected(statement(sql, binds)).await
    }

    /// The row a query finds, if any.
    pub(crate) async fn fetch_optional<'q>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<Option<AnyRow>> {
        self.tx.fetch_optional(statement(sql, binds)).await
    }

    /// The one row a query must find.
    pub(crate) async fn fetch_one<'q>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<AnyRow> {
        self.tx.fetch_one(statement(sql, binds)).await
    }

    /// Every row a query finds.
    pub(crate) async fn fetch_all<'q>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<Vec<AnyRow>> {
        self.tx.fetch_all(statement(sql, binds)).await
    }

    /// The `id` column of every row a query finds, parsed (`what` names it in errors).
    pub(crate) async fn fetch_ids<'q, T: std::str::FromStr>(&mut self, sql: &'q str, binds: impl Binds<'q>, what: &str) -> Result<Vec<T>> {
        let rows = self.fetch_all(sql, binds).await?;
        rows.iter().map(|r| r.parsed("id", what)).collect()
    }

    /// The row a query finds, if any, read by its type's mapper.
    pub(crate) async fn find<'q, T: FromRow>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<Option<T>> {
        let row = self.fetch_optional(sql, binds).await?;
        row.map(|r| T::from_row(self.store, &r)).transpose()
    }

    /// Every row a query finds, read by its type's mapper.
    pub(crate) async fn find_all<'q, T: FromRow>(&mut self, sql: &'q str, binds: impl Binds<'q>) -> Result<Vec<T>> {
        let rows = self.fetch_all(sql, binds).await?;
        rows.iter().map(|r| T::from_row(self.store, r)).collect()
    }

    /// The row of `table` with this tenant and id, every column, read by its type's mapper.
    pub(crate) async fn find_by_id<T: FromRow>(&mut self, table: &str, tenant: &TenantId, id: &str) -> Result<Option<T>> {
        let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2");
        self.find(&sql, (tenant.as_str(), id)).await
    }

    /// Every row of `table` of this tenant, oldest first, read by its type's mapper.
    pub(crate) async fn find_all_of_tenant<T: FromRow>(&mut self, table: &str, tenant: &TenantId) -> Result<Vec<T>> {
        let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 ORDER BY created_at, id");
        self.find_all(&sql, (tenant.as_str(),)).await
    }

    /// Delete the tenant's rows of `table` whose `column` is `value`; how many it deleted.
    pub(crate) async fn delete_where(&mut self, table: &str, column: &str, tenant: &TenantId, value: &str) -> Result<u64> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND {column} = $2");
        self.rows_affected(&sql, (tenant.as_str(), value)).await
    }

    /// Housekeeping: delete the tenant's rows of `table` that expired before `now`; how
    /// many it deleted.
    pub(crate) async fn delete_expired(&mut self, table: &str, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND expires_at < $2");
        self.rows_affected(&sql, (tenant.as_str(), ms(now))).await
    }
}

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

impl Tx<'_> {
    /// A keyset page of `sql`'s rows, newest first, each read by `map` with its
    /// `(created_at, id)`: `sql` takes the tenant (`$1`), the position the page starts
    /// below (`($2, $3)`: the cursor's, or above every row), the `filter` value if any,
    /// and the row limit last (one more than `limit`: whether a next page exists).
    pub(crate) async fn page_of<T>(
        &mut self,
        sql: &str,
        tenant: &TenantId,
        filter: Option<&str>,
        cursor: Option<&Cursor>,
        limit: usize,
        map: impl Fn(&Self, &AnyRow) -> Result<(T, i64, String)>,
    ) -> Result<Page<T>> {
        let (t, id) = cursor.map_or((i64::MAX, String::new()), |c| (c.created_at, c.id.clone()));
        let mut q = statement(sql, (tenant.as_str(), t, id));
        if let Some(f) = filter {
            q = q.bind(f);
        }
        let rows = self.tx.fetch_all(q.bind(limit as i64 + 1)).await?;
        let mut rows = rows.iter().map(|r| map(self, r)).collect::<Result<Vec<_>>>()?;
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
        Ok(Page {
            items: rows.into_iter().map(|(v, _, _)| v).collect(),
            next_cursor,
        })
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
