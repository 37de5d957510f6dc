//! Tenants: provisioning and the directory, each tenant's data keys, its policy, and the
//! audit log.

pub mod audit;
pub mod integrity;
pub mod keys;
pub mod platform;
pub mod policy;
pub mod status;
pub mod tenants;
