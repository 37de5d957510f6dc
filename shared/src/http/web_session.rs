//! The web session mode, an extension of API.md for browsers (README "Web session mode"): a
//! sign-in, MFA completion, MFA recovery or refresh that carries `X-Bulwark-Session: web` gets
//! its refresh token in an `HttpOnly; Secure; SameSite=Strict` cookie scoped to `/v1/auth`
//! instead of the JSON body, so no script (an XSS payload included) can ever read it; refresh
//! and logout in that mode read and clear the cookie. Without the header nothing changes: mobile
//! clients keep the JSON token pair.
//!
//! CSRF: the cookie is read only when the request carries the custom header, which a
//! cross-site form or simple request cannot send (and no CORS policy lets another origin
//! preflight it), and a present `Origin` must be this server's own or the app's
//! (`BULWARK_APP_URL`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::services::error::ServiceError;
use crate::services::identity::signin::{SignIn, TokenPair};

pub const HEADER: &str = "x-bulwark-session";
pub const COOKIE: &str = "bulwark_refresh";
/// Only the auth routes (refresh, logout) ever see the cookie.
const COOKIE_PATH: &str = "/v1/auth";
/// API.md's idle timeout: the session dies after 72 h without activity, so the cookie need not
/// outlive it; each refresh sets it again.
const COOKIE_MAX_AGE_SECS: u64 = 72 * 3600;

/// How the client keeps its refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In the JSON body (API.md, mobile apps).
    Json,
    /// In the `HttpOnly` cookie (browsers).
    Web,
}

impl FromRequestParts<AppState> for Mode {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(HEADER) else { return Ok(Mode::Json) };
        if value.as_bytes() != b"web" {
            return Err(ServiceError::InvalidRequest("X-Bulwark-Session must be \"web\"".into()).into());
        }
        if !origin_allowed(&parts.headers, &state.settings.app_url) {
            return Err(ServiceError::Forbidden.into());
        }
        Ok(Mode::Web)
    }
}

/// No `Origin` (same-origin GETs, non-browser clients), or the origin of this very host, or
/// the configured app's origin.
fn origin_allowed(headers: &HeaderMap, app_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let host_of = |o: &str| o.split_once("://").map(|(_, rest)| rest.to_ascii_lowercase());
    let Some(origin_host) = host_of(origin) else { return false };
    let own_host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
    own_host.as_deref() == Some(origin_host.as_str()) || origin.eq_ignore_ascii_case(app_origin(app_url))
}

/// `scheme://host[:port]` of a URL.
fn app_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// The refresh token of the cookie, if the request has one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 4096)
}

fn set_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; Secure; SameSite=Strict"
    ))
    .ok()
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("bulwark_refresh=; Path=/v1/auth; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The answer of a route that starts or renews a session.
pub fn tokens(mode: Mode, pair: TokenPair) -> Result<Response, ApiError> {
    if mode == Mode::Json {
        return Ok(Json(pair).into_response());
    }
    let cookie = set_cookie(&pair.refresh_token)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("refresh token is not a header value")))?;
    let mut body = serde_json::to_value(&pair).map_err(ApiError::internal)?;
    if let Some(o) = body.as_object_mut() {
        o.remove("refresh_token");
    }
    let mut resp = Json(body).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// A password login's answer: the tokens as [`tokens`], or the MFA challenge (no session yet).
pub fn sign_in(mode: Mode, answer: SignIn) -> Result<Response, ApiError> {
    match answer {
        SignIn::Tokens(pair) => tokens(mode, pair),
        challenge => Ok(Json(challenge).into_response()),
    }
}

/// A web session's failed refresh or its logout: the browser drops the cookie as well.
pub fn clearing_cookie(mode: Mode, mut resp: Response) -> Response {
    if mode == Mode::Web {
        resp.headers_mut().append(header::SET_COOKIE, clear_cookie());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_be_this_host_or_the_app() {
        let app = "https://app.example.test/";
        assert!(origin_allowed(&headers(&[("host", "127.0.0.1:8080")]), app));
        assert!(origin_allowed(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]), app));
        assert!(origin_allowed(&headers(&[("host", "api.example.test"), ("origin", "https://app.example.test")]), app));
        assert!(!origin_allowed(&headers(&[("host", "127.0.0.1:8080"), ("origin", "https://evil.test")]), app));
        assert!(!origin_allowed(&headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]), app));
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let h = headers(&[("cookie", "a=1; bulwark_refresh=tok.en-1; b=2")]);
        assert_eq!(cookie_token(&h).as_deref(), Some("tok.en-1"));
        assert_eq!(cookie_token(&headers(&[("cookie", "bulwark_refresh=")])), None);
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }
}
