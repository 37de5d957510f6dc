//! What a use case can answer besides its result. Each variant is a rule's verdict that a
//! client can act on (the HTTP layer maps it to API.md's status and code); `Internal` carries
//! the cause chain of anything unexpected, with each step's context, for the logs only.

use crate::ports::{BlobError, KeyError, MailError, QueueError, SecretError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("session expired")]
    SessionExpired,
    #[error("forbidden")]
    Forbidden,
    #[error("password change required")]
    PasswordChangeRequired,
    #[error("MFA enrollment required")]
    MfaEnrollmentRequired,
    /// The tenant requires single sign-on and this user may not use a password.
    #[error("single sign-on required")]
    SsoRequired,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The route needs an integration (SSO, Agora, push) the tenant has not set up.
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("password policy")]
    PasswordPolicy(Vec<&'static str>),
    #[error("validation failed: {0}")]
    ValidationFailed(String),
    #[error("account locked")]
    AccountLocked { retry_after_secs: u64 },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// A backend is throttling or briefly down and nothing was written: retry later.
    #[error("temporarily unavailable")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        e.into().into()
    }
}

/// How long a client is told to wait after a transient failure.
pub const RETRY_AFTER_SECS: u64 = 1;

impl From<anyhow::Error> for ServiceError {
    /// Unexpected, unless a transient port failure is somewhere in the chain (a step's
    /// `.context` keeps it there): then the client may retry.
    fn from(e: anyhow::Error) -> Self {
        let transient = e.chain().any(|cause| {
            matches!(cause.downcast_ref(), Some(StoreError::Unavailable(_)))
                || matches!(cause.downcast_ref(), Some(BlobError::Unavailable(_)))
                || matches!(cause.downcast_ref(), Some(KeyError::Unavailable(_)))
                || matches!(cause.downcast_ref(), Some(QueueError::Unavailable(_)))
                || matches!(cause.downcast_ref(), Some(MailError::Unavailable(_)))
                || matches!(cause.downcast_ref(), Some(SecretError::Unavailable(_)))
        });
        if transient {
            tracing::warn!(error = format!("{e:#}"), "transient backend failure");
            ServiceError::Unavailable { retry_after_secs: RETRY_AFTER_SECS }
        } else {
            ServiceError::Internal(e)
        }
    }
}

/// A port's failure is unexpected wherever a use case does not handle it itself, unless it is
/// transient (then 503).
macro_rules! port_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ServiceError {
            fn from(e: $t) -> Self {
                anyhow::Error::from(e).into()
            }
        }
    )*};
}
port_error_from!(StoreError, BlobError, KeyError, MailError, QueueError, SecretError);
