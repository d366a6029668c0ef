//! Every value sealed with a tenant key, in one catalogue. The repositories form their
//! AADs (what binds a ciphertext to its row and column) with [`aad`]; the master key's
//! check and `kycd keys rotate-master` walk [`SEALED`]. A new sealed column goes in both
//! places, or rotation would leave it sealed under the old key.

/// Associated data of each sealed value: table, row and column, so a ciphertext copied to
/// another row or column does not open.
pub(crate) mod aad {
    pub fn applicant(id: &str, column: &str) -> String {
        format!("applicants:{id}:{column}")
    }
    pub fn verification(id: &str, column: &str) -> String {
        format!("verifications:{id}:{column}")
    }
    pub fn data_key(file_id: &str) -> String {
        format!("dk:{file_id}")
    }
    pub fn signing_key(kid: &str) -> String {
        format!("signing_keys:{kid}:private")
    }
    pub fn totp(operator_id: &str) -> String {
        format!("totp:{operator_id}")
    }
    pub fn proposal(verification_id: &str) -> String {
        format!("proposal:{verification_id}")
    }
    pub fn dialect_state(object_id: &str, kind: &str) -> String {
        format!("dialect_state:{object_id}:{kind}")
    }
    pub fn webhook_secret(endpoint_id: &str, which: &str) -> String {
        format!("webhook_endpoints:{endpoint_id}:{which}")
    }
    pub fn sender(id: &str, column: &str) -> String {
        format!("sender_identities:{id}:{column}")
    }
    pub fn callback_url(delivery_id: &str) -> String {
        format!("callback_deliveries:{delivery_id}:url")
    }
}

/// Blind indexes: keyed hashes for equality lookups, one purpose each. Lookups and the
/// rotation that recomputes them under a new key both come through here.
pub(crate) mod blind {
    use crate::crypto::TenantKeys;
    use kycd_core::{Email, PersonData, Phone};

    pub fn email(k: &TenantKeys, e: &Email) -> String {
        k.blind_index("email", &e.lookup_key())
    }
    pub fn phone(k: &TenantKeys, p: &Phone) -> String {
        k.blind_index("phone", &p.lookup_key())
    }
    pub fn external_id(k: &TenantKeys, id: &str) -> String {
        k.blind_index("external_id", id)
    }
    pub fn sender_email(k: &TenantKeys, e: &Email) -> String {
        k.blind_index("sender_email", &e.lookup_key())
    }
    /// An applicant's `(external_id_bidx, email_bidx, phone_bidx)`.
    pub fn applicant(k: &TenantKeys, person: &PersonData, external_id: Option<&str>) -> [Option<String>; 3] {
        [
            external_id.map(|e| self::external_id(k, e)),
            person.email.as_ref().map(|e| email(k, e)),
            person.phone.as_ref().map(|p| phone(k, p)),
        ]
    }
}

/// The blind indexes a table keeps beside its sealed values (recomputed from the
/// plaintext when the keys change).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlindIndexes {
    None,
    /// `external_id_bidx`, `email_bidx`, `phone_bidx` from `external_id_enc` and `person_enc`.
    Applicant,
    /// `email_bidx` from `email_enc`.
    Sender,
}

/// One sealed column and its AAD, given the row's primary key values.
pub(crate) struct SealedColumn {
    pub name: &'static str,
    pub aad: fn(&[String]) -> String,
}

/// A table with sealed columns. Every one has a `tenant_id` column: the tenant's keys seal it.
pub(crate) struct SealedTable {
    pub table: &'static str,
    /// Primary key columns, in order (rotation walks rows by them).
    pub key: &'static [&'static str],
    pub columns: &'static [SealedColumn],
    pub blind: BlindIndexes,
}

fn first(k: &[String]) -> &str {
    k.first().map_or("", String::as_str)
}

fn second(k: &[String]) -> &str {
    k.get(1).map_or("", String::as_str)
}

fn third(k: &[String]) -> &str {
    k.get(2).map_or("", String::as_str)
}

impl SealedTable {
    /// A table keyed by `id`, with no blind indexes (most are).
    const fn by_id(table: &'static str, columns: &'static [SealedColumn]) -> Self {
        Self {
            table,
            key: &["id"],
            columns,
            blind: BlindIndexes::None,
        }
    }

