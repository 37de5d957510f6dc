//! Registrations and the waitlist. The event's META holds the counters; every change of a
//! registration moves them in the same transaction, conditioned on the seats it saw, so the
//! capacity holds however many attendees register at once. A cancellation hands its seat
//! to the first waitlisted attendee in that same transaction.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::types::{EventId, TenantId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Direction, Item, StoreError, Table, TxOp, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::events::notify;
use crate::services::events::record::{attr, event_pk, load, load_any, query, reg_sk, Status, META};
use crate::services::identity::sessions::Principal;
use crate::services::identity::users;
use crate::services::push::EventNoticeKind;

pub use crate::services::events::record::{REGISTERED, WAITLISTED};
/// How often a write that lost a race to other registrations is tried again.
const TRIES: usize = 16;

/// The capacity the caller saw is still the event's (an edit commits against the counters, so
/// a registration must commit against the capacity).
fn same_capacity(capacity: Option<i64>) -> Cond {
    match capacity {
        Some(c) => Cond::eq(attr::CAPACITY, c),
        None => Cond::Missing(attr::CAPACITY.into()),
    }
}

/// The write of the event's registration counters that a registration change commits with.
fn counters(table: &Table, pk: &str, update: Update, cond: Cond) -> TxOp {
    TxOp::Update { table: table.clone(), pk: pk.into(), sk: META.into(), update, cond }
}

/// A short, jittered pause before trying a write that lost a race again (DynamoDB reports
/// concurrent transactions on one item as a conflict, answered as `Unavailable`).
async fn back_off(attempt: usize) {
    let ms = rand::random::<u64>() % (5 * (attempt as u64 + 1)) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// The caller's registration status, if any.
pub async fn status_of(
    ctx: &Context,
    tenant: &TenantId,
    eid: &EventId,
    user_id: &str,
) -> Result<Option<&'static str>, ServiceError> {
    let table = Table::tenant(tenant);
    let reg = ctx.ports.store.get(&table, &event_pk(eid.as_str()), &reg_sk(user_id)).await;
    Ok(match reg.context("read a registration")?.as_ref().and_then(|r| r.s("status")) {
        Some(REGISTERED) => Some(REGISTERED),
        Some(WAITLISTED) => Some(WAITLISTED),
        _ => None,
    })
}

#[derive(Serialize)]
pub struct Registered {
    pub status: &'static str,
}

/// `POST /v1/events/{id}/registration`: a seat if one is free and nobody waits, else a
/// place at the end of the waitlist. Again → 409.
pub async fn register(ctx: &Context, p: &Principal, eid: &EventId) -> Result<Registered, ServiceError> {
    let table = Table::tenant(&p.tenant);
    let pk = event_pk(eid.as_str());
    for attempt in 0..TRIES {
        let rec = load(ctx, p, eid).await?;
        if rec.status != Status::Published {
            return Err(ServiceError::ValidationFailed("only published events take registrations".into()));
        }
        if status_of(ctx, &p.tenant, eid, &p.user_id).await?.is_some() {
            return Err(ServiceError::Conflict("you are already registered for this event".into()));
        }
        let now = rfc3339(ctx.ports.clock.now());
        let published = Cond::eq(attr::STATUS, Status::Published.as_str());
        let (status, ops) = if !rec.full() {
            let mut seat = vec![Cond::Exists, published, Cond::eq(attr::WAITLISTED, 0i64), same_capacity(rec.capacity)];
            if let Some(c) = rec.capacity {
                seat.push(Cond::lt(attr::REGISTERED, c));
            }
            let reg = Item::new(&pk, reg_sk(&p.user_id)).with("status", REGISTERED).with("registered_at", now.as_str());
            let ops = vec![
                counters(&table, &pk, Update::default().add(attr::REGISTERED, 1), Cond::And(seat)),
                TxOp::Put { table: table.clone(), item: reg, cond: Cond::NotExists },
            ];
            (REGISTERED, ops)
        } else {
            let mut full = vec![Cond::gt(attr::WAITLISTED, 0i64)];
            if let Some(c) = rec.capacity {
                full.push(Cond::ge(attr::REGISTERED, c));
            }
            let wait_sk = format!("WAIT#{}#{}", uuid::Uuid::now_v7().simple(), p.user_id);
            let reg = Item::new(&pk, reg_sk(&p.user_id))
                .with("status", WAITLISTED)
                .with("registered_at", now.as_str())
                .with("wait_sk", wait_sk.as_str());
            let wait = Item::new(&pk, &wait_sk).with("user_id", p.user_id.as_str());
            let ops = vec![
                counters(
                    &table,
                    &pk,
                    Update::default().add(attr::WAITLISTED, 1),
                    Cond::And(vec![Cond::Exists, published, same_capacity(rec.capacity), Cond::Or(full)]),
                ),
                TxOp::Put { table: table.clone(), item: reg, cond: Cond::NotExists },
                TxOp::Put { table: table.clone(), item: wait, cond: Cond::NotExists },
            ];
            (WAITLISTED, ops)
        };
        match ctx.ports.store.transact(ops).await {
            Ok(()) => {
                if status == WAITLISTED {
                    // Seats may have opened (a capacity raise) between the read and the write.
                    settle(ctx, &p.tenant, eid).await;
                }
                return Ok(Registered { status });
            }
            // Seats, the waitlist or the caller's own registration changed: look again.
            Err(StoreError::TransactionCancelled { .. }) => continue,
            Err(StoreError::Unavailable(_)) => back_off(attempt).await,
            Err(e) => return Err(anyhow::Error::from(e).context("register").into()),
        }
    }
    Err(ServiceError::Unavailable { retry_after_secs: 1 })
}

