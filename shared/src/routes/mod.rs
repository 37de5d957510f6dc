//! Route handlers: thin adapters from HTTP (extractors, status codes, JSON shapes) to the
//! domain modules. Every handler is mounted by `crate::http::ROUTES`.

pub mod platform;
pub mod policy;
