//! Users of a tenant: all in partition `USERS` of the tenant's table (`USER#<id>`), with the
//! email and display name encrypted at field level and an `EMAIL#<blind index>` item that makes
//! the email unique per tenant (created in the same transaction, conditioned on absence).

use crate::services::context::Context;
use zeroize::Zeroizing;

use crate::domain::types::{Email, Role, TenantId};
use crate::ports::store::{AttrValue, Cond, Item, Table, TxOp};
use crate::services::tenancy::keys::Field;

pub const USERS_PK: &str = "USERS";

/// The attributes of a user's item, named once.
pub mod attr {
    pub const ROLE: &str = "role";
    pub const DISABLED: &str = "disabled";
    pub const PASSWORD_HASH: &str = "password_hash";
    pub const PASSWORD_CHANGE_REQUIRED: &str = "password_change_required";
    pub const MFA_ENABLED: &str = "mfa_enabled";
    pub const SESSION_EPOCH: &str = "session_epoch";
    pub const EMAIL_INDEX: &str = "email_index";
    pub const TOTP_ENC: &str = "totp_enc";
    pub const TOTP_PENDING_ENC: &str = "totp_pending_enc";
    pub const TOTP_LAST_STEP: &str = "totp_last_step";
    pub const SECURITY_QUESTIONS_ENC: &str = "security_questions_enc";
    pub const ANSWER_HASHES: &str = "answer_hashes";
    pub const DEVICE_KEY_ENC: &str = "device_key_enc";
    pub const DEVICE_KEY_ID: &str = "device_key_id";
}

pub fn user_sk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn email_pk(index: &str) -> String {
    format!("EMAIL#{index}")
}

pub fn new_user_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A user as stored, with the encrypted fields still sealed.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub user_id: String,
    pub role: Role,
    pub disabled: bool,
    pub password_hash: String,
    pub password_change_required: bool,
    pub mfa_enabled: bool,
    pub session_epoch: i64,
    pub email_index: String,
    item: Item,
}

impl UserRecord {
    pub fn from_item(item: Item) -> anyhow::Result<UserRecord> {
        let bad = || anyhow::anyhow!("malformed user item");
        Ok(UserRecord {
            user_id: item.s("user_id").ok_or_else(bad)?.to_owned(),
            role: item.s(attr::ROLE).and_then(|r| Role::parse(r).ok()).ok_or_else(bad)?,
            disabled: item.bool(attr::DISABLED).unwrap_or(false),
            password_hash: item.s(attr::PASSWORD_HASH).ok_or_else(bad)?.to_owned(),
            password_change_required: item.bool(attr::PASSWORD_CHANGE_REQUIRED).unwrap_or(false),
            mfa_enabled: item.bool(attr::MFA_ENABLED).unwrap_or(false),
            session_epoch: item.n(attr::SESSION_EPOCH).unwrap_or(0),
            email_index: item.s(attr::EMAIL_INDEX).ok_or_else(bad)?.to_owned(),
            item,
        })
    }

    /// Decrypt the encrypted field `<field>_enc`, if the user has it.
    pub async fn open_bytes(
        &self,
        state: &Context,
        tenant: &TenantId,
        field: &str,
    ) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
        let Some(sealed) = self.item.b(&format!("{field}_enc")) else { return Ok(None) };
        let at = Field { pk: USERS_PK, sk: &self.item.sk, name: field };
        Ok(Some(state.tenant_keys.open_field(&state.ports, tenant, &at, sealed).await?))
    }

    async fn open(&self, state: &Context, tenant: &TenantId, field: &str) -> anyhow::Result<String> {
        let plain =
            self.open_bytes(state, tenant, field).await?.ok_or_else(|| anyhow::anyhow!("user without {field}"))?;
        Ok(String::from_utf8(plain.to_vec())?)
    }

    /// The id of the current device key, if one was issued.
    pub fn device_key_id(&self) -> Option<&str> {
        self.item.s(attr::DEVICE_KEY_ID)
    }

    /// The argon2id hashes of the two security answers, if set.
    pub fn answer_hashes(&self) -> Option<(String, String)> {
        match self.item.get(attr::ANSWER_HASHES) {
            Some(AttrValue::L(l)) if l.len() == 2 => Some((l[0].as_s()?.to_owned(), l[1].as_s()?.to_owned())),
            _ => None,
        }
    }

    pub async fn email(&self, state: &Context, tenant: &TenantId) -> anyhow::Result<String> {
        self.open(state, tenant, "email").await
    }

    pub async fn display_name(&self, state: &Context, tenant: &TenantId) -> anyhow::Result<String> {
        self.open(state, tenant, "display_name").await
    }
}