    const fn keyed_by(self, key: &'static [&'static str]) -> Self {
        Self { key, ..self }
    }

    const fn with_blind(self, blind: BlindIndexes) -> Self {
        Self { blind, ..self }
    }
}

/// A sealed column and its AAD.
const fn sealed(name: &'static str, aad: fn(&[String]) -> String) -> SealedColumn {
    SealedColumn { name, aad }
}

pub(crate) const SEALED: &[SealedTable] = &[
    SealedTable::by_id(
        "applicants",
        &[
            sealed("person_enc", |k| aad::applicant(first(k), "person")),
            sealed("external_id_enc", |k| aad::applicant(first(k), "external_id")),
        ],
    )
    .with_blind(BlindIndexes::Applicant),
    SealedTable::by_id(
        "verifications",
        &[
            sealed("private_enc", |k| aad::verification(first(k), "private")),
            sealed("review_enc", |k| aad::verification(first(k), "review")),
        ],
    ),
    SealedTable::by_id("captures", &[sealed("wrapped_key", |k| aad::data_key(first(k)))]),
    SealedTable::by_id("signing_keys", &[sealed("private_enc", |k| aad::signing_key(first(k)))]).keyed_by(&["kid"]),
    SealedTable::by_id("operators", &[sealed("totp_enc", |k| aad::totp(first(k)))]),
    SealedTable::by_id("review_proposals", &[sealed("sealed", |k| aad::proposal(first(k)))]).keyed_by(&["verification_id"]),
    SealedTable::by_id("dialect_state", &[sealed("data_enc", |k| aad::dialect_state(second(k), third(k)))]).keyed_by(&[
        "tenant_id",
        "object_id",
        "kind",
    ]),
    SealedTable::by_id(
        "webhook_endpoints",
        &[
            sealed("secret_enc", |k| aad::webhook_secret(first(k), "secret")),
            sealed("old_secret_enc", |k| aad::webhook_secret(first(k), "old_secret")),
        ],
    ),
    SealedTable::by_id(
        "sender_identities",
        &[
            sealed("email_enc", |k| aad::sender(first(k), "email")),
            sealed("name_enc", |k| aad::sender(first(k), "name")),
        ],
    )
    .with_blind(BlindIndexes::Sender),
    SealedTable::by_id("callback_deliveries", &[sealed("url_enc", |k| aad::callback_url(first(k)))]),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The sealed columns the migrations create (named `…_enc`, `wrapped_key` or
    /// `sealed`), as `table.column`.
    fn sealed_columns_in_schema() -> Vec<String> {
        let sealed = |c: &str| c.ends_with("_enc") || c == "wrapped_key" || c == "sealed";
        let mut out = Vec::new();
        for st in crate::migrate::statements() {
            let words: Vec<&str> = st.split_whitespace().collect();
            match words.as_slice() {
                ["CREATE", "TABLE", table, ..] => {
                    let body = st.split_once('(').map_or("", |(_, b)| b);
                    for col in body.split(',').filter_map(|c| c.split_whitespace().next()) {
                        if sealed(col) {
                            out.push(format!("{table}.{col}"));
                        }
                    }
                }
                ["ALTER", "TABLE", table, "ADD", "COLUMN", col, ..] if sealed(col) => out.push(format!("{table}.{col}")),
                _ => {}
            }
        }
        out
    }

    /// A sealed column missing here would keep the old key after a rotation (and be
    /// unreadable with the new one).
    #[test]
    fn every_sealed_column_of_the_schema_is_in_the_catalogue() {
        let listed: Vec<String> = SEALED
            .iter()
            .flat_map(|t| t.columns.iter().map(move |c| format!("{}.{}", t.table, c.name)))
            .collect();
        let in_schema = sealed_columns_in_schema();
        assert!(in_schema.len() >= 10, "{in_schema:?}");
        for c in &in_schema {
            assert!(listed.contains(c), "{c} is sealed but not in sealed::SEALED: add it (and its AAD)");
        }
    }

    #[test]
    fn every_sealed_table_is_listed_once_with_its_key_columns() {
        let mut names: Vec<&str> = SEALED.iter().map(|t| t.table).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a table listed twice");
        for t in SEALED {
            assert!(!t.key.is_empty() && !t.columns.is_empty(), "{}", t.table);
        }
    }
}
