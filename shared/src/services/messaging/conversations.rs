//! Secure messaging (API.md "Messaging"): conversations between users of one tenant, messages
//! encrypted at field level, read state and recall. Non-members — and other tenants — get 404
//! on everything about a conversation.
//!
//! Items (tenant table): `CONV#<id>/META` (members, encrypted title, last activity),
//! `CONV#<id>/MSG#<uuidv7>` (time-ordered messages), `CONV#<id>/READ#<user>` (read position),
//! and `USERCONV#<user>/CONV#<id>`, each member's summary of the conversation (members, title
//! sealed for that item, last message, unread count), kept current by the send transaction,
//! so listing a page of conversations reads that page and nothing more per conversation but
//! its read positions.

use anyhow::Context as _;
use serde::Serialize;

use crate::domain::types::{parse_display_text, AttachmentId, ConversationId, MessageId, TenantId, UserId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{
    query_all, AttrValue, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update, EXPIRES_AT,
};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;
use crate::services::identity::users;
use crate::services::messaging::attachments;
pub use crate::services::messaging::membership::{conv_pk, members_of, membership};
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

pub const MAX_MEMBERS: usize = 50;
pub const MAX_BODY_BYTES: usize = 65536;
pub const MAX_ATTACHMENTS: usize = 10;
/// Page sizes of the lists (API.md: 1..=100, default 50).
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;

/// The partition of a user's conversation summaries.
fn summary_pk(user_id: &str) -> String {
    format!("USERCONV#{user_id}")
}

/// Set on the META and summaries of conversations whose summaries carry every member's read
/// position (`read:<member>`, kept by [`mark_read`]): a page of conversations then needs no
/// read beyond its summaries. Conversations created before read their `READ#` items.
const CARRIES_READS: &str = "carries_reads";

fn read_attr(user_id: &str) -> String {
    format!("read:{user_id}")
}

#[derive(Serialize)]
pub struct Created {
    pub conversation_id: ConversationId,
}

/// Start a conversation; the caller is a member, every member an active user of the tenant.
pub async fn create(
    ctx: &Context,
    p: &Principal,
    title: Option<String>,
    member_ids: Vec<String>,
) -> Result<Created, ServiceError> {
    let mut members = vec![p.user_id.clone()];
    for id in member_ids {
        if !members.contains(&id) {
            members.push(id);
        }
    }
    if members.len() > MAX_MEMBERS {
        return Err(ServiceError::ValidationFailed(format!("a conversation has at most {MAX_MEMBERS} members")));
    }
    for id in &members[1..] {
        let user = match UserId::parse(id) {
            Ok(_) => users::get(ctx, &p.tenant, id).await?,
            Err(_) => None,
        };
        if user.is_none_or(|u| u.disabled) {
            return Err(ServiceError::ValidationFailed(
                "every member must be an active user of your organisation".into(),
            ));
        }
    }
    let title =
        title.map(|t| parse_display_text(&t, "title", 200)).transpose().map_err(ServiceError::ValidationFailed)?;
    let cid = ConversationId::generate();
    let pk = conv_pk(cid.as_str());
    let member_list = AttrValue::L(members.iter().map(|m| AttrValue::S(m.clone())).collect());
    let now = ctx.ports.clock.now_secs();
    // Each copy of the title is sealed for the item that holds it (the field's AAD names it).
    let seal_title = |item: Item| async {
        let Some(title) = &title else { return Ok(item) };
        let at = Field { pk: &item.pk, sk: &item.sk, name: "title" };
        let sealed =
            ctx.tenant_keys.seal_field(&ctx.ports, &p.tenant, &at, title.as_bytes()).await.context("seal the title")?;
        Ok::<_, ServiceError>(item.with("title_enc", sealed))
    };
    let meta = Item::new(&pk, "META")
        .with(CARRIES_READS, true)
        .with("member_ids", member_list.clone())
        .with("created_by", p.user_id.as_str())
        .with("created_at", now);
    let table = Table::tenant(&p.tenant);
    let mut ops = vec![TxOp::Put { table: table.clone(), item: seal_title(meta).await?, cond: Cond::NotExists }];
    for m in &members {
        let summary = Item::new(summary_pk(m), &pk)
            .with(CARRIES_READS, true)
            .with("member_ids", member_list.clone())
            .with("created_at", now)
            .with("unread_count", 0i64);
        ops.push(TxOp::Put { table: table.clone(), item: seal_title(summary).await?, cond: Cond::NotExists });
    }
    ctx.ports.store.transact(ops).await.context("create the conversation")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "conversation.create", cid.as_str(), "success").await?;
    Ok(Created { conversation_id: cid })
}

