//! Announcements to an event's attendees: sealed at field level like messages (each field
//! bound to its item), readable by organizers and registered attendees, pushed (ids only) to
//! every registered attendee's devices through the queue.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::schedule::parse_long_text;
use crate::domain::types::{parse_display_text, AnnouncementId, EventId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Direction, Item, Table, TxOp};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::events::notify;
use crate::services::events::record::{event_pk, is_organizer, load, query, Status, META};
use crate::services::events::registration::{status_of, REGISTERED};
use crate::services::identity::sessions::Principal;
use crate::services::push::EventNoticeKind;
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

pub const MAX_BODY_CHARS: usize = 10_000;

#[derive(Serialize)]
pub struct Created {
    pub announcement_id: AnnouncementId,
}

/// `POST /v1/events/{id}/announcements` (organizers; a published event).
pub async fn create(
    ctx: &Context,
    p: &Principal,
    eid: &EventId,
    title: &str,
    body: &str,
) -> Result<Created, ServiceError> {
    let event = load(ctx, p, eid).await?;
    if event.status != Status::Published {
        return Err(ServiceError::ValidationFailed("announcements go to published events only".into()));
    }
    let title = parse_display_text(title, "title", 200).map_err(ServiceError::ValidationFailed)?;
    let body = parse_long_text(body, "body", MAX_BODY_CHARS).map_err(ServiceError::ValidationFailed)?;
    let aid = AnnouncementId::generate();
    let (pk, sk) = (event_pk(eid.as_str()), format!("ANN#{aid}"));
    let mut item =
        Item::new(&pk, &sk).with("created_by", p.user_id.as_str()).with("created_at", rfc3339(ctx.ports.clock.now()));
    for (name, text) in [("title", &title), ("body", &body)] {
        let at = Field { pk: &pk, sk: &sk, name };
        let sealed = ctx.tenant_keys.seal_field(&ctx.ports, &p.tenant, &at, text.as_bytes()).await;
        item = item.with(&format!("{name}_enc"), sealed.context("seal an announcement")?);
    }
    let table = Table::tenant(&p.tenant);
    let ops = vec![
        TxOp::Put { table: table.clone(), item, cond: Cond::NotExists },
        TxOp::Check { table, pk: pk.clone(), sk: META.into(), cond: Cond::eq("status", "published") },
        audit::event(&ctx.ports, &p.tenant, &p.user_id, "event.announcement.create", aid.as_str(), "success"),
    ];
    ctx.commit(ops, ServiceError::Conflict("the event is no longer published".into())).await?;
    notify::fan_out_later(ctx, &p.tenant, eid, EventNoticeKind::Announcement, Some(aid.as_str())).await;
    Ok(Created { announcement_id: aid })
}

#[derive(Serialize)]
pub struct AnnouncementView {
    pub announcement_id: String,
    pub title: String,
    pub body: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Serialize)]
pub struct AnnouncementPage {
    pub announcements: Vec<AnnouncementView>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/events/{id}/announcements`: newest first, for organizers and registered
/// attendees (anyone else: 404).
pub async fn list(
    ctx: &Context,
    p: &Principal,
    eid: &EventId,
    limit: usize,
    cursor: Option<String>,
) -> Result<AnnouncementPage, ServiceError> {
    load(ctx, p, eid).await?;
    if !is_organizer(p) && status_of(ctx, &p.tenant, eid, &p.user_id).await? != Some(REGISTERED) {
        return Err(ServiceError::NotFound);
    }
    let req = query(&p.tenant, eid, "ANN#", Direction::Backward, limit, cursor);
    let page = ctx.page(req, "read the announcements").await?;
    let mut out = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let open = |name: &'static str| {
            let sealed = item.b(&format!("{name}_enc")).map(<[u8]>::to_vec);
            async move {
                let sealed = sealed.ok_or_else(|| anyhow::anyhow!("announcement without {name}"))?;
                let at = Field { pk: &item.pk, sk: &item.sk, name };
                let plain = ctx.tenant_keys.open_field(&ctx.ports, &p.tenant, &at, &sealed).await?;
                Ok::<_, anyhow::Error>(String::from_utf8_lossy(&plain).into_owned())
            }
        };
        let title = open("title").await.context("open an announcement")?;
        let body = open("body").await.context("open an announcement")?;
        out.push(AnnouncementView {
            announcement_id: item.sk.trim_start_matches("ANN#").to_owned(),
            title,
            body,
            created_by: item.s("created_by").map(str::to_owned),
            created_at: item.s("created_at").map(str::to_owned),
        });
    }
    Ok(AnnouncementPage { announcements: out, next_cursor: page.next_cursor })
}
