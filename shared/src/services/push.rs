//! Push notifications through a queue. Sending a message enqueues one job naming its
//! recipients (one queue call, whatever their number); the worker expands it into one job per
//! recipient device and delivers each through the [`PushProvider`] port — the `push-worker` Lambda
//! (SQS event source, partial batch failure reporting) on AWS, a background task of the local
//! server in embedded mode. Failed deliveries are retried; after [`MAX_RECEIVES`] a job goes
//! to the dead-letter queue. Jobs and payloads carry ids only, never content or names.
//!
//! Device registrations: `DEVICES#<user>/DEV#<id>` in the tenant table, token encrypted.

use serde::{Deserialize, Serialize};

use crate::domain::types::TenantId;
use crate::ports::push::{Platform, PushError, PushPayload};
use crate::ports::queue::QueueName;
use crate::ports::store::{Cond, Direction, QueryRequest, SkRange, Table};
use crate::services::context::Context;
use crate::services::tenancy::keys::Field;

pub const QUEUE: &str = "push";
pub const MAX_RECEIVES: u32 = 5;

pub fn queue() -> QueueName {
    // A constant, valid name.
    QueueName::parse(QUEUE).unwrap_or_else(|_| unreachable!())
}

pub fn devices_pk(user_id: &str) -> String {
    format!("DEVICES#{user_id}")
}

/// One notification to one device: a new message, or (with `event`) a notice about an event.
/// A job without a device but with `recipients` is a new message's fan-out: the worker turns
/// it into one job per device of each recipient.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct PushJob {
    pub tenant_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub conversation_id: String,
    #[serde(default)]
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventNotice>,
}

/// What an event notification is about (ids only).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EventNotice {
    /// `announcement`, `event_cancelled` or `registration_promoted`.
    pub kind: EventNoticeKind,
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement_id: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventNoticeKind {
    Announcement,
    EventCancelled,
    RegistrationPromoted,
}

impl EventNoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventNoticeKind::Announcement => "announcement",
            EventNoticeKind::EventCancelled => "event_cancelled",
            EventNoticeKind::RegistrationPromoted => "registration_promoted",
        }
    }
}

/// The push jobs of one event notice for every device of `users`, queued in batches.
pub async fn notify_users(
    state: &Context,
    tenant: &TenantId,
    users: &[String],
    notice: &EventNotice,
) -> anyhow::Result<usize> {
    per_device(state, tenant, users, "", "", Some(notice)).await
}

/// One job per device of each of `users` (about a message, or with `event` an event notice),
/// queued in batches; how many.
async fn per_device(
    state: &Context,
    tenant: &TenantId,
    users: &[String],
    conversation_id: &str,
    message_id: &str,
    event: Option<&EventNotice>,
) -> anyhow::Result<usize> {
    let mut bodies = Vec::new();
    for user in users {
        for d in devices_of(state, tenant, user).await? {
            let job = PushJob {
                tenant_id: tenant.as_str().into(),
                user_id: user.clone(),
                device_id: d.sk.trim_start_matches("DEV#").into(),
                recipients: vec![],
                conversation_id: conversation_id.into(),
                message_id: message_id.into(),
                event: event.cloned(),
            };
            bodies.push(serde_json::to_vec(&job)?);
        }
    }
    if !bodies.is_empty() {
        state.ports.queue.enqueue_batch(&queue(), &bodies).await?;
    }
    Ok(bodies.len())
}

async fn devices_of(state: &Context, tenant: &TenantId, user_id: &str) -> anyhow::Result<Vec<crate::ports::Item>> {
    let page = state
        .ports
        .store
        .query(QueryRequest {
            table: Table::tenant(tenant),
            pk: devices_pk(user_id),
            range: SkRange::Prefix("DEV#".into()),
            direction: Direction::Forward,
            limit: 100,
            cursor: None,
        })
        .await?;
    Ok(page.items)
}

