//! Tenant administration (role `admin`; the audit log also for `auditor`): invitations, users,
//! forced password change, unlock, audit log and policy.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::types::{Email, Role, TenantId};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::ports::store::{query_all, Cond, Direction, QueryRequest, SkRange, StoreError, Table, Update};
use crate::services::identity::lockout::{self, LockKey};
use crate::services::identity::users::{self, UserRecord};
use crate::services::tenancy::audit;
use crate::services::tenancy::policy::Policy;
use crate::services::tenancy::tenants;

fn table(t: &TenantId) -> Table {
    Table::Tenant(t.as_str().into())
}

#[derive(Deserialize)]
pub struct InviteBody {
    email: String,
    role: String,
}

/// `POST /v1/admin/invitations` → 201 `{"invitation_id"}` and an invitation email.
pub async fn invite(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = Email::parse(&body.email).map_err(ApiError::ValidationFailed)?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::ValidationFailed("role must be admin, member or auditor".into()))?;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let index = keys.email_index(p.tenant.as_str(), &email);
    if users::find_by_index(&state, &p.tenant, &index).await.map_err(ApiError::Internal)?.is_some() {
        return Err(ApiError::Conflict("a user with this email already exists".into()));
    }
    let (_, name) = tenants::meta_of(&state, &p.tenant).await?;
    let id = tenants::create_invitation(&state, &p.tenant, &email, role, &p.user_id, &name)
        .await
        .map_err(ApiError::Internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "invitation.create", &id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "invitation_id": id }))))
}

async fn user_json(state: &AppState, tenant: &TenantId, u: &UserRecord) -> Result<Value, ApiError> {
    let now = state.ports.clock.now_secs();
    let locked = lockout::is_locked(&*state.ports.store, &LockKey::for_index(table(tenant), &u.email_index), now)
        .await
        .map_err(ApiError::internal)?;
    Ok(json!({
        "user_id": u.user_id,
        "email": u.email(state, tenant).await.map_err(ApiError::Internal)?,
        "display_name": u.display_name(state, tenant).await.map_err(ApiError::Internal)?,
        "role": u.role.as_str(),
        "disabled": u.disabled,
        "locked": locked,
        "mfa_enabled": u.mfa_enabled,
    }))
}

/// `GET /v1/admin/users`.
pub async fn list_users(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    let items =
        query_all(&*state.ports.store, &table(&p.tenant), users::USERS_PK, SkRange::Prefix("USER#".into()), usize::MAX)
            .await
            .map_err(ApiError::internal)?;
    let mut out = Vec::new();
    for item in items {
        let u = UserRecord::from_item(item).map_err(ApiError::Internal)?;
        out.push(user_json(&state, &p.tenant, &u).await?);
    }
    Ok(Json(json!({ "users": out })))
}

/// A `{user_id}` path segment: 400 unless it is a well-formed id, 404 unless the user exists.
pub(crate) async fn target(
    state: &AppState,
    tenant: &TenantId,
    path: Result<Path<String>, PathRejection>,
) -> Result<UserRecord, ApiError> {
    let Path(id) = path.map_err(|_| ApiError::InvalidRequest("bad user id".into()))?;
    let id = crate::domain::types::UserId::parse(&id).map_err(|_| ApiError::InvalidRequest("bad user id".into()))?;
    Ok(users::target(state, tenant, &id).await?)
}

#[derive(Deserialize)]
pub struct PatchUserBody {
    role: Option<String>,
    disabled: Option<bool>,
}

