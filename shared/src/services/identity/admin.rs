//! Tenant administration (role `admin`; the audit log also for `auditor`): invitations, users,
//! forced password change, unlock, the audit log and the policy.

use crate::services::identity::users::attr;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::types::{Email, Role, TenantId, UserId};
use crate::ports::store::{query_all, Direction, QueryRequest, SkRange, StoreError, Table, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::lockout::{self, LockKey};
use crate::services::identity::sessions::Principal;
use crate::services::identity::users::{self, UserRecord};
use crate::services::tenancy::audit;
use crate::services::tenancy::policy::Policy;
use crate::services::tenancy::tenants;

#[derive(Deserialize)]
pub struct InviteBody {
    pub email: String,
    pub role: String,
}

/// `POST /v1/admin/invitations` → 201 `{"invitation_id"}` and an invitation email.
#[derive(Serialize)]
pub struct Invited {
    pub invitation_id: String,
}

pub async fn invite(state: &Context, p: &Principal, body: InviteBody) -> Result<Invited, ServiceError> {
    let email = Email::parse(&body.email).map_err(ServiceError::ValidationFailed)?;
    let role = Role::parse(&body.role).map_err(ServiceError::ValidationFailed)?;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("invite: identity_keys.get")?;
    let index = keys.email_index(p.tenant.as_str(), &email);
    if users::find_by_index(state, &p.tenant, &index).await.context("invite: users::find_by_index")?.is_some() {
        return Err(ServiceError::Conflict("a user with this email already exists".into()));
    }
    let (_, name) = tenants::meta_of(state, &p.tenant).await?;
    let id = tenants::create_invitation(state, &p.tenant, &email, role, &p.user_id, &name)
        .await
        .context("invite: tenants::create_invitation")?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "invitation.create", &id, "success")
        .await
        .context("invite: audit::record")?;
    Ok(Invited { invitation_id: id })
}

/// A user as an admin sees them.
#[derive(Serialize)]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
    pub disabled: bool,
    pub locked: bool,
    pub mfa_enabled: bool,
}

#[derive(Serialize)]
pub struct UserList {
    pub users: Vec<UserView>,
}

async fn user_view(state: &Context, tenant: &TenantId, u: &UserRecord) -> Result<UserView, ServiceError> {
    let now = state.ports.clock.now_secs();
    let locked =
        lockout::is_locked(&*state.ports.store, &LockKey::for_index(Table::tenant(tenant), &u.email_index), now)
            .await
            .context("user_view: lockout::is_locked")?;
    Ok(UserView {
        user_id: u.user_id.clone(),
        email: u.email(state, tenant).await.context("user_view: the email")?,
        display_name: u.display_name(state, tenant).await.context("user_view: the display name")?,
        role: u.role.as_str(),
        disabled: u.disabled,
        locked,
        mfa_enabled: u.mfa_enabled,
    })
}

/// `GET /v1/admin/users`.
pub async fn list_users(state: &Context, p: &Principal) -> Result<UserList, ServiceError> {
    let items = query_all(
        &*state.ports.store,
        &Table::tenant(&p.tenant),
        users::USERS_PK,
        SkRange::Prefix("USER#".into()),
        usize::MAX,
    )
    .await
    .context("list_users: query the users")?;
    let mut out = Vec::new();
    for item in items {
        let u = UserRecord::from_item(item).context("list_users: UserRecord::from_item")?;
        out.push(user_view(state, &p.tenant, &u).await?);
    }
    Ok(UserList { users: out })
}

#[derive(Deserialize)]
pub struct PatchUserBody {
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    pub disabled: Option<bool>,
}

/// `PATCH /v1/admin/users/{user_id}` → 200 the user. Disabling revokes every session.
pub async fn patch_user(
    state: &Context,
    p: &Principal,
    user_id: &UserId,
    body: PatchUserBody,
) -> Result<UserView, ServiceError> {
    let u = users::target(state, &p.tenant, user_id).await?;
    let role = body.role.as_deref().map(|r| Role::parse(r).map_err(ServiceError::ValidationFailed)).transpose()?;
    if u.user_id == p.user_id && (role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true)) {
        // Otherwise the last admin could lock everyone out of administration.
        return Err(ServiceError::ValidationFailed("you cannot demote or disable yourself".into()));
    }
    let mut update = Update::default();
    if let Some(r) = role {
        update = update.set(attr::ROLE, r.as_str());
    }
    if let Some(d) = body.disabled {
        update = update.set(attr::DISABLED, d);
        if d {
            update = update.add(attr::SESSION_EPOCH, 1);
        }
    }
    let item = users::update(state, &p.tenant, &u.user_id, update).await.map_err(|e| match e {
        StoreError::ConditionFailed => ServiceError::NotFound,
        e => ServiceError::internal(e),
    })?;
    let updated = UserRecord::from_item(item).context("patch_user: UserRecord::from_item")?;
    if let Some(r) = role.filter(|r| *r != u.role) {
        let action = format!("user.role_change:{}", r.as_str());
        audit::record(&state.ports, &p.tenant, &p.user_id, &action, &u.user_id, "success")
            .await
            .context("patch_user: audit::record")?;
    }
    if body.disabled == Some(true) {
        crate::services::devices::drop_all(state, &p.tenant, &u.user_id).await?;
    }
    if let Some(d) = body.disabled.filter(|d| *d != u.disabled) {
        let action = if d { "user.disable" } else { "user.enable" };
        audit::record(&state.ports, &p.tenant, &p.user_id, action, &u.user_id, "success")
            .await
            .context("patch_user: audit::record")?;
    }
    user_view(state, &p.tenant, &updated).await
}

