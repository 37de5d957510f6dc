//! The ports' implementations: `embedded` (redb, files, a sealed keyring, an outbox), `aws`
//! (the official SDK crates) the push providers' HTTP client and the
//! identity providers' (`idp_http`). Adapters depend only on
//! `ports` (and `domain`); nothing else depends on an adapter but the composition root in
//! `runtime`.

pub mod aws;
pub mod embedded;
pub mod faults;
pub mod idp_http;
pub mod push_http;
