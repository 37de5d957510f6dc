//! Who belongs to a conversation: the one check every messaging rule starts from.

use anyhow::Context as _;

use crate::domain::types::TenantId;
use crate::ports::store::{AttrValue, Item, Table};
use crate::services::context::Context;
use crate::services::error::ServiceError;

pub fn conv_pk(cid: &str) -> String {
    format!("CONV#{cid}")
}

pub fn members_of(item: &Item) -> Vec<String> {
    match item.get("member_ids") {
        Some(AttrValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// The conversation's META, if the caller is a member (404 otherwise, never 403).
pub async fn membership(ctx: &Context, tenant: &TenantId, user_id: &str, cid: &str) -> Result<Item, ServiceError> {
    let meta =
        ctx.ports.store.get(&Table::tenant(tenant), &conv_pk(cid), "META").await.context("read the conversation")?;
    meta.filter(|m| members_of(m).iter().any(|u| u == user_id)).ok_or(ServiceError::NotFound)
}
