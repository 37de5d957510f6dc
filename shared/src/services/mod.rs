//! The use cases: everything Bulwark does, on top of the ports. Handlers (`http`) and the
//! background workers (`runtime`) call in here; nothing here knows about HTTP or how the
//! process runs.

pub mod context;
pub mod devices;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod identity;
pub mod jobs;
pub mod maintenance;
pub mod messaging;
pub mod metrics;
pub mod push;
pub mod sso;
pub mod tenancy;
#[cfg(test)]
pub(crate) mod testing;
