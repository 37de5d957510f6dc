//! Event notices by push (ids only): an announcement or a cancellation reaches every
//! registered attendee's devices through the queue, a page of attendees per job, each page's
//! push jobs sent in batches, so no request makes thousands of calls; a promotion from the
//! waitlist tells the one attendee at once.

use crate::domain::types::{EventId, TenantId};
use crate::ports::store::Direction;
use crate::services::context::Context;
use crate::services::events::record::{query, REGISTERED};
use crate::services::jobs::{self, Job};
use crate::services::push::{self, EventNotice, EventNoticeKind};

/// Attendees one fan-out job covers.
pub const FANOUT_PAGE: usize = 200;

fn notice(eid: &EventId, kind: EventNoticeKind, announcement_id: Option<&str>) -> EventNotice {
    EventNotice { kind, event_id: eid.as_str().to_owned(), announcement_id: announcement_id.map(str::to_owned) }
}

/// Queue the fan-out of a notice to every registered attendee. Best effort, like a message's
/// pushes: what it is about is already stored, so a queue failure is logged (ids only).
pub async fn fan_out_later(
    ctx: &Context,
    tenant: &TenantId,
    eid: &EventId,
    kind: EventNoticeKind,
    announcement_id: Option<&str>,
) {
    let job = Job::EventFanout {
        tenant_id: tenant.as_str().to_owned(),
        notice: notice(eid, kind, announcement_id),
        cursor: None,
    };
    if let Err(e) = jobs::enqueue(ctx, &job, 0).await {
        tracing::error!(tenant = %tenant, event_id = %eid, error = format!("{e:#}"), "could not queue an event fan-out");
    }
}

/// One fan-out job: a page of registrations, their devices' push jobs, and the next page's job.
pub async fn fan_out(
    ctx: &Context,
    tenant_id: &str,
    notice: EventNotice,
    cursor: Option<String>,
) -> anyhow::Result<()> {
    let (Ok(tenant), Ok(eid)) = (TenantId::parse(tenant_id), EventId::parse(&notice.event_id)) else {
        tracing::error!("dropping an event fan-out job with invalid ids");
        return Ok(());
    };
    let page = ctx.ports.store.query(query(&tenant, &eid, "REG#", Direction::Forward, FANOUT_PAGE, cursor)).await?;
    let users: Vec<String> = page
        .items
        .iter()
        .filter(|r| r.s("status") == Some(REGISTERED))
        .map(|r| r.sk.trim_start_matches("REG#").to_owned())
        .collect();
    // Pushes first, then the next page: a failure retries this job, which at worst sends a
    // page's pushes twice (harmless) but never loses or doubles the rest of the fan-out.
    let queued = push::notify_users(ctx, &tenant, &users, &notice).await?;
    if let Some(next) = page.next_cursor {
        let job = Job::EventFanout { tenant_id: tenant_id.to_owned(), notice: notice.clone(), cursor: Some(next) };
        jobs::enqueue(ctx, &job, 0).await?;
    }
    tracing::info!(tenant = %tenant, event_id = %eid, attendees = users.len(), queued, "fanned out an event notice");
    Ok(())
}

/// Tell a few attendees at once (a promotion from the waitlist). Best effort.
pub async fn tell(ctx: &Context, tenant: &TenantId, eid: &EventId, kind: EventNoticeKind, users: &[String]) {
    if let Err(e) = push::notify_users(ctx, tenant, users, &notice(eid, kind, None)).await {
        tracing::error!(tenant = %tenant, event_id = %eid, error = format!("{e:#}"), "could not queue an event push");
    }
}
