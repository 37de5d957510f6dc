//! An event's agenda: sessions inside the event's time range, with speakers who are users
//! of the tenant. Each session is stored once by id and once under its start time (the
//! ordered agenda), both written in one transaction that also bumps the event's agenda
//! version, which an edit of the event's times conditions on.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::schedule::Instant;
use crate::domain::types::{parse_display_text, EventId, SessionId, TenantId, UserId};
use crate::ports::store::{query_all, AttrValue, Cond, Direction, Item, SkRange, Table, TxOp, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::events::record::{attr, event_pk, load, load_any, query, EventRecord, Status, META};
use crate::services::identity::sessions::Principal;
use crate::services::identity::users;
use crate::services::tenancy::audit;

pub const MAX_SPEAKERS: usize = 20;
/// Sessions an event's agenda may hold.
pub const MAX_SESSIONS: usize = 500;

fn sess_sk(sid: &str) -> String {
    format!("SESS#{sid}")
}

fn agenda_sk(starts: Instant, sid: &str) -> String {
    format!("AGENDA#{}#{sid}", starts.sort_key())
}

/// What an organizer writes; on create `title`, `starts_at` and `ends_at` are required.
#[derive(Clone, Default)]
pub struct SessionFields {
    pub title: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub room: Option<String>,
    pub speaker_ids: Option<Vec<String>>,
    pub live: Option<bool>,
}

/// A session as stored (the same attributes on both of its items).
struct Session {
    title: String,
    starts: Instant,
    ends: Instant,
    room: Option<String>,
    speakers: Vec<String>,
    live: bool,
}

impl Session {
    fn from_item(item: &Item) -> anyhow::Result<Session> {
        let bad = || anyhow::anyhow!("malformed session item");
        Ok(Session {
            title: item.s("title").ok_or_else(bad)?.to_owned(),
            starts: item.n(attr::STARTS).and_then(Instant::from_secs).ok_or_else(bad)?,
            ends: item.n(attr::ENDS).and_then(Instant::from_secs).ok_or_else(bad)?,
            room: item.s("room").map(str::to_owned),
            speakers: speaker_ids(item),
            live: item.bool("live").unwrap_or(false),
        })
    }

    fn item(&self, pk: &str, sk: String, sid: &str, version: i64) -> Item {
        let mut item = Item::new(pk, sk)
            .with("session_id", sid)
            .with("title", self.title.as_str())
            .with("starts_at", self.starts.rfc3339())
            .with(attr::STARTS, self.starts.secs())
            .with("ends_at", self.ends.rfc3339())
            .with(attr::ENDS, self.ends.secs())
            .with("speaker_ids", AttrValue::L(self.speakers.iter().map(|s| AttrValue::S(s.clone())).collect()))
            .with("live", self.live)
            .with("version", version);
        if let Some(room) = &self.room {
            item = item.with("room", room.as_str());
        }
        item
    }
}

pub fn speaker_ids(item: &Item) -> Vec<String> {
    match item.get("speaker_ids") {
        Some(AttrValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// Merge `f` into `base` (a new session when `None`) and check it against the event.
async fn validate(
    ctx: &Context,
    tenant: &TenantId,
    event: &EventRecord,
    base: Option<Session>,
    f: SessionFields,
) -> Result<Session, ServiceError> {
    let invalid = ServiceError::ValidationFailed;
    let instant =
        |raw: &Option<String>, field| raw.as_deref().map(|s| Instant::parse(s, field)).transpose().map_err(invalid);
    let title = f.title.map(|t| parse_display_text(&t, "title", 200)).transpose().map_err(invalid)?;
    let room = f.room.map(|r| parse_display_text(&r, "room", 100)).transpose().map_err(invalid)?;
    let (starts, ends) = (instant(&f.starts_at, "starts_at")?, instant(&f.ends_at, "ends_at")?);
    let mut speakers = Vec::new();
    if let Some(ids) = &f.speaker_ids {
        if ids.len() > MAX_SPEAKERS * 2 {
            return Err(invalid(format!("a session has at most {MAX_SPEAKERS} speakers")));
        }
        for id in ids {
            if !speakers.contains(id) {
                speakers.push(id.clone());
            }
        }
        if speakers.len() > MAX_SPEAKERS {
            return Err(invalid(format!("a session has at most {MAX_SPEAKERS} speakers")));
        }
        for id in &speakers {
            let user = match UserId::parse(id) {
                Ok(_) => users::get(ctx, tenant, id).await?,
                Err(_) => None,
            };
            if user.is_none_or(|u| u.disabled) {
                return Err(invalid("every speaker must be an active user of your organisation".into()));
            }
        }
    }
    let s = match base {
        Some(b) => Session {
            title: title.unwrap_or(b.title),
            starts: starts.unwrap_or(b.starts),
            ends: ends.unwrap_or(b.ends),
            room: room.or(b.room),
            speakers: if f.speaker_ids.is_some() { speakers } else { b.speakers },
            live: f.live.unwrap_or(b.live),
        },
        None => {
            let (Some(title), Some(starts), Some(ends)) = (title, starts, ends) else {
                return Err(ServiceError::InvalidRequest("title, starts_at and ends_at are required".into()));
            };
            Session { title, starts, ends, room, speakers, live: f.live.unwrap_or(false) }
        }
    };
    if s.ends <= s.starts {
        return Err(invalid("ends_at must be after starts_at".into()));
    }
    if s.starts < event.starts || s.ends > event.ends {
        return Err(invalid("a session must lie within the event's starts_at..ends_at".into()));
    }
    Ok(s)
}

/// The event's META write every agenda change makes: the agenda version moves on, against
/// the event times the change was checked with.
fn bump(table: &Table, event: &EventRecord) -> TxOp {
    TxOp::Update {
        table: table.clone(),
        pk: event_pk(event.id.as_str()),
        sk: META.into(),
        update: Update::default().add(attr::AGENDA_VERSION, 1),
        cond: Cond::And(vec![
            Cond::Exists,
            Cond::eq(attr::STARTS, event.starts.secs()),
            Cond::eq(attr::ENDS, event.ends.secs()),
            Cond::Or(vec![Cond::eq(attr::STATUS, "draft"), Cond::eq(attr::STATUS, "published")]),
        ]),
    }
}

fn changed() -> ServiceError {
    ServiceError::Conflict("the event or session changed meanwhile; try again".into())
}

async fn writable(ctx: &Context, p: &Principal, eid: &EventId) -> Result<EventRecord, ServiceError> {
    let event = load_any(ctx, &p.tenant, eid).await?;
    if event.status == Status::Cancelled {
        return Err(ServiceError::Conflict("the event is cancelled".into()));
    }
    Ok(event)
}

#[derive(Serialize)]
pub struct Created {
    pub session_id: SessionId,
}

/// `POST /v1/events/{id}/sessions`.
pub async fn create(ctx: &Context, p: &Principal, eid: &EventId, f: SessionFields) -> Result<Created, ServiceError> {
    let event = writable(ctx, p, eid).await?;
    let s = validate(ctx, &p.tenant, &event, None, f).await?;
    if spans(ctx, &p.tenant, eid).await?.len() >= MAX_SESSIONS {
        return Err(ServiceError::ValidationFailed(format!("an agenda holds at most {MAX_SESSIONS} sessions")));
    }
    let sid = SessionId::generate();
    let (table, pk) = (Table::tenant(&p.tenant), event_pk(eid.as_str()));
    let ops = vec![
        TxOp::Put {
            table: table.clone(),
            item: s.item(&pk, sess_sk(sid.as_str()), sid.as_str(), 1),
            cond: Cond::NotExists,
        },
        TxOp::Put {
            table: table.clone(),
            item: s.item(&pk, agenda_sk(s.starts, sid.as_str()), sid.as_str(), 1),
            cond: Cond::NotExists,
        },
        bump(&table, &event),
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.session.create", sid.as_str(), "success"),
    ];
    ctx.commit(ops, changed()).await?;
    Ok(Created { session_id: sid })
}

/// The session's item, if it belongs to the event.
pub async fn load_session(
    ctx: &Context,
    tenant: &TenantId,
    eid: &EventId,
    sid: &SessionId,
) -> Result<Item, ServiceError> {
    let item = ctx.ports.store.get(&Table::tenant(tenant), &event_pk(eid.as_str()), &sess_sk(sid.as_str())).await;
    item.context("read the session")?.ok_or(ServiceError::NotFound)
}

/// `PATCH /v1/events/{id}/sessions/{sid}`.
pub async fn patch(
    ctx: &Context,
    p: &Principal,
    eid: &EventId,
    sid: &SessionId,
    f: SessionFields,
) -> Result<SessionView, ServiceError> {
    let event = writable(ctx, p, eid).await?;
    let item = load_session(ctx, &p.tenant, eid, sid).await?;
    let old = Session::from_item(&item)?;
    let version = item.n("version").unwrap_or(0);
    let old_starts = old.starts;
    let s = validate(ctx, &p.tenant, &event, Some(old), f).await?;
    let (table, pk) = (Table::tenant(&p.tenant), event_pk(eid.as_str()));
    let same = Cond::And(vec![Cond::Exists, Cond::eq("version", version)]);
    let mut ops = vec![TxOp::Put {
        table: table.clone(),
        item: s.item(&pk, sess_sk(sid.as_str()), sid.as_str(), version + 1),
        cond: same,
    }];
    let new_key = agenda_sk(s.starts, sid.as_str());
    let old_key = agenda_sk(old_starts, sid.as_str());
    if new_key != old_key {
        ops.push(TxOp::Delete { table: table.clone(), pk: pk.clone(), sk: old_key, cond: Cond::Always });
    }
    ops.push(TxOp::Put {
        table: table.clone(),
        item: s.item(&pk, new_key, sid.as_str(), version + 1),
        cond: Cond::Always,
    });
    ops.push(bump(&table, &event));
    ops.push(audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.session.update", sid.as_str(), "success"));
    ctx.commit(ops, changed()).await?;
    Ok(view(sid.as_str(), &s))
}

/// `DELETE /v1/events/{id}/sessions/{sid}`.
pub async fn delete(ctx: &Context, p: &Principal, eid: &EventId, sid: &SessionId) -> Result<(), ServiceError> {
    let event = writable(ctx, p, eid).await?;
    let item = load_session(ctx, &p.tenant, eid, sid).await?;
    let s = Session::from_item(&item)?;
    let (table, pk) = (Table::tenant(&p.tenant), event_pk(eid.as_str()));
    let same = Cond::And(vec![Cond::Exists, Cond::eq("version", item.n("version").unwrap_or(0))]);
    let ops = vec![
        TxOp::Delete { table: table.clone(), pk: pk.clone(), sk: sess_sk(sid.as_str()), cond: same },
        TxOp::Delete { table: table.clone(), pk, sk: agenda_sk(s.starts, sid.as_str()), cond: Cond::Always },
        bump(&table, &event),
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.session.delete", sid.as_str(), "success"),
    ];
    ctx.commit(ops, changed()).await
}

#[derive(Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub title: String,
    pub starts_at: String,
    pub ends_at: String,
    pub room: Option<String>,
    pub speaker_ids: Vec<String>,
    pub live: bool,
}

fn view(sid: &str, s: &Session) -> SessionView {
    SessionView {
        session_id: sid.to_owned(),
        title: s.title.clone(),
        starts_at: s.starts.rfc3339(),
        ends_at: s.ends.rfc3339(),
        room: s.room.clone(),
        speaker_ids: s.speakers.clone(),
        live: s.live,
    }
}

#[derive(Serialize)]
pub struct SessionPage {
    pub sessions: Vec<SessionView>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/events/{id}/sessions`: the agenda, ordered by start.
pub async fn list(
    ctx: &Context,
    p: &Principal,
    eid: &EventId,
    limit: usize,
    cursor: Option<String>,
) -> Result<SessionPage, ServiceError> {
    load(ctx, p, eid).await?;
    let req = query(&p.tenant, eid, "AGENDA#", Direction::Forward, limit, cursor);
    let page = ctx.page(req, "read the agenda").await?;
    let mut sessions = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let sid = item.s("session_id").unwrap_or_default();
        sessions.push(view(sid, &Session::from_item(item)?));
    }
    Ok(SessionPage { sessions, next_cursor: page.next_cursor })
}

/// Every session's (start, end), for checks against the event's times.
pub async fn spans(ctx: &Context, tenant: &TenantId, eid: &EventId) -> Result<Vec<(Instant, Instant)>, ServiceError> {
    let items = query_all(
        &*ctx.ports.store,
        &Table::tenant(tenant),
        &event_pk(eid.as_str()),
        SkRange::Prefix("SESS#".into()),
        MAX_SESSIONS + 1,
    )
    .await
    .context("read the agenda")?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let s = Session::from_item(item)?;
        out.push((s.starts, s.ends));
    }
    Ok(out)
}

/// Whether the session is live (its RTC channel open), and who speaks in it.
pub fn live_and_speakers(item: &Item) -> (bool, Vec<String>) {
    (item.bool("live").unwrap_or(false), speaker_ids(item))
}
