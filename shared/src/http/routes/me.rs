//! The caller's own account: profile, password change (`services::identity::account`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::services::identity::account;

/// `GET /v1/me`.
pub async fn me(State(state): State<AppState>, p: Principal) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(account::me(&state, &p).await?))
}

/// `POST /v1/me/password` → 204; other sessions are revoked, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<account::ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    account::change_password(&state, &p, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
