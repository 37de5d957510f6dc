//! Tenant policy routes.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// `GET /v1/policy` (any authenticated user of the tenant).
pub async fn get_policy(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::policy::load(&state, &principal.tenant).await?.to_json()))
}
