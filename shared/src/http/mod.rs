//! The HTTP layer: one route table for the whole API. The local server mounts every route;
//! each Lambda function mounts only its own (`app_for`) — the same handlers either way.

pub mod extract;
mod middleware;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;

use crate::app::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::roles::Privilege;
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
    /// Who may call it; enforced for every route in [`build`].
    pub access: Access,
    make: fn() -> MethodRouter<AppState>,
}

const fn user(privilege: Privilege) -> Access {
    Access::User { privilege, during_password_change: false, during_mfa_enrollment: false }
}

/// Allowed while a forced password change or an MFA enrolment is pending.
const fn user_always(privilege: Privilege) -> Access {
    Access::User { privilege, during_password_change: true, during_mfa_enrollment: true }
}

/// Allowed while a forced password change is pending.
const fn user_changing_password(privilege: Privilege) -> Access {
    Access::User { privilege, during_password_change: true, during_mfa_enrollment: false }
}

/// Allowed while an MFA enrolment is pending.
const fn user_enrolling(privilege: Privilege) -> Access {
    Access::User { privilege, during_password_change: false, during_mfa_enrollment: true }
}

use routes::{admin, attachments, auth as account, device_key, devices, me, messages, mfa, platform, policy};
use Privilege::*;

/// Every route of the API.
#[rustfmt::skip]
pub static ROUTES: &[RouteDef] = &[
    RouteDef { function: "platform-create-tenant", method: "POST", path: "/v1/platform/tenants", access: Access::Operator, make: || post(platform::create_tenant) },
    RouteDef { function: "platform-tenant-keys-rotate", method: "POST", path: "/v1/platform/tenants/{tenant_id}/keys/rotate", access: Access::Operator, make: || post(platform::rotate_tenant_key) },
    RouteDef { function: "platform-tenant-keys-get", method: "GET", path: "/v1/platform/tenants/{tenant_id}/keys", access: Access::Operator, make: || get(platform::tenant_keys) },
    RouteDef { function: "invitations-accept", method: "POST", path: "/v1/invitations/accept", access: Access::Public, make: || post(account::accept_invitation) },
    RouteDef { function: "auth-login", method: "POST", path: "/v1/auth/login", access: Access::Public, make: || post(account::login) },
    RouteDef { function: "auth-refresh", method: "POST", path: "/v1/auth/refresh", access: Access::Public, make: || post(account::refresh) },
    RouteDef { function: "auth-logout", method: "POST", path: "/v1/auth/logout", access: user_always(AccountSelf), make: || post(account::logout) },
    RouteDef { function: "auth-password-forgot", method: "POST", path: "/v1/auth/password/forgot", access: Access::Public, make: || post(account::forgot_password) },
    RouteDef { function: "auth-password-reset", method: "POST", path: "/v1/auth/password/reset", access: Access::Public, make: || post(account::reset_password) },
    RouteDef { function: "me-get", method: "GET", path: "/v1/me", access: user_always(AccountSelf), make: || get(me::me) },
    RouteDef { function: "me-password", method: "POST", path: "/v1/me/password", access: user_changing_password(AccountSelf), make: || post(me::change_password) },
    RouteDef { function: "me-mfa-totp-create", method: "POST", path: "/v1/me/mfa/totp", access: user_enrolling(AccountSelf), make: || post(mfa::enrol) },
    RouteDef { function: "me-mfa-totp-confirm", method: "POST", path: "/v1/me/mfa/totp/confirm", access: user_enrolling(AccountSelf), make: || post(mfa::confirm) },
    RouteDef { function: "me-mfa-totp-delete", method: "DELETE", path: "/v1/me/mfa/totp", access: user_enrolling(AccountSelf), make: || delete(mfa::disable) },
    RouteDef { function: "me-security-questions-put", method: "PUT", path: "/v1/me/security-questions", access: user(AccountSelf), make: || put(mfa::set_security_questions) },
    RouteDef { function: "auth-mfa", method: "POST", path: "/v1/auth/mfa", access: Access::Public, make: || post(mfa::complete_login) },
    RouteDef { function: "auth-mfa-recover", method: "POST", path: "/v1/auth/mfa/recover", access: Access::Public, make: || post(mfa::recover) },
    RouteDef { function: "auth-mfa-recover-confirm", method: "POST", path: "/v1/auth/mfa/recover/confirm", access: Access::Public, make: || post(mfa::recover_confirm) },
    RouteDef { function: "me-device-key-get", method: "GET", path: "/v1/me/device-key", access: user(AccountSelf), make: || get(device_key::get) },
    RouteDef { function: "admin-users-device-key-reset", method: "POST", path: "/v1/admin/users/{user_id}/device-key/reset", access: user(UsersManage), make: || post(device_key::reset) },
    RouteDef { function: "conversations-create", method: "POST", path: "/v1/conversations", access: user(AppUse), make: || post(messages::create) },
    RouteDef { function: "conversations-list", method: "GET", path: "/v1/conversations", access: user(AppUse), make: || get(messages::list) },
    RouteDef { function: "messages-send", method: "POST", path: "/v1/conversations/{id}/messages", access: user(AppUse), make: || post(messages::send) },
    RouteDef { function: "messages-list", method: "GET", path: "/v1/conversations/{id}/messages", access: user(AppUse), make: || get(messages::list_messages) },
    RouteDef { function: "conversations-read", method: "POST", path: "/v1/conversations/{id}/read", access: user(AppUse), make: || post(messages::mark_read) },
    RouteDef { function: "messages-delete", method: "DELETE", path: "/v1/conversations/{id}/messages/{message_id}", access: user(AppUse), make: || delete(messages::recall) },
    RouteDef { function: "attachments-upload", method: "POST", path: "/v1/attachments", access: user(AppUse), make: || post(attachments::upload) },
    RouteDef { function: "attachments-get", method: "GET", path: "/v1/attachments/{id}", access: user(AppUse), make: || get(attachments::download) },
    RouteDef { function: "devices-register", method: "POST", path: "/v1/me/devices", access: user(AppUse), make: || post(devices::register) },
    RouteDef { function: "devices-unregister", method: "DELETE", path: "/v1/me/devices/{id}", access: user(AppUse), make: || delete(devices::unregister) },
    RouteDef { function: "policy-get", method: "GET", path: "/v1/policy", access: user(AccountSelf), make: || get(policy::get_policy) },
    RouteDef { function: "admin-policy-put", method: "PUT", path: "/v1/admin/policy", access: user(PolicyManage), make: || put(admin::put_policy) },
    RouteDef { function: "admin-invitations-create", method: "POST", path: "/v1/admin/invitations", access: user(UsersManage), make: || post(admin::invite) },
    RouteDef { function: "admin-users-list", method: "GET", path: "/v1/admin/users", access: user(UsersManage), make: || get(admin::list_users) },
    RouteDef { function: "admin-users-patch", method: "PATCH", path: "/v1/admin/users/{user_id}", access: user(UsersManage), make: || patch(admin::patch_user) },
    RouteDef { function: "admin-users-require-password-change", method: "POST", path: "/v1/admin/users/{user_id}/require-password-change", access: user(UsersManage), make: || post(admin::require_password_change) },
    RouteDef { function: "admin-users-unlock", method: "POST", path: "/v1/admin/users/{user_id}/unlock", access: user(UsersManage), make: || post(admin::unlock) },
    RouteDef { function: "admin-audit-list", method: "GET", path: "/v1/admin/audit", access: user(AuditRead), make: || get(admin::audit_log) },
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
        let mut method_router = (r.make)();
        if matches!(r.access, Access::User { .. }) {
            let layer = axum::middleware::from_fn_with_state((state.clone(), r.access), crate::auth::require);
            method_router = method_router.route_layer(layer);
        }
        router = router.route(r.path, method_router);
    }
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

/// Functions that serve no route: queue workers.
pub static WORKERS: &[&str] = &["push-worker", "maintenance-worker"];

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
