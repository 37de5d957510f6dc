//! Who belongs to a conversation: the one check every messaging rule starts from.

use anyhow::Context as _;

use crate::domain::types::TenantId;
use crate::ports::store::{AttrValue, Item, Table};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;

pub fn conv_pk(cid: &str) -> String {
    format!("CONV#{cid}")
}

pub fn members_of(item: &Item) -> Vec<String> {
    match item.get("member_ids") {
        Some(AttrValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// The key of a conversation's META: what a route naming the conversation asks
/// authentication to read beside the session ([`Principal::prefetched`]).
pub fn meta_key(cid: &str) -> (String, String) {
    (conv_pk(cid), "META".to_owned())
}

/// The conversation's META, if the caller is a member (404 otherwise, never 403); read with
/// the caller's session when the route prefetched it.
pub async fn membership(ctx: &Context, p: &Principal, cid: &str) -> Result<Item, ServiceError> {
    let (pk, sk) = meta_key(cid);
    match p.prefetched.get(&pk, &sk) {
        Some(meta) => member_filter(meta.cloned(), &p.user_id),
        None => membership_of(ctx, &p.tenant, &p.user_id, cid).await,
    }
}

/// [`membership`] for a user without a request's principal (always a read).
pub async fn membership_of(ctx: &Context, tenant: &TenantId, user_id: &str, cid: &str) -> Result<Item, ServiceError> {
    let (pk, sk) = meta_key(cid);
    let meta = ctx.ports.store.get(&Table::tenant(tenant), &pk, &sk).await.context("read the conversation")?;
    member_filter(meta, user_id)
}

fn member_filter(meta: Option<Item>, user_id: &str) -> Result<Item, ServiceError> {
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
        let p = f.principal(&admin);
        let created = crate::services::messaging::conversations::create(&f.ctx, &p, None, vec![nurse.user_id.clone()])
            .await
            .unwrap();
        let cid = created.conversation_id.as_str();
        // WHEN each of them asks for it
        // THEN the members get it, anyone else gets 404 (never 403), as does an unknown id
        assert!(membership_of(&f.ctx, &f.tenant, &nurse.user_id, cid).await.is_ok());
        assert!(matches!(membership_of(&f.ctx, &f.tenant, &porter.user_id, cid).await, Err(ServiceError::NotFound)));
        assert!(matches!(
            membership_of(&f.ctx, &f.tenant, &admin.user_id, &"0".repeat(32)).await,
            Err(ServiceError::NotFound)
        ));
    }

    #[tokio::test]
    async fn a_prefetched_conversation_is_checked_like_a_read_one() {
        // GIVEN a conversation of an admin and a nurse, and a porter outside it
        let f = Fixture::new().await;
        let admin = f.user("admin2@acme.test", Role::Admin).await;
        let nurse = f.user("nurse@acme.test", Role::Member).await;
        let porter = f.user("porter@acme.test", Role::Member).await;
        let created = crate::services::messaging::conversations::create(
            &f.ctx,
            &f.principal(&admin),
            None,
            vec![nurse.user_id.clone()],
        )
        .await
        .unwrap();
        let cid = created.conversation_id.as_str();
        let (pk, sk) = meta_key(cid);
        let meta = f.ctx.ports.store.get(&Table::tenant(&f.tenant), &pk, &sk).await.unwrap();
        let with = |user, item: Option<Item>| {
            let mut p = f.principal(user);
            p.prefetched = crate::services::identity::sessions::Prefetched::new(pk.clone(), sk.clone(), item);
            p
        };
        // WHEN the META came with the session THEN it decides without another read: a member
        // passes, the porter gets 404 even with the real META in hand, and a prefetch that found
        // nothing is 404
        assert!(membership(&f.ctx, &with(&nurse, meta.clone()), cid).await.is_ok());
        assert!(matches!(membership(&f.ctx, &with(&porter, meta.clone()), cid).await, Err(ServiceError::NotFound)));
        assert!(matches!(membership(&f.ctx, &with(&nurse, None), cid).await, Err(ServiceError::NotFound)));
        // AND a prefetch of another conversation is not taken for this one: it is read
        let mut other = f.principal(&porter);
        other.prefetched = crate::services::identity::sessions::Prefetched::new(pk.clone(), "OTHER".into(), meta);
        assert!(matches!(membership(&f.ctx, &other, cid).await, Err(ServiceError::NotFound)));
        assert!(membership(&f.ctx, &f.principal(&nurse), cid).await.is_ok());
    }
}
