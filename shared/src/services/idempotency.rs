//! Idempotent retries (API.md "Conventions"): a client that creates something may send an
//! `Idempotency-Key`; a repeat with the same key by the same user within 24 h gets the first
//! answer again and creates nothing, and the same key with another request → 409.
//!
//! One item per (user, key), `IDEM#<user>#<sha256 of key>` in the tenant's table: claimed by a
//! conditional put before the request runs (so parallel retries cannot both run it), then
//! completed with the answer. A request that failed unexpectedly gives its claim back, so a
//! retry may run it again.

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::domain::types::TenantId;
use crate::ports::store::{AttrValue, Cond, Item, StoreError, Table, Update, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;

/// Keys and their answers are kept a day.
pub const TTL_SECS: i64 = 24 * 3600;
/// How long a retry waits for a first request still running before answering 409.
const WAIT_MS: u64 = 3_000;
/// A claim older than this whose request never completed nor released it (the process
/// died, or the release itself failed) may be claimed again; requests end well within it.
pub const LEASE_SECS: i64 = 60;

/// A stored answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries a key.
pub enum Claim {
    /// The first time: run it, then [`complete`] or [`release`].
    Run,
    /// A repeat of a finished request: answer this again.
    Replay(Answer),
}

/// A well-formed key: 1..=64 URL-safe characters.
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn pk(user_id: &str, key: &str) -> String {
    format!("IDEM#{user_id}#{}", hex::encode(Sha256::digest(key.as_bytes())))
}

const SK: &str = "IDEM";

/// Claim `key` for a request whose method, path and body hash to `fingerprint`.
pub async fn claim(
    ctx: &Context,
    tenant: &TenantId,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ServiceError> {
    let table = Table::tenant(tenant);
    let pk = pk(user_id, key);
    let mut waited = 0;
    loop {
        let now = ctx.ports.clock.now_secs();
        let item = Item::new(&pk, SK)
            .with("fingerprint", fingerprint)
            .with("state", "running")
            .with("lease_until", now + LEASE_SECS)
            .with(EXPIRES_AT, now + TTL_SECS);
        let stranded = Cond::And(vec![
            Cond::eq("state", "running"),
            Cond::eq("fingerprint", fingerprint),
            Cond::lt("lease_until", now),
        ]);
        match ctx.ports.store.put(&table, item, Cond::Or(vec![Cond::NotExists, stranded])).await {
            Ok(()) => return Ok(Claim::Run),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(anyhow::Error::from(e).context("idempotency: claim").into()),
        }
        let Some(seen) = ctx.ports.store.get(&table, &pk, SK).await.context("idempotency: read the claim")? else {
            continue; // released or expired meanwhile: claim again
        };
        if seen.s("fingerprint") != Some(fingerprint) {
            return Err(ServiceError::Conflict("this Idempotency-Key was used with another request".into()));
        }
        if seen.s("state") == Some("done") {
            let status = seen.n("status").and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
            let content_type = seen.s("content_type").map(str::to_owned);
            let body = seen.b("body").map(<[u8]>::to_vec).unwrap_or_default();
            return Ok(Claim::Replay(Answer { status, content_type, body }));
        }
        if waited >= WAIT_MS {
            return Err(ServiceError::Conflict("a request with this Idempotency-Key is still running".into()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 50;
    }
}

/// Record the answer of the request that ran under `key`.
pub async fn complete(
    ctx: &Context,
    tenant: &TenantId,
    user_id: &str,
    key: &str,
    answer: &Answer,
) -> Result<(), ServiceError> {
    let mut done = Update::default()
        .set("state", "done")
        .set("status", i64::from(answer.status))
        .set("body", AttrValue::B(answer.body.clone()));
    if let Some(ct) = &answer.content_type {
        done = done.set("content_type", ct.as_str());
    }
    let table = Table::tenant(tenant);
    match ctx.ports.store.update(&table, &pk(user_id, key), SK, done, Cond::eq("state", "running")).await {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("idempotency: record the answer").into()),
    }
}

/// The request failed unexpectedly: give the key back so a retry runs it again.
pub async fn release(ctx: &Context, tenant: &TenantId, user_id: &str, key: &str) -> Result<(), ServiceError> {
    let table = Table::tenant(tenant);
    match ctx.ports.store.delete(&table, &pk(user_id, key), SK, Cond::eq("state", "running")).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("idempotency: release the claim").into()),
    }
}
