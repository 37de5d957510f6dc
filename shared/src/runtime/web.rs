//! The web app's files on the local server, from the same origin as the API (README "Web app"):
//! `/v1/*` goes to the API, every other path to the built app in `BULWARK_WEB_DIR` (default
//! `web/dist` when it has been built), with the single-page fallback to `index.html` and the
//! browser security headers (strict CSP, no framing). On AWS, CloudFront serves the same files
//! with the same headers (template.yaml, "Web app").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::http::error::ApiError;

/// No inline script or style, no eval, nothing from another origin, never framed. `data:`
/// images only for icons a build may inline; the API is this origin (`connect-src 'self'`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Where the API lives, as the app reads it at start-up (AWS writes its own at deploy time).
const SAME_ORIGIN_CONFIG: &str = "{\"api_url\":\"\"}";

/// `api` for `/v1/*`, the app in `dir` for everything else; only the API without `dir`.
pub fn with_app(api: Router, dir: Option<PathBuf>) -> Router {
    let Some(dir) = dir else { return api };
    let dir = Arc::new(dir);
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        let (api, dir) = (api.clone(), Arc::clone(&dir));
        async move {
            let path = req.uri().path();
            if path == "/v1" || path.starts_with("/v1/") {
                api.oneshot(req).await
            } else {
                Ok(serve(&dir, req.method().clone(), req.uri().path().to_owned()).await)
            }
        }
    }))
}

async fn serve(dir: &Path, method: Method, path: String) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return with_headers(ApiError::MethodNotAllowed.into_response());
    }
    let path = path.as_str();
    let file = relative_file(path).map(|rel| dir.join(rel));
    let found = match &file {
        Some(f) => tokio::fs::read(f).await.ok().map(|bytes| (f.clone(), bytes)),
        None => None,
    };
    let resp = match found {
        Some((f, bytes)) => file_response(&f, bytes, path.starts_with("/assets/")),
        None if path == "/config.json" => {
            let mut r = (StatusCode::OK, SAME_ORIGIN_CONFIG).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        // A missing asset (it has an extension) is a 404; any other path is a screen of the app.
        None if last_segment(path).contains('.') => (StatusCode::NOT_FOUND, "not found").into_response(),
        None => match tokio::fs::read(dir.join("index.html")).await {
            Ok(bytes) => file_response(&dir.join("index.html"), bytes, false),
            Err(_) => (StatusCode::NOT_FOUND, "the web app is not built (run scripts/serve)").into_response(),
        },
    };
    let mut resp = with_headers(resp);
    if method == Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
    resp
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// The file a URL path names inside the app's folder: plain segments only (no `..`, no hidden
/// files, no escapes), `/` meaning `index.html`.
fn relative_file(path: &str) -> Option<PathBuf> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut out = PathBuf::new();
    for seg in trimmed.split('/') {
        let ok = !seg.is_empty()
            && !seg.starts_with('.')
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~@".contains(&b));
        if !ok {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(path: &Path, bytes: Vec<u8>, hashed: bool) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    // Vite names the files under assets/ by their content hash, so they never change; every
    // other file (index.html, config.json) is checked on each load so a deploy takes effect.
    let cache = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The browser security headers of every page and file of the app.
pub fn security_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Browsers ignore HSTS over plain http (RFC 6797 §8.1), so it takes effect only behind TLS.
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
}

fn with_headers(mut resp: Response) -> Response {
    security_headers(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::relative_file;

    #[test]
    fn only_plain_paths_inside_the_folder() {
        assert_eq!(relative_file("/").unwrap().to_str(), Some("index.html"));
        assert_eq!(relative_file("/assets/index-AbC_1.js").unwrap().to_str(), Some("assets/index-AbC_1.js"));
        for bad in ["/../Cargo.toml", "/assets/../../x", "/.env", "/a//b", "/a%2e%2e/b", "/a\\b"] {
            assert!(relative_file(bad).is_none(), "{bad}");
        }
    }
}