/// Query every page of a range (bounded by `cap` items).
async fn all(
    ctx: &Context,
    tenant: &TenantId,
    pk: String,
    range: SkRange,
    cap: usize,
) -> Result<Vec<Item>, ServiceError> {
    Ok(query_all(&*ctx.ports.store, &Table::tenant(tenant), &pk, range, cap).await.context("read a partition")?)
}

/// Unread messages from others after the read position (counted up to 1000).
async fn unread(ctx: &Context, tenant: &TenantId, cid: &str, user_id: &str) -> Result<i64, ServiceError> {
    let read = ctx.ports.store.get(&Table::tenant(tenant), &conv_pk(cid), &format!("READ#{user_id}")).await;
    let read = read.context("read the read position")?.and_then(|r| r.s("message_id").map(str::to_owned));
    let range = match &read {
        Some(mid) => SkRange::Between(format!("MSG#{mid}"), "MSG$".into()),
        None => SkRange::Prefix("MSG#".into()),
    };
    let items = all(ctx, tenant, conv_pk(cid), range, 1000).await?;
    let seen = read.map(|mid| format!("MSG#{mid}"));
    Ok(items.iter().filter(|i| Some(&i.sk) != seen.as_ref() && i.s("sender_id") != Some(user_id)).count() as i64)
}

/// Recount a member's unread messages into their summary. Guarded by the summary's last
/// message: a message sent meanwhile fails the write, and the count is taken again.
async fn recount_unread(ctx: &Context, tenant: &TenantId, cid: &str, user_id: &str) -> Result<(), ServiceError> {
    let (pk, sk, table) = (summary_pk(user_id), conv_pk(cid), Table::tenant(tenant));
    for _ in 0..5 {
        let Some(summary) = ctx.ports.store.get(&table, &pk, &sk).await.context("read a summary")? else {
            return Ok(());
        };
        let n = unread(ctx, tenant, cid, user_id).await?;
        let same = match summary.s("last_message_id") {
            Some(last) => Cond::eq("last_message_id", last),
            None => Cond::Missing("last_message_id".into()),
        };
        let set = Update::default().set("unread_count", n);
        match ctx.ports.store.update(&table, &pk, &sk, set, Cond::And(vec![Cond::Exists, same])).await {
            Ok(_) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(anyhow::Error::from(e).context("write the unread count").into()),
        }
    }
    Ok(())
}

async fn open_title(ctx: &Context, tenant: &TenantId, item: &Item) -> Result<Option<String>, ServiceError> {
    let Some(sealed) = item.b("title_enc") else { return Ok(None) };
    let at = Field { pk: &item.pk, sk: &item.sk, name: "title" };
    let plain = ctx.tenant_keys.open_field(&ctx.ports, tenant, &at, sealed).await.context("open the title")?;
    Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
}

#[derive(Serialize)]
pub struct Summary {
    pub conversation_id: String,
    pub title: Option<String>,
    pub member_ids: Vec<String>,
    pub last_message_at: Option<String>,
    /// user id → the last message that member has read.
    pub read_state: std::collections::BTreeMap<String, String>,
    pub unread_count: i64,
}

#[derive(Serialize)]
pub struct ConversationPage {
    pub conversations: Vec<Summary>,
    pub next_cursor: Option<String>,
}