/// `PATCH /v1/admin/users/{user_id}` → 200 the user. Disabling revokes every session.
pub async fn patch_user(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<PatchUserBody>,
) -> Result<Json<Value>, ApiError> {
    let u = target(&state, &p.tenant, path).await?;
    let role = body
        .role
        .as_deref()
        .map(|r| {
            Role::parse(r).ok_or_else(|| ApiError::ValidationFailed("role must be admin, member or auditor".into()))
        })
        .transpose()?;
    if u.user_id == p.user_id && (role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true)) {
        // Otherwise the last admin could lock everyone out of administration.
        return Err(ApiError::ValidationFailed("you cannot demote or disable yourself".into()));
    }
    let mut update = Update::default();
    if let Some(r) = role {
        update = update.set("role", r.as_str());
    }
    if let Some(d) = body.disabled {
        update = update.set("disabled", d);
        if d {
            update = update.add("session_epoch", 1);
        }
    }
    let item = state
        .ports
        .store
        .update(&table(&p.tenant), users::USERS_PK, &users::user_sk(&u.user_id), update, Cond::Exists)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed => ApiError::NotFound,
            e => ApiError::internal(e),
        })?;
    let updated = UserRecord::from_item(item).map_err(ApiError::Internal)?;
    if let Some(r) = role.filter(|r| *r != u.role) {
        let action = format!("user.role_change:{}", r.as_str());
        audit::record(&state.ports, &p.tenant, &p.user_id, &action, &u.user_id, "success")
            .await
            .map_err(ApiError::Internal)?;
    }
    if body.disabled == Some(true) {
        crate::services::devices::drop_all(&state, &p.tenant, &u.user_id).await?;
    }
    if let Some(d) = body.disabled.filter(|d| *d != u.disabled) {
        let action = if d { "user.disable" } else { "user.enable" };
        audit::record(&state.ports, &p.tenant, &p.user_id, action, &u.user_id, "success")
            .await
            .map_err(ApiError::Internal)?;
    }
    Ok(Json(user_json(&state, &p.tenant, &updated).await?))
}

/// `POST /v1/admin/users/{user_id}/require-password-change` → 204.
pub async fn require_password_change(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let u = target(&state, &p.tenant, path).await?;
    let set = Update::default().set("password_change_required", true);
    state
        .ports
        .store
        .update(&table(&p.tenant), users::USERS_PK, &users::user_sk(&u.user_id), set, Cond::Exists)
        .await
        .map_err(ApiError::internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "user.require_password_change", &u.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/users/{user_id}/unlock` → 204.
pub async fn unlock(
    State(state): State<AppState>,
    p: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let u = target(&state, &p.tenant, path).await?;
    lockout::reset(&*state.ports.store, &LockKey::for_index(table(&p.tenant), &u.email_index))
        .await
        .map_err(ApiError::internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "user.unlock", &u.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/audit?limit=&cursor=` → newest first.
pub async fn audit_log(
    State(state): State<AppState>,
    p: Principal,
    query: Result<Query<crate::http::extract::PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::InvalidRequest("bad query string".into()))?;
    let limit = crate::http::extract::page_limit(q.limit.as_deref(), 50, 200)?;
    let page = state
        .ports
        .store
        .query(QueryRequest {
            table: table(&p.tenant),
            pk: audit::AUDIT_PK.into(),
            range: SkRange::Prefix("EVT#".into()),
            direction: Direction::Backward,
            limit,
            cursor: q.cursor,
        })
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => ApiError::InvalidRequest("bad cursor".into()),
            e => ApiError::internal(e),
        })?;
    let events: Vec<Value> = page
        .items
        .iter()
        .map(|i| {
            json!({
                "at": i.s("at"), "actor": i.s("actor"), "action": i.s("action"),
                "target": i.s("target"), "outcome": i.s("outcome"),
            })
        })
        .collect();
    Ok(Json(json!({ "events": events, "next_cursor": page.next_cursor })))
}

#[derive(Deserialize)]
pub struct PasscodeBody {
    required: bool,
    timeout_minutes: i64,
}

#[derive(Deserialize)]
pub struct PolicyBody {
    app_passcode: PasscodeBody,
    mfa_required: bool,
    /// Extension: 1..=3650 days, or null/absent to keep messages.
    message_retention_days: Option<i64>,
}

/// `PUT /v1/admin/policy` → 200 the new policy.
pub async fn put_policy(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=15).contains(&body.app_passcode.timeout_minutes) {
        return Err(ApiError::ValidationFailed("app_passcode.timeout_minutes must be 1..=15".into()));
    }
    let retention = match body.message_retention_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(d as u16),
        Some(_) => return Err(ApiError::ValidationFailed("message_retention_days must be 1..=3650 or null".into())),
    };
    let policy = Policy {
        app_passcode_required: body.app_passcode.required,
        app_passcode_timeout_minutes: body.app_passcode.timeout_minutes as u8,
        mfa_required: body.mfa_required,
        message_retention_days: retention,
    };
    crate::services::tenancy::policy::save(&state, &p.tenant, &policy).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "policy.update", p.tenant.as_str(), "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(policy.to_json()))
}
