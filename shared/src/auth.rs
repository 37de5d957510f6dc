//! Authentication of tenant users: the `Principal` extractor every authenticated route takes.
//!
//! Access tokens are issued by the identity module (sessions, signed JWTs), which is the next
//! piece of work (issue "Identity core"). Until it exists no token can be valid, so every
//! bearer token is refused with API.md's 401 `unauthorized` — the documented behaviour of
//! `GET /v1/policy` at this stage.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::BearerToken;
use crate::types::TenantId;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub user_id: String,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        verify_access_token(state, &token)
    }
}

/// No signing keys exist before the identity module, so no token verifies.
fn verify_access_token(_state: &AppState, _token: &str) -> Result<Principal, ApiError> {
    Err(ApiError::Unauthorized)
}
