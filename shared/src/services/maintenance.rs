//! Maintenance work that no request waits for:
//!
//! - **Re-encryption** after a data-key rotation: a chain of queued jobs, one page of the
//!   tenant's table each, re-sealing every `*_enc` field still under an older key version.
//!   Each job enqueues its successor, so no run is long and a failed page is simply retried.
//! - **Retention of attachment ciphertext**: the periodic sweep of
//!   `messaging::attachments::sweep_expired` (run beside these jobs).
//!
//! - **Account emails** that anonymous routes queue (password reset, MFA recovery), so those
//!   routes answer in the same time whether or not the account exists.
//!
//! On AWS the `maintenance-worker` Lambda runs all of them (SQS jobs and an hourly schedule); the
//! local server drains the queue every second and sweeps every minute.

use crate::domain::types::TenantId;
use crate::ports::queue::MAX_DELAY_SECS;
use crate::ports::store::{Cond, Item, StoreError, Table, Update};
use crate::services::context::Context;
use crate::services::jobs::enqueue;
pub use crate::services::jobs::{queue, Job, MAX_RECEIVES, QUEUE};
use crate::services::tenancy::keys::{Field, CURRENT_TTL};

/// Items re-encrypted per job.
const PAGE: usize = 100;

/// Queue the re-encryption of a tenant's data to `version`. The job waits (re-queued with a
/// delay) until every process has stopped writing under older versions.
pub async fn start_reencryption(state: &Context, tenant: &TenantId, version: u32) -> anyhow::Result<()> {
    let not_before = state.ports.clock.now_secs() + CURRENT_TTL.as_secs() as i64 + 5;
    let job = Job::Reencrypt { tenant_id: tenant.as_str().into(), version, not_before, cursor: None };
    enqueue(state, &job, 0).await
}

/// Run one job. `Err` means retry it later.
pub async fn run(state: &Context, body: &[u8]) -> anyhow::Result<()> {
    let job = match serde_json::from_slice::<Job>(body) {
        Ok(j) => j,
        Err(_) => {
            tracing::error!("dropping a malformed maintenance job");
            return Ok(());
        }
    };
    match job {
        Job::AccountMail { mail } => crate::services::identity::account_mail::send(state, mail).await,
        Job::EventFanout { tenant_id, notice, cursor } => {
            crate::services::events::notify::fan_out(state, &tenant_id, notice, cursor).await
        }
        Job::Reencrypt { tenant_id, version, not_before, cursor } => {
            let Ok(tenant) = TenantId::parse(&tenant_id) else {
                tracing::error!("dropping a re-encryption job for an invalid tenant id");
                return Ok(());
            };
            let now = state.ports.clock.now_secs();
            if now < not_before {
                // Delivered early (a queue delay is at most 15 minutes, and clocks differ).
                let wait = u32::try_from(not_before - now).unwrap_or(MAX_DELAY_SECS);
                let job = Job::Reencrypt { tenant_id, version, not_before, cursor };
                return enqueue(state, &job, wait).await;
            }
            if crate::services::tenancy::keys::TenantKeys::newest(&state.ports, &tenant).await? != version {
                // A later rotation superseded this one; its own job moves everything on.
                tracing::info!(tenant = %tenant, version, "re-encryption superseded by a newer rotation");
                return Ok(());
            }
            let (updated, next) = reencrypt_page(state, &tenant, version, cursor).await?;
            tracing::info!(tenant = %tenant, version, updated, more = next.is_some(), "re-encrypted a page");
            match next {
                Some(c) => {
                    let job = Job::Reencrypt { tenant_id, version, not_before, cursor: Some(c) };
                    enqueue(state, &job, 0).await
                }
                None => {
                    state.tenant_keys.mark_reencrypted(&state.ports, &tenant, version).await?;
                    crate::services::tenancy::audit::record(
                        &state.ports,
                        &tenant,
                        "platform",
                        "keys.reencrypt",
                        &format!("v{version}"),
                        "success",
                    )
                    .await
                }
            }
        }
    }
}

/// Re-seal one page of the tenant's items; returns the fields rewritten and the next cursor.
async fn reencrypt_page(
    state: &Context,
    tenant: &TenantId,
    version: u32,
    cursor: Option<String>,
) -> anyhow::Result<(usize, Option<String>)> {
    let table = Table::tenant(tenant);
    let page = state.ports.store.scan(&table, PAGE, cursor).await?;
    let mut updated = 0;
    for item in &page.items {
        let (update, cond, n) = reseal_item(state, tenant, item, version).await?;
        if n == 0 {
            continue;
        }
        match state.ports.store.update(&table, &item.pk, &item.sk, update, cond).await {
            Ok(_) => updated += n,
            // Rewritten (under the current key) or deleted meanwhile: nothing left to move.
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((updated, page.next_cursor))
}

/// The update re-sealing every old `<name>_enc` field of an item, guarded so that it applies
/// only if those fields are unchanged.
async fn reseal_item(
    state: &Context,
    tenant: &TenantId,
    item: &Item,
    version: u32,
) -> anyhow::Result<(Update, Cond, usize)> {
    let (mut update, mut guards, mut n) = (Update::default(), vec![Cond::Exists], 0);
    for (attr, value) in &item.attrs {
        let (Some(name), Some(sealed)) = (attr.strip_suffix("_enc"), value.as_b()) else { continue };
        let at = Field { pk: &item.pk, sk: &item.sk, name };
        if let Some(fresh) = state.tenant_keys.reseal(&state.ports, tenant, &at, sealed, version).await? {
            update = update.set(attr, fresh);
            guards.push(Cond::eq(attr, sealed.to_vec()));
            n += 1;
        }
    }
    Ok((update, Cond::And(guards), n))
}
