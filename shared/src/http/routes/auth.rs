//! Public account routes: accept an invitation, log in, refresh, log out, forgot/reset
//! password (`services::identity::signin`). Sign-in, refresh and logout answer in either
//! session mode (`http::web_session`).

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::http::web_session::{self, Mode};
use crate::services::error::ServiceError;
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
    mode: Mode,
    ApiJson(body): ApiJson<signin::LoginBody>,
) -> Result<Response, ApiError> {
    web_session::sign_in(mode, signin::login(&state, body).await?)
}

/// `POST /v1/auth/refresh` → a new token pair; the old refresh token is spent. A web session
/// presents its cookie (any body is ignored); a failure there also drops the cookie.
pub async fn refresh(State(state): State<AppState>, mode: Mode, req: Request) -> Result<Response, ApiError> {
    if mode == Mode::Json {
        let ApiJson(body) = ApiJson::<signin::RefreshBody>::from_request(req, &state).await?;
        return web_session::tokens(mode, signin::refresh(&state, body).await?);
    }
    let cookie = web_session::cookie_token(req.headers());
    drop(req);
    let answer = async {
        let refresh_token = cookie.ok_or(ServiceError::SessionExpired)?;
        web_session::tokens(mode, signin::refresh(&state, signin::RefreshBody { refresh_token }).await?)
    }
    .await;
    Ok(answer.unwrap_or_else(|e| web_session::clearing_cookie(mode, e.into_response())))
}

/// `POST /v1/auth/logout` → 204; the session dies at once (and a web session's cookie goes).
pub async fn logout(State(state): State<AppState>, mode: Mode, p: Principal) -> Result<Response, ApiError> {
    signin::logout(&state, &p).await?;
    Ok(web_session::clearing_cookie(mode, StatusCode::NO_CONTENT.into_response()))
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
