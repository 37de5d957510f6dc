//! The one API error type, mapped to API.md's JSON error format in one place: a service's
//! verdict ([`ServiceError`], which `?` converts) or one of the two answers only HTTP gives. Messages are
//! written for clients and never carry causes, keys, expressions or other users' data; an
//! `Internal` error logs its full cause chain and answers an opaque 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::services::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported media type")]
    UnsupportedMediaType,
}

use ServiceError as S;

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ServiceError::from(e.into()).into()
    }

    pub fn status(&self) -> StatusCode {
        let ApiError::Service(e) = self else {
            return match self {
                ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
                _ => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            };
        };
        match e {
            S::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            S::Unauthorized | S::InvalidCredentials | S::SessionExpired => StatusCode::UNAUTHORIZED,
            S::Forbidden | S::PasswordChangeRequired | S::MfaEnrollmentRequired | S::SsoRequired => {
                StatusCode::FORBIDDEN
            }
            S::NotFound => StatusCode::NOT_FOUND,
            S::Conflict(_) | S::NotConfigured(_) => StatusCode::CONFLICT,
            S::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            S::PasswordPolicy(_) | S::ValidationFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            S::AccountLocked { .. } => StatusCode::LOCKED,
            S::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            S::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            S::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        let ApiError::Service(e) = self else {
            return match self {
                ApiError::MethodNotAllowed => "method_not_allowed",
                _ => "unsupported_media_type",
            };
        };
        match e {
            S::InvalidRequest(_) => "invalid_request",
            S::Unauthorized => "unauthorized",
            S::InvalidCredentials => "invalid_credentials",
            S::SessionExpired => "session_expired",
            S::Forbidden => "forbidden",
            S::PasswordChangeRequired => "password_change_required",
            S::MfaEnrollmentRequired => "mfa_enrollment_required",
            S::SsoRequired => "sso_required",
            S::NotFound => "not_found",
            S::Conflict(_) => "conflict",
            S::NotConfigured(_) => "not_configured",
            S::PayloadTooLarge => "payload_too_large",
            S::PasswordPolicy(_) => "password_policy",
            S::ValidationFailed(_) => "validation_failed",
            S::AccountLocked { .. } => "account_locked",
            S::RateLimited { .. } => "rate_limited",
            S::Unavailable { .. } => "unavailable",
            S::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        let ApiError::Service(e) = self else {
            return match self {
                ApiError::MethodNotAllowed => "method not allowed on this resource".into(),
                _ => "expected Content-Type: application/json".into(),
            };
        };
        match e {
            S::InvalidRequest(m) | S::Conflict(m) | S::ValidationFailed(m) | S::NotConfigured(m) => m.clone(),
            S::Unauthorized => "a valid access token is required".into(),
            S::InvalidCredentials => "the credentials are not valid".into(),
            S::SessionExpired => "the session has expired; sign in again".into(),
            S::Forbidden => "your role does not allow this".into(),
            S::PasswordChangeRequired => "you must change your password first".into(),
            S::MfaEnrollmentRequired => "you must enrol in multi-factor authentication first".into(),
            S::SsoRequired => "your organisation requires single sign-on; sign in through its identity provider".into(),
            S::NotFound => "not found".into(),
            S::PayloadTooLarge => "the request body is too large".into(),
            S::PasswordPolicy(_) => "the password does not meet the password policy".into(),
            S::AccountLocked { .. } => "too many failed attempts; try again later".into(),
            S::RateLimited { .. } => "too many requests; try again later".into(),
            S::Unavailable { .. } => "the service is busy; nothing was changed, try again shortly".into(),
            S::Internal(_) => "an internal error occurred".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Service(S::Internal(e)) = &self {
            // The full cause chain goes to the log (inside the request's span, so it carries
            // the request id); the client gets an opaque answer.
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let mut error = json!({"code": self.code(), "message": self.message()});
        if let ApiError::Service(S::PasswordPolicy(failed)) = &self {
            error["details"] = json!({ "failed": failed });
        }
        let mut resp = (self.status(), axum::Json(json!({ "error": error }))).into_response();
        let h = resp.headers_mut();
        match &self {
            ApiError::Service(S::Unauthorized) => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            ApiError::Service(
                S::AccountLocked { retry_after_secs }
                | S::RateLimited { retry_after_secs }
                | S::Unavailable { retry_after_secs },
            ) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
