//! Push device routes of the caller: `POST /v1/me/devices`, `DELETE /v1/me/devices/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::domain::types::DeviceId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IdPath};
use crate::http::state::AppState;
use crate::services::devices::{self, Registered};

#[derive(Deserialize)]
pub struct DeviceBody {
    platform: String,
    token: String,
}

/// `POST /v1/me/devices` `{"platform": "fcm"|"apns", "token"}` → 201 `{"device_id"}`.
pub async fn register(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<DeviceBody>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    Ok((StatusCode::CREATED, Json(devices::register(&state, &p, &body.platform, &body.token).await?)))
}

/// `DELETE /v1/me/devices/{id}` → 204 (404 if the caller has no such device).
pub async fn unregister(
    State(state): State<AppState>,
    p: Principal,
    IdPath(did): IdPath<DeviceId>,
) -> Result<StatusCode, ApiError> {
    devices::unregister(&state, &p, &did).await?;
    Ok(StatusCode::NO_CONTENT)
}
