//! Bulwark: a secure multi-tenant backend for regulated organisations' messaging apps.
//!
//! This crate holds everything but the binaries, in layers whose dependencies point one way:
//! `domain ← ports ← services ← {http, runtime}`, with `adapters` depending only on `ports`
//! (and `runtime`, the composition root, wiring adapters into ports). `scripts/test` checks
//! that no module imports form a cycle.

pub mod adapters;
pub mod domain;
pub mod http;
pub mod ports;
pub mod runtime;
pub mod services;
