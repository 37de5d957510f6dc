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

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::types::{parse_display_text, TenantId};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::routes::attachments;
use crate::ports::clock::rfc3339;
use crate::ports::store::{
    query_all, AttrValue, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update, EXPIRES_AT,
};
use crate::runtime::state::AppState;
use crate::services::identity::users;
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

pub const MAX_MEMBERS: usize = 50;
pub const MAX_BODY_BYTES: usize = 65536;
pub const MAX_ATTACHMENTS: usize = 10;

fn table(t: &TenantId) -> Table {
    Table::Tenant(t.as_str().into())
}

pub fn conv_pk(cid: &str) -> String {
    format!("CONV#{cid}")
}

/// A 32-hex-digit id from a path segment (400 otherwise).
pub fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|_| ApiError::InvalidRequest("bad id".into()))?;
    valid_id(&id).then_some(id).ok_or_else(|| ApiError::InvalidRequest("bad id".into()))
}

pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn members_of(meta: &Item) -> Vec<String> {
    match meta.get("member_ids") {
        Some(AttrValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// The conversation's META, if the caller is a member (404 otherwise, never 403).
pub async fn membership(state: &AppState, tenant: &TenantId, user_id: &str, cid: &str) -> Result<Item, ApiError> {
    let meta = state.ports.store.get(&table(tenant), &conv_pk(cid), "META").await.map_err(ApiError::internal)?;
    meta.filter(|m| members_of(m).iter().any(|u| u == user_id)).ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
pub struct NewConversation {
    title: Option<String>,
    member_ids: Vec<String>,
}

/// `POST /v1/conversations` → 201 `{"conversation_id"}`.
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<NewConversation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut members = vec![p.user_id.clone()];
    for id in body.member_ids {
        if !members.contains(&id) {
            members.push(id);
        }
    }
    if members.len() > MAX_MEMBERS {
        return Err(ApiError::ValidationFailed(format!("a conversation has at most {MAX_MEMBERS} members")));
    }
    for id in &members[1..] {
        let user =
            if valid_id(id) { users::get(&state, &p.tenant, id).await.map_err(ApiError::Internal)? } else { None };
        if user.is_none_or(|u| u.disabled) {
            return Err(ApiError::ValidationFailed("every member must be an active user of your organisation".into()));
        }
    }
    let title =
        body.title.map(|t| parse_display_text(&t, "title", 200)).transpose().map_err(ApiError::ValidationFailed)?;
    let cid = uuid::Uuid::now_v7().simple().to_string();
    let pk = conv_pk(&cid);
    let member_list = AttrValue::L(members.iter().map(|m| AttrValue::S(m.clone())).collect());
    let now = state.ports.clock.now_secs();
    // Each copy of the title is sealed for the item that holds it (the field's AAD names it).
    let seal_title = |item: Item| async {
        let Some(title) = &title else { return Ok(item) };
        let at = Field { pk: &item.pk, sk: &item.sk, name: "title" };
        let sealed = state
            .tenant_keys
            .seal_field(&state.ports, &p.tenant, &at, title.as_bytes())
            .await
            .map_err(ApiError::Internal)?;
        Ok::<_, ApiError>(item.with("title_enc", sealed))
    };
    let meta = Item::new(&pk, "META")
        .with("member_ids", member_list.clone())
        .with("created_by", p.user_id.as_str())
        .with("created_at", now);
    let mut ops = vec![TxOp::Put { table: table(&p.tenant), item: seal_title(meta).await?, cond: Cond::NotExists }];
    for m in &members {
        let summary = Item::new(summary_pk(m), &pk)
            .with("member_ids", member_list.clone())
            .with("created_at", now)
            .with("unread_count", 0i64);
        ops.push(TxOp::Put { table: table(&p.tenant), item: seal_title(summary).await?, cond: Cond::NotExists });
    }
    state.ports.store.transact(ops).await.map_err(ApiError::internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "conversation.create", &cid, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "conversation_id": cid }))))
}

/// Query every page of a range (bounded by `cap` items).
async fn all(
    state: &AppState,
    tenant: &TenantId,
    pk: String,
    range: SkRange,
    cap: usize,
) -> Result<Vec<Item>, ApiError> {
    query_all(&*state.ports.store, &table(tenant), &pk, range, cap).await.map_err(ApiError::internal)
}

/// The partition of a user's conversation summaries.
fn summary_pk(user_id: &str) -> String {
    format!("USERCONV#{user_id}")
}

