//! Single sign-on routes (API.md "Single sign-on"): the admin's configuration, the anonymous
//! sign-in redirects (302, `Cache-Control: no-store`, no referrer: their URLs carry codes),
//! and the login-code exchange. Parse, call `services::sso`, answer.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::http::web_session::{self, Mode};
use crate::services::error::ServiceError;
use crate::services::sso::config::{self, OidcBody, OidcView, SsoView};
use crate::services::sso::login::{self, ExchangeBody};
use crate::services::sso::oidc::{self, CallbackQuery};

fn bad_query(what: &str) -> ApiError {
    ApiError::Service(ServiceError::InvalidRequest(format!("malformed {what}")))
}

fn redirect(location: String) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
            (header::REFERRER_POLICY, "no-referrer".into()),
        ],
    )
        .into_response()
}

/// `GET /v1/admin/sso`.
pub async fn get(State(state): State<AppState>, p: Principal) -> Result<Json<SsoView>, ApiError> {
    Ok(Json(config::get(&state, &p).await?))
}

/// `PUT /v1/admin/sso/oidc` → 200 the configuration.
pub async fn put_oidc(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<OidcBody>,
) -> Result<Json<OidcView>, ApiError> {
    Ok(Json(config::put_oidc(&state, &p, body).await?))
}

/// `DELETE /v1/admin/sso/oidc` → 204.
pub async fn delete_oidc(State(state): State<AppState>, p: Principal) -> Result<StatusCode, ApiError> {
    config::delete_oidc(&state, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct StartQuery {
    redirect_uri: Option<String>,
    /// Extension: the app's PKCE challenge (S256) for the login code.
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// `GET /v1/sso/{tenant}/oidc/start?redirect_uri=` → 302 to the IdP.
pub async fn oidc_start(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(slug) = slug.map_err(|_| bad_query("tenant"))?;
    let Query(q) = query.map_err(|_| bad_query("query"))?;
    if q.code_challenge_method.as_deref().is_some_and(|m| m != "S256") {
        return Err(ApiError::Service(ServiceError::InvalidRequest("code_challenge_method must be S256".into())));
    }
    let url = oidc::start(&state, &slug, q.redirect_uri.as_deref(), q.code_challenge.as_deref()).await?;
    Ok(redirect(url))
}

/// `GET /v1/sso/oidc/callback?code=&state=` → 302 to the client's redirect URI.
pub async fn oidc_callback(
    State(state): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|_| bad_query("query"))?;
    Ok(redirect(oidc::callback(&state, q).await?))
}

/// `POST /v1/auth/sso/exchange` `{"login_code"}` → the token pair.
/// In web session mode the refresh token goes into the cookie, as with a password login.
pub async fn exchange(
    State(state): State<AppState>,
    mode: Mode,
    ApiJson(body): ApiJson<ExchangeBody>,
) -> Result<Response, ApiError> {
    web_session::tokens(mode, login::exchange(&state, body).await?)
}
