//! admin routes: parse, call `services::identity::admin`, answer.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::domain::types::UserId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IdPath, Page, PageQuery};
use crate::http::state::AppState;
use crate::services::identity::admin;

/// `POST /v1/admin/invitations` → 201 `{"invitation_id"}` and an invitation email.
pub async fn invite(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<admin::InviteBody>,
) -> Result<(StatusCode, Json<impl Serialize>), ApiError> {
    Ok((StatusCode::CREATED, Json(admin::invite(&state, &p, body).await?)))
}

/// `GET /v1/admin/users`.
pub async fn list_users(State(state): State<AppState>, p: Principal) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(admin::list_users(&state, &p).await?))
}

/// `PATCH /v1/admin/users/{user_id}` → 200 the user. Disabling revokes every session.
pub async fn patch_user(
    State(state): State<AppState>,
    p: Principal,
    IdPath(user_id): IdPath<UserId>,
    ApiJson(body): ApiJson<admin::PatchUserBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(admin::patch_user(&state, &p, &user_id, body).await?))
}

/// `POST /v1/admin/users/{user_id}/require-password-change` → 204.
pub async fn require_password_change(
    State(state): State<AppState>,
    p: Principal,
    IdPath(user_id): IdPath<UserId>,
) -> Result<StatusCode, ApiError> {
    admin::require_password_change(&state, &p, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/users/{user_id}/unlock` → 204.
pub async fn unlock(
    State(state): State<AppState>,
    p: Principal,
    IdPath(user_id): IdPath<UserId>,
) -> Result<StatusCode, ApiError> {
    admin::unlock(&state, &p, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/policy` → 200 the new policy.
pub async fn put_policy(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<admin::PolicyBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(admin::put_policy(&state, &p, body).await?))
}

/// `GET /v1/admin/audit?limit=&cursor=` → newest first.
pub async fn audit_log(
    State(state): State<AppState>,
    p: Principal,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let page = Page::parse(query, 50, 100)?;
    Ok(Json(admin::audit_log(&state, &p, page.limit, page.cursor).await?))
}
