//! Operational counters (logins, failed logins, lockouts, sends), raised as tracing events of
//! target [`TARGET`]; the runtime turns them into CloudWatch embedded-metric-format lines on
//! Lambda and into ordinary log lines elsewhere. Names only: never ids or personal data.

pub const TARGET: &str = "bulwark::metric";

pub const LOGIN_SUCCEEDED: &str = "LoginSucceeded";
pub const LOGIN_FAILED: &str = "LoginFailed";
pub const ACCOUNT_LOCKED: &str = "AccountLocked";
pub const MESSAGE_SENT: &str = "MessageSent";

/// Count one occurrence of `name`.
pub fn count(name: &'static str) {
    tracing::info!(target: TARGET, metric = name, "metric");
}
