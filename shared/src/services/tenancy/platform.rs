//! The platform operator's use cases beyond provisioning: rotating a tenant's data key (with
//! the queued re-encryption) and reporting how far that got.

use serde::Serialize;

use crate::domain::types::TenantId;
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::tenancy::{audit, tenants};

/// An existing tenant from an id given by the operator; anything else is 404.
pub async fn existing_tenant(ctx: &Context, id: &str) -> Result<TenantId, ServiceError> {
    let tenant = TenantId::parse(id).map_err(|_| ServiceError::NotFound)?;
    match tenants::directory_entry(ctx, &tenant).await? {
        Some(_) => Ok(tenant),
        None => Err(ServiceError::NotFound),
    }
}

#[derive(Serialize)]
pub struct Rotated {
    pub tenant_id: String,
    pub key_version: u32,
}

/// Add data-key version n+1 (new writes use it at once; other processes within a minute) and
/// queue the re-encryption of older data. A concurrent rotation of the same tenant → 409.
pub async fn rotate_key(ctx: &Context, tenant_id: &str) -> Result<Rotated, ServiceError> {
    let tenant = existing_tenant(ctx, tenant_id).await?;
    let Some(version) = ctx.tenant_keys.rotate(&ctx.ports, &tenant).await? else {
        return Err(ServiceError::Conflict("another rotation of this tenant's key is in progress; retry".into()));
    };
    audit::record(&ctx.ports, &tenant, "platform", "keys.rotate", &format!("v{version}"), "success").await?;
    crate::services::maintenance::start_reencryption(ctx, &tenant, version).await?;
    Ok(Rotated { tenant_id: tenant.as_str().into(), key_version: version })
}

#[derive(Serialize)]
pub struct KeyVersion {
    pub version: u32,
    pub created_at: String,
}

#[derive(Serialize)]
pub struct KeyStatus {
    pub tenant_id: String,
    pub current_version: u32,
    pub reencrypted_through: u32,
    pub versions: Vec<KeyVersion>,
}

/// The tenant's data-key versions and how far re-encryption got.
pub async fn key_status(ctx: &Context, tenant_id: &str) -> Result<KeyStatus, ServiceError> {
    let tenant = existing_tenant(ctx, tenant_id).await?;
    let status = ctx.tenant_keys.status(&ctx.ports, &tenant).await?;
    let current = status.versions.iter().map(|(v, _)| *v).max().unwrap_or(1);
    let at = |t: i64| {
        crate::ports::clock::rfc3339(
            time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    };
    Ok(KeyStatus {
        tenant_id: tenant.as_str().into(),
        current_version: current,
        reencrypted_through: status.reencrypted_through,
        versions: status.versions.iter().map(|(v, t)| KeyVersion { version: *v, created_at: at(*t) }).collect(),
    })
}
