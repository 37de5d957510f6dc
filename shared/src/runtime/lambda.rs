//! Lambda entry points. A function's `main` is one call: [`serve`] for a route's function,
//! [`work`] for a queue worker, each with its index in the route (or worker) table as a const
//! generic, so the binary is built around that one handler and the ports it is granted and
//! links nothing else. Init builds the clients once (no network I/O); each invocation runs the
//! same axum handlers as the local server.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::Request;
use axum::Router;

use crate::http::state::AppState;
use crate::http::{RouteDef, ROUTES};
use crate::ports::clock::SystemClock;
use crate::ports::Ports;
use crate::ports::{Grant, Port, SecretName};
use crate::runtime::backend::Wiring;
use crate::runtime::settings::AppSettings;
use crate::runtime::settings::{self as config, BackendKind};
use crate::services::context::OperatorAuth;

/// The function of route `ROUTES[I]`: `bulwark::lambda::serve::<{ bulwark::http::route("name") }>()`.
pub fn serve<const I: usize>() -> ExitCode {
    // Copied out at compile time: only this route's handler is referenced.
    let def: RouteDef = const { ROUTES[I] };
    boot(def.function, async move {
        let state = build_state::<RouteGrant<I>>().await?;
        lambda_http::run(lambda_router(state, &def)).await.map_err(|e| anyhow::anyhow!("{e}"))
    })
}

/// The queue worker `WORKERS[W]`: `bulwark::lambda::work::<{ bulwark::lambda::worker("name") }>()`.
pub fn work<const W: usize>() -> ExitCode {
    let def: WorkerDef = const { WORKERS[W] };
    boot(def.function, async move {
        let state = build_state::<WorkerGrant<W>>().await?;
        let handler = lambda_http::lambda_runtime::service_fn(
            move |event: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
                (def.run)(state.clone(), event.payload)
            },
        );
        lambda_http::lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!("{e}"))
    })
}

struct RouteGrant<const I: usize>;

impl<const I: usize> Grant for RouteGrant<I> {
    const PORTS: &'static [Port] = ROUTES[I].ports;
}

struct WorkerGrant<const W: usize>;

impl<const W: usize> Grant for WorkerGrant<W> {
    const PORTS: &'static [Port] = WORKERS[W].ports;
}

/// A worker's invocation, from its trigger's event to the reply Lambda expects.
pub type WorkerFn = fn(AppState, serde_json::Value) -> Pin<Box<dyn Future<Output = WorkerResult> + Send>>;
type WorkerResult = Result<serde_json::Value, String>;

/// A queue worker: a function that serves no route.
#[derive(Clone, Copy)]
pub struct WorkerDef {
    pub function: &'static str,
    /// As [`RouteDef::ports`](crate::http::RouteDef).
    pub ports: &'static [Port],
    pub run: WorkerFn,
}

/// Every queue worker. The push worker takes SQS batches (partial failures go back to SQS);
/// the maintenance worker takes SQS batches and the hourly retention schedule.
pub const WORKERS: &[WorkerDef] = &[
    WorkerDef {
        function: "push-worker",
        ports: &[Port::Store, Port::Keys, Port::Secrets, Port::Push, Port::Queue],
        run: |state, event| {
            Box::pin(async move {
                let event: aws_lambda_events::sqs::SqsEvent =
                    serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
                serde_json::to_value(crate::runtime::jobs::push_sqs(&state, event).await).map_err(|e| e.to_string())
            })
        },
    },
    WorkerDef {
        function: "maintenance-worker",
        ports: &[Port::Store, Port::Blobs, Port::Keys, Port::Queue, Port::Mail],
        run: |state, event| {
            Box::pin(async move {
                crate::runtime::jobs::maintenance_event(&state, event).await.map_err(|e| format!("{e:#}"))
            })
        },
    },
];

/// The index in [`WORKERS`] of `function`, as [`crate::http::route`]; an unknown name fails
/// the build.
pub const fn worker(function: &str) -> usize {
    let mut i = 0;
    while i < WORKERS.len() {
        if crate::http::str_eq(WORKERS[i].function, function) {
            return i;
        }
        i += 1;
    }
    panic!("no worker has this function name")
}

/// Logging and a one-thread runtime, then `run` to the end.
fn boot(function: &'static str, run: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    crate::runtime::telemetry::init();
    // One thread: an execution environment handles one event at a time, and starting worker
    // threads is init time paid on every cold start (blocking work still has its own pool).
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{function}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(function, error = format!("{e:#}"), "function failed");
            ExitCode::FAILURE
        }
    }
}

/// Functions run on AWS by default; `BULWARK_BACKEND=embedded` runs one locally (e.g. under
/// `cargo lambda watch`) with no AWS account, in builds with the `lambda-embedded` feature
/// (deployed builds leave the embedded backend out). Either way only the ports of `G` are built.
async fn build_state<G: Grant>() -> anyhow::Result<AppState> {
    let clock = Arc::new(SystemClock);
    let ports = match config::backend_kind(BackendKind::Aws)? {
        BackendKind::Aws => {
            Ports::aws_for::<G>(config::aws_settings()?, &crate::adapters::aws::sdk_config().await, clock)
        }
        #[cfg(feature = "lambda-embedded")]
        BackendKind::Embedded => Ports::embedded_for::<G>(config::embedded_settings("./.bulwark-invoke"), clock)?,
        #[cfg(not(feature = "lambda-embedded"))]
        BackendKind::Embedded => anyhow::bail!(
            "this build of the function runs on AWS only; build it with `--features bulwark/lambda-embedded` \
             (scripts/invoke does) to run it in embedded mode"
        ),
    };
    let operator = match config::operator_token_env() {
        Some(t) => OperatorAuth::from_token(&t),
        None => OperatorAuth::Secret(SecretName::parse("operator-token").map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    // Embedded: nothing provisions the platform table and queues beforehand.
    if ports.mode == crate::ports::Mode::Embedded {
        if Port::Store.in_set(G::PORTS) {
            ports.store.ensure_table(&crate::ports::Table::Platform).await?;
        }
        if Port::Queue.in_set(G::PORTS) {
            for (queue, receives) in [
                (crate::services::push::queue(), crate::services::push::MAX_RECEIVES),
                (crate::services::maintenance::queue(), crate::services::maintenance::MAX_RECEIVES),
            ] {
                ports.queue.ensure_queue(&queue, receives).await?;
            }
        }
    }
    Ok(crate::runtime::app::application(ports, AppSettings::from_env(operator)))
}

/// The router of one route's function, with the API Gateway stage stripped from the path
/// first (REST APIs deliver `/<stage>/v1/...` unless told otherwise). The rewrite must happen
/// before routing, so it wraps the router as a service rather than a layer.
pub fn lambda_router(state: AppState, def: &RouteDef) -> Router {
    behind_stage(crate::http::build(state, [def]))
}

/// As [`lambda_router`], with the function looked up by name at run time (tests).
pub fn lambda_app(state: AppState, function: &str) -> Router {
    behind_stage(crate::http::app_for(state, function))
}

fn behind_stage(router: Router) -> Router {
    use tower::ServiceExt;
    Router::new().fallback_service(router.map_request(strip_stage))
}

fn strip_stage(mut req: Request) -> Request {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    // API Gateway's view of the client (never X-Forwarded-For) for the anonymous rate limits.
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        _ => None,
    };
    if let Some(ip) = source_ip {
        req.extensions_mut().insert(crate::http::ratelimit::ClientIp(ip));
    }
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
