//! How a process runs: its settings, the wiring of adapters into ports (the composition root),
//! the application state, the local server, the Lambda entry points, the queue workers and
//! telemetry.

pub mod app;
pub mod backend;
pub mod backup;
pub mod jobs;
pub mod lambda;
pub mod ops;
pub mod server;
pub mod settings;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod web;
