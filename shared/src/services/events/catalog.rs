//! Events themselves: create, edit, publish, cancel, read and list. Every CMS write records
//! its audit event in the same transaction.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::schedule::{parse_long_text, parse_time_zone, Instant};
use crate::domain::types::{parse_display_text, EventId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::events::record::{
    attr, event_pk, index_sk, is_organizer, load, load_any, EventRecord, Status, INDEX_ALL, INDEX_LISTED, META,
};
use crate::services::events::{agenda, notify, registration};
use crate::services::identity::sessions::Principal;
use crate::services::push::EventNoticeKind;
use crate::services::tenancy::audit;

pub const MAX_CAPACITY: i64 = 1_000_000;
/// The longest an event may last.
const MAX_DAYS: i64 = 366;

/// What an organizer writes; on create the first four are required (the route's body type).
#[derive(Clone, Default)]
pub struct EventFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub timezone: Option<String>,
    pub location: Option<String>,
    pub capacity: Option<i64>,
}

/// The validated changes (each `Some` is a field to write).
struct Valid {
    title: Option<String>,
    description: Option<String>,
    starts: Option<Instant>,
    ends: Option<Instant>,
    timezone: Option<String>,
    location: Option<String>,
    capacity: Option<i64>,
}

fn validate(f: EventFields, current: Option<&EventRecord>) -> Result<Valid, ServiceError> {
    let v = |r: Result<String, String>| r.map_err(ServiceError::ValidationFailed);
    let instant = |raw: &Option<String>, field| {
        raw.as_deref().map(|s| Instant::parse(s, field)).transpose().map_err(ServiceError::ValidationFailed)
    };
    let valid = Valid {
        title: f.title.map(|t| v(parse_display_text(&t, "title", 200))).transpose()?,
        description: f.description.map(|d| v(parse_long_text(&d, "description", 5000))).transpose()?,
        starts: instant(&f.starts_at, "starts_at")?,
        ends: instant(&f.ends_at, "ends_at")?,
        timezone: f.timezone.map(|z| v(parse_time_zone(&z))).transpose()?,
        location: f.location.map(|l| v(parse_display_text(&l, "location", 200))).transpose()?,
        capacity: f.capacity,
    };
    let starts = valid.starts.or(current.map(|c| c.starts));
    let ends = valid.ends.or(current.map(|c| c.ends));
    if let (Some(s), Some(e)) = (starts, ends) {
        if e <= s {
            return Err(ServiceError::ValidationFailed("ends_at must be after starts_at".into()));
        }
        if e.secs() - s.secs() > MAX_DAYS * 86400 {
            return Err(ServiceError::ValidationFailed(format!("an event lasts at most {MAX_DAYS} days")));
        }
    }
    if let Some(c) = valid.capacity {
        if !(1..=MAX_CAPACITY).contains(&c) {
            return Err(ServiceError::ValidationFailed(format!("capacity must be 1..={MAX_CAPACITY}")));
        }
    }
    Ok(valid)
}

#[derive(Serialize)]
pub struct Created {
    pub event_id: EventId,
}

/// A new event, in status `draft`.
pub async fn create(ctx: &Context, p: &Principal, f: EventFields) -> Result<Created, ServiceError> {
    let v = validate(f, None)?;
    let (Some(title), Some(starts), Some(ends), Some(timezone)) = (v.title, v.starts, v.ends, v.timezone) else {
        return Err(ServiceError::InvalidRequest("title, starts_at, ends_at and timezone are required".into()));
    };
    let eid = EventId::generate();
    let now = rfc3339(ctx.ports.clock.now());
    let mut meta = Item::new(event_pk(eid.as_str()), META)
        .with("title", title)
        .with("starts_at", starts.rfc3339())
        .with(attr::STARTS, starts.secs())
        .with("ends_at", ends.rfc3339())
        .with(attr::ENDS, ends.secs())
        .with("timezone", timezone)
        .with(attr::STATUS, Status::Draft.as_str())
        .with(attr::REGISTERED, 0i64)
        .with(attr::WAITLISTED, 0i64)
        .with(attr::AGENDA_VERSION, 0i64)
        .with("created_by", p.user_id.as_str())
        .with("created_at", now.as_str())
        .with("updated_at", now.as_str());
    for (name, value) in [("description", v.description), ("location", v.location)] {
        if let Some(value) = value {
            meta = meta.with(name, value);
        }
    }
    if let Some(c) = v.capacity {
        meta = meta.with(attr::CAPACITY, c);
    }
    let table = Table::tenant(&p.tenant);
    let index = Item::new(INDEX_ALL, index_sk(starts, eid.as_str())).with("event_id", eid.as_str());
    let ops = vec![
        TxOp::Put { table: table.clone(), item: meta, cond: Cond::NotExists },
        TxOp::Put { table, item: index, cond: Cond::NotExists },
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.create", eid.as_str(), "success"),
    ];
    ctx.ports.store.transact(ops).await.context("create the event")?;
    Ok(Created { event_id: eid })
}

