//! Secure messaging (API.md "Messaging"): conversations between users of one tenant, messages
//! encrypted at field level, read state and recall. Non-members — and other tenants — get 404
//! on everything about a conversation.
//!
//! Items (tenant table): `CONV#<id>/META` (members, encrypted title, last activity),
//! `CONV#<id>/MSG#<uuidv7>` (time-ordered messages), `CONV#<id>/READ#<user>` (read position),
//! and `USERCONV#<user>/CONV#<id>` (each member's conversation list).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::audit;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::identity::users;
use crate::ports::store::{
    query_all, AttrValue, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update, EXPIRES_AT,
};
use crate::routes::attachments;
use crate::tenant_keys::Field;
use crate::types::{parse_display_text, TenantId};

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
    let cid = uuid::Uuid::now_v7().simple().to_string();
    let pk = conv_pk(&cid);
    let mut meta = Item::new(&pk, "META")
        .with("member_ids", AttrValue::L(members.iter().map(|m| AttrValue::S(m.clone())).collect()))
        .with("created_by", p.user_id.as_str())
        .with("created_at", state.ports.clock.now_secs());
    if let Some(t) = body.title {
        let title = parse_display_text(&t, "title", 200).map_err(ApiError::ValidationFailed)?;
        let at = Field { pk: &pk, sk: "META", name: "title" };
        meta = meta.with(
            "title_enc",
            state
                .tenant_keys
                .seal_field(&state.ports, &p.tenant, &at, title.as_bytes())
                .await
                .map_err(ApiError::Internal)?,
        );
    }
    let mut ops = vec![TxOp::Put { table: table(&p.tenant), item: meta, cond: Cond::NotExists }];
    for m in &members {
        let item = Item::new(format!("USERCONV#{m}"), &pk);
        ops.push(TxOp::Put { table: table(&p.tenant), item, cond: Cond::NotExists });
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

/// Unread messages after `read` (capped at 1000).
async fn unread(state: &AppState, tenant: &TenantId, cid: &str, read: Option<&str>) -> Result<usize, ApiError> {
    let range = match read {
        Some(mid) => SkRange::Between(format!("MSG#{mid}"), "MSG$".into()),
        None => SkRange::Prefix("MSG#".into()),
    };
    let items = all(state, tenant, conv_pk(cid), range, 1000).await?;
    let seen = read.map(|mid| format!("MSG#{mid}"));
    Ok(items.iter().filter(|i| Some(&i.sk) != seen.as_ref()).count())
}

/// `GET /v1/conversations` → the caller's conversations, most recently active first, with each
/// member's read position and the caller's unread count.
pub async fn list(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    let links =
        all(&state, &p.tenant, format!("USERCONV#{}", p.user_id), SkRange::Prefix("CONV#".into()), usize::MAX).await?;
    let mut out = Vec::new();
    for link in links {
        let cid = link.sk.trim_start_matches("CONV#").to_owned();
        let Ok(meta) = membership(&state, &p.tenant, &p.user_id, &cid).await else { continue };
        let title = match meta.b("title_enc") {
            Some(sealed) => {
                let at = Field { pk: &meta.pk, sk: "META", name: "title" };
                let plain = state
                    .tenant_keys
                    .open_field(&state.ports, &p.tenant, &at, sealed)
                    .await
                    .map_err(ApiError::Internal)?;
                Value::String(String::from_utf8_lossy(&plain).into_owned())
            }
            None => Value::Null,
        };
        let reads = all(&state, &p.tenant, meta.pk.clone(), SkRange::Prefix("READ#".into()), usize::MAX).await?;
        let mut read_state = serde_json::Map::new();
        for r in &reads {
            if let Some(mid) = r.s("message_id") {
                read_state.insert(r.sk.trim_start_matches("READ#").to_owned(), json!(mid));
            }
        }
        let mine = read_state.get(&p.user_id).and_then(Value::as_str).map(str::to_owned);
        out.push(json!({
            "conversation_id": cid,
            "title": title,
            "member_ids": members_of(&meta),
            "last_message_at": meta.s("last_message_at"),
            "read_state": read_state,
            "unread_count": unread(&state, &p.tenant, &cid, mine.as_deref()).await?,
        }));
    }
    out.sort_by(|a, b| b["last_message_at"].as_str().unwrap_or("").cmp(a["last_message_at"].as_str().unwrap_or("")));
    Ok(Json(json!({ "conversations": out })))
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
    let retention = crate::policy::load(&state, &p.tenant).await?.message_retention_days;
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
        let link =
            Item::new(attachments::att_pk(aid), format!("LINK#{cid}#{mid}")).with("conversation_id", cid.as_str());
        ops.push(TxOp::Put { table: table(&p.tenant), item: link, cond: Cond::NotExists });
    }
    state.ports.store.transact(ops).await.map_err(ApiError::internal)?;
    crate::push::notify_new_message(&state, &p.tenant, &cid, &mid, &p.user_id, &members_of(&meta)).await;
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
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `DELETE /v1/conversations/{id}/messages/{message_id}` → 204: the sender recalls a message;
/// it is removed for everyone, with its attachments.
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
    match state.ports.store.delete(&table(&p.tenant), &meta.pk, &sk, Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    }
    if let Some(AttrValue::L(ids)) = msg.get("attachment_ids") {
        for aid in ids.iter().filter_map(AttrValue::as_s) {
            attachments::purge(&state, &p.tenant, aid).await?;
        }
    }
    audit::record(&state.ports, &p.tenant, &p.user_id, "message.recall", &mid, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}
