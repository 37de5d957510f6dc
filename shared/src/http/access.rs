//! Authorization in one place. Every route in `crate::http::ROUTES` declares its [`Access`];
//! for user routes this middleware authenticates the bearer token against a live session,
//! applies API.md's gates (forced password change, then the role's privilege) and hands the
//! handler a [`Principal`].

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::roles::{self, Privilege};
use crate::domain::types::ConversationId;
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
        let also = prefetch(&mut parts, &state).await;
        let principal = crate::services::identity::sessions::authenticate_with(&state, &token, also).await?;
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

/// The item the route's service reads first, read with the session in one round trip: the
/// conversation a `/v1/conversations/{id}/...` route names (its membership check).
async fn prefetch(parts: &mut Parts, state: &AppState) -> Option<(String, String)> {
    let route = parts.extensions.get::<MatchedPath>()?;
    if !route.as_str().starts_with("/v1/conversations/{id}") {
        return None;
    }
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let (_, id) = params.iter().find(|(name, _)| *name == "id")?;
    // A malformed id is the handler's to refuse; nothing to read for it.
    let cid = ConversationId::parse(id).ok()?;
    Some(crate::services::messaging::membership::meta_key(cid.as_str()))
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
