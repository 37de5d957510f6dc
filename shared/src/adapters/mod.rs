//! The ports' implementations: `embedded` (redb, files, a sealed keyring, an outbox), `aws`
//! (the official SDK crates) and the push providers' HTTP client. Adapters depend only on
//! `ports` (and `domain`); nothing else depends on an adapter but the composition root in
//! `runtime`.

pub mod aws;
pub mod embedded;
pub mod faults;
pub mod push_http;
