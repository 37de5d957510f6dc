//! device_key routes: parse, call `services::identity::device_key`, answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::domain::types::UserId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::IdPath;
use crate::http::state::AppState;
use crate::services::identity::device_key;

/// `GET /v1/me/device-key` → `{"key_id", "key", "algorithm": "AES-256-GCM"}`.
pub async fn get(State(state): State<AppState>, p: Principal) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(device_key::get(&state, &p).await?))
}

/// `POST /v1/admin/users/{user_id}/device-key/reset` → 204: a new key replaces the old one and
/// every session of the user is revoked, in one transaction.
pub async fn reset(
    State(state): State<AppState>,
    p: Principal,
    IdPath(user_id): IdPath<UserId>,
) -> Result<StatusCode, ApiError> {
    device_key::reset(&state, &p, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
