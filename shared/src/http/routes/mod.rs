//! Route handlers: thin adapters from HTTP (extractors, status codes, JSON shapes) to the
//! domain modules. Every handler is mounted by `crate::http::ROUTES`, which also declares who
//! may call it.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod device_key;
pub mod devices;
pub mod events;
pub mod me;
pub mod messages;
pub mod mfa;
pub mod platform;
pub mod policy;
pub mod sso;
