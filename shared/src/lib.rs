//! Bulwark: a secure multi-tenant backend for regulated organisations' messaging apps.
//!
//! This crate holds everything but the binaries: the domain, the capability ports and their
//! two sets of adapters (embedded and AWS), and the HTTP layer that both the local server and
//! every Lambda function run — one code path for both.

pub mod app;
pub mod attachment_stream;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod backend;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod embedded;
pub mod error;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod lambda;
pub mod maintenance;
pub mod policy;
pub mod ports;
pub mod push;
pub mod roles;
pub mod routes;
pub mod server;
pub mod telemetry;
pub mod tenant_keys;
pub mod tenants;
pub mod types;
