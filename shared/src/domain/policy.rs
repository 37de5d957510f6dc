//! The security policy in one place: the fixed numbers of API.md (password rules, lockout,
//! session lifetimes, link lifetimes) that the rules enforce and `GET /v1/policy` reports,
//! and the part of a tenant's policy its admins may change.

use serde::Serialize;

/// Password length bounds (API.md "Accounts and sessions").
pub const PASSWORD_MIN_LENGTH: usize = 8;
pub const PASSWORD_MAX_LENGTH: usize = 128;
/// Consecutive failures that lock an account, and for how long.
pub const LOCKOUT_MAX_ATTEMPTS: i64 = 5;
pub const LOCKOUT_SECS: i64 = 15 * 60;
/// How long a lockout counter outlives its last failure (and its lock).
pub const LOCKOUT_COUNTER_TTL_SECS: i64 = 24 * 3600;
/// A session dies after this long without authenticated activity.
pub const SESSION_IDLE_SECS: i64 = 72 * 3600;
/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Invitation links live 72 hours; reset and MFA-recovery links one hour.
pub const INVITATION_TTL_SECS: i64 = 72 * 3600;
pub const RESET_LINK_TTL_SECS: i64 = 3600;
pub const MFA_RECOVERY_LINK_TTL_SECS: i64 = 3600;
/// The app passcode's bounds.
pub const APP_PASSCODE_MIN_DIGITS: u8 = 4;
pub const APP_PASSCODE_TIMEOUT_MINUTES: std::ops::RangeInclusive<u8> = 1..=15;

/// A tenant's adjustable policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub app_passcode_required: bool,
    /// Within [`APP_PASSCODE_TIMEOUT_MINUTES`].
    pub app_passcode_timeout_minutes: u8,
    pub mfa_required: bool,
    /// Password login, forgot and reset are refused (403 `sso_required`) for everyone but
    /// admins, who keep the password as the break-glass path when the IdP is down.
    pub sso_required: bool,
    /// Messages (and their attachments) older than this are removed; `None`: kept.
    pub message_retention_days: Option<u16>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            app_passcode_required: false,
            app_passcode_timeout_minutes: 5,
            mfa_required: false,
            sso_required: false,
            message_retention_days: None,
        }
    }
}

impl Policy {
    /// The `GET /v1/policy` document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "password": {
                "min_length": PASSWORD_MIN_LENGTH, "max_length": PASSWORD_MAX_LENGTH,
                "require_upper": true, "require_lower": true, "require_digit_or_special": true,
            },
            "lockout": {"max_attempts": LOCKOUT_MAX_ATTEMPTS, "duration_minutes": LOCKOUT_SECS / 60},
            "session_idle_timeout_hours": SESSION_IDLE_SECS / 3600,
            "app_passcode": {
                "required": self.app_passcode_required,
                "min_digits": APP_PASSCODE_MIN_DIGITS,
                "timeout_minutes": self.app_passcode_timeout_minutes,
            },
            "mfa_required": self.mfa_required,
            "sso_required": self.sso_required,
            "message_retention_days": self.message_retention_days,
        })
    }
}
