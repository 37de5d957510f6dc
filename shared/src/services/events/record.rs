//! An event's stored record and who may see it: the one read every event rule starts from.

use anyhow::Context as _;

use crate::domain::roles::{has, Privilege};
use crate::domain::schedule::Instant;
use crate::domain::types::{EventId, TenantId};
use crate::ports::store::{Direction, Item, QueryRequest, SkRange, Table};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;

pub const META: &str = "META";
/// A registration's status: holding a seat, or on the waitlist.
pub const REGISTERED: &str = "registered";
pub const WAITLISTED: &str = "waitlisted";
/// Every event, for organizers.
pub const INDEX_ALL: &str = "EVENTS#ALL";
/// Events published at least once: what members list.
pub const INDEX_LISTED: &str = "EVENTS#LISTED";

pub fn event_pk(eid: &str) -> String {
    format!("EVENT#{eid}")
}

/// A query of the event's items whose sort keys start with `prefix` (agenda, registrations,
/// waitlist, announcements).
pub fn query(
    tenant: &TenantId,
    eid: &EventId,
    prefix: &str,
    direction: Direction,
    limit: usize,
    cursor: Option<String>,
) -> QueryRequest {
    QueryRequest {
        table: Table::tenant(tenant),
        pk: event_pk(eid.as_str()),
        range: SkRange::Prefix(prefix.into()),
        direction,
        limit,
        cursor,
    }
}

pub fn index_sk(starts: Instant, eid: &str) -> String {
    format!("{}#{eid}", starts.sort_key())
}

pub fn reg_sk(user_id: &str) -> String {
    format!("REG#{user_id}")
}

/// Item attribute names of an event's META.
pub mod attr {
    pub const STATUS: &str = "status";
    pub const STARTS: &str = "starts";
    pub const ENDS: &str = "ends";
    pub const CAPACITY: &str = "capacity";
    pub const REGISTERED: &str = "registered_count";
    pub const WAITLISTED: &str = "waitlist_count";
    pub const AGENDA_VERSION: &str = "agenda_version";
    pub const LISTED: &str = "listed";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Draft,
    Published,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "published" => Some(Status::Published),
            "cancelled" => Some(Status::Cancelled),
            _ => None,
        }
    }
}

/// An event's META, parsed.
pub struct EventRecord {
    pub id: EventId,
    pub status: Status,
    pub starts: Instant,
    pub ends: Instant,
    pub capacity: Option<i64>,
    pub registered: i64,
    pub waitlisted: i64,
    pub agenda_version: i64,
    pub listed: bool,
    pub item: Item,
}

impl EventRecord {
    pub fn from_item(id: EventId, item: Item) -> anyhow::Result<EventRecord> {
        let bad = || anyhow::anyhow!("malformed event item");
        Ok(EventRecord {
            id,
            status: item.s(attr::STATUS).and_then(Status::parse).ok_or_else(bad)?,
            starts: item.n(attr::STARTS).and_then(Instant::from_secs).ok_or_else(bad)?,
            ends: item.n(attr::ENDS).and_then(Instant::from_secs).ok_or_else(bad)?,
            capacity: item.n(attr::CAPACITY),
            registered: item.n(attr::REGISTERED).unwrap_or(0),
            waitlisted: item.n(attr::WAITLISTED).unwrap_or(0),
            agenda_version: item.n(attr::AGENDA_VERSION).unwrap_or(0),
            listed: item.bool(attr::LISTED).unwrap_or(false),
            item,
        })
    }

    /// No seat is free for a newcomer: capacity reached, or others are already waiting.
    pub fn full(&self) -> bool {
        self.capacity.is_some_and(|c| self.registered >= c) || self.waitlisted > 0
    }
}

pub fn is_organizer(p: &Principal) -> bool {
    has(p.user.role, Privilege::EventsManage)
}

/// The event's record, read as `p` may see it: a draft is 404 for anyone but organizers.
pub async fn load(ctx: &Context, p: &Principal, eid: &EventId) -> Result<EventRecord, ServiceError> {
    let rec = load_any(ctx, &p.tenant, eid).await?;
    // Never published (a draft, or a draft cancelled): organizers only.
    if !rec.listed && rec.status != Status::Published && !is_organizer(p) {
        return Err(ServiceError::NotFound);
    }
    Ok(rec)
}

/// The event's record whatever its status (workers, organizers' writes).
pub async fn load_any(ctx: &Context, tenant: &TenantId, eid: &EventId) -> Result<EventRecord, ServiceError> {
    let item = ctx
        .ports
        .store
        .get(&Table::tenant(tenant), &event_pk(eid.as_str()), META)
        .await
        .context("read the event")?
        .ok_or(ServiceError::NotFound)?;
    Ok(EventRecord::from_item(eid.clone(), item)?)
}
