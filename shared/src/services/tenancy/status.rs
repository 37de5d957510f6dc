//! Whether a tenant is disabled by the platform operator: a marker in the tenant's own table
//! (which every function may read; the directory is the operator's), cached briefly, checked
//! wherever a session starts or is used. It also says whether the tenant ever registered a
//! push device, so sends in tenants without any queue no push work.

use crate::domain::types::TenantId;
use crate::ports::store::Table;
use crate::services::context::Context;
use crate::services::error::ServiceError;

pub const PK: &str = "TENANT";
pub const SK: &str = "STATUS";
/// How long (seconds) a process trusts what it read: a disable takes effect everywhere within it.
pub const TTL_SECS: i64 = 30;
/// The marker's attributes.
pub const DISABLED: &str = "disabled";
pub const PUSH_DEVICES: &str = "push_devices";

pub use crate::services::context::TenantStatus;

/// Forget what this process read (it just wrote the marker): the next check reads it again.
pub fn forget(ctx: &Context, tenant: &TenantId) {
    if let Ok(mut m) = ctx.tenant_status.lock() {
        m.remove(tenant.as_str());
    }
}

/// The tenant's marker (read from its own table, cached for [`TTL_SECS`]).
pub async fn status(ctx: &Context, tenant: &TenantId) -> Result<TenantStatus, ServiceError> {
    if let Some((at, status)) = ctx.tenant_status.lock().ok().and_then(|m| m.get(tenant.as_str()).copied()) {
        if ctx.ports.clock.now_secs() - at < TTL_SECS {
            return Ok(status);
        }
    }
    let item = match ctx.ports.store.get(&Table::tenant(tenant), PK, SK).await {
        Ok(item) => item,
        // No such tenant: nothing to refuse here; the caller's own lookups answer for it.
        Err(crate::ports::StoreError::NoSuchTable) => None,
        Err(e) => return Err(ServiceError::from(anyhow::Error::from(e).context("read the tenant's status"))),
    };
    let status = TenantStatus {
        disabled: item.as_ref().and_then(|i| i.bool(DISABLED)).unwrap_or(false),
        push_devices: item.as_ref().and_then(|i| i.bool(PUSH_DEVICES)),
    };
    if let Ok(mut m) = ctx.tenant_status.lock() {
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(tenant.as_str().to_owned(), (ctx.ports.clock.now_secs(), status));
    }
    Ok(status)
}

/// Whether the tenant is disabled.
pub async fn is_disabled(ctx: &Context, tenant: &TenantId) -> Result<bool, ServiceError> {
    Ok(status(ctx, tenant).await?.disabled)
}

/// Whether any device of the tenant was ever registered for pushes. Until one is, sends queue
/// no push work at all (a web-only clinic's server does none). After the first device
/// registers, other processes may skip pushes for up to [`TTL_SECS`] more.
pub async fn may_have_push_devices(ctx: &Context, tenant: &TenantId) -> Result<bool, ServiceError> {
    Ok(status(ctx, tenant).await?.push_devices != Some(false))
}
