//! Whether a tenant is disabled by the platform operator: a marker in the tenant's own table
//! (which every function may read; the directory is the operator's), cached briefly, checked
//! wherever a session starts or is used.

use crate::domain::types::TenantId;
use crate::ports::store::Table;
use crate::services::context::Context;
use crate::services::error::ServiceError;

pub const PK: &str = "TENANT";
pub const SK: &str = "STATUS";
/// How long (seconds) a process trusts what it read: a disable takes effect everywhere within it.
pub const TTL_SECS: i64 = 30;

/// Remember a status this process just wrote.
pub fn remember(ctx: &Context, tenant: &TenantId, disabled: bool) {
    if let Ok(mut m) = ctx.tenant_status.lock() {
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(tenant.as_str().to_owned(), (ctx.ports.clock.now_secs(), disabled));
    }
}

/// Whether the tenant is disabled (read from its own table, cached for [`TTL_SECS`]).
pub async fn is_disabled(ctx: &Context, tenant: &TenantId) -> Result<bool, ServiceError> {
    if let Some((at, disabled)) = ctx.tenant_status.lock().ok().and_then(|m| m.get(tenant.as_str()).copied()) {
        if ctx.ports.clock.now_secs() - at < TTL_SECS {
            return Ok(disabled);
        }
    }
    let item = match ctx.ports.store.get(&Table::tenant(tenant), PK, SK).await {
        Ok(item) => item,
        // No such tenant: nothing to refuse here; the caller's own lookups answer for it.
        Err(crate::ports::StoreError::NoSuchTable) => None,
        Err(e) => return Err(ServiceError::from(anyhow::Error::from(e).context("read the tenant's status"))),
    };
    let disabled = item.and_then(|i| i.bool("disabled")).unwrap_or(false);
    remember(ctx, tenant, disabled);
    Ok(disabled)
}
