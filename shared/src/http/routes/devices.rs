//! Push device registrations of the caller: `POST /v1/me/devices`, `DELETE /v1/me/devices/{id}`.
//! Tokens are stored encrypted; device-key reset and disabling a user drop them all.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::types::TenantId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::routes::messages::path_id;
use crate::ports::push::Platform;
use crate::ports::store::{delete_partition, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table};
use crate::runtime::state::AppState;
use crate::services::push::devices_pk;
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

/// A user has at most this many registered devices.
const MAX_DEVICES: usize = 20;

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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let platform = Platform::parse(&body.platform)
        .ok_or_else(|| ApiError::ValidationFailed("platform must be fcm or apns".into()))?;
    let token = body.token.trim();
    if token.is_empty() || token.len() > 4096 || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::ValidationFailed("token must be 1..=4096 visible characters".into()));
    }
    let table = Table::Tenant(p.tenant.as_str().into());
    let pk = devices_pk(&p.user_id);
    let existing = state
        .ports
        .store
        .query(QueryRequest {
            table: table.clone(),
            pk: pk.clone(),
            range: SkRange::Prefix("DEV#".into()),
            direction: Direction::Forward,
            limit: 100,
            cursor: None,
        })
        .await
        .map_err(ApiError::internal)?;
    if existing.items.len() >= MAX_DEVICES {
        return Err(ApiError::ValidationFailed(format!("at most {MAX_DEVICES} devices; remove one first")));
    }
    let did = uuid::Uuid::now_v7().simple().to_string();
    let sk = format!("DEV#{did}");
    let token_enc = state
        .tenant_keys
        .seal_field(&state.ports, &p.tenant, &Field { pk: &pk, sk: &sk, name: "token" }, token.as_bytes())
        .await
        .map_err(ApiError::Internal)?;
    let item = Item::new(&pk, &sk)
        .with("platform", platform.as_str())
        .with("token_enc", token_enc)
        .with("created_at", state.ports.clock.now_secs());
    state.ports.store.put(&table, item, Cond::NotExists).await.map_err(ApiError::internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "device.register", &did, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "device_id": did }))))
}

/// `DELETE /v1/me/devices/{id}` → 204 (404 if the caller has no such device).
pub async fn unregister(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let did = path_id(path)?;
    let table = Table::Tenant(p.tenant.as_str().into());
    match state.ports.store.delete(&table, &devices_pk(&p.user_id), &format!("DEV#{did}"), Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    }
    audit::record(&state.ports, &p.tenant, &p.user_id, "device.unregister", &did, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drop every device of a user (remote wipe, disable).
pub async fn drop_all(state: &AppState, tenant: &TenantId, user_id: &str) -> Result<(), ApiError> {
    let table = Table::Tenant(tenant.as_str().into());
    delete_partition(&*state.ports.store, &table, &devices_pk(user_id), "DEV#").await.map_err(ApiError::internal)?;
    Ok(())
}
