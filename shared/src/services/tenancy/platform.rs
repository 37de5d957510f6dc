//! The platform operator's use cases beyond provisioning: rotating a tenant's data key (with
//! the queued re-encryption) and reporting how far that got.

use serde::Serialize;

use crate::domain::types::TenantId;
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::tenancy::{audit, status, tenants};

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

#[derive(Serialize)]
pub struct TenantView {
    pub tenant_id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
}

#[derive(Serialize)]
pub struct TenantPage {
    pub tenants: Vec<TenantView>,
    pub next_cursor: Option<String>,
}

fn view(item: &crate::ports::Item) -> Option<TenantView> {
    Some(TenantView {
        tenant_id: item.pk.strip_prefix("TENANT#")?.to_owned(),
        slug: item.s("slug")?.to_owned(),
        name: item.s("name").unwrap_or_default().to_owned(),
        status: item.s("status").unwrap_or_default().to_owned(),
    })
}

/// `GET /v1/platform/tenants`: a page of the directory's tenants (a scan: the directory holds
/// two small items per tenant).
pub async fn list_tenants(ctx: &Context, limit: usize, cursor: Option<String>) -> Result<TenantPage, ServiceError> {
    let page = ctx.ports.store.scan(&crate::ports::Table::Platform, limit * 2, cursor).await.map_err(|e| match e {
        crate::ports::StoreError::InvalidCursor => ServiceError::InvalidRequest("bad cursor".into()),
        e => ServiceError::from(anyhow::Error::from(e).context("scan the directory")),
    });
    let page = page?;
    let mut tenants: Vec<TenantView> = page.items.iter().filter(|i| i.sk == "META").filter_map(view).collect();
    tenants.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(TenantPage { tenants, next_cursor: page.next_cursor })
}

/// `POST /v1/platform/tenants/{id}/disable|enable`: the directory's status and the tenant's
/// own marker change in one transaction; the tenant's users are refused sign-in and every
/// token from then on (other processes within [`status::TTL_SECS`]).
pub async fn set_disabled(ctx: &Context, tenant_id: &str, disabled: bool) -> Result<TenantView, ServiceError> {
    use crate::ports::store::{Cond, Table, TxOp, Update};
    let tenant = existing_tenant(ctx, tenant_id).await?;
    let (from, to) = if disabled { ("active", "disabled") } else { ("disabled", "active") };
    let directory = TxOp::Update {
        table: Table::Platform,
        pk: format!("TENANT#{tenant}"),
        sk: "META".into(),
        update: Update::default().set("status", to),
        cond: Cond::Or(vec![Cond::eq("status", from), Cond::eq("status", to)]),
    };
    // An update: the marker's other attributes (push devices) stay.
    let marker = TxOp::Update {
        table: Table::tenant(&tenant),
        pk: status::PK.into(),
        sk: status::SK.into(),
        update: Update::default().set(status::DISABLED, disabled),
        cond: Cond::Always,
    };
    let ops = vec![
        directory,
        marker,
        audit::event(
            &ctx.ports,
            &tenant,
            "platform",
            if disabled { "tenant.disable" } else { "tenant.enable" },
            tenant.as_str(),
            "success",
        ),
    ];
    ctx.commit(ops, ServiceError::Conflict("the tenant is still being provisioned".into())).await?;
    status::forget(ctx, &tenant);
    let item = tenants::directory_entry(ctx, &tenant).await?.ok_or(ServiceError::NotFound)?;
    view(&item).ok_or_else(|| ServiceError::internal(anyhow::anyhow!("malformed directory entry")))
}
