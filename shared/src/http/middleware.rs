//! Per-request context: a request id on every response and every log line of the request, one
//! structured "request finished" line (route template, status, latency — never bodies, query
//! strings or headers, which may carry tokens), and baseline security headers; and the
//! anonymous routes' per-IP budget (see `ratelimit`).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use tracing::Instrument;

use crate::http::error::ApiError;
use crate::http::ratelimit::ClientIp;
use crate::http::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

pub async fn request_context(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route);
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = start.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The route layer of every anonymous route.
pub async fn limit_anonymous(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    if let Some(ip) = ip {
        if let Err(retry_after_secs) = state.anon_limiter.check(ip, Instant::now()) {
            return ApiError::RateLimited { retry_after_secs }.into_response();
        }
    }
    next.run(req).await
}
