//! Tenant policy routes.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::policy::{Policy, POLICY_PK, POLICY_SK};
use crate::ports::store::Table;

/// `GET /v1/policy` (any authenticated user of the tenant).
pub async fn get_policy(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let item = state
        .ports
        .store
        .get(&Table::Tenant(principal.tenant.as_str().into()), POLICY_PK, POLICY_SK)
        .await
        .map_err(ApiError::internal)?;
    let policy = item.as_ref().map(Policy::from_item).unwrap_or_default();
    Ok(Json(policy.to_json()))
}