#[derive(Serialize)]
pub struct EventView {
    pub event_id: String,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub timezone: String,
    pub location: Option<String>,
    pub capacity: Option<i64>,
    pub status: &'static str,
    /// The caller's own registration: `registered`, `waitlisted` or null.
    pub registration: Option<&'static str>,
    pub registered_count: i64,
    pub waitlist_count: i64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

async fn view(ctx: &Context, p: &Principal, rec: EventRecord) -> Result<EventView, ServiceError> {
    let registration = registration::status_of(ctx, &p.tenant, &rec.id, &p.user_id).await?;
    let s = |n: &str| rec.item.s(n).map(str::to_owned);
    Ok(EventView {
        event_id: rec.id.as_str().to_owned(),
        title: s("title").unwrap_or_default(),
        description: s("description"),
        starts_at: rec.starts.rfc3339(),
        ends_at: rec.ends.rfc3339(),
        timezone: s("timezone").unwrap_or_default(),
        location: s("location"),
        capacity: rec.capacity,
        status: rec.status.as_str(),
        registration,
        registered_count: rec.registered,
        waitlist_count: rec.waitlisted,
        created_at: s("created_at"),
        updated_at: s("updated_at"),
    })
}

/// `GET /v1/events/{id}`.
pub async fn get(ctx: &Context, p: &Principal, eid: &EventId) -> Result<EventView, ServiceError> {
    let rec = load(ctx, p, eid).await?;
    view(ctx, p, rec).await
}

#[derive(Serialize)]
pub struct EventPage {
    pub events: Vec<EventView>,
    pub next_cursor: Option<String>,
}

/// A page of events, soonest first: organizers see every event, members the published and
/// cancelled ones (each from its own listing, so a page costs one query and its events).
pub async fn list(
    ctx: &Context,
    p: &Principal,
    limit: usize,
    cursor: Option<String>,
) -> Result<EventPage, ServiceError> {
    let pk = if is_organizer(p) { INDEX_ALL } else { INDEX_LISTED };
    let req = QueryRequest {
        table: Table::tenant(&p.tenant),
        pk: pk.into(),
        range: SkRange::Prefix(String::new()),
        direction: Direction::Forward,
        limit,
        cursor,
    };
    let page = ctx.page(req, "read the event listing").await?;
    let mut events = Vec::with_capacity(page.items.len());
    for entry in page.items {
        let Some(eid) = entry.s("event_id").and_then(|e| EventId::parse(e).ok()) else { continue };
        match load(ctx, p, &eid).await {
            Ok(rec) => events.push(view(ctx, p, rec).await?),
            // Deleted or (for a member) a draft again: not listed.
            Err(ServiceError::NotFound) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(EventPage { events, next_cursor: page.next_cursor })
}

/// `PATCH /v1/events/{id}`: edit the given fields. Times must keep the agenda inside the
/// event; the capacity never drops below the current registrations, and raising it
/// promotes waitlisted attendees into the new seats.
pub async fn patch(ctx: &Context, p: &Principal, eid: &EventId, f: EventFields) -> Result<EventView, ServiceError> {
    let table = Table::tenant(&p.tenant);
    let pk = event_pk(eid.as_str());
    for _ in 0..5 {
        let rec = load_any(ctx, &p.tenant, eid).await?;
        if rec.status == Status::Cancelled {
            return Err(ServiceError::Conflict("the event is cancelled".into()));
        }
        let v = validate(f.clone(), Some(&rec))?;
        let starts = v.starts.unwrap_or(rec.starts);
        let ends = v.ends.unwrap_or(rec.ends);
        if starts != rec.starts || ends != rec.ends {
            let outside = agenda::spans(ctx, &p.tenant, eid).await?.iter().any(|(s, e)| *s < starts || *e > ends);
            if outside {
                return Err(ServiceError::ValidationFailed(
                    "the agenda has sessions outside the new times: move them first".into(),
                ));
            }
        }
        if let Some(c) = v.capacity {
            if c < rec.registered {
                return Err(ServiceError::ValidationFailed(format!(
                    "capacity must be at least the {} current registrations",
                    rec.registered
                )));
            }
        }
        let mut update = Update::default().set("updated_at", rfc3339(ctx.ports.clock.now()));
        let texts = [
            ("title", &v.title),
            ("description", &v.description),
            ("timezone", &v.timezone),
            ("location", &v.location),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                update = update.set(name, value.as_str());
            }
        }
        update = update.set("starts_at", starts.rfc3339()).set(attr::STARTS, starts.secs());
        update = update.set("ends_at", ends.rfc3339()).set(attr::ENDS, ends.secs());
        // The state this edit was checked against: status, agenda and listing key unchanged,
        // and (for a new capacity) no more registrations than it holds.
        let mut conds = vec![
            Cond::Exists,
            Cond::eq(attr::STATUS, rec.status.as_str()),
            Cond::eq(attr::AGENDA_VERSION, rec.agenda_version),
            Cond::eq(attr::STARTS, rec.starts.secs()),
        ];
        if let Some(c) = v.capacity {
            update = update.set(attr::CAPACITY, c);
            conds.push(Cond::le(attr::REGISTERED, c));
        }
        let mut ops = vec![TxOp::Update {
            table: table.clone(),
            pk: pk.clone(),
            sk: META.into(),
            update,
            cond: Cond::And(conds),
        }];
        if starts != rec.starts {
            let mut listings = vec![INDEX_ALL];
            if rec.listed {
                listings.push(INDEX_LISTED);
            }
            for listing in listings {
                let (old, new) = (index_sk(rec.starts, eid.as_str()), index_sk(starts, eid.as_str()));
                ops.push(TxOp::Delete { table: table.clone(), pk: listing.into(), sk: old, cond: Cond::Always });
                let entry = Item::new(listing, new).with("event_id", eid.as_str());
                ops.push(TxOp::Put { table: table.clone(), item: entry, cond: Cond::Always });
            }
        }
        ops.push(audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.update", eid.as_str(), "success"));
        match ctx.ports.store.transact(ops).await {
            Ok(()) => {
                // Into any seats free now (a raise, or a promotion an earlier failure deferred).
                registration::settle(ctx, &p.tenant, eid).await;
                return get(ctx, p, eid).await;
            }
            // Someone registered, edited the agenda or the event meanwhile: check again.
            Err(StoreError::TransactionCancelled { .. } | StoreError::Unavailable(_)) => continue,
            Err(e) => return Err(anyhow::Error::from(e).context("edit the event").into()),
        }
    }
    Err(ServiceError::Unavailable { retry_after_secs: 1 })
}

/// `POST /v1/events/{id}/publish`: a draft becomes visible to members and takes registrations.
pub async fn publish(ctx: &Context, p: &Principal, eid: &EventId) -> Result<EventView, ServiceError> {
    let rec = load_any(ctx, &p.tenant, eid).await?;
    if rec.status != Status::Draft {
        return Err(ServiceError::Conflict("only a draft can be published".into()));
    }
    let table = Table::tenant(&p.tenant);
    let update = Update::default()
        .set(attr::STATUS, Status::Published.as_str())
        .set(attr::LISTED, true)
        .set("published_at", rfc3339(ctx.ports.clock.now()));
    let cond =
        Cond::And(vec![Cond::Exists, Cond::eq(attr::STATUS, "draft"), Cond::eq(attr::STARTS, rec.starts.secs())]);
    let entry = Item::new(INDEX_LISTED, index_sk(rec.starts, eid.as_str())).with("event_id", eid.as_str());
    let ops = vec![
        TxOp::Update { table: table.clone(), pk: event_pk(eid.as_str()), sk: META.into(), update, cond },
        TxOp::Put { table, item: entry, cond: Cond::Always },
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.publish", eid.as_str(), "success"),
    ];
    ctx.commit(ops, ServiceError::Conflict("the event changed meanwhile; try again".into())).await?;
    get(ctx, p, eid).await
}

/// `POST /v1/events/{id}/cancel`: the event stays listed as cancelled, takes no more
/// registrations, and its registered attendees are notified by push.
pub async fn cancel(ctx: &Context, p: &Principal, eid: &EventId) -> Result<EventView, ServiceError> {
    let rec = load_any(ctx, &p.tenant, eid).await?;
    if rec.status == Status::Cancelled {
        return Err(ServiceError::Conflict("the event is already cancelled".into()));
    }
    let update = Update::default()
        .set(attr::STATUS, Status::Cancelled.as_str())
        .set("cancelled_at", rfc3339(ctx.ports.clock.now()));
    let cond = Cond::And(vec![Cond::Exists, Cond::eq(attr::STATUS, rec.status.as_str())]);
    let table = Table::tenant(&p.tenant);
    let ops = vec![
        TxOp::Update { table, pk: event_pk(eid.as_str()), sk: META.into(), update, cond },
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.cancel", eid.as_str(), "success"),
    ];
    ctx.commit(ops, ServiceError::Conflict("the event changed meanwhile; try again".into())).await?;
    if rec.status == Status::Published {
        notify::fan_out_later(ctx, &p.tenant, eid, EventNoticeKind::EventCancelled, None).await;
    }
    get(ctx, p, eid).await
}
