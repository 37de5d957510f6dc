//! Bulwark: a secure multi-tenant backend for regulated organisations' messaging apps.
//!
//! This crate holds everything but the binaries: the domain, the capability ports and their
//! two sets of adapters (embedded and AWS), and the HTTP layer that both the local server and
//! every Lambda function run — one code path for both.

pub mod clock;
pub mod aws;
pub mod backend;
pub mod crypto;
pub mod embedded;
pub mod ports;
pub mod types;
