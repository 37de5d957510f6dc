//! The append-only audit log, kept in each tenant's own table under partition `AUDIT`, sorted
//! by time (UUIDv7 sort keys), so it reads newest first with a cursor. Events name actors and
//! targets by id only — never passwords, tokens, answers or email addresses.

use crate::backend::Ports;
use crate::clock::rfc3339;
use crate::ports::store::{Cond, Item, Table};
use crate::types::TenantId;

pub const AUDIT_PK: &str = "AUDIT";

pub async fn record(
    ports: &Ports,
    tenant: &TenantId,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) -> anyhow::Result<()> {
    let now = ports.clock.now();
    let sk = format!("EVT#{}", uuid::Uuid::now_v7().simple());
    let item = Item::new(AUDIT_PK, sk)
        .with("at", rfc3339(now))
        .with("actor", actor)
        .with("action", action)
        .with("target", target)
        .with("outcome", outcome);
    // NotExists: an audit event is never overwritten.
    ports.store.put(&Table::Tenant(tenant.as_str().into()), item, Cond::NotExists).await?;
    Ok(())
}
