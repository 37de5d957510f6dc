//! Lambda entry point shared by every function: a function's `main` is one call to [`main`]
//! with its name. Init builds the clients once (no network I/O); each invocation runs the same
//! axum handlers as the local server, restricted to the function's own routes.

use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::Request;
use axum::Router;

use crate::app::{AppState, OperatorAuth, Settings};
use crate::backend::Ports;
use crate::clock::SystemClock;
use crate::config::{self, BackendKind};
use crate::ports::SecretName;

pub fn main(function: &'static str) -> ExitCode {
    crate::telemetry::init();
    // One thread: an execution environment handles one event at a time, and starting worker
    // threads is init time paid on every cold start (blocking work still has its own pool).
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{function}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(function)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(function, error = format!("{e:#}"), "function failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(function: &'static str) -> anyhow::Result<()> {
    let state = build_state().await?;
    if crate::http::WORKERS.contains(&function) {
        let handler = lambda_http::lambda_runtime::service_fn(
            move |event: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
                let state = state.clone();
                async move { worker(&state, function, event.payload).await.map_err(|e| format!("{e:#}")) }
            },
        );
        return lambda_http::lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!("{e}"));
    }
    lambda_http::run(lambda_app(state, function)).await.map_err(|e| anyhow::anyhow!("{e}"))
}

/// A queue worker's invocation: the push worker takes SQS batches (partial failures go back
/// to SQS); the maintenance worker takes SQS batches and the hourly retention schedule.
async fn worker(state: &AppState, function: &str, event: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    match function {
        "push-worker" => {
            Ok(serde_json::to_value(crate::push::handle_sqs(state, serde_json::from_value(event)?).await)?)
        }
        "maintenance-worker" => crate::maintenance::handle_event(state, event).await,
        other => anyhow::bail!("{other} is not a worker"),
    }
}

/// Functions run on AWS by default; `BULWARK_BACKEND=embedded` runs one locally (e.g. under
/// `cargo lambda watch`) with no AWS account.
async fn build_state() -> anyhow::Result<AppState> {
    let clock = Arc::new(SystemClock);
    let ports = match config::backend_kind(BackendKind::Aws)? {
        BackendKind::Aws => Ports::aws(config::aws_settings()?, &crate::aws::sdk_config().await, clock),
        BackendKind::Embedded => Ports::embedded(config::embedded_settings("./.bulwark-invoke"), clock)?,
    };
    let operator = match config::operator_token_env() {
        Some(t) => OperatorAuth::from_token(&t),
        None => OperatorAuth::Secret(SecretName::parse("operator-token").map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    if ports.sweeper.is_some() {
        ports.store.ensure_table(&crate::ports::Table::Platform).await?;
        ports.queue.ensure_queue(&crate::push::queue(), crate::push::MAX_RECEIVES).await?;
        ports.queue.ensure_queue(&crate::maintenance::queue(), crate::maintenance::MAX_RECEIVES).await?;
    }
    Ok(AppState::new(ports, Settings { app_url: config::app_url(), operator }))
}

/// The router a function serves: its own routes, with the API Gateway stage stripped from
/// the path first (REST APIs deliver `/<stage>/v1/...` unless told otherwise). The rewrite
/// must happen before routing, so it wraps the router as a service rather than a layer.
pub fn lambda_app(state: AppState, function: &str) -> Router {
    use tower::ServiceExt;
    Router::new().fallback_service(crate::http::app_for(state, function).map_request(strip_stage))
}

fn strip_stage(mut req: Request) -> Request {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else { return req };
    let prefix = format!("/{stage}");
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if let Some(rest) = path_and_query.strip_prefix(&prefix).filter(|r| r.starts_with('/')) {
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = rest.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}
