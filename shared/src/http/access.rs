//! Authorization in one place. Every route in `crate::http::ROUTES` declares its [`Access`];
//! for user routes this middleware authenticates the bearer token against a live session,
//! applies API.md's gates (forced password change, then the role's privilege) and hands the
//! handler a [`Principal`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::roles::{self, Privilege};
use crate::http::error::ApiError;
use crate::http::extract::BearerToken;
use crate::http::state::AppState;
use crate::services::error::ServiceError;
pub use crate::services::identity::sessions::Principal;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the handler authenticates by other means: credentials, single-use tokens).
    Public,
    /// The platform operator's bearer token (checked by the handler).
    Operator,
    /// A signed-in user whose role has the privilege. `during_password_change`: still allowed
    /// while an admin-forced password change is pending (`GET /v1/me`, `POST /v1/me/password`,
    /// `POST /v1/auth/logout`). `during_mfa_enrollment`: still allowed while the tenant
    /// requires MFA and the user has not enrolled (`GET /v1/me`, `/v1/me/mfa/*`, logout).
    User { privilege: Privilege, during_password_change: bool, during_mfa_enrollment: bool },
}

pub async fn require(State((state, access)): State<(AppState, Access)>, mut req: Request, next: Next) -> Response {
    let Access::User { privilege, during_password_change, during_mfa_enrollment } = access else {
        return next.run(req).await;
    };
    let result = async {
        let (mut parts, body) = req.into_parts();
        let BearerToken(token) = BearerToken::from_request_parts(&mut parts, &state).await?;
        let principal = crate::services::identity::sessions::authenticate(&state, &token).await?;
        if principal.must_change_password() && !during_password_change {
            return Err(ApiError::Service(ServiceError::PasswordChangeRequired));
        }
        if !principal.user.mfa_enabled
            && !principal.sso
            && !during_mfa_enrollment
            && crate::services::tenancy::policy::load(&state, &principal.tenant).await?.mfa_required
        {
            return Err(ApiError::Service(ServiceError::MfaEnrollmentRequired));
        }
        if !roles::has(principal.user.role, privilege) {
            return Err(ApiError::Service(ServiceError::Forbidden));
        }
        req = Request::from_parts(parts, body);
        req.extensions_mut().insert(principal);
        Ok(req)
    }
    .await;
    match result {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Present whenever the route declares user access; absent only by a routing mistake.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route without user access took a Principal")))
    }
}
