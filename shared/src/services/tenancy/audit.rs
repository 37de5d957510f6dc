//! The append-only audit log, kept in each tenant's own table under partition `AUDIT`, sorted
//! by time (UUIDv7 sort keys), so it reads newest first with a cursor. Events name actors and
//! targets by id only — never passwords, tokens, answers or email addresses.

use crate::domain::types::TenantId;
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Item, Table, TxOp};
use crate::ports::Ports;

pub const AUDIT_PK: &str = "AUDIT";

pub async fn record(
    ports: &Ports,
    tenant: &TenantId,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) -> anyhow::Result<()> {
    record_with(ports, tenant, actor, action, target, outcome, &[]).await
}

/// [`record`] with extra details (`method` and `subject` of a single sign-on), listed with
/// the event. Like every field here they must never hold secrets or personal data.
pub async fn record_with(
    ports: &Ports,
    tenant: &TenantId,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    details: &[(&str, &str)],
) -> anyhow::Result<()> {
    let (table, mut item) = entry(ports, tenant, actor, action, target, outcome);
    for (k, v) in details {
        item = item.with(k, *v);
    }
    // NotExists: an audit event is never overwritten.
    ports.store.put(&table, item, Cond::NotExists).await?;
    Ok(())
}

/// The write of one audit event, for a transaction that must record it together with the
/// change it describes.
pub fn event(ports: &Ports, tenant: &TenantId, actor: &str, action: &str, target: &str, outcome: &str) -> TxOp {
    event_with(ports, tenant, actor, action, target, outcome, &[])
}

/// [`event`] with extra details, as [`record_with`].
pub fn event_with(
    ports: &Ports,
    tenant: &TenantId,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    details: &[(&str, &str)],
) -> TxOp {
    let (table, mut item) = entry(ports, tenant, actor, action, target, outcome);
    for (k, v) in details {
        item = item.with(k, *v);
    }
    TxOp::Put { table, item, cond: Cond::NotExists }
}

fn entry(ports: &Ports, tenant: &TenantId, actor: &str, action: &str, target: &str, outcome: &str) -> (Table, Item) {
    let now = ports.clock.now();
    let sk = format!("EVT#{}", uuid::Uuid::now_v7().simple());
    let item = Item::new(AUDIT_PK, sk)
        .with("at", rfc3339(now))
        .with("actor", actor)
        .with("action", action)
        .with("target", target)
        .with("outcome", outcome);
    (Table::tenant(tenant), item)
}
