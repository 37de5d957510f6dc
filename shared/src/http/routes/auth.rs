//! Public account routes: accept an invitation, log in, refresh, log out, forgot/reset
//! password. Every failure that could tell an outsider whether an account exists answers
//! the same way (and, for logins, after the same work).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::types::{parse_display_text, Email, Role, TenantId, TenantSlug};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::ports::store::{Cond, Item, StoreError, Table, TxOp, Update};
use crate::services::identity::account_mail;
use crate::services::identity::keys::{token_hash, token_tenant};
use crate::services::identity::lockout::{self, Claim, LockKey};
use crate::services::identity::sessions::{self, Tokens};
use crate::services::identity::{password, users};
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;
use crate::services::tenancy::tenants;

fn token_pair(t: Tokens) -> Value {
    json!({
        "access_token": t.access_token,
        "refresh_token": t.refresh_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "password_change_required": t.password_change_required,
    })
}

/// The end of every successful sign-in (password, second factor, MFA recovery): clear the
/// lockout count, audit, start a session; flag a pending MFA enrolment the tenant requires.
pub(crate) async fn finish_login(
    state: &AppState,
    tenant: &TenantId,
    lock: &LockKey,
    user: &users::UserRecord,
    how: &str,
) -> Result<Json<Value>, ApiError> {
    let enrolment = async {
        match user.mfa_enabled {
            true => Ok(false),
            false => Ok(crate::services::tenancy::policy::load(state, tenant).await?.mfa_required),
        }
    };
    let (slug, enrol) = tokio::try_join!(tenants::slug_of(state, tenant), enrolment)?;
    // One commit: the counter's reset, the audit event and the session stand or fall together.
    let (start, session) = sessions::start(state, tenant, &slug, user);
    let login = audit::event(&state.ports, tenant, &user.user_id, "login.success", how, "success");
    let ops = vec![lockout::reset_op(lock), login, start];
    state.ports.store.transact(ops).await.map_err(ApiError::internal)?;
    let mut body = token_pair(session.tokens(state).await?);
    body["mfa_enrollment_required"] = json!(enrol);
    Ok(Json(body))
}

/// The record of a single-use token (invitation, reset, MFA challenge, MFA recovery): item
/// `<KIND>#<sha256 of token>` / `<KIND>` in the token's own tenant. Malformed, unknown,
/// expired, or of a tenant that does not exist: 401 `invalid_credentials`, all alike.
pub(crate) async fn token_record(state: &AppState, token: &str, kind: &str) -> Result<(TenantId, Item), ApiError> {
    let tenant = token_tenant(token).ok_or(ApiError::InvalidCredentials)?;
    let pk = format!("{kind}#{}", token_hash(token));
    match state.ports.store.get(&Table::Tenant(tenant.as_str().into()), &pk, kind).await {
        Ok(Some(item)) => Ok((tenant, item)),
        Ok(None) | Err(StoreError::NoSuchTable) => Err(ApiError::InvalidCredentials),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Claim a lockout slot for an attempt (its number since the last success), or 423.
pub(crate) async fn claim_attempt(state: &AppState, lock: &LockKey) -> Result<i64, ApiError> {
    let now = state.ports.clock.now_secs();
    match lockout::claim(&*state.ports.store, lock, now).await.map_err(ApiError::internal)? {
        Claim::Granted { n } => Ok(n),
        Claim::Locked { retry_after_secs } => Err(ApiError::AccountLocked { retry_after_secs }),
    }
}

/// A claimed attempt failed: count it toward the lockout and audit it (and the lock, if this
/// failure set it). `target` is pseudonymous (the email index prefix) for unknown accounts.
pub(crate) async fn record_failure(
    state: &AppState,
    tenant: Option<&TenantId>,
    lock: &LockKey,
    attempt: i64,
    actor: &str,
    target: &str,
    action: &str,
) -> Result<(), ApiError> {
    let now = state.ports.clock.now_secs();
    let locked = lockout::failed(&*state.ports.store, lock, attempt, now).await.map_err(ApiError::internal)?;
    if let Some(t) = tenant {
        audit::record(&state.ports, t, actor, action, target, "failure").await.map_err(ApiError::Internal)?;
        if locked {
            audit::record(&state.ports, t, actor, "account.locked", target, "success")
                .await
                .map_err(ApiError::Internal)?;
        }
    }
    Ok(())
}

/// Reject a password that breaks the policy, rule by rule. `context`: the user's own data,
/// which makes a password guessable.
pub fn enforce_policy(password: &str, context: &[&str]) -> Result<(), ApiError> {
    let failed = password::check_policy(password, context);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ApiError::PasswordPolicy(failed))
    }
}

#[derive(Deserialize)]
pub struct AcceptBody {
    token: String,
    password: String,
    display_name: String,
}

