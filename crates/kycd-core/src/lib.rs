//! kycd's domain: typed ids, personal-data newtypes that never print their contents,
//! the verification state machine, policy and the shapes every other crate shares.
//! Pure: no IO, no clock reads (time is always a parameter), no async.

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
