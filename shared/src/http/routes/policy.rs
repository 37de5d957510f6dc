//! Tenant policy routes.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// `GET /v1/policy` (any authenticated user of the tenant).
pub async fn get_policy(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::services::tenancy::policy::load(&state, &principal.tenant).await?.to_json()))
}
