//! The caller's own account: profile, password change.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::roles;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::ports::store::{Cond, StoreError, Table, TxOp, Update};
use crate::services::identity::{password, sessions, users};
use crate::services::tenancy::audit;

/// `GET /v1/me`.
pub async fn me(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    let u = &p.user;
    let privileges: Vec<&str> = roles::privileges(u.role).iter().map(|x| x.name()).collect();
    Ok(Json(json!({
        "user_id": u.user_id,
        "tenant": p.tenant_slug,
        "email": u.email(&state, &p.tenant).await.map_err(ApiError::Internal)?,
        "display_name": u.display_name(&state, &p.tenant).await.map_err(ApiError::Internal)?,
        "role": u.role.as_str(),
        "privileges": privileges,
        "mfa_enabled": u.mfa_enabled,
        "password_change_required": u.password_change_required,
    })))
}

#[derive(Deserialize)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// `POST /v1/me/password` → 204; other sessions are revoked, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    let u = &p.user;
    // Counted toward the lockout like a login, so a stolen session cannot guess the password.
    super::mfa::reauthenticate(&state, &p, body.current_password, None, false, "password.change").await?;
    let email = u.email(&state, &p.tenant).await.map_err(ApiError::Internal)?;
    super::auth::enforce_policy(&body.new_password, &[&email])?;
    let fresh = password::hash(SecretString::from(body.new_password)).await.map_err(ApiError::Internal)?;
    let epoch = u.session_epoch + 1;
    let ops = vec![
        TxOp::Update {
            table: Table::Tenant(p.tenant.as_str().into()),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&u.user_id),
            update: Update::default()
                .set("password_hash", fresh)
                .set("password_change_required", false)
                .set("session_epoch", epoch),
            cond: Cond::eq("session_epoch", u.session_epoch),
        },
        sessions::carry_over(&p.tenant, &p.session_id, epoch),
    ];
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        // The user's sessions were revoked meanwhile (admin, reset): this one is gone too.
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::Unauthorized),
        Err(e) => return Err(ApiError::internal(e)),
    }
    audit::record(&state.ports, &p.tenant, &u.user_id, "password.change", &u.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}
