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
use crate::services::sso::config::{self, OidcBody, OidcView, SamlBody, SamlView, SsoView};
use crate::services::sso::login::{self, ExchangeBody};
use crate::services::sso::oidc::{self, CallbackQuery};
use crate::services::sso::saml::{self, AcsForm};

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

/// `PUT /v1/admin/sso/saml` → 200 the configuration.
pub async fn put_saml(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<SamlBody>,
) -> Result<Json<SamlView>, ApiError> {
    Ok(Json(config::put_saml(&state, &p, body).await?))
}

/// `DELETE /v1/admin/sso/saml` → 204.
pub async fn delete_saml(State(state): State<AppState>, p: Principal) -> Result<StatusCode, ApiError> {
    config::delete_saml(&state, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize)]
pub struct Methods {
    methods: Vec<&'static str>,
}

/// `GET /v1/sso/{tenant}/methods` → the SSO protocols the tenant offers.
pub async fn methods(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
) -> Result<Json<Methods>, ApiError> {
    let Path(slug) = slug.map_err(|_| bad_query("tenant"))?;
    Ok(Json(Methods { methods: saml::methods(&state, &slug).await? }))
}

/// `GET /v1/sso/{tenant}/saml/metadata` → the SP metadata (XML).
pub async fn saml_metadata(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(slug) = slug.map_err(|_| bad_query("tenant"))?;
    let xml = saml::metadata(&state, &slug).await?;
    Ok(([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response())
}

/// `POST /v1/sso/saml/acs` (form: `SAMLResponse`, `RelayState`) → 302 to the client.
pub async fn saml_acs(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form_type {
        return Err(bad_query("form (application/x-www-form-urlencoded SAMLResponse and RelayState)"));
    }
    let mut form = AcsForm::default();
    for (k, v) in form_urlencoded::parse(&body) {
        let slot = match &*k {
            "SAMLResponse" => &mut form.saml_response,
            "RelayState" => &mut form.relay_state,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(bad_query("form: a field given twice"));
        }
    }
    Ok(redirect(saml::acs(&state, form).await?))
}

#[derive(Deserialize)]
pub struct StartQuery {
    redirect_uri: Option<String>,
    /// Extension: the app's PKCE challenge (S256) for the login code.
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl StartQuery {
    /// The app's PKCE challenge for the login code, if it sent one (S256 only).
    fn challenge(&self) -> Result<Option<&str>, ApiError> {
        if self.code_challenge_method.as_deref().is_some_and(|m| m != "S256") {
            return Err(ApiError::Service(ServiceError::InvalidRequest("code_challenge_method must be S256".into())));
        }
        Ok(self.code_challenge.as_deref())
    }
}

/// `GET /v1/sso/{tenant}/oidc/start?redirect_uri=` and, with `SAML`,
/// `GET /v1/sso/{tenant}/saml/start?redirect_uri=` → 302 to the IdP.
pub async fn start<const SAML: bool>(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(slug) = slug.map_err(|_| bad_query("tenant"))?;
    let Query(q) = query.map_err(|_| bad_query("query"))?;
    let (uri, challenge) = (q.redirect_uri.as_deref(), q.challenge()?);
    let url = if SAML {
        saml::start(&state, &slug, uri, challenge).await?
    } else {
        oidc::start(&state, &slug, uri, challenge).await?
    };
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
