//! Encrypted attachments (API.md "Messaging"). Each attachment has its own data key from the
//! key service under the context `{tenant, attachment}`; the body streams through the
//! segmented AEAD of [`stream_cipher`] into the blob store, so memory stays bounded and a
//! download only ever yields authenticated bytes. Only the uploader and members of a
//! conversation with a message carrying it may read it; anyone else gets 404.
//!
//! Items: `ATT#<id>/META` (uploader, size, sha256, encrypted type and name, wrapped key, and
//! `links`, how many messages carry it) and `ATT#<id>/LINK#<conversation>#<message>` for each
//! message carrying it. A recall removes only its own message's link; the attachment itself
//! goes when no message links it any more ([`unlink`]), so forwarding a file never gives the
//! forwarder a way to destroy the original.
//!
//! Retention of ciphertext: an attachment stored under a retention policy gets a reaper entry
//! (`REAP/<expires_at>#<tenant>#<attachment>` in the platform directory, ids only), written
//! with its record. The periodic sweep ([`sweep_expired`]) deletes the blob (S3 object or file)
//! and what is left of its records once the entry is due. The entry outlives the attachment's
//! own record, which DynamoDB's TTL may remove first.

use anyhow::Context as _;

use crate::domain::types::{AttachmentId, TenantId};
use crate::ports::blob::{BlobError, BlobKey, ByteStream};
use crate::ports::keys::EncryptionContext;
use crate::ports::store::{
    delete_partition, Cond, Direction, Item, QueryRequest, SkRange, StoreError, Table, TxOp, Update, EXPIRES_AT,
};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;
use crate::services::messaging::membership::membership_of;
use crate::services::messaging::stream_cipher;
use crate::services::tenancy::keys::Field;

const REAP_PK: &str = "REAP";

/// Direct uploads are limited by API Gateway and Lambda payload sizes; larger files would use
/// a presigned multipart upload (see README).
pub const MAX_UPLOAD: u64 = 4 * 1024 * 1024;

pub fn att_pk(aid: &str) -> String {
    format!("ATT#{aid}")
}

pub fn blob_key(tenant: &TenantId, aid: &str) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&format!("tenants/{}/attachments/{aid}", tenant.as_str())).context("attachment blob key")?)
}

fn key_context(tenant: &TenantId, aid: &str) -> EncryptionContext {
    EncryptionContext::new([("tenant", tenant.as_str()), ("attachment", aid)])
}

fn aad(tenant: &TenantId, aid: &str) -> Vec<u8> {
    format!("bulwark-attachment:{}:{aid}", tenant.as_str()).into_bytes()
}

/// A file to store, as it arrives.
pub struct NewAttachment {
    pub content_type: String,
    pub filename: Option<String>,
    pub body: ByteStream,
}

#[derive(serde::Serialize)]
pub struct Stored {
    pub attachment_id: String,
    pub size: u64,
    pub sha256: String,
}

/// Pieces a pipeline stage may run ahead of its reader: a few segments (64 KiB each) of
/// memory per stage and transfer.
const PIPELINE_DEPTH: usize = 4;