/// Encrypt a value for field `<field>_enc` of a user's item.
pub async fn seal(
    state: &Context,
    tenant: &TenantId,
    user_id: &str,
    field: &str,
    plain: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let sk = user_sk(user_id);
    state.tenant_keys.seal_field(&state.ports, tenant, &Field { pk: USERS_PK, sk: &sk, name: field }, plain).await
}

pub async fn get(state: &Context, tenant: &TenantId, user_id: &str) -> anyhow::Result<Option<UserRecord>> {
    let item = state.ports.store.get(&Table::tenant(tenant), USERS_PK, &user_sk(user_id)).await?;
    item.map(UserRecord::from_item).transpose()
}

/// Find a user by (blind-indexed) email.
pub async fn find_by_index(state: &Context, tenant: &TenantId, index: &str) -> anyhow::Result<Option<UserRecord>> {
    let table = Table::tenant(tenant);
    let Some(ix) = state.ports.store.get(&table, &email_pk(index), "EMAIL").await? else { return Ok(None) };
    let Some(user_id) = ix.s("user_id") else { return Ok(None) };
    get(state, tenant, user_id).await
}

pub struct NewUser<'a> {
    pub user_id: &'a str,
    pub email: &'a Email,
    pub email_index: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: String,
}

/// The two writes that create a user; the caller adds them to its transaction.
pub async fn create_ops(state: &Context, tenant: &TenantId, u: NewUser<'_>) -> anyhow::Result<Vec<TxOp>> {
    let table = Table::tenant(tenant);
    let sk = user_sk(u.user_id);
    let keys = &state.tenant_keys;
    let email_enc = keys
        .seal_field(&state.ports, tenant, &Field { pk: USERS_PK, sk: &sk, name: "email" }, u.email.as_str().as_bytes())
        .await?;
    let name_enc = keys
        .seal_field(
            &state.ports,
            tenant,
            &Field { pk: USERS_PK, sk: &sk, name: "display_name" },
            u.display_name.as_bytes(),
        )
        .await?;
    let now = state.ports.clock.now_secs();
    let user = Item::new(USERS_PK, &sk)
        .with("user_id", u.user_id)
        .with("email_enc", email_enc)
        .with("display_name_enc", name_enc)
        .with(attr::EMAIL_INDEX, u.email_index)
        .with(attr::ROLE, u.role.as_str())
        .with(attr::DISABLED, false)
        .with(attr::PASSWORD_HASH, u.password_hash)
        .with(attr::PASSWORD_CHANGE_REQUIRED, false)
        .with(attr::MFA_ENABLED, false)
        .with(attr::SESSION_EPOCH, 0i64)
        .with("created_at", now);
    let index = Item::new(email_pk(u.email_index), "EMAIL").with("user_id", u.user_id);
    Ok(vec![
        TxOp::Put { table: table.clone(), item: user, cond: Cond::NotExists },
        TxOp::Put { table, item: index, cond: Cond::NotExists },
    ])
}

/// The user an admin action names: 404 unless they are a user of this tenant.
pub async fn target(
    ctx: &Context,
    tenant: &TenantId,
    id: &crate::domain::types::UserId,
) -> Result<UserRecord, crate::services::error::ServiceError> {
    get(ctx, tenant, id.as_str()).await?.ok_or(crate::services::error::ServiceError::NotFound)
}

/// Apply `update` to an existing user's item (`ConditionFailed` if there is no such user).
pub async fn update(
    ctx: &Context,
    tenant: &TenantId,
    user_id: &str,
    update: crate::ports::store::Update,
) -> Result<Item, crate::ports::StoreError> {
    ctx.ports.store.update(&Table::tenant(tenant), USERS_PK, &user_sk(user_id), update, Cond::Exists).await
}
