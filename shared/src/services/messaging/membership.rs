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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;
    use crate::services::testing::Fixture;

    #[tokio::test]
    async fn only_members_see_a_conversation() {
        // GIVEN a conversation of an admin and a nurse, and a porter outside it
        let f = Fixture::new().await;
        let admin = f.user("admin2@acme.test", Role::Admin).await;
        let nurse = f.user("nurse@acme.test", Role::Member).await;
        let porter = f.user("porter@acme.test", Role::Member).await;
        let p = crate::services::identity::sessions::Principal {
            tenant: f.tenant.clone(),
            tenant_slug: "acme".into(),
            user_id: admin.user_id.clone(),
            session_id: "s".into(),
            user: admin.clone(),
            sso: false,
        };
        let created = crate::services::messaging::conversations::create(&f.ctx, &p, None, vec![nurse.user_id.clone()])
            .await
            .unwrap();
        let cid = created.conversation_id.as_str();
        // WHEN each of them asks for it
        // THEN the members get it, anyone else gets 404 (never 403), as does an unknown id
        assert!(membership(&f.ctx, &f.tenant, &nurse.user_id, cid).await.is_ok());
        assert!(matches!(membership(&f.ctx, &f.tenant, &porter.user_id, cid).await, Err(ServiceError::NotFound)));
        assert!(matches!(
            membership(&f.ctx, &f.tenant, &admin.user_id, &"0".repeat(32)).await,
            Err(ServiceError::NotFound)
        ));
    }
}