/// Unread messages from others after the read position (counted up to 1000).
async fn unread(state: &AppState, tenant: &TenantId, cid: &str, user_id: &str) -> Result<i64, ApiError> {
    let read = state.ports.store.get(&table(tenant), &conv_pk(cid), &format!("READ#{user_id}")).await;
    let read = read.map_err(ApiError::internal)?.and_then(|r| r.s("message_id").map(str::to_owned));
    let range = match &read {
        Some(mid) => SkRange::Between(format!("MSG#{mid}"), "MSG$".into()),
        None => SkRange::Prefix("MSG#".into()),
    };
    let items = all(state, tenant, conv_pk(cid), range, 1000).await?;
    let seen = read.map(|mid| format!("MSG#{mid}"));
    Ok(items.iter().filter(|i| Some(&i.sk) != seen.as_ref() && i.s("sender_id") != Some(user_id)).count() as i64)
}

/// Recount a member's unread messages into their summary. Guarded by the summary's last
/// message: a message sent meanwhile fails the write, and the count is taken again.
async fn recount_unread(state: &AppState, tenant: &TenantId, cid: &str, user_id: &str) -> Result<(), ApiError> {
    let (pk, sk) = (summary_pk(user_id), conv_pk(cid));
    for _ in 0..5 {
        let Some(summary) = state.ports.store.get(&table(tenant), &pk, &sk).await.map_err(ApiError::internal)? else {
            return Ok(());
        };
        let n = unread(state, tenant, cid, user_id).await?;
        let same = match summary.s("last_message_id") {
            Some(last) => Cond::eq("last_message_id", last),
            None => Cond::Missing("last_message_id".into()),
        };
        let set = Update::default().set("unread_count", n);
        match state.ports.store.update(&table(tenant), &pk, &sk, set, Cond::And(vec![Cond::Exists, same])).await {
            Ok(_) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    Ok(())
}

async fn open_title(state: &AppState, tenant: &TenantId, item: &Item) -> Result<Value, ApiError> {
    let Some(sealed) = item.b("title_enc") else { return Ok(Value::Null) };
    let at = Field { pk: &item.pk, sk: &item.sk, name: "title" };
    let plain = state.tenant_keys.open_field(&state.ports, tenant, &at, sealed).await.map_err(ApiError::Internal)?;
    Ok(Value::String(String::from_utf8_lossy(&plain).into_owned()))
}

/// `GET /v1/conversations?limit=&cursor=` → a page of the caller's conversations, newest
/// first, each from the caller's own summary item (plus the members' read positions), with
/// `next_cursor` while there are more.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    query: Result<Query<crate::http::extract::PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::InvalidRequest("bad query string".into()))?;
    let limit = crate::http::extract::page_limit(q.limit.as_deref(), 50, 100)?;
    let page = state
        .ports
        .store
        .query(QueryRequest {
            table: table(&p.tenant),
            pk: summary_pk(&p.user_id),
            range: SkRange::Prefix("CONV#".into()),
            direction: Direction::Backward,
            limit,
            cursor: q.cursor,
        })
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => ApiError::InvalidRequest("bad cursor".into()),
            e => ApiError::internal(e),
        })?;
    let mut out = Vec::new();
    for summary in page.items {
        let cid = summary.sk.trim_start_matches("CONV#").to_owned();
        // A summary written before summaries carried the members: read the conversation.
        let (members, title, last_at) = if summary.get("member_ids").is_some() {
            let title = open_title(&state, &p.tenant, &summary).await?;
            (members_of(&summary), title, summary.s("last_message_at").map(str::to_owned))
        } else {
            let Ok(meta) = membership(&state, &p.tenant, &p.user_id, &cid).await else { continue };
            let title = open_title(&state, &p.tenant, &meta).await?;
            (members_of(&meta), title, meta.s("last_message_at").map(str::to_owned))
        };
        let reads = all(&state, &p.tenant, conv_pk(&cid), SkRange::Prefix("READ#".into()), MAX_MEMBERS).await?;
        let mut read_state = serde_json::Map::new();
        for r in &reads {
            if let Some(mid) = r.s("message_id") {
                read_state.insert(r.sk.trim_start_matches("READ#").to_owned(), json!(mid));
            }
        }
        out.push(json!({
            "conversation_id": cid,
            "title": title,
            "member_ids": members,
            "last_message_at": last_at,
            "read_state": read_state,
            "unread_count": summary.n("unread_count").unwrap_or(0).max(0),
        }));
    }
    Ok(Json(json!({ "conversations": out, "next_cursor": page.next_cursor })))
}