/// Seal and store an upload; its record (with the wrapped key) is written only once the
/// ciphertext is stored whole.
pub async fn upload(ctx: &Context, p: &Principal, new: NewAttachment) -> Result<Stored, ServiceError> {
    let aid = AttachmentId::generate();
    let aid = aid.as_str();
    let dk = ctx.ports.keys.generate_data_key(&key_context(&p.tenant, aid)).await.context("attachment data key")?;
    // Receiving and hashing, encrypting, and the blob store's writes each run on a core of
    // their own as the bytes flow (BENCHMARKS.md, attachments).
    let (sealed, stats) =
        stream_cipher::seal_in_stages(new.body, &dk.plaintext, &aad(&p.tenant, aid), MAX_UPLOAD, PIPELINE_DEPTH);
    let sealed = stream_cipher::ahead(sealed, PIPELINE_DEPTH);
    let key = blob_key(&p.tenant, aid)?;
    match ctx.ports.blobs.put(&key, sealed).await {
        Ok(_) => {}
        Err(BlobError::Body(e)) if stream_cipher::is_too_large(&e) => return Err(ServiceError::PayloadTooLarge),
        Err(BlobError::Body(_)) => return Err(ServiceError::InvalidRequest("the upload was interrupted".into())),
        Err(e) => return Err(anyhow::Error::from(e).context("store the attachment's ciphertext").into()),
    }
    let measured = stats.lock().ok().and_then(|s| Some((s.size, hex::encode(s.sha256?))));
    let Some((size, sha256)) = measured else {
        let _ = ctx.ports.blobs.delete(&key).await;
        return Err(anyhow::anyhow!("the upload's size and digest were not taken").into());
    };
    let pk = att_pk(aid);
    let seal = |name: &'static str, v: Vec<u8>| {
        let pk = pk.clone();
        async move {
            let at = Field { pk: &pk, sk: "META", name };
            ctx.tenant_keys.seal_field(&ctx.ports, &p.tenant, &at, &v).await.context("seal an attachment field")
        }
    };
    let mut item = Item::new(&pk, "META")
        .with("uploader_id", p.user_id.as_str())
        .with("size", size as i64)
        .with("sha256", sha256.as_str())
        .with("wrapped_key", dk.wrapped)
        .with("content_type_enc", seal("content_type", new.content_type.into_bytes()).await?)
        .with("created_at", ctx.ports.clock.now_secs());
    if let Some(name) = new.filename {
        item = item.with("filename_enc", seal("filename", name.into_bytes()).await?);
    }
    // Under a retention policy the record — the only copy of the wrapped key — expires with
    // the messages, which also makes the ciphertext unreadable (crypto-shredding) before the
    // blob itself is removed; a reaper entry, written with the record, has the ciphertext
    // deleted then too.
    let mut reap = None;
    if let Some(days) = crate::services::tenancy::policy::load(ctx, &p.tenant).await?.message_retention_days {
        let expires_at = ctx.ports.clock.now_secs() + i64::from(days) * 86400;
        item = item.with(EXPIRES_AT, expires_at);
        reap = Some(reap_op(&p.tenant, aid, expires_at));
    }
    let mut ops = vec![TxOp::Put { table: Table::tenant(&p.tenant), item, cond: Cond::NotExists }];
    ops.extend(reap);
    if let Err(e) = ctx.ports.store.transact(ops).await {
        let _ = ctx.ports.blobs.delete(&key).await;
        return Err(anyhow::Error::from(e).context("record the attachment").into());
    }
    Ok(Stored { attachment_id: aid.to_owned(), size, sha256 })
}

