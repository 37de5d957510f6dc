//! Public account routes: accept an invitation, log in, refresh, log out, forgot/reset
//! password (`services::identity::signin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::services::identity::signin;

/// `POST /v1/invitations/accept` → 201 `{"user_id"}`.
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::AcceptBody>,
) -> Result<(StatusCode, Json<impl Serialize>), ApiError> {
    Ok((StatusCode::CREATED, Json(signin::accept_invitation(&state, body).await?)))
}

/// `POST /v1/auth/login` → the token pair.
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::LoginBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(signin::login(&state, body).await?))
}

/// `POST /v1/auth/refresh` → a new token pair; the old refresh token is spent.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::RefreshBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(signin::refresh(&state, body).await?))
}

/// `POST /v1/auth/logout` → 204; the session dies at once.
pub async fn logout(State(state): State<AppState>, p: Principal) -> Result<StatusCode, ApiError> {
    signin::logout(&state, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/password/forgot` → 202 always: the account's hourly mail budget is charged
/// (429 once spent, whether or not the account exists) and the mail is queued; the worker
/// sends a 1-hour reset link only if the account exists. Known and unknown addresses cost
/// this route the same work.
pub async fn forgot_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::ForgotBody>,
) -> Result<StatusCode, ApiError> {
    signin::forgot_password(&state, body).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /v1/auth/password/reset` → 204; revokes every session and clears the lockout.
pub async fn reset_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::ResetBody>,
) -> Result<StatusCode, ApiError> {
    signin::reset_password(&state, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