/// Queue the notification of a new message for its recipients (the members but the sender):
/// one job, expanded by the worker ([`deliver`]), so a send costs one queue call and no device
/// lookups; none in a tenant without push devices. Best effort: the message is already
/// stored, so a queue failure is logged (with ids only) rather than failing the send.
pub async fn notify_new_message(
    state: &Context,
    tenant: &TenantId,
    cid: &str,
    mid: &str,
    sender: &str,
    members: &[String],
) {
    let recipients: Vec<String> = members.iter().filter(|m| m.as_str() != sender).cloned().collect();
    if recipients.is_empty() {
        return;
    }
    // A tenant that never registered a push device has nobody to notify (if the marker
    // cannot be read, queue as before).
    if !crate::services::tenancy::status::may_have_push_devices(state, tenant).await.unwrap_or(true) {
        return;
    }
    let job = PushJob {
        tenant_id: tenant.as_str().into(),
        user_id: String::new(),
        device_id: String::new(),
        recipients,
        conversation_id: cid.into(),
        message_id: mid.into(),
        event: None,
    };
    let body = serde_json::to_vec(&job).unwrap_or_default();
    if let Err(e) = state.ports.queue.enqueue(&queue(), &body).await {
        tracing::error!(tenant = %tenant, message_id = mid, error = format!("{e:#}"), "could not queue a push");
    }
}

/// A new message's fan-out job: one job per device of each recipient, queued in batches. A
/// failure retries the whole fan-out (a device may then be notified twice, never not at all).
async fn fan_out(state: &Context, tenant: &TenantId, job: &PushJob) -> anyhow::Result<()> {
    per_device(state, tenant, &job.recipients, &job.conversation_id, &job.message_id, None).await.map(|_| ())
}

/// Deliver one job. `Ok` means done (delivered, or nothing left to deliver to); `Err` means
/// retry later.
pub async fn deliver(state: &Context, body: &[u8]) -> anyhow::Result<()> {
    let Ok(job) = serde_json::from_slice::<PushJob>(body) else {
        tracing::error!("dropping a malformed push job");
        return Ok(());
    };
    let Ok(tenant) = TenantId::parse(&job.tenant_id) else { return Ok(()) };
    if job.device_id.is_empty() {
        return match fan_out(state, &tenant, &job).await {
            // A tenant that no longer exists: nothing to deliver.
            Err(e) if matches!(e.downcast_ref(), Some(crate::ports::StoreError::NoSuchTable)) => Ok(()),
            other => other,
        };
    }
    let (pk, sk) = (devices_pk(&job.user_id), format!("DEV#{}", job.device_id));
    let device = match state.ports.store.get(&Table::tenant(&tenant), &pk, &sk).await {
        Ok(Some(d)) => d,
        // Unregistered meanwhile, or a tenant that no longer exists: nothing to deliver.
        Ok(None) | Err(crate::ports::StoreError::NoSuchTable) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let platform =
        device.s("platform").and_then(Platform::parse).ok_or_else(|| anyhow::anyhow!("device without platform"))?;
    let sealed = device.b("token_enc").ok_or_else(|| anyhow::anyhow!("device without token"))?;
    let token =
        state.tenant_keys.open_field(&state.ports, &tenant, &Field { pk: &pk, sk: &sk, name: "token" }, sealed).await?;
    let token = String::from_utf8(token.to_vec())?;
    let payload = match &job.event {
        Some(n) => PushPayload::event(n.kind.as_str(), &n.event_id, n.announcement_id.as_deref()),
        None => PushPayload::new_message(&job.conversation_id, &job.message_id),
    };
    match state.ports.push.send(platform, &token, &payload).await {
        Ok(()) => Ok(()),
        Err(PushError::DeviceGone) => {
            state.ports.store.delete(&Table::tenant(&tenant), &pk, &sk, Cond::Always).await?;
            tracing::info!(tenant = %tenant, device_id = job.device_id, "dropped a device the provider no longer knows");
            Ok(())
        }
        Err(PushError::Retry(e)) => Err(e),
    }
}