/// A page of the caller's conversations, newest first, each from the caller's own summary
/// item (plus the members' read positions).
pub async fn list(
    ctx: &Context,
    p: &Principal,
    limit: usize,
    cursor: Option<String>,
) -> Result<ConversationPage, ServiceError> {
    let page = ctx
        .page(
            QueryRequest {
                table: Table::tenant(&p.tenant),
                pk: summary_pk(&p.user_id),
                range: SkRange::Prefix("CONV#".into()),
                direction: Direction::Backward,
                limit,
                cursor,
            },
            "read the conversation summaries",
        )
        .await?;
    let mut out = Vec::new();
    for summary in page.items {
        let cid = summary.sk.trim_start_matches("CONV#").to_owned();
        // A summary written before summaries carried the members: read the conversation.
        let (member_ids, title, last_message_at) = if summary.get("member_ids").is_some() {
            let title = open_title(ctx, &p.tenant, &summary).await?;
            (members_of(&summary), title, summary.s("last_message_at").map(str::to_owned))
        } else {
            let Ok(meta) = membership(ctx, p, &cid).await else { continue };
            let title = open_title(ctx, &p.tenant, &meta).await?;
            (members_of(&meta), title, meta.s("last_message_at").map(str::to_owned))
        };
        let inline = summary.bool(CARRIES_READS) == Some(true);
        let read_state = if inline {
            member_ids.iter().filter_map(|m| Some((m.clone(), summary.s(&read_attr(m))?.to_owned()))).collect()
        } else {
            Default::default()
        };
        out.push((
            inline,
            Summary {
                conversation_id: cid,
                title,
                member_ids,
                last_message_at,
                read_state,
                unread_count: summary.n("unread_count").unwrap_or(0).max(0),
            },
        ));
    }
    // Conversations whose summaries do not carry the read positions (created before they
    // did): every member's position in batched reads (the keys are known: one `READ#<member>`
    // item each) instead of a query per conversation.
    let keys: Vec<(usize, String, String)> = out
        .iter()
        .enumerate()
        .filter(|(_, (inline, _))| !inline)
        .flat_map(|(i, (_, c))| c.member_ids.iter().map(move |m| (i, conv_pk(&c.conversation_id), format!("READ#{m}"))))
        .collect();
    let table = Table::tenant(&p.tenant);
    for chunk in keys.chunks(100) {
        let ask: Vec<(&str, &str)> = chunk.iter().map(|(_, pk, sk)| (pk.as_str(), sk.as_str())).collect();
        let found = ctx.ports.store.get_many(&table, &ask).await.context("read the read positions")?;
        for ((i, _, _), read) in chunk.iter().zip(found) {
            if let Some((r, mid)) = read.as_ref().and_then(|r| Some((r, r.s("message_id")?))) {
                out[*i].1.read_state.insert(r.sk.trim_start_matches("READ#").to_owned(), mid.to_owned());
            }
        }
    }
    let conversations = out.into_iter().map(|(_, c)| c).collect();
    Ok(ConversationPage { conversations, next_cursor: page.next_cursor })
}

#[derive(Serialize)]
pub struct Sent {
    pub message_id: MessageId,
    pub sent_at: String,
}

/// Send a message: the message, the conversation's activity, every member's summary and the
/// attachment links in one transaction; then one push job per recipient device.
pub async fn send(
    ctx: &Context,
    p: &Principal,
    cid: &ConversationId,
    body: String,
    attachment_ids: Vec<String>,
) -> Result<Sent, ServiceError> {
    let cid = cid.as_str();
    let meta = membership(ctx, p, cid).await?;
    if body.is_empty() || body.len() > MAX_BODY_BYTES {
        return Err(ServiceError::ValidationFailed(format!("body must be 1..={MAX_BODY_BYTES} bytes")));
    }
    if attachment_ids.iter().enumerate().any(|(i, a)| attachment_ids[..i].contains(a)) {
        return Err(ServiceError::ValidationFailed("an attachment is listed twice".into()));
    }
    if attachment_ids.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::ValidationFailed(format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    let unreadable = || ServiceError::ValidationFailed("every attachment must be one you can read".into());
    for aid in &attachment_ids {
        if AttachmentId::parse(aid).is_err() || !attachments::readable_by(ctx, &p.tenant, &p.user_id, aid).await? {
            return Err(unreadable());
        }
    }
    let now = ctx.ports.clock.now();
    let mid = MessageId::generate();
    let (pk, sk) = (meta.pk.clone(), format!("MSG#{mid}"));
    let at = Field { pk: &pk, sk: &sk, name: "body" };
    let body_enc =
        ctx.tenant_keys.seal_field(&ctx.ports, &p.tenant, &at, body.as_bytes()).await.context("seal the body")?;
    let sent_at = rfc3339(now);
    let mut msg = Item::new(&pk, &sk)
        .with("sender_id", p.user_id.as_str())
        .with("body_enc", body_enc)
        .with("sent_at", sent_at.as_str());
    // Most messages carry none; readers take a missing list as empty (bytes per message).
    if !attachment_ids.is_empty() {
        msg =
            msg.with("attachment_ids", AttrValue::L(attachment_ids.iter().map(|a| AttrValue::S(a.clone())).collect()));
    }
    if let Some(days) = crate::services::tenancy::policy::load(ctx, &p.tenant).await?.message_retention_days {
        msg = msg.with(EXPIRES_AT, now.unix_timestamp() + i64::from(days) * 86400);
    }
    let table = Table::tenant(&p.tenant);
    let mut ops = vec![
        TxOp::Put { table: table.clone(), item: msg, cond: Cond::NotExists },
        TxOp::Update {
            table: table.clone(),
            pk: pk.clone(),
            sk: "META".into(),
            update: Update::default().set("last_message_at", sent_at.as_str()).set("last_message_id", mid.as_str()),
            cond: Cond::Exists,
        },
    ];
    for aid in &attachment_ids {
        ops.extend(attachments::link_ops(&p.tenant, aid, cid, mid.as_str()));
    }
    for m in members_of(&meta) {
        let mut update =
            Update::default().set("last_message_at", sent_at.as_str()).set("last_message_id", mid.as_str());
        if m != p.user_id {
            update = update.add("unread_count", 1);
        }
        ops.push(TxOp::Update { table: table.clone(), pk: summary_pk(&m), sk: pk.clone(), update, cond: Cond::Exists });
    }
    match ctx.ports.store.transact(ops).await {
        Ok(()) => {}
        // An attachment was purged between the check above and this write.
        Err(StoreError::TransactionCancelled { .. }) if !attachment_ids.is_empty() => return Err(unreadable()),
        Err(e) => return Err(anyhow::Error::from(e).context("write the message").into()),
    }
    crate::services::metrics::count(crate::services::metrics::MESSAGE_SENT);
    crate::services::push::notify_new_message(ctx, &p.tenant, cid, mid.as_str(), &p.user_id, &members_of(&meta)).await;
    Ok(Sent { message_id: mid, sent_at })
}

#[derive(Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub sender_id: Option<String>,
    pub body: String,
    pub attachment_ids: Vec<String>,
    pub sent_at: Option<String>,
}

