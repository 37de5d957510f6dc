//! A whole-store integrity check (after a restore): every tenant's every item is read, every
//! sealed field opened with the tenant's keys, and every attachment's ciphertext found, so a
//! restore is accepted only if everything it brought back is readable.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::types::TenantId;
use crate::ports::store::Table;
use crate::services::context::Context;
use crate::services::messaging::attachments::blob_key;
use crate::services::tenancy::keys::Field;

#[derive(Debug, Default, Serialize)]
pub struct IntegrityReport {
    pub tenants: u64,
    pub items: u64,
    pub sealed_fields: u64,
    pub attachments: u64,
    /// What could not be read, by kind and key (no contents).
    pub problems: Vec<String>,
}

async fn tenants(ctx: &Context) -> anyhow::Result<Vec<TenantId>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = ctx.ports.store.scan(&Table::Platform, 1000, cursor).await.context("scan the directory")?;
        for item in &page.items {
            if item.sk == "META" {
                if let Some(id) = item.pk.strip_prefix("TENANT#").and_then(|t| TenantId::parse(t).ok()) {
                    out.push(id);
                }
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

pub async fn check(ctx: &Context) -> anyhow::Result<IntegrityReport> {
    let mut report = IntegrityReport::default();
    for tenant in tenants(ctx).await? {
        report.tenants += 1;
        let table = Table::tenant(&tenant);
        let mut cursor = None;
        loop {
            let page = ctx.ports.store.scan(&table, 1000, cursor).await.context("scan a tenant")?;
            for item in &page.items {
                report.items += 1;
                for (attr, value) in &item.attrs {
                    let (Some(name), Some(sealed)) = (attr.strip_suffix("_enc"), value.as_b()) else { continue };
                    let at = Field { pk: &item.pk, sk: &item.sk, name };
                    match ctx.tenant_keys.open_field(&ctx.ports, &tenant, &at, sealed).await {
                        Ok(_) => report.sealed_fields += 1,
                        Err(_) => report.problems.push(format!("sealed field {name} of {}/{}", item.pk, item.sk)),
                    }
                }
                if let (Some(aid), "META") = (item.pk.strip_prefix("ATT#"), item.sk.as_str()) {
                    report.attachments += 1;
                    let found = match blob_key(&tenant, aid) {
                        Ok(key) => ctx.ports.blobs.get(&key).await.is_ok(),
                        Err(_) => false,
                    };
                    if !found {
                        report.problems.push(format!("ciphertext of attachment {aid}"));
                    }
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(report)
}
