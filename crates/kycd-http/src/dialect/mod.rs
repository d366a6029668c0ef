//! Vendor dialects: each answers one vendor's public API exactly (paths, fields, status
//! words, error bodies), translating requests into engine calls and engine results into
//! the vendor's shapes. No business rule lives here: what to decide is the engine's.

pub mod boldsign;
pub mod checkout;
pub(crate) mod oauth;
pub mod skribble;
pub mod transmit;