/// The first waitlisted attendee: (WAIT sort key, user id).
async fn first_waiting(
    ctx: &Context,
    tenant: &TenantId,
    eid: &EventId,
) -> Result<Option<(String, String)>, ServiceError> {
    let req = query(tenant, eid, "WAIT#", Direction::Forward, 1, None);
    let page = ctx.ports.store.query(req).await.context("read the waitlist")?;
    Ok(page.items.into_iter().next().and_then(|w| Some((w.sk.clone(), w.s("user_id")?.to_owned()))))
}

/// The writes that move the waitlisted `user` (at `wait_sk`) into a seat.
fn promotion(table: &Table, pk: &str, wait_sk: &str, user: &str, now: &str) -> [TxOp; 2] {
    [
        TxOp::Delete { table: table.clone(), pk: pk.into(), sk: wait_sk.into(), cond: Cond::Exists },
        TxOp::Update {
            table: table.clone(),
            pk: pk.into(),
            sk: reg_sk(user),
            update: Update::default().set("status", REGISTERED).set("registered_at", now).remove("wait_sk"),
            cond: Cond::And(vec![Cond::Exists, Cond::eq("status", WAITLISTED), Cond::eq("wait_sk", wait_sk)]),
        },
    ]
}

/// `DELETE /v1/events/{id}/registration`: the caller leaves; a freed seat goes to the first
/// waitlisted attendee in the same transaction, who is then notified.
pub async fn cancel(ctx: &Context, p: &Principal, eid: &EventId) -> Result<(), ServiceError> {
    let table = Table::tenant(&p.tenant);
    let pk = event_pk(eid.as_str());
    for attempt in 0..TRIES {
        // A cancelled event promotes nobody: its seats are gone with it.
        let published = load(ctx, p, eid).await?.status == Status::Published;
        let reg = ctx.ports.store.get(&table, &pk, &reg_sk(&p.user_id)).await.context("read the registration")?;
        let Some(reg) = reg else { return Err(ServiceError::NotFound) };
        let mine = TxOp::Delete {
            table: table.clone(),
            pk: pk.clone(),
            sk: reg_sk(&p.user_id),
            cond: Cond::eq("status", reg.s("status").unwrap_or_default()),
        };
        let meta = |update: Update, cond: Cond| counters(&table, &pk, update, Cond::And(vec![Cond::Exists, cond]));
        let mut promoted = None;
        let ops = if reg.s("status") == Some(WAITLISTED) {
            let wait_sk = reg.s("wait_sk").unwrap_or_default().to_owned();
            vec![
                mine,
                TxOp::Delete { table: table.clone(), pk: pk.clone(), sk: wait_sk, cond: Cond::Always },
                meta(Update::default().add(attr::WAITLISTED, -1), Cond::gt(attr::WAITLISTED, 0i64)),
            ]
        } else {
            let first = if published { first_waiting(ctx, &p.tenant, eid).await? } else { None };
            match first {
                Some((wait_sk, user)) => {
                    let now = rfc3339(ctx.ports.clock.now());
                    let mut ops = vec![mine];
                    ops.extend(promotion(&table, &pk, &wait_sk, &user, &now));
                    let still = Cond::And(vec![
                        Cond::gt(attr::WAITLISTED, 0i64),
                        Cond::eq(attr::STATUS, Status::Published.as_str()),
                    ]);
                    ops.push(meta(Update::default().add(attr::WAITLISTED, -1), still));
                    promoted = Some(user);
                    ops
                }
                // Nobody waits (checked by the write), or the event is cancelled.
                None => {
                    let nobody = if published { Cond::eq(attr::WAITLISTED, 0i64) } else { Cond::Always };
                    vec![mine, meta(Update::default().add(attr::REGISTERED, -1), nobody)]
                }
            }
        };
        match ctx.ports.store.transact(ops).await {
            Ok(()) => {
                if let Some(user) = promoted {
                    notify::tell(ctx, &p.tenant, eid, EventNoticeKind::RegistrationPromoted, &[user]).await;
                }
                if published {
                    settle(ctx, &p.tenant, eid).await;
                }
                return Ok(());
            }
            Err(StoreError::TransactionCancelled { .. }) => continue,
            Err(StoreError::Unavailable(_)) => back_off(attempt).await,
            Err(e) => return Err(anyhow::Error::from(e).context("cancel the registration").into()),
        }
    }
    Err(ServiceError::Unavailable { retry_after_secs: 1 })
}