/// Whether `user_id` may read the attachment: its uploader, or a member of a conversation
/// with a message carrying it.
pub async fn readable_by(ctx: &Context, tenant: &TenantId, user_id: &str, aid: &str) -> Result<bool, ServiceError> {
    let store = &ctx.ports.store;
    let Some(meta) = store.get(&Table::tenant(tenant), &att_pk(aid), "META").await.context("read the attachment")?
    else {
        return Ok(false);
    };
    if meta.s("uploader_id") == Some(user_id) {
        return Ok(true);
    }
    let links = store
        .query(QueryRequest {
            table: Table::tenant(tenant),
            pk: att_pk(aid),
            range: SkRange::Prefix("LINK#".into()),
            direction: Direction::Forward,
            limit: 1000,
            cursor: None,
        })
        .await
        .context("read the attachment's links")?;
    for link in links.items {
        if let Some(cid) = link.s("conversation_id") {
            if membership_of(ctx, tenant, user_id, cid).await.is_ok() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// An attachment to send back: its metadata and its authenticated plaintext, streamed.
pub struct Download {
    pub content_type: String,
    pub filename: Option<String>,
    pub size: Option<i64>,
    pub body: ByteStream,
}

/// The attachment, if the caller may read it (404 otherwise, never 403).
pub async fn download(ctx: &Context, p: &Principal, aid: &AttachmentId) -> Result<Download, ServiceError> {
    let aid = aid.as_str();
    if !readable_by(ctx, &p.tenant, &p.user_id, aid).await? {
        return Err(ServiceError::NotFound);
    }
    let meta = ctx
        .ports
        .store
        .get(&Table::tenant(&p.tenant), &att_pk(aid), "META")
        .await
        .context("read the attachment")?
        .ok_or(ServiceError::NotFound)?;
    let open = |name: &'static str| {
        let meta = &meta;
        async move {
            let Some(sealed) = meta.b(&format!("{name}_enc")) else { return Ok(None) };
            let at = Field { pk: &meta.pk, sk: "META", name };
            let plain = ctx
                .tenant_keys
                .open_field(&ctx.ports, &p.tenant, &at, sealed)
                .await
                .context("open an attachment field")?;
            Ok::<_, ServiceError>(Some(String::from_utf8_lossy(&plain).into_owned()))
        }
    };
    let content_type = open("content_type").await?.unwrap_or_else(|| "application/octet-stream".into());
    let filename = open("filename").await?;
    let wrapped = meta.b("wrapped_key").ok_or_else(|| anyhow::anyhow!("attachment without key"))?;
    let key = ctx
        .ports
        .keys
        .decrypt_data_key(wrapped, &key_context(&p.tenant, aid))
        .await
        .context("unwrap the attachment key")?;
    let sealed = ctx.ports.blobs.get(&blob_key(&p.tenant, aid)?).await.map_err(|e| match e {
        BlobError::NotFound => ServiceError::NotFound,
        e => anyhow::Error::from(e).context("read the attachment's ciphertext").into(),
    })?;
    let body = stream_cipher::ahead(stream_cipher::open(sealed, key, &aad(&p.tenant, aid)), PIPELINE_DEPTH);
    Ok(Download { content_type, filename, size: meta.n("size"), body })
}

/// What a message's transaction writes for each attachment it carries: its link, and one more
/// on the record's `links` count — conditioned on the record, so an attachment purged
/// meanwhile cannot be linked again.
pub fn link_ops(tenant: &TenantId, aid: &str, cid: &str, mid: &str) -> [TxOp; 2] {
    let link = Item::new(att_pk(aid), format!("LINK#{cid}#{mid}")).with("conversation_id", cid);
    [
        TxOp::Put { table: Table::tenant(tenant), item: link, cond: Cond::NotExists },
        TxOp::Update {
            table: Table::tenant(tenant),
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
pub async fn unlink(ctx: &Context, tenant: &TenantId, aid: &str) -> Result<(), ServiceError> {
    let store = &ctx.ports.store;
    let table = Table::tenant(tenant);
    let less = Update::default().add("links", -1);
    let counted = Cond::And(vec![Cond::Exists, Cond::Has("links".into())]);
    match store.update(&table, &att_pk(aid), "META", less, counted).await {
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(anyhow::Error::from(e).context("count off an attachment link").into()),
    }
    let others = store
        .query(QueryRequest {
            table: table.clone(),
            pk: att_pk(aid),
            range: SkRange::Prefix("LINK#".into()),
            direction: Direction::Forward,
            limit: 1,
            cursor: None,
        })
        .await
        .context("look for the attachment's other links")?;
    if !others.items.is_empty() {
        return Ok(());
    }
    let unlinked = Cond::And(vec![Cond::Exists, Cond::Or(vec![Cond::Missing("links".into()), Cond::le("links", 0)])]);
    match store.delete(&table, &att_pk(aid), "META", unlinked).await {
        Ok(()) => purge(ctx, tenant, aid).await,
        // Linked again meanwhile, or already gone.
        Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("delete the unlinked attachment's record").into()),
    }
}

/// Remove an attachment everywhere: blob, metadata, links (retention, or its last link gone).
pub async fn purge(ctx: &Context, tenant: &TenantId, aid: &str) -> Result<(), ServiceError> {
    ctx.ports.blobs.delete(&blob_key(tenant, aid)?).await.context("delete the attachment's ciphertext")?;
    delete_partition(&*ctx.ports.store, &Table::tenant(tenant), &att_pk(aid), "")
        .await
        .context("delete the attachment's records")?;
    Ok(())
}

/// The reaper entry for an attachment stored under retention; written in the same
/// transaction as the attachment's record.
pub fn reap_op(tenant: &TenantId, attachment_id: &str, expires_at: i64) -> TxOp {
    let sk = format!("{expires_at:012}#{}#{attachment_id}", tenant.as_str());
    TxOp::Put { table: Table::Platform, item: Item::new(REAP_PK, sk), cond: Cond::Always }
}

/// Delete the ciphertext and leftovers of every attachment whose retention has run out.
/// Returns how many were removed.
pub async fn sweep_expired(state: &Context) -> anyhow::Result<usize> {
    let mut removed = 0;
    loop {
        let now = state.ports.clock.now_secs();
        let page = state
            .ports
            .store
            .query(QueryRequest {
                table: Table::Platform,
                pk: REAP_PK.into(),
                // Entries due now or earlier: expiry times are zero-padded, so they sort.
                range: SkRange::Between("0".repeat(12), format!("{now:012}~")),
                direction: Direction::Forward,
                limit: 100,
                cursor: None,
            })
            .await?;
        if page.items.is_empty() {
            return Ok(removed);
        }
        for entry in page.items {
            let mut parts = entry.sk.splitn(3, '#');
            let (_, tenant, aid) = (parts.next(), parts.next(), parts.next());
            match (tenant.map(TenantId::parse), aid) {
                (Some(Ok(tenant)), Some(aid)) => {
                    purge(state, &tenant, aid).await?;
                    removed += 1;
                }
                _ => tracing::error!("dropping a malformed attachment reaper entry"),
            }
            state.ports.store.delete(&Table::Platform, REAP_PK, &entry.sk, Cond::Always).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;
    use crate::services::testing::Fixture;

    #[tokio::test]
    async fn retention_deletes_the_ciphertext_once_it_is_due() {
        // GIVEN a tenant that keeps messages one day, and an attachment uploaded under it
        let f = Fixture::new().await;
        let mut policy = crate::services::tenancy::policy::load(&f.ctx, &f.tenant).await.unwrap();
        policy.message_retention_days = Some(1);
        crate::services::tenancy::policy::save(&f.ctx, &f.tenant, &policy).await.unwrap();
        let nurse = f.user("nurse@acme.test", Role::Member).await;
        let p = f.principal(&nurse);
        let body: ByteStream =
            Box::pin(futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x-ray")) }));
        let new = NewAttachment { content_type: "image/png".into(), filename: None, body };
        let stored = upload(&f.ctx, &p, new).await.unwrap();
        let key = blob_key(&f.tenant, &stored.attachment_id).unwrap();
        // WHEN the sweep runs before the day is over THEN nothing goes
        assert_eq!(sweep_expired(&f.ctx).await.unwrap(), 0);
        assert!(f.ctx.ports.blobs.get(&key).await.is_ok());
        // WHEN it runs after the day THEN the ciphertext and the record are gone
        f.advance(86400 + 1);
        assert_eq!(sweep_expired(&f.ctx).await.unwrap(), 1);
        assert!(matches!(f.ctx.ports.blobs.get(&key).await, Err(BlobError::NotFound)));
        let id = AttachmentId::parse(&stored.attachment_id).unwrap();
        assert!(matches!(download(&f.ctx, &p, &id).await, Err(ServiceError::NotFound)));
    }
}
