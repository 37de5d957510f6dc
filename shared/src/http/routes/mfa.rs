//! Multi-factor authentication routes (API.md "Multi-factor authentication and recovery"):
//! the factors of the caller's account (`services::identity::account`) and the second step of a
//! login and MFA recovery (`services::identity::signin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IdPath};
use crate::http::state::AppState;
use crate::http::web_session::{self, Mode};
use crate::services::identity::{account, signin};

/// `POST /v1/me/mfa/totp` `{"password"}` → `{"secret", "otpauth_uri"}`; MFA is on only after
/// confirmation.
pub async fn enrol(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<account::EnrolBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(account::enrol(&state, &p, body).await?))
}

/// `POST /v1/me/mfa/totp/confirm` `{"code"}` → `{"recovery_codes": [10]}`; MFA is on.
pub async fn confirm(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<account::CodeBody>,
) -> Result<Json<impl Serialize>, ApiError> {
    Ok(Json(account::confirm(&state, &p, body).await?))
}

/// `DELETE /v1/me/mfa/totp` `{"password", "code"}` → 204; refused while the tenant requires MFA.
pub async fn disable(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<account::ReauthBody>,
) -> Result<StatusCode, ApiError> {
    account::disable(&state, &p, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/me/security-questions` `{"password", "code"?, "questions"}` → 204. Questions
/// encrypted; answers normalised and stored only as argon2id hashes.
pub async fn set_security_questions(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<account::QuestionsBody>,
) -> Result<StatusCode, ApiError> {
    account::set_security_questions(&state, &p, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/mfa` `{"mfa_token", "code"}` → the token pair. A wrong code counts toward
/// the lockout; the `mfa_token` dies after 5 wrong codes or 5 minutes.
pub async fn complete_login(
    State(state): State<AppState>,
    mode: Mode,
    ApiJson(body): ApiJson<signin::MfaLoginBody>,
) -> Result<Response, ApiError> {
    web_session::tokens(mode, signin::complete_login(&state, body).await?)
}

/// `POST /v1/auth/mfa/recover` → 202 always. The account's hourly mail budget is charged
/// first (429 once spent, known or not). Both answers right: a single-use, one-hour recovery
/// link is queued for the user's email. Wrong answers count toward the lockout; right ones
/// give their slot back but clear nothing (only a complete login does).
pub async fn recover(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<signin::RecoverBody>,
) -> Result<StatusCode, ApiError> {
    signin::recover(&state, body).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /v1/auth/mfa/recover/confirm` `{"token", "password"}` → the token pair; MFA is off
/// and must be enrolled again.
pub async fn recover_confirm(
    State(state): State<AppState>,
    mode: Mode,
    ApiJson(body): ApiJson<signin::RecoverConfirmBody>,
) -> Result<Response, ApiError> {
    web_session::tokens(mode, signin::recover_confirm(&state, body).await?)
}

/// `POST /v1/admin/users/{user_id}/mfa/reset` → 204: TOTP, recovery codes and security answers
/// go, and every session of the user is revoked. Never one's own account (403).
pub async fn admin_reset(
    State(state): State<AppState>,
    p: Principal,
    IdPath(user_id): IdPath<crate::domain::types::UserId>,
) -> Result<StatusCode, ApiError> {
    account::admin_reset(&state, &p, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