/// After the capacity grew: move waitlisted attendees into the free seats, first come first.
pub async fn promote_into_free_seats(ctx: &Context, tenant: &TenantId, eid: &EventId) -> Result<(), ServiceError> {
    let table = Table::tenant(tenant);
    let pk = event_pk(eid.as_str());
    let mut promoted = Vec::new();
    let mut misses = 0;
    while misses < TRIES {
        let rec = load_any(ctx, tenant, eid).await?;
        let free = rec.capacity.is_none_or(|c| rec.registered < c);
        if rec.waitlisted == 0 || !free || rec.status != Status::Published {
            break;
        }
        let Some((wait_sk, user)) = first_waiting(ctx, tenant, eid).await? else { break };
        let now = rfc3339(ctx.ports.clock.now());
        let mut seat = vec![
            Cond::Exists,
            Cond::gt(attr::WAITLISTED, 0i64),
            Cond::eq(attr::STATUS, Status::Published.as_str()),
            same_capacity(rec.capacity),
        ];
        if let Some(c) = rec.capacity {
            seat.push(Cond::lt(attr::REGISTERED, c));
        }
        let mut ops = promotion(&table, &pk, &wait_sk, &user, &now).to_vec();
        ops.push(counters(
            &table,
            &pk,
            Update::default().add(attr::REGISTERED, 1).add(attr::WAITLISTED, -1),
            Cond::And(seat),
        ));
        match ctx.ports.store.transact(ops).await {
            Ok(()) => promoted.push(user),
            Err(StoreError::TransactionCancelled { .. }) => misses += 1,
            Err(StoreError::Unavailable(_)) => {
                misses += 1;
                back_off(misses).await
            }
            Err(e) => return Err(anyhow::Error::from(e).context("promote from the waitlist").into()),
        }
    }
    if !promoted.is_empty() {
        notify::tell(ctx, tenant, eid, EventNoticeKind::RegistrationPromoted, &promoted).await;
    }
    Ok(())
}

/// Promote into any free seat, best effort: a failure here leaves a consistent state that the
/// next registration, cancellation or edit settles again.
pub async fn settle(ctx: &Context, tenant: &TenantId, eid: &EventId) {
    if let Err(e) = promote_into_free_seats(ctx, tenant, eid).await {
        tracing::warn!(tenant = %tenant, event_id = %eid, error = format!("{e:#}"), "waitlist promotion deferred");
    }
}

#[derive(Serialize)]
pub struct RegistrationView {
    pub user_id: String,
    pub display_name: Option<String>,
    pub status: String,
    pub registered_at: Option<String>,
}

#[derive(Serialize)]
pub struct RegistrationPage {
    pub registrations: Vec<RegistrationView>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/events/{id}/registrations` (organizers): the attendee list with display names.
pub async fn list(
    ctx: &Context,
    p: &Principal,
    eid: &EventId,
    limit: usize,
    cursor: Option<String>,
) -> Result<RegistrationPage, ServiceError> {
    load(ctx, p, eid).await?;
    let req = query(&p.tenant, eid, "REG#", Direction::Forward, limit, cursor);
    let page = ctx.page(req, "read the registrations").await?;
    let mut out = Vec::with_capacity(page.items.len());
    for r in page.items {
        let user_id = r.sk.trim_start_matches("REG#").to_owned();
        let display_name = match users::get(ctx, &p.tenant, &user_id).await? {
            Some(u) => Some(u.display_name(ctx, &p.tenant).await.context("open a display name")?),
            None => None,
        };
        out.push(RegistrationView {
            user_id,
            display_name,
            status: r.s("status").unwrap_or_default().to_owned(),
            registered_at: r.s("registered_at").map(str::to_owned),
        });
    }
    Ok(RegistrationPage { registrations: out, next_cursor: page.next_cursor })
}
