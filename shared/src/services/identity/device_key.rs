//! Device keys (API.md "Device key"): one per user, stored only encrypted, replaced by an
//! admin's reset — the remote wipe, which also ends every session of the user.

use crate::services::identity::users::attr;
use anyhow::Context as _;
use base64::{engine::general_purpose::STANDARD, Engine};

use crate::domain::types::UserId;
use crate::ports::store::{Cond, StoreError, Table, TxOp, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;
use crate::services::identity::users::{self};
use crate::services::tenancy::audit;

fn new_key_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `GET /v1/me/device-key` → `{"key_id", "key", "algorithm": "AES-256-GCM"}`.
#[derive(serde::Serialize)]
pub struct DeviceKey {
    pub key_id: String,
    pub key: String,
    pub algorithm: &'static str,
}

pub async fn get(state: &Context, p: &Principal) -> Result<DeviceKey, ServiceError> {
    for _ in 0..2 {
        let user = users::get(state, &p.tenant, &p.user_id)
            .await
            .context("get: users::get")?
            .ok_or(ServiceError::Unauthorized)?;
        if let (Some(key), Some(id)) = (
            user.open_bytes(state, &p.tenant, "device_key").await.context("get: user.open_bytes")?,
            user.device_key_id(),
        ) {
            let key = STANDARD.encode(key.as_slice());
            return Ok(DeviceKey { key_id: id.to_owned(), key, algorithm: "AES-256-GCM" });
        }
        // First use: create it; a concurrent first use may win, then we read theirs.
        let key = crate::domain::crypto::random_32();
        let sealed =
            users::seal(state, &p.tenant, &p.user_id, "device_key", key.as_ref()).await.context("get: users::seal")?;
        let set = Update::default().set(attr::DEVICE_KEY_ENC, sealed).set(attr::DEVICE_KEY_ID, new_key_id());
        let cond = Cond::And(vec![Cond::Exists, Cond::Missing(attr::DEVICE_KEY_ENC.into())]);
        match state
            .ports
            .store
            .update(&Table::tenant(&p.tenant), users::USERS_PK, &users::user_sk(&p.user_id), set, cond)
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(ServiceError::internal(e)),
        }
    }
    Err(ServiceError::internal(anyhow::anyhow!("device key could not be created")))
}

/// `POST /v1/admin/users/{user_id}/device-key/reset` → 204: a new key replaces the old one and
/// every session of the user is revoked, in one transaction.
pub async fn reset(state: &Context, p: &Principal, user_id: &UserId) -> Result<(), ServiceError> {
    let target = users::target(state, &p.tenant, user_id).await?;
    let key = crate::domain::crypto::random_32();
    let sealed = users::seal(state, &p.tenant, &target.user_id, "device_key", key.as_ref())
        .await
        .context("reset: users::seal")?;
    let op = TxOp::Update {
        table: Table::tenant(&p.tenant),
        pk: users::USERS_PK.into(),
        sk: users::user_sk(&target.user_id),
        update: Update::default()
            .set(attr::DEVICE_KEY_ENC, sealed)
            .set(attr::DEVICE_KEY_ID, new_key_id())
            .add(attr::SESSION_EPOCH, 1),
        cond: Cond::Exists,
    };
    match state.ports.store.transact(vec![op]).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ServiceError::NotFound),
        Err(e) => return Err(ServiceError::internal(e)),
    }
    // The wiped app must not even be woken up by notifications any more.
    crate::services::devices::drop_all(state, &p.tenant, &target.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "device_key.reset", &target.user_id, "success")
        .await
        .context("reset: audit::record")?;
    Ok(())
}