/// `POST /v1/admin/users/{user_id}/require-password-change` → 204.
pub async fn require_password_change(state: &Context, p: &Principal, user_id: &UserId) -> Result<(), ServiceError> {
    let u = users::target(state, &p.tenant, user_id).await?;
    let set = Update::default().set(attr::PASSWORD_CHANGE_REQUIRED, true);
    users::update(state, &p.tenant, &u.user_id, set).await.context("require_password_change: users::update")?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "user.require_password_change", &u.user_id, "success")
        .await
        .context("require_password_change: audit::record")?;
    Ok(())
}

/// `POST /v1/admin/users/{user_id}/unlock` → 204.
pub async fn unlock(state: &Context, p: &Principal, user_id: &UserId) -> Result<(), ServiceError> {
    let u = users::target(state, &p.tenant, user_id).await?;
    lockout::reset(&*state.ports.store, &LockKey::for_index(Table::tenant(&p.tenant), &u.email_index))
        .await
        .context("unlock: lockout::reset")?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "user.unlock", &u.user_id, "success")
        .await
        .context("unlock: audit::record")?;
    Ok(())
}

#[derive(Serialize)]
pub struct AuditEvent {
    pub at: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    /// Sign-ins: how (`password`, `mfa`, `oidc`...), where recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Single sign-on: the IdP's subject, keyed-hashed (never the IdP's identifier itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

#[derive(Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/admin/audit?limit=&cursor=` → newest first.
pub async fn audit_log(
    state: &Context,
    p: &Principal,
    limit: usize,
    cursor: Option<String>,
) -> Result<AuditPage, ServiceError> {
    let page = state
        .page(
            QueryRequest {
                table: Table::tenant(&p.tenant),
                pk: audit::AUDIT_PK.into(),
                range: SkRange::Prefix("EVT#".into()),
                direction: Direction::Backward,
                limit,
                cursor,
            },
            "audit_log: read the audit log",
        )
        .await?;
    let text = |i: &crate::ports::store::Item, name: &str| i.s(name).map(str::to_owned);
    let events = page
        .items
        .iter()
        .map(|i| AuditEvent {
            at: text(i, "at"),
            actor: text(i, "actor"),
            action: text(i, "action"),
            target: text(i, "target"),
            outcome: text(i, "outcome"),
            method: text(i, "method"),
            subject: text(i, "subject"),
        })
        .collect();
    Ok(AuditPage { events, next_cursor: page.next_cursor })
}

#[derive(Deserialize)]
pub struct PasscodeBody {
    pub required: bool,
    pub timeout_minutes: i64,
}

#[derive(Deserialize)]
pub struct PolicyBody {
    app_passcode: PasscodeBody,
    mfa_required: bool,
    /// Absent: unchanged (a client that predates SSO must not switch it off by omission).
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    sso_required: Option<bool>,
    /// Extension: 1..=3650 days, or null/absent to keep messages.
    message_retention_days: Option<i64>,
}

/// `PUT /v1/admin/policy` → 200 the new policy.
pub async fn put_policy(state: &Context, p: &Principal, body: PolicyBody) -> Result<Value, ServiceError> {
    if !(1..=15).contains(&body.app_passcode.timeout_minutes) {
        return Err(ServiceError::ValidationFailed("app_passcode.timeout_minutes must be 1..=15".into()));
    }
    let retention = match body.message_retention_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(d as u16),
        Some(_) => {
            return Err(ServiceError::ValidationFailed("message_retention_days must be 1..=3650 or null".into()))
        }
    };
    let sso_required = match body.sso_required {
        Some(v) => v,
        None => crate::services::tenancy::policy::load(state, &p.tenant).await?.sso_required,
    };
    let policy = Policy {
        app_passcode_required: body.app_passcode.required,
        app_passcode_timeout_minutes: body.app_passcode.timeout_minutes as u8,
        mfa_required: body.mfa_required,
        sso_required,
        message_retention_days: retention,
    };
    crate::services::tenancy::policy::save(state, &p.tenant, &policy).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "policy.update", p.tenant.as_str(), "success")
        .await
        .context("put_policy: audit::record")?;
    Ok(policy.to_json())
}
