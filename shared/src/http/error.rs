//! The one API error type, mapped to API.md's JSON error format in one place; a service's
//! verdict ([`ServiceError`]) converts into it, so `?` works in handlers. Messages are
//! written for clients and never carry causes, keys, expressions or other users' data; an
//! `Internal` error logs its full cause chain and answers an opaque 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::services::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("password policy")]
    PasswordPolicy(Vec<&'static str>),
    #[error("validation failed: {0}")]
    ValidationFailed(String),
    #[error("account locked")]
    AccountLocked { retry_after_secs: u64 },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("temporarily unavailable")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ServiceError::from(e.into()).into()
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidCredentials | SessionExpired => StatusCode::UNAUTHORIZED,
            Forbidden | PasswordChangeRequired | MfaEnrollmentRequired => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PasswordPolicy(_) | ValidationFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AccountLocked { .. } => StatusCode::LOCKED,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidRequest(_) => "invalid_request",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            SessionExpired => "session_expired",
            Forbidden => "forbidden",
            PasswordChangeRequired => "password_change_required",
            MfaEnrollmentRequired => "mfa_enrollment_required",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict(_) => "conflict",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            PasswordPolicy(_) => "password_policy",
            ValidationFailed(_) => "validation_failed",
            AccountLocked { .. } => "account_locked",
            RateLimited { .. } => "rate_limited",
            Unavailable { .. } => "unavailable",
            Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        use ApiError::*;
        match self {
            InvalidRequest(m) | Conflict(m) | ValidationFailed(m) => m.clone(),
            Unauthorized => "a valid access token is required".into(),
            InvalidCredentials => "the credentials are not valid".into(),
            SessionExpired => "the session has expired; sign in again".into(),
            Forbidden => "your role does not allow this".into(),
            PasswordChangeRequired => "you must change your password first".into(),
            MfaEnrollmentRequired => "you must enrol in multi-factor authentication first".into(),
            NotFound => "not found".into(),
            MethodNotAllowed => "method not allowed on this resource".into(),
            PayloadTooLarge => "the request body is too large".into(),
            UnsupportedMediaType => "expected Content-Type: application/json".into(),
            PasswordPolicy(_) => "the password does not meet the password policy".into(),
            AccountLocked { .. } => "too many failed attempts; try again later".into(),
            RateLimited { .. } => "too many requests; try again later".into(),
            Unavailable { .. } => "the service is busy; nothing was changed, try again shortly".into(),
            Internal(_) => "an internal error occurred".into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as S;
        match e {
            S::InvalidRequest(m) => ApiError::InvalidRequest(m),
            S::Unauthorized => ApiError::Unauthorized,
            S::InvalidCredentials => ApiError::InvalidCredentials,
            S::SessionExpired => ApiError::SessionExpired,
            S::Forbidden => ApiError::Forbidden,
            S::PasswordChangeRequired => ApiError::PasswordChangeRequired,
            S::MfaEnrollmentRequired => ApiError::MfaEnrollmentRequired,
            S::NotFound => ApiError::NotFound,
            S::Conflict(m) => ApiError::Conflict(m),
            S::PayloadTooLarge => ApiError::PayloadTooLarge,
            S::PasswordPolicy(rules) => ApiError::PasswordPolicy(rules),
            S::ValidationFailed(m) => ApiError::ValidationFailed(m),
            S::AccountLocked { retry_after_secs } => ApiError::AccountLocked { retry_after_secs },
            S::RateLimited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            S::Unavailable { retry_after_secs } => ApiError::Unavailable { retry_after_secs },
            S::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            // The full cause chain goes to the log (inside the request's span, so it carries
            // the request id); the client gets an opaque answer.
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let mut error = json!({"code": self.code(), "message": self.message()});
        if let ApiError::PasswordPolicy(failed) = &self {
            error["details"] = json!({ "failed": failed });
        }
        let mut resp = (self.status(), axum::Json(json!({ "error": error }))).into_response();
        let h = resp.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            ApiError::AccountLocked { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs }
            | ApiError::Unavailable { retry_after_secs } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