#[derive(Deserialize)]
pub struct NewMessage {
    body: String,
    attachment_ids: Option<Vec<String>>,
}

/// `POST /v1/conversations/{id}/messages` → 201 `{"message_id", "sent_at"}`: the message,
/// the conversation's activity and the attachment links in one transaction.
pub async fn send(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cid = path_id(path)?;
    let meta = membership(&state, &p.tenant, &p.user_id, &cid).await?;
    if body.body.is_empty() || body.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::ValidationFailed(format!("body must be 1..={MAX_BODY_BYTES} bytes")));
    }
    let attachment_ids = body.attachment_ids.unwrap_or_default();
    if attachment_ids.iter().enumerate().any(|(i, a)| attachment_ids[..i].contains(a)) {
        return Err(ApiError::ValidationFailed("an attachment is listed twice".into()));
    }
    if attachment_ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::ValidationFailed(format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    for aid in &attachment_ids {
        if !valid_id(aid) || !attachments::readable_by(&state, &p.tenant, &p.user_id, aid).await? {
            return Err(ApiError::ValidationFailed("every attachment must be one you can read".into()));
        }
    }
    let now = state.ports.clock.now();
    let mid = uuid::Uuid::now_v7().simple().to_string();
    let (pk, sk) = (meta.pk.clone(), format!("MSG#{mid}"));
    let at = Field { pk: &pk, sk: &sk, name: "body" };
    let body_enc = state
        .tenant_keys
        .seal_field(&state.ports, &p.tenant, &at, body.body.as_bytes())
        .await
        .map_err(ApiError::Internal)?;
    let sent_at = rfc3339(now);
    let mut msg = Item::new(&pk, &sk)
        .with("sender_id", p.user_id.as_str())
        .with("body_enc", body_enc)
        .with("attachment_ids", AttrValue::L(attachment_ids.iter().map(|a| AttrValue::S(a.clone())).collect()))
        .with("sent_at", sent_at.as_str());
    let retention = crate::services::tenancy::policy::load(&state, &p.tenant).await?.message_retention_days;
    if let Some(days) = retention {
        msg = msg.with(EXPIRES_AT, now.unix_timestamp() + i64::from(days) * 86400);
    }
    let mut ops = vec![
        TxOp::Put { table: table(&p.tenant), item: msg, cond: Cond::NotExists },
        TxOp::Update {
            table: table(&p.tenant),
            pk: pk.clone(),
            sk: "META".into(),
            update: Update::default().set("last_message_at", sent_at.as_str()).set("last_message_id", mid.as_str()),
            cond: Cond::Exists,
        },
    ];
    for aid in &attachment_ids {
        ops.extend(attachments::link_ops(&p.tenant, aid, &cid, &mid));
    }
    for m in members_of(&meta) {
        let mut update =
            Update::default().set("last_message_at", sent_at.as_str()).set("last_message_id", mid.as_str());
        if m != p.user_id {
            update = update.add("unread_count", 1);
        }
        ops.push(TxOp::Update {
            table: table(&p.tenant),
            pk: summary_pk(&m),
            sk: pk.clone(),
            update,
            cond: Cond::Exists,
        });
    }
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        // An attachment was purged between the check above and this write.
        Err(StoreError::TransactionCancelled { .. }) if !attachment_ids.is_empty() => {
            return Err(ApiError::ValidationFailed("every attachment must be one you can read".into()))
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    crate::services::push::notify_new_message(&state, &p.tenant, &cid, &mid, &p.user_id, &members_of(&meta)).await;
    Ok((StatusCode::CREATED, Json(json!({ "message_id": mid, "sent_at": sent_at }))))
}

/// `GET /v1/conversations/{id}/messages?limit=&cursor=` → newest first. The cursor is tagged
/// with the conversation, so it cannot be replayed against another one.
pub async fn list_messages(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<crate::http::extract::PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let cid = path_id(path)?;
    let meta = membership(&state, &p.tenant, &p.user_id, &cid).await?;
    let Query(q) = query.map_err(|_| ApiError::InvalidRequest("bad query string".into()))?;
    let limit = crate::http::extract::page_limit(q.limit.as_deref(), 50, 200)?;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let cursor = match q.cursor {
        None => None,
        Some(c) => {
            let (inner, tag) = c.rsplit_once('.').ok_or_else(|| ApiError::InvalidRequest("bad cursor".into()))?;
            if keys.cursor_tag(p.tenant.as_str(), &cid, inner) != tag {
                return Err(ApiError::InvalidRequest("bad cursor".into()));
            }
            Some(inner.to_owned())
        }
    };
    let page = state
        .ports
        .store
        .query(QueryRequest {
            table: table(&p.tenant),
            pk: meta.pk.clone(),
            range: SkRange::Prefix("MSG#".into()),
            direction: Direction::Backward,
            limit,
            cursor,
        })
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => ApiError::InvalidRequest("bad cursor".into()),
            e => ApiError::internal(e),
        })?;
    let mut messages = Vec::new();
    for m in &page.items {
        let at = Field { pk: &m.pk, sk: &m.sk, name: "body" };
        let sealed = m.b("body_enc").ok_or_else(|| ApiError::internal(anyhow::anyhow!("message without body")))?;
        let body =
            state.tenant_keys.open_field(&state.ports, &p.tenant, &at, sealed).await.map_err(ApiError::Internal)?;
        let attachment_ids: Vec<&str> = match m.get("attachment_ids") {
            Some(AttrValue::L(l)) => l.iter().filter_map(AttrValue::as_s).collect(),
            _ => vec![],
        };
        messages.push(json!({
            "message_id": m.sk.trim_start_matches("MSG#"),
            "sender_id": m.s("sender_id"),
            "body": String::from_utf8_lossy(&body),
            "attachment_ids": attachment_ids,
            "sent_at": m.s("sent_at"),
        }));
    }
    let next_cursor = page.next_cursor.map(|c| format!("{c}.{}", keys.cursor_tag(p.tenant.as_str(), &cid, &c)));
    Ok(Json(json!({ "messages": messages, "next_cursor": next_cursor })))
}

