//! The per-user device key (API.md "Device key"): 32 random bytes the app uses to encrypt its
//! local cache. Stored only encrypted; the same key on every call until an admin resets it,
//! which also revokes every session of the user — the remote wipe: the app can no longer
//! fetch the key, so its cache is unreadable.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use crate::domain::types::TenantId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ports::store::{Cond, StoreError, Table, TxOp, Update};
use crate::services::identity::users;
use crate::services::tenancy::audit;

fn new_key_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `GET /v1/me/device-key` → `{"key_id", "key", "algorithm": "AES-256-GCM"}`.
pub async fn get(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    for _ in 0..2 {
        let user = users::get(&state, &p.tenant, &p.user_id)
            .await
            .map_err(ApiError::Internal)?
            .ok_or(ApiError::Unauthorized)?;
        if let (Some(key), Some(id)) =
            (user.open_bytes(&state, &p.tenant, "device_key").await.map_err(ApiError::Internal)?, user.device_key_id())
        {
            return Ok(Json(
                json!({ "key_id": id, "key": STANDARD.encode(key.as_slice()), "algorithm": "AES-256-GCM" }),
            ));
        }
        // First use: create it; a concurrent first use may win, then we read theirs.
        let key = crate::domain::crypto::random_32();
        let sealed =
            users::seal(&state, &p.tenant, &p.user_id, "device_key", key.as_ref()).await.map_err(ApiError::Internal)?;
        let set = Update::default().set("device_key_enc", sealed).set("device_key_id", new_key_id());
        let cond = Cond::And(vec![Cond::Exists, Cond::Missing("device_key_enc".into())]);
        match state
            .ports
            .store
            .update(&Table::Tenant(p.tenant.as_str().into()), users::USERS_PK, &users::user_sk(&p.user_id), set, cond)
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    Err(ApiError::internal(anyhow::anyhow!("device key could not be created")))
}

/// `POST /v1/admin/users/{user_id}/device-key/reset` → 204: a new key replaces the old one and
/// every session of the user is revoked, in one transaction.
pub async fn reset(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let target = crate::http::routes::admin::target(&state, &p.tenant, path).await?;
    let key = crate::domain::crypto::random_32();
    let sealed = users::seal(&state, &p.tenant, &target.user_id, "device_key", key.as_ref())
        .await
        .map_err(ApiError::Internal)?;
    let op = TxOp::Update {
        table: table(&p.tenant),
        pk: users::USERS_PK.into(),
        sk: users::user_sk(&target.user_id),
        update: Update::default()
            .set("device_key_enc", sealed)
            .set("device_key_id", new_key_id())
            .add("session_epoch", 1),
        cond: Cond::Exists,
    };
    match state.ports.store.transact(vec![op]).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    }
    // The wiped app must not even be woken up by notifications any more.
    crate::services::devices::drop_all(&state, &p.tenant, &target.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "device_key.reset", &target.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

fn table(t: &TenantId) -> Table {
    Table::Tenant(t.as_str().into())
}
