//! Push device registrations: each user's devices (`DEVICES#<user>/DEV#<id>`), their tokens
//! stored encrypted. Device-key reset and disabling a user drop them all.

use anyhow::Context as _;

use crate::domain::types::{DeviceId, TenantId};
use crate::ports::push::Platform;
use crate::ports::store::{
    delete_partition, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update,
};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;
use crate::services::push::devices_pk;
use crate::services::tenancy::keys::Field;
use crate::services::tenancy::{audit, status};

/// A user has at most this many registered devices.
const MAX_DEVICES: usize = 20;

#[derive(serde::Serialize)]
pub struct Registered {
    pub device_id: DeviceId,
}

/// Register one of the caller's devices (`platform`: fcm or apns).
pub async fn register(state: &Context, p: &Principal, platform: &str, token: &str) -> Result<Registered, ServiceError> {
    let platform = Platform::parse(platform)
        .ok_or_else(|| ServiceError::ValidationFailed("platform must be fcm or apns".into()))?;
    let token = token.trim();
    if token.is_empty() || token.len() > 4096 || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ServiceError::ValidationFailed("token must be 1..=4096 visible characters".into()));
    }
    let table = Table::tenant(&p.tenant);
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
        .context("device registrations")?;
    if existing.items.len() >= MAX_DEVICES {
        return Err(ServiceError::ValidationFailed(format!("at most {MAX_DEVICES} devices; remove one first")));
    }
    let did = DeviceId::generate();
    let sk = format!("DEV#{did}");
    let token_enc = state
        .tenant_keys
        .seal_field(&state.ports, &p.tenant, &Field { pk: &pk, sk: &sk, name: "token" }, token.as_bytes())
        .await?;
    let item = Item::new(&pk, &sk)
        .with("platform", platform.as_str())
        .with("token_enc", token_enc)
        .with("created_at", state.ports.clock.now_secs());
    // With the device, the tenant's marker learns it has push devices (sends then queue
    // pushes); one transaction, so a stored device is never left unannounced.
    let announce = TxOp::Update {
        table: table.clone(),
        pk: status::PK.into(),
        sk: status::SK.into(),
        update: Update::default().set(status::PUSH_DEVICES, true),
        cond: Cond::Always,
    };
    state
        .ports
        .store
        .transact(vec![TxOp::Put { table: table.clone(), item, cond: Cond::NotExists }, announce])
        .await
        .context("device registrations")?;
    status::forget(state, &p.tenant);
    audit::record(&state.ports, &p.tenant, &p.user_id, "device.register", did.as_str(), "success").await?;
    Ok(Registered { device_id: did })
}

/// Remove one of the caller's devices (404 if the caller has no such device).
pub async fn unregister(state: &Context, p: &Principal, did: &DeviceId) -> Result<(), ServiceError> {
    let table = Table::tenant(&p.tenant);
    match state.ports.store.delete(&table, &devices_pk(&p.user_id), &format!("DEV#{did}"), Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ServiceError::NotFound),
        Err(e) => return Err(anyhow::Error::from(e).context("remove the device").into()),
    }
    audit::record(&state.ports, &p.tenant, &p.user_id, "device.unregister", did.as_str(), "success").await?;
    Ok(())
}

/// Drop every device of a user (remote wipe, disable).
pub async fn drop_all(state: &Context, tenant: &TenantId, user_id: &str) -> Result<(), ServiceError> {
    let table = Table::tenant(tenant);
    delete_partition(&*state.ports.store, &table, &devices_pk(user_id), "DEV#")
        .await
        .context("device registrations")?;
    Ok(())
}
