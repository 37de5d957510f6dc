//! The HTTP layer: one route table for the whole API. The local server mounts every route;
//! each Lambda function mounts only its own (`app_for`) — the same handlers either way.

pub mod extract;
mod middleware;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes;

/// JSON bodies are limited to 1 MiB (API.md).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// One API route and the Lambda function that serves it.
pub struct RouteDef {
    /// The function's name: its crate under `functions/`, its SAM resource (in CamelCase)
    /// and its event file `events/<function>.json`.
    pub function: &'static str,
    pub method: &'static str,
    /// Path template, in the `{param}` syntax shared by axum, OpenAPI and API Gateway.
    pub path: &'static str,
    make: fn() -> MethodRouter<AppState>,
}

/// Every route of the API.
pub static ROUTES: &[RouteDef] = &[
    RouteDef {
        function: "platform-create-tenant",
        method: "POST",
        path: "/v1/platform/tenants",
        make: || post(routes::platform::create_tenant),
    },
    RouteDef { function: "policy-get", method: "GET", path: "/v1/policy", make: || get(routes::policy::get_policy) },
];

/// The whole API (local server, tests).
pub fn app(state: AppState) -> Router {
    build(state, |_| true)
}

/// Only the routes of one function (a Lambda). Unknown names give a router that answers 404.
pub fn app_for(state: AppState, function: &str) -> Router {
    build(state, |r| r.function == function)
}

fn build(state: AppState, keep: impl Fn(&RouteDef) -> bool) -> Router {
    let mut router = Router::new();
    for r in ROUTES.iter().filter(|r| keep(r)) {
        router = router.route(r.path, (r.make)());
    }
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

/// The function names, once each, in route-table order.
pub fn functions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !out.contains(&r.function) {
            out.push(r.function);
        }
    }
    out
}
