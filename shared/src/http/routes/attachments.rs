//! Encrypted attachments (API.md "Messaging"). Each attachment has its own data key from the
//! key service under the context `{tenant, attachment}`; the body streams through the
//! segmented AEAD of `attachment_stream` into the blob store, so memory stays bounded and a
//! download only ever yields authenticated bytes. Only the uploader and members of a
//! conversation with a message carrying it may read it; anyone else gets 404.
//!
//! Items: `ATT#<id>/META` (uploader, size, sha256, encrypted type and name, wrapped key, and
//! `links`, how many messages carry it) and `ATT#<id>/LINK#<conversation>#<message>` for each
//! message carrying it. A recall removes only its own message's link; the attachment itself
//! goes when no message links it any more ([`unlink`]), so forwarding a file never gives the
//! forwarder a way to destroy the original.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use serde_json::json;

use crate::domain::types::TenantId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::routes::messages::{membership, path_id};
use crate::ports::blob::{BlobError, BlobKey};
use crate::ports::keys::EncryptionContext;
use crate::ports::store::{
    delete_partition, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update,
};
use crate::runtime::state::AppState;
use crate::services::messaging::stream_cipher as attachment_stream;
use crate::services::tenancy::keys::Field;

/// Direct uploads are limited by API Gateway and Lambda payload sizes; larger files would use
/// a presigned multipart upload (see README).
pub const MAX_UPLOAD: u64 = 4 * 1024 * 1024;

fn table(t: &TenantId) -> Table {
    Table::Tenant(t.as_str().into())
}

pub fn att_pk(aid: &str) -> String {
    format!("ATT#{aid}")
}

pub fn blob_key(tenant: &TenantId, aid: &str) -> Result<BlobKey, ApiError> {
    BlobKey::parse(&format!("tenants/{}/attachments/{aid}", tenant.as_str())).map_err(ApiError::internal)
}

fn context(tenant: &TenantId, aid: &str) -> EncryptionContext {
    EncryptionContext::new([("tenant", tenant.as_str()), ("attachment", aid)])
}

fn aad(tenant: &TenantId, aid: &str) -> Vec<u8> {
    format!("bulwark-attachment:{}:{aid}", tenant.as_str()).into_bytes()
}

/// `POST /v1/attachments` (raw bytes; `Content-Type`; optional `X-Filename`) → 201
/// `{"attachment_id", "size", "sha256"}`.
pub async fn upload(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream");
    if content_type.len() > 255 || content_type.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest("bad Content-Type".into()));
    }
    let filename = match headers.get("x-filename") {
        None => None,
        Some(v) => {
            let name = v.to_str().map_err(|_| {
                ApiError::InvalidRequest("X-Filename must be visible ASCII (percent-encode others)".into())
            })?;
            Some(
                crate::domain::types::parse_display_text(name, "X-Filename", 255)
                    .map_err(ApiError::ValidationFailed)?,
            )
        }
    };
    let aid = uuid::Uuid::now_v7().simple().to_string();
    let dk = state.ports.keys.generate_data_key(&context(&p.tenant, &aid)).await.map_err(ApiError::internal)?;
    let input = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let (sealed, stats) = attachment_stream::seal(input, &dk.plaintext, &aad(&p.tenant, &aid), MAX_UPLOAD);
    let key = blob_key(&p.tenant, &aid)?;
    match state.ports.blobs.put(&key, sealed).await {
        Ok(_) => {}
        Err(BlobError::Body(e)) if attachment_stream::is_too_large(&e) => return Err(ApiError::PayloadTooLarge),
        Err(BlobError::Body(_)) => return Err(ApiError::InvalidRequest("the upload was interrupted".into())),
        Err(e) => return Err(ApiError::internal(e)),
    }
    let (size, sha256) = {
        let s = stats.lock().map_err(|_| ApiError::internal(anyhow::anyhow!("stats lock poisoned")))?;
        (s.size, s.sha256.map(hex::encode).unwrap_or_default())
    };
    let pk = att_pk(&aid);
    let (keys, ports, tenant) = (&state.tenant_keys, &state.ports, &p.tenant);
    let seal = |name: &'static str, v: Vec<u8>| {
        let pk = pk.clone();
        async move {
            keys.seal_field(ports, tenant, &Field { pk: &pk, sk: "META", name }, &v).await.map_err(ApiError::Internal)
        }
    };
    let mut item = Item::new(&pk, "META")
        .with("uploader_id", p.user_id.as_str())
        .with("size", size as i64)
        .with("sha256", sha256.as_str())
        .with("wrapped_key", dk.wrapped)
        .with("content_type_enc", seal("content_type", content_type.as_bytes().to_vec()).await?)
        .with("created_at", state.ports.clock.now_secs());
    if let Some(name) = filename {
        item = item.with("filename_enc", seal("filename", name.into_bytes()).await?);
    }
    // Under a retention policy the record — the only copy of the wrapped key — expires with
    // the messages, which also makes the ciphertext unreadable (crypto-shredding) before the
    // blob itself is removed.
    // A reaper entry, written with the record, has the ciphertext itself deleted then too.
    let mut reap = None;
    if let Some(days) = crate::services::tenancy::policy::load(&state, &p.tenant).await?.message_retention_days {
        let expires_at = state.ports.clock.now_secs() + i64::from(days) * 86400;
        item = item.with(crate::ports::store::EXPIRES_AT, expires_at);
        reap = Some(crate::services::maintenance::reap_op(&p.tenant, &aid, expires_at));
    }
    let mut ops = vec![TxOp::Put { table: table(&p.tenant), item, cond: Cond::NotExists }];
    ops.extend(reap);
    if let Err(e) = state.ports.store.transact(ops).await {
        let _ = state.ports.blobs.delete(&key).await;
        return Err(ApiError::internal(e));
    }
    Ok((StatusCode::CREATED, Json(json!({ "attachment_id": aid, "size": size, "sha256": sha256 }))).into_response())
}