/// `POST /v1/invitations/accept` → 201 `{"user_id"}`.
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (tenant, invite) = token_record(&state, &body.token, "INVITE").await?;
    let table = Table::Tenant(tenant.as_str().into());
    let (pk, sk) = (invite.pk.clone(), "INVITE");
    if invite.s("state") != Some("pending") {
        return Err(ApiError::Conflict("this invitation has already been used".into()));
    }
    let display_name =
        parse_display_text(&body.display_name, "display_name", 100).map_err(ApiError::ValidationFailed)?;
    let sealed =
        invite.b("email_enc").ok_or_else(|| ApiError::internal(anyhow::anyhow!("invitation without email")))?;
    let email_bytes = state
        .tenant_keys
        .open_field(&state.ports, &tenant, &Field { pk: &pk, sk, name: "email" }, sealed)
        .await
        .map_err(ApiError::Internal)?;
    let email =
        Email::parse(&String::from_utf8_lossy(&email_bytes)).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    enforce_policy(&body.password, &[email.as_str(), &display_name])?;
    let role = invite.s("role").and_then(Role::parse).unwrap_or(Role::Member);
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let index = keys.email_index(tenant.as_str(), &email);
    let password_hash = password::hash(SecretString::from(body.password)).await.map_err(ApiError::Internal)?;
    let user_id = users::new_user_id();
    let now = state.ports.clock.now_secs();
    let mut ops = vec![TxOp::Update {
        table: table.clone(),
        pk: pk.clone(),
        sk: sk.into(),
        update: Update::default().set("state", "used").set("used_at", now).set("user_id", user_id.as_str()),
        cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
    }];
    let new = users::NewUser {
        user_id: &user_id,
        email: &email,
        email_index: &index,
        display_name: &display_name,
        role,
        password_hash,
    };
    ops.extend(users::create_ops(&state, &tenant, new).await.map_err(ApiError::Internal)?);
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { index }) => {
            // Which condition failed decides the answer; without the index, look again.
            let again = state.ports.store.get(&table, &pk, sk).await.map_err(ApiError::internal)?;
            return Err(match (index, again) {
                (_, Some(i)) if i.s("state") == Some("used") => {
                    ApiError::Conflict("this invitation has already been used".into())
                }
                (_, None) => ApiError::InvalidCredentials,
                _ => ApiError::Conflict("an account with this email already exists".into()),
            });
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let invitation_id = invite.s("invitation_id").unwrap_or("unknown");
    audit::record(&state.ports, &tenant, &user_id, "invitation.accept", invitation_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "user_id": user_id }))))
}

#[derive(Deserialize)]
pub struct LoginBody {
    tenant: String,
    email: String,
    password: String,
}

/// `POST /v1/auth/login` → the token pair.
pub async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<LoginBody>) -> Result<Json<Value>, ApiError> {
    let pass = SecretString::from(body.password);
    let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
        // Nothing can match; spend the same time as a real check anyway.
        password::verify(pass, None).await.map_err(ApiError::Internal)?;
        return Err(ApiError::InvalidCredentials);
    };
    let store = &*state.ports.store;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let now = state.ports.clock.now_secs();
    let tenant = tenants::id_of_slug(&state, slug.as_str()).await?;
    let (lock, index, user) = match &tenant {
        Some(t) => {
            let index = keys.email_index(t.as_str(), &email);
            let user = users::find_by_index(&state, t, &index).await.map_err(ApiError::Internal)?;
            (LockKey::for_index(Table::Tenant(t.as_str().into()), &index), index, user)
        }
        None => {
            let index = keys.unknown_tenant_index(slug.as_str(), &email);
            (LockKey::for_index(Table::Platform, &format!("{}#{index}", slug.as_str())), index, None)
        }
    };
    // The hash runs while the attempt's slot is claimed (a durable write), so the login pays
    // for the longer of the two, not both. Its outcome is used only once the claim is granted:
    // a locked attempt learns nothing, in the same time.
    let (claim, verified) = tokio::join!(
        lockout::claim(store, &lock, now),
        password::verify(pass.clone(), user.as_ref().map(|u| u.password_hash.clone()))
    );
    let attempt = match claim.map_err(ApiError::internal)? {
        Claim::Granted { n } => n,
        Claim::Locked { retry_after_secs } => {
            if let Some(t) = &tenant {
                let actor = user.as_ref().map(|u| u.user_id.as_str()).unwrap_or("unknown");
                audit::record(&state.ports, t, actor, "login.failure", &index[..16], "locked")
                    .await
                    .map_err(ApiError::Internal)?;
            }
            return Err(ApiError::AccountLocked { retry_after_secs });
        }
    };
    let verified = verified.map_err(ApiError::Internal)?;
    let actor = user.as_ref().map(|u| u.user_id.clone()).unwrap_or_else(|| "unknown".into());
    let (Some(tenant), Some(user)) = (tenant.clone(), user.filter(|u| verified.ok && !u.disabled)) else {
        record_failure(&state, tenant.as_ref(), &lock, attempt, &actor, &index[..16], "login.failure").await?;
        return Err(ApiError::InvalidCredentials);
    };
    if verified.needs_rehash {
        upgrade_hash(&state, &tenant, &user, pass).await?;
    }
    if user.mfa_enabled {
        // The password was right, but the login is not done: its slot is given back and the
        // failures before it stay; each wrong code then counts toward the same lockout, and
        // only the completed login (`finish_login`) resets the count.
        lockout::release(store, &lock).await.map_err(ApiError::internal)?;
        let token = crate::http::routes::mfa::start_challenge(&state, &tenant, &user).await?;
        return Ok(Json(json!({ "mfa_required": true, "mfa_token": token })));
    }
    finish_login(&state, &tenant, &lock, &user, "password").await
}