#[derive(Serialize)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

/// A page of messages, newest first. The cursor is tagged with the conversation, so it cannot
/// be replayed against another one.
pub async fn list_messages(
    ctx: &Context,
    p: &Principal,
    cid: &ConversationId,
    limit: usize,
    cursor: Option<String>,
) -> Result<MessagePage, ServiceError> {
    let cid = cid.as_str();
    let meta = membership(ctx, p, cid).await?;
    let keys = ctx.identity_keys.get(&*ctx.ports.secrets).await?;
    let bad_cursor = || ServiceError::InvalidRequest("bad cursor".into());
    let cursor = match cursor {
        None => None,
        Some(c) => {
            let (inner, tag) = c.rsplit_once('.').ok_or_else(bad_cursor)?;
            if keys.cursor_tag(p.tenant.as_str(), cid, inner) != tag {
                return Err(bad_cursor());
            }
            Some(inner.to_owned())
        }
    };
    let page = ctx
        .page(
            QueryRequest {
                table: Table::tenant(&p.tenant),
                pk: meta.pk.clone(),
                range: SkRange::Prefix("MSG#".into()),
                direction: Direction::Backward,
                limit,
                cursor,
            },
            "read the messages",
        )
        .await?;
    let mut messages = Vec::new();
    for m in &page.items {
        let at = Field { pk: &m.pk, sk: &m.sk, name: "body" };
        let sealed = m.b("body_enc").ok_or_else(|| anyhow::anyhow!("message without body"))?;
        let body = ctx.tenant_keys.open_field(&ctx.ports, &p.tenant, &at, sealed).await.context("open a body")?;
        messages.push(MessageView {
            message_id: m.sk.trim_start_matches("MSG#").to_owned(),
            sender_id: m.s("sender_id").map(str::to_owned),
            body: String::from_utf8_lossy(&body).into_owned(),
            attachment_ids: match m.get("attachment_ids") {
                Some(AttrValue::L(l)) => l.iter().filter_map(AttrValue::as_s).map(str::to_owned).collect(),
                _ => vec![],
            },
            sent_at: m.s("sent_at").map(str::to_owned),
        });
    }
    let next_cursor = page.next_cursor.map(|c| format!("{c}.{}", keys.cursor_tag(p.tenant.as_str(), cid, &c)));
    Ok(MessagePage { messages, next_cursor })
}