/// Whether `user_id` may read the attachment: its uploader, or a member of a conversation
/// with a message carrying it.
pub async fn readable_by(state: &AppState, tenant: &TenantId, user_id: &str, aid: &str) -> Result<bool, ApiError> {
    let store = &state.ports.store;
    let Some(meta) = store.get(&table(tenant), &att_pk(aid), "META").await.map_err(ApiError::internal)? else {
        return Ok(false);
    };
    if meta.s("uploader_id") == Some(user_id) {
        return Ok(true);
    }
    let links = store
        .query(QueryRequest {
            table: table(tenant),
            pk: att_pk(aid),
            range: SkRange::Prefix("LINK#".into()),
            direction: Direction::Forward,
            limit: 1000,
            cursor: None,
        })
        .await
        .map_err(ApiError::internal)?;
    for link in links.items {
        if let Some(cid) = link.s("conversation_id") {
            if membership(state, tenant, user_id, cid).await.is_ok() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// RFC 6266 `filename*` value.
fn disposition(name: &str) -> String {
    let enc: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename*=UTF-8''{enc}")
}

/// `GET /v1/attachments/{id}` → the bytes, with their `Content-Type`.
pub async fn download(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let aid = path_id(path)?;
    if !readable_by(&state, &p.tenant, &p.user_id, &aid).await? {
        return Err(ApiError::NotFound);
    }
    let meta = state
        .ports
        .store
        .get(&table(&p.tenant), &att_pk(&aid), "META")
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    let open = |name: &'static str| {
        let meta = &meta;
        let state = &state;
        let tenant = &p.tenant;
        async move {
            let Some(sealed) = meta.b(&format!("{name}_enc")) else { return Ok(None) };
            let at = Field { pk: &meta.pk, sk: "META", name };
            let plain =
                state.tenant_keys.open_field(&state.ports, tenant, &at, sealed).await.map_err(ApiError::Internal)?;
            Ok::<_, ApiError>(Some(String::from_utf8_lossy(&plain).into_owned()))
        }
    };
    let content_type = open("content_type").await?.unwrap_or_else(|| "application/octet-stream".into());
    let filename = open("filename").await?;
    let wrapped = meta.b("wrapped_key").ok_or_else(|| ApiError::internal(anyhow::anyhow!("attachment without key")))?;
    let key =
        state.ports.keys.decrypt_data_key(wrapped, &context(&p.tenant, &aid)).await.map_err(ApiError::internal)?;
    let sealed = state.ports.blobs.get(&blob_key(&p.tenant, &aid)?).await.map_err(|e| match e {
        BlobError::NotFound => ApiError::NotFound,
        e => ApiError::internal(e),
    })?;
    let plain = attachment_stream::open(sealed, key, &aad(&p.tenant, &aid));
    let mut resp = Response::new(Body::from_stream(plain));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(size) = meta.n("size") {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    if let Some(name) = filename {
        if let Ok(v) = HeaderValue::from_str(&disposition(&name)) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// What a message's transaction writes for each attachment it carries: its link, and one more
/// on the record's `links` count — conditioned on the record, so an attachment purged
/// meanwhile cannot be linked again.
pub fn link_ops(tenant: &TenantId, aid: &str, cid: &str, mid: &str) -> [TxOp; 2] {
    let link = Item::new(att_pk(aid), format!("LINK#{cid}#{mid}")).with("conversation_id", cid);
    [
        TxOp::Put { table: table(tenant), item: link, cond: Cond::NotExists },
        TxOp::Update {
            table: table(tenant),
            pk: att_pk(aid),
            sk: "META".into(),
            update: Update::default().add("links", 1),
            cond: Cond::Exists,
        },
    ]
}

/// A recalled message's link is gone (removed in the recall's transaction): count it off, and
/// purge the attachment only if no other message links it. The record is deleted first, on
/// the condition that its count is zero, so a message linking it at the same moment either
/// keeps it alive or fails its own transaction.
pub async fn unlink(state: &AppState, tenant: &TenantId, aid: &str) -> Result<(), ApiError> {
    let store = &state.ports.store;
    let less = Update::default().add("links", -1);
    match store
        .update(&table(tenant), &att_pk(aid), "META", less, Cond::And(vec![Cond::Exists, Cond::Has("links".into())]))
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    let others = store
        .query(QueryRequest {
            table: table(tenant),
            pk: att_pk(aid),
            range: SkRange::Prefix("LINK#".into()),
            direction: Direction::Forward,
            limit: 1,
            cursor: None,
        })
        .await
        .map_err(ApiError::internal)?;
    if !others.items.is_empty() {
        return Ok(());
    }
    let unlinked = Cond::And(vec![Cond::Exists, Cond::Or(vec![Cond::Missing("links".into()), Cond::le("links", 0)])]);
    match store.delete(&table(tenant), &att_pk(aid), "META", unlinked).await {
        Ok(()) => purge(state, tenant, aid).await,
        // Linked again meanwhile, or already gone.
        Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Remove an attachment everywhere: blob, metadata, links (retention, or its last link gone).
pub async fn purge(state: &AppState, tenant: &TenantId, aid: &str) -> Result<(), ApiError> {
    state.ports.blobs.delete(&blob_key(tenant, aid)?).await.map_err(ApiError::internal)?;
    delete_partition(&*state.ports.store, &table(tenant), &att_pk(aid), "").await.map_err(ApiError::internal)?;
    Ok(())
}