/// Re-hash a correct password at today's parameters (only if nobody changed it meanwhile).
async fn upgrade_hash(
    state: &AppState,
    tenant: &crate::domain::types::TenantId,
    user: &users::UserRecord,
    pass: SecretString,
) -> Result<(), ApiError> {
    let fresh = password::hash(pass).await.map_err(ApiError::Internal)?;
    let table = Table::Tenant(tenant.as_str().into());
    let cond = Cond::eq("password_hash", user.password_hash.as_str());
    match state
        .ports
        .store
        .update(
            &table,
            users::USERS_PK,
            &users::user_sk(&user.user_id),
            Update::default().set("password_hash", fresh),
            cond,
        )
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(ApiError::internal(e)),
    }
}

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /v1/auth/refresh` → a new token pair; the old refresh token is spent.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(token_pair(sessions::refresh(&state, &body.refresh_token).await?)))
}

/// `POST /v1/auth/logout` → 204; the session dies at once.
pub async fn logout(State(state): State<AppState>, p: Principal) -> Result<StatusCode, ApiError> {
    sessions::revoke_session(&state, &p.tenant, &p.session_id, &p.user_id, "session.logout").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ForgotBody {
    tenant: String,
    email: String,
}

/// `POST /v1/auth/password/forgot` → 202 always: the account's hourly mail budget is charged
/// (429 once spent, whether or not the account exists) and the mail is queued; the worker
/// sends a 1-hour reset link only if the account exists. Known and unknown addresses cost
/// this route the same work.
pub async fn forgot_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ForgotBody>,
) -> Result<StatusCode, ApiError> {
    let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
        return Ok(StatusCode::ACCEPTED);
    };
    let Some(tenant) = tenants::id_of_slug(&state, slug.as_str()).await? else { return Ok(StatusCode::ACCEPTED) };
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let index = keys.email_index(tenant.as_str(), &email);
    account_mail::claim_budget(&state, &Table::Tenant(tenant.as_str().into()), &index).await?;
    let mail = account_mail::AccountMail::PasswordReset { tenant_id: tenant.as_str().into(), email_index: index };
    account_mail::enqueue(&state, mail).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
pub struct ResetBody {
    token: String,
    new_password: String,
}

/// `POST /v1/auth/password/reset` → 204; revokes every session and clears the lockout.
pub async fn reset_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let (tenant, reset) = token_record(&state, &body.token, "RESET").await?;
    if reset.s("state") != Some("pending") {
        return Err(ApiError::InvalidCredentials);
    }
    let table = Table::Tenant(tenant.as_str().into());
    let pk = reset.pk.clone();
    let user_id = reset.s("user_id").unwrap_or_default();
    let user =
        users::get(&state, &tenant, user_id).await.map_err(ApiError::Internal)?.ok_or(ApiError::InvalidCredentials)?;
    let email = user.email(&state, &tenant).await.map_err(ApiError::Internal)?;
    enforce_policy(&body.new_password, &[&email])?;
    let fresh = password::hash(SecretString::from(body.new_password)).await.map_err(ApiError::Internal)?;
    let now = state.ports.clock.now_secs();
    let ops = vec![
        TxOp::Update {
            table: table.clone(),
            pk: pk.clone(),
            sk: "RESET".into(),
            update: Update::default().set("state", "used").set("used_at", now),
            cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
        },
        TxOp::Update {
            table: table.clone(),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&user.user_id),
            update: Update::default()
                .set("password_hash", fresh)
                .set("password_change_required", false)
                .add("session_epoch", 1),
            cond: Cond::Exists,
        },
    ];
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(ApiError::internal(e)),
    }
    lockout::reset(&*state.ports.store, &LockKey::for_index(table, &user.email_index))
        .await
        .map_err(ApiError::internal)?;
    audit::record(&state.ports, &tenant, &user.user_id, "password.reset", &user.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}