/// Move the caller's read position forward (older positions are ignored).
pub async fn mark_read(
    ctx: &Context,
    p: &Principal,
    cid: &ConversationId,
    message_id: &str,
) -> Result<(), ServiceError> {
    let cid = cid.as_str();
    let meta = membership(ctx, p, cid).await?;
    let table = Table::tenant(&p.tenant);
    let exists = MessageId::parse(message_id).is_ok()
        && ctx
            .ports
            .store
            .get(&table, &meta.pk, &format!("MSG#{message_id}"))
            .await
            .context("read the message")?
            .is_some();
    if !exists {
        return Err(ServiceError::ValidationFailed("no such message in this conversation".into()));
    }
    let set = Update::default().set("message_id", message_id).set("read_at", ctx.ports.clock.now_secs());
    let forward = Cond::Or(vec![Cond::Missing("message_id".into()), Cond::lt("message_id", message_id)]);
    let read_sk = format!("READ#{}", p.user_id);
    let moved = if meta.bool(CARRIES_READS) == Some(true) {
        // The position and its copy in every member's summary move together; the position's
        // forward-only condition guards them all.
        let mut ops = vec![TxOp::Update {
            table: table.clone(),
            pk: meta.pk.clone(),
            sk: read_sk.clone(),
            update: set.clone(),
            cond: forward.clone(),
        }];
        for m in members_of(&meta) {
            let update = Update::default().set(&read_attr(&p.user_id), message_id);
            ops.push(TxOp::Update {
                table: table.clone(),
                pk: summary_pk(&m),
                sk: meta.pk.clone(),
                update,
                cond: Cond::Exists,
            });
        }
        match ctx.ports.store.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { index: Some(0) }) => Err(StoreError::ConditionFailed),
            // A member's summary is missing (nothing deletes them; a repair would): the
            // position itself still moves, and the page falls back to it being unknown there.
            Err(StoreError::TransactionCancelled { index: Some(_) }) => {
                tracing::warn!(tenant = %p.tenant, conversation_id = cid, "a member's summary is missing");
                ctx.ports.store.update(&table, &meta.pk, &read_sk, set, forward).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    } else {
        ctx.ports.store.update(&table, &meta.pk, &read_sk, set, forward).await.map(|_| ())
    };
    match moved {
        Ok(()) => recount_unread(ctx, &p.tenant, cid, &p.user_id).await,
        Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("move the read position").into()),
    }
}