#[derive(Deserialize)]
pub struct ReadBody {
    message_id: String,
}

/// `POST /v1/conversations/{id}/read` `{"message_id"}` → 204; the read position only moves
/// forward.
pub async fn mark_read(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<StatusCode, ApiError> {
    let cid = path_id(path)?;
    let meta = membership(&state, &p.tenant, &p.user_id, &cid).await?;
    let exists = valid_id(&body.message_id)
        && state
            .ports
            .store
            .get(&table(&p.tenant), &meta.pk, &format!("MSG#{}", body.message_id))
            .await
            .map_err(ApiError::internal)?
            .is_some();
    if !exists {
        return Err(ApiError::ValidationFailed("no such message in this conversation".into()));
    }
    let set =
        Update::default().set("message_id", body.message_id.as_str()).set("read_at", state.ports.clock.now_secs());
    let forward = Cond::Or(vec![Cond::Missing("message_id".into()), Cond::lt("message_id", body.message_id.as_str())]);
    match state.ports.store.update(&table(&p.tenant), &meta.pk, &format!("READ#{}", p.user_id), set, forward).await {
        Ok(_) => recount_unread(&state, &p.tenant, &cid, &p.user_id).await?,
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/conversations/{id}/messages/{message_id}` → 204: the sender recalls a message;
/// it is removed for everyone with its attachment links (in one transaction). An attachment
/// is purged only once no other message carries it.
pub async fn recall(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((cid, mid)) = path.map_err(|_| ApiError::InvalidRequest("bad id".into()))?;
    if !valid_id(&cid) || !valid_id(&mid) {
        return Err(ApiError::InvalidRequest("bad id".into()));
    }
    let meta = membership(&state, &p.tenant, &p.user_id, &cid).await?;
    let sk = format!("MSG#{mid}");
    let msg = state
        .ports
        .store
        .get(&table(&p.tenant), &meta.pk, &sk)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    if msg.s("sender_id") != Some(p.user_id.as_str()) {
        return Err(ApiError::Forbidden);
    }
    let aids: Vec<&str> = match msg.get("attachment_ids") {
        Some(AttrValue::L(ids)) => ids.iter().filter_map(AttrValue::as_s).collect(),
        _ => vec![],
    };
    let mut ops =
        vec![TxOp::Delete { table: table(&p.tenant), pk: meta.pk.clone(), sk: sk.clone(), cond: Cond::Exists }];
    for aid in &aids {
        let (pk, sk) = (attachments::att_pk(aid), format!("LINK#{cid}#{mid}"));
        ops.push(TxOp::Delete { table: table(&p.tenant), pk, sk, cond: Cond::Always });
    }
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    }
    for aid in aids {
        attachments::unlink(&state, &p.tenant, aid).await?;
    }
    for m in members_of(&meta).iter().filter(|m| **m != p.user_id) {
        recount_unread(&state, &p.tenant, &cid, m).await?;
    }
    audit::record(&state.ports, &p.tenant, &p.user_id, "message.recall", &mid, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}
