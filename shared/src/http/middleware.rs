//! Per-request context: a request id on every response and every log line of the request, one
//! structured "request finished" line (route template, status, latency — never bodies, query
//! strings or headers, which may carry tokens), baseline security headers, and a request that
//! runs to its end whether or not its client stays; and the anonymous routes' per-IP budget
//! (see `ratelimit`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use tracing::Instrument;

use crate::http::error::ApiError;
use crate::http::ratelimit::ClientIp;
use crate::http::state::AppState;
use crate::services::error::ServiceError;

pub const REQUEST_ID: &str = "x-request-id";

pub async fn request_context(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route);
    let start = Instant::now();
    // The rest of the request runs as a task of its own, so it ends as it would on Lambda even
    // if the client goes away: hyper drops a request's future when its connection closes,
    // which would cut a login between its lockout claim and its outcome (the slot left taken,
    // the attempt unaudited) or an idempotent request between its write and its kept answer.
    // The task logs its own end, so a request whose client left is logged too.
    let running = Running::start();
    let task = async move {
        let _running = running;
        let resp = next.run(req).await;
        finished(resp.status().as_u16(), start);
        resp
    };
    let mut resp = match tokio::spawn(task.instrument(span.clone())).await {
        Ok(resp) => resp,
        // Not the panic's message: it could quote what the request carried.
        Err(e) => span.in_scope(|| {
            let what = if e.is_panic() { "panicked" } else { "was cancelled" };
            let resp = ApiError::internal(anyhow::anyhow!("the request's task {what}")).into_response();
            finished(resp.status().as_u16(), start);
            resp
        }),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn finished(status: u16, start: Instant) {
    tracing::info!(status, latency_ms = start.elapsed().as_secs_f64() * 1000.0, "request finished");
}

/// Requests running now, whether or not their clients still wait.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wait until no request is running (those whose clients left included), at most `limit`;
/// whether they all ended. The local server calls it once it has stopped accepting.
pub async fn requests_ended(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while RUNNING.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
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
            return ApiError::Service(ServiceError::RateLimited { retry_after_secs }).into_response();
        }
    }
    next.run(req).await
}

/// Largest body an idempotent request may carry (an attachment upload is the largest).
const IDEMPOTENT_BODY_LIMIT: usize = crate::services::messaging::attachments::MAX_UPLOAD as usize;

/// The route layer of the routes that create something: with an `Idempotency-Key`, a retry
/// gets the first answer again (see `services::idempotency`). Runs inside the access check,
/// so the caller is known.
pub async fn idempotent(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use crate::services::idempotency::{self, Answer, Claim};
    let Some(key) = req.headers().get("idempotency-key").cloned() else { return next.run(req).await };
    let Some(key) = key.to_str().ok().filter(|k| idempotency::valid_key(k)).map(str::to_owned) else {
        return ApiError::Service(ServiceError::InvalidRequest(
            "Idempotency-Key must be 1..=64 URL-safe characters".into(),
        ))
        .into_response();
    };
    let Some(p) = req.extensions().get::<crate::http::access::Principal>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    // JSON routes take 1 MiB; only an attachment upload may be larger.
    let json = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let limit = if json { crate::http::JSON_BODY_LIMIT } else { IDEMPOTENT_BODY_LIMIT };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) if over_limit(&e) => return ApiError::Service(ServiceError::PayloadTooLarge).into_response(),
        // A body that breaks off (its client went away, a malformed chunk) is not too large.
        Err(_) => {
            return ApiError::Service(ServiceError::InvalidRequest("the request body could not be read".into()))
                .into_response()
        }
    };
    let mut fingerprint = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut fingerprint, parts.method.as_str().as_bytes());
    sha2::Digest::update(&mut fingerprint, parts.uri.path().as_bytes());
    for name in [header::CONTENT_TYPE.as_str(), "x-filename"] {
        let value = parts.headers.get(name).map(|v| v.as_bytes()).unwrap_or_default();
        sha2::Digest::update(&mut fingerprint, (value.len() as u64).to_be_bytes());
        sha2::Digest::update(&mut fingerprint, value);
    }
    sha2::Digest::update(&mut fingerprint, &bytes);
    let fingerprint = hex::encode(sha2::Digest::finalize(fingerprint));
    match idempotency::claim(&state, &p.tenant, &p.user_id, &key, &fingerprint).await {
        Ok(Claim::Run) => {}
        Ok(Claim::Replay(answer)) => return replay(answer),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let resp = next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    if resp.status().is_server_error() {
        if let Err(e) = idempotency::release(&state, &p.tenant, &p.user_id, &key).await {
            tracing::warn!(error = format!("{e:#}"), "could not release an idempotency key");
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(body) = axum::body::to_bytes(body, IDEMPOTENT_BODY_LIMIT).await else {
        return ApiError::internal(anyhow::anyhow!("response too large to keep for retries")).into_response();
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let answer = Answer { status: parts.status.as_u16(), content_type, body: body.to_vec() };
    if let Err(e) = idempotency::complete(&state, &p.tenant, &p.user_id, &key, &answer).await {
        return ApiError::from(e).into_response();
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Whether reading a body failed on its length limit (not on the body itself).
fn over_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

fn replay(answer: crate::services::idempotency::Answer) -> Response {
    let mut resp = Response::new(axum::body::Body::from(answer.body));
    *resp.status_mut() = axum::http::StatusCode::from_u16(answer.status).unwrap_or(axum::http::StatusCode::OK);
    if let Some(ct) = answer.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