/// The sender recalls a message: it is removed for everyone with its attachment links (in one
/// transaction). An attachment is purged only once no other message carries it.
pub async fn recall(ctx: &Context, p: &Principal, cid: &ConversationId, mid: &MessageId) -> Result<(), ServiceError> {
    let (cid, mid) = (cid.as_str(), mid.as_str());
    let meta = membership(ctx, p, cid).await?;
    let table = Table::tenant(&p.tenant);
    let sk = format!("MSG#{mid}");
    let msg =
        ctx.ports.store.get(&table, &meta.pk, &sk).await.context("read the message")?.ok_or(ServiceError::NotFound)?;
    if msg.s("sender_id") != Some(p.user_id.as_str()) {
        return Err(ServiceError::Forbidden);
    }
    let aids: Vec<&str> = match msg.get("attachment_ids") {
        Some(AttrValue::L(ids)) => ids.iter().filter_map(AttrValue::as_s).collect(),
        _ => vec![],
    };
    let mut ops = vec![TxOp::Delete { table: table.clone(), pk: meta.pk.clone(), sk: sk.clone(), cond: Cond::Exists }];
    for aid in &aids {
        let (pk, sk) = (attachments::att_pk(aid), format!("LINK#{cid}#{mid}"));
        ops.push(TxOp::Delete { table: table.clone(), pk, sk, cond: Cond::Always });
    }
    match ctx.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ServiceError::NotFound),
        Err(e) => return Err(anyhow::Error::from(e).context("recall the message").into()),
    }
    for aid in aids {
        attachments::unlink(ctx, &p.tenant, aid).await?;
    }
    for m in members_of(&meta).iter().filter(|m| **m != p.user_id) {
        recount_unread(ctx, &p.tenant, cid, m).await?;
    }
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "message.recall", mid, "success").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;
    use crate::services::testing::Fixture;

    /// A conversation of an admin and a nurse, and their principals.
    struct Ward {
        f: Fixture,
        admin: crate::services::identity::users::UserRecord,
        nurse: crate::services::identity::users::UserRecord,
        pa: Principal,
        pn: Principal,
        cid: ConversationId,
    }

    impl Ward {
        async fn new() -> Ward {
            let f = Fixture::new().await;
            let (admin, nurse) =
                (f.user("admin2@acme.test", Role::Admin).await, f.user("nurse@acme.test", Role::Member).await);
            let (pa, pn) = (f.principal(&admin), f.principal(&nurse));
            let cid = create(&f.ctx, &pa, None, vec![nurse.user_id.clone()]).await.unwrap().conversation_id;
            Ward { f, admin, nurse, pa, pn, cid }
        }
    }

    async fn page_for(f: &Fixture, p: &Principal) -> Summary {
        list(&f.ctx, p, 10, None).await.unwrap().conversations.into_iter().next().unwrap()
    }

    #[tokio::test]
    async fn the_page_of_conversations_shows_read_positions_from_the_summaries() {
        // GIVEN a conversation of an admin and a nurse with two messages from the admin
        let Ward { f, admin, nurse, pa, pn, cid } = Ward::new().await;
        let first = send(&f.ctx, &pa, &cid, "one".into(), vec![]).await.unwrap().message_id;
        let second = send(&f.ctx, &pa, &cid, "two".into(), vec![]).await.unwrap().message_id;
        assert_eq!(page_for(&f, &pn).await.unread_count, 2);
        // WHEN the nurse reads up to the second, then a late request marks the first
        mark_read(&f.ctx, &pn, &cid, second.as_str()).await.unwrap();
        mark_read(&f.ctx, &pn, &cid, first.as_str()).await.unwrap();
        // THEN both members' pages show the nurse at the second message (never moved back),
        // taken from the summaries alone (the READ# items are gone and it still shows)
        let table = Table::tenant(&f.tenant);
        f.ctx
            .ports
            .store
            .delete(&table, &conv_pk(cid.as_str()), &format!("READ#{}", nurse.user_id), Cond::Exists)
            .await
            .unwrap();
        for p in [&pa, &pn] {
            let page = page_for(&f, p).await;
            assert_eq!(page.read_state.get(&nurse.user_id).map(String::as_str), Some(second.as_str()));
            assert!(!page.read_state.contains_key(&admin.user_id));
        }
        assert_eq!(page_for(&f, &pn).await.unread_count, 0);
    }

    #[tokio::test]
    async fn a_conversation_from_before_the_summaries_carried_reads_reads_its_positions() {
        // GIVEN a conversation whose META and summaries lack the marker (written by an older
        // version), and a read position the nurse recorded then
        let Ward { f, admin, nurse, pa, pn, cid } = Ward::new().await;
        let mid = send(&f.ctx, &pa, &cid, "one".into(), vec![]).await.unwrap().message_id;
        let table = Table::tenant(&f.tenant);
        let pk = conv_pk(cid.as_str());
        for (ipk, isk) in [
            (pk.clone(), "META".to_owned()),
            (summary_pk(&admin.user_id), pk.clone()),
            (summary_pk(&nurse.user_id), pk.clone()),
        ] {
            let remove = Update { remove: vec![CARRIES_READS.into()], ..Update::default() };
            f.ctx.ports.store.update(&table, &ipk, &isk, remove, Cond::Exists).await.unwrap();
        }
        // WHEN the nurse marks it read and the admin lists
        mark_read(&f.ctx, &pn, &cid, mid.as_str()).await.unwrap();
        // THEN the position comes from the READ# item, as before
        let page = page_for(&f, &pa).await;
        assert_eq!(page.read_state.get(&nurse.user_id).map(String::as_str), Some(mid.as_str()));
    }

    #[tokio::test]
    async fn a_missing_summary_does_not_stop_a_read_position() {
        // GIVEN a conversation whose admin summary is gone (nothing deletes them; a repair might)
        let Ward { f, admin, nurse, pa, pn, cid } = Ward::new().await;
        let mid = send(&f.ctx, &pa, &cid, "one".into(), vec![]).await.unwrap().message_id;
        let table = Table::tenant(&f.tenant);
        let pk = conv_pk(cid.as_str());
        f.ctx.ports.store.delete(&table, &summary_pk(&admin.user_id), &pk, Cond::Exists).await.unwrap();
        // WHEN the nurse marks the message read
        mark_read(&f.ctx, &pn, &cid, mid.as_str()).await.unwrap();
        // THEN the position moved, and the nurse's own page shows it
        let read = f.ctx.ports.store.get(&table, &pk, &format!("READ#{}", nurse.user_id)).await.unwrap().unwrap();
        assert_eq!(read.s("message_id"), Some(mid.as_str()));
        assert_eq!(page_for(&f, &pn).await.unread_count, 0);
    }
}
