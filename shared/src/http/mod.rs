//! The HTTP layer: one route table for the whole API. The local server mounts every route;
//! each Lambda function mounts only its own — the same handlers either way. The table is a
//! `const`, so a function's `main` picks its route at compile time ([`route`]) and its binary
//! links neither the other handlers nor the adapters of ports it is not granted.

pub mod access;
pub mod error;
pub mod extract;
mod middleware;
pub use middleware::requests_ended;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod web_session;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;

use crate::domain::roles::Privilege;
use crate::http::access::Access;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ports::Port;
use crate::services::error::ServiceError;

/// JSON bodies are limited to 1 MiB (API.md).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// One API route and the Lambda function that serves it.
#[derive(Clone, Copy)]
pub struct RouteDef {
    /// The function's name: its crate under `functions/`, its SAM resource (in CamelCase)
    /// and its event file `events/<function>.json`.
    pub function: &'static str,
    pub method: &'static str,
    /// Path template, in the `{param}` syntax shared by axum, OpenAPI and API Gateway.
    pub path: &'static str,
    /// Who may call it; enforced for every route in [`build`].
    pub access: Access,
    /// The ports its handler may use: its function is built with only these, its IAM role in
    /// `template.yaml` allows only their services, and the local server runs the route with
    /// the others failing, so a missing one fails the tests.
    pub ports: &'static [Port],
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

use routes::{
    admin, attachments, auth as account, device_key, devices, events, me, messages, mfa, platform, policy, sso,
};
use Port::*;
use Privilege::*;

/// Every route of the API. A `const`, not a `static`: a function copies out its own entry at
/// compile time, so the other handlers' pointers never reach its binary.
#[rustfmt::skip]
pub const ROUTES: &[RouteDef] = &[
    RouteDef { function: "platform-create-tenant", method: "POST", path: "/v1/platform/tenants", access: Access::Operator, ports: &[Store, Keys, Secrets, Mail], make: || post(platform::create_tenant) },
    RouteDef { function: "platform-tenant-keys-rotate", method: "POST", path: "/v1/platform/tenants/{tenant_id}/keys/rotate", access: Access::Operator, ports: &[Store, Keys, Secrets, Queue], make: || post(platform::rotate_tenant_key) },
    RouteDef { function: "platform-tenant-keys-get", method: "GET", path: "/v1/platform/tenants/{tenant_id}/keys", access: Access::Operator, ports: &[Store, Secrets], make: || get(platform::tenant_keys) },
    RouteDef { function: "platform-tenants-list", method: "GET", path: "/v1/platform/tenants", access: Access::Operator, ports: &[Store, Secrets], make: || get(platform::list_tenants) },
    RouteDef { function: "platform-tenants-disable", method: "POST", path: "/v1/platform/tenants/{tenant_id}/disable", access: Access::Operator, ports: &[Store, Secrets], make: || post(platform::set_tenant_status::<true>) },
    RouteDef { function: "platform-tenants-enable", method: "POST", path: "/v1/platform/tenants/{tenant_id}/enable", access: Access::Operator, ports: &[Store, Secrets], make: || post(platform::set_tenant_status::<false>) },
    RouteDef { function: "invitations-accept", method: "POST", path: "/v1/invitations/accept", access: Access::Public, ports: &[Store, Keys, Secrets], make: || post(account::accept_invitation) },
    RouteDef { function: "auth-login", method: "POST", path: "/v1/auth/login", access: Access::Public, ports: &[Store, Secrets], make: || post(account::login) },
    RouteDef { function: "auth-refresh", method: "POST", path: "/v1/auth/refresh", access: Access::Public, ports: &[Store, Secrets], make: || post(account::refresh) },
    RouteDef { function: "auth-logout", method: "POST", path: "/v1/auth/logout", access: user_always(AccountSelf), ports: &[Store, Secrets], make: || post(account::logout) },
    RouteDef { function: "auth-password-forgot", method: "POST", path: "/v1/auth/password/forgot", access: Access::Public, ports: &[Store, Secrets, Queue], make: || post(account::forgot_password) },
    RouteDef { function: "auth-password-reset", method: "POST", path: "/v1/auth/password/reset", access: Access::Public, ports: &[Store, Keys, Secrets], make: || post(account::reset_password) },
    RouteDef { function: "me-get", method: "GET", path: "/v1/me", access: user_always(AccountSelf), ports: &[Store, Keys, Secrets], make: || get(me::me) },
    RouteDef { function: "me-password", method: "POST", path: "/v1/me/password", access: user_changing_password(AccountSelf), ports: &[Store, Keys, Secrets], make: || post(me::change_password) },
    RouteDef { function: "me-mfa-totp-create", method: "POST", path: "/v1/me/mfa/totp", access: user_enrolling(AccountSelf), ports: &[Store, Keys, Secrets], make: || post(mfa::enrol) },
    RouteDef { function: "me-mfa-totp-confirm", method: "POST", path: "/v1/me/mfa/totp/confirm", access: user_enrolling(AccountSelf), ports: &[Store, Keys, Secrets], make: || post(mfa::confirm) },
    RouteDef { function: "me-mfa-totp-delete", method: "DELETE", path: "/v1/me/mfa/totp", access: user_enrolling(AccountSelf), ports: &[Store, Keys, Secrets], make: || delete(mfa::disable) },
    RouteDef { function: "me-security-questions-put", method: "PUT", path: "/v1/me/security-questions", access: user(AccountSelf), ports: &[Store, Keys, Secrets], make: || put(mfa::set_security_questions) },
    RouteDef { function: "auth-mfa", method: "POST", path: "/v1/auth/mfa", access: Access::Public, ports: &[Store, Keys, Secrets], make: || post(mfa::complete_login) },
    RouteDef { function: "auth-mfa-recover", method: "POST", path: "/v1/auth/mfa/recover", access: Access::Public, ports: &[Store, Secrets, Queue], make: || post(mfa::recover) },
    RouteDef { function: "auth-mfa-recover-confirm", method: "POST", path: "/v1/auth/mfa/recover/confirm", access: Access::Public, ports: &[Store, Keys, Secrets], make: || post(mfa::recover_confirm) },
    RouteDef { function: "me-device-key-get", method: "GET", path: "/v1/me/device-key", access: user(AccountSelf), ports: &[Store, Keys, Secrets], make: || get(device_key::get) },
    RouteDef { function: "admin-users-device-key-reset", method: "POST", path: "/v1/admin/users/{user_id}/device-key/reset", access: user(UsersManage), ports: &[Store, Keys, Secrets], make: || post(device_key::reset) },
    RouteDef { function: "conversations-create", method: "POST", path: "/v1/conversations", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || post(messages::create) },
    RouteDef { function: "conversations-list", method: "GET", path: "/v1/conversations", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || get(messages::list) },
    RouteDef { function: "messages-send", method: "POST", path: "/v1/conversations/{id}/messages", access: user(AppUse), ports: &[Store, Keys, Secrets, Queue], make: || post(messages::send) },
    RouteDef { function: "messages-list", method: "GET", path: "/v1/conversations/{id}/messages", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || get(messages::list_messages) },
    RouteDef { function: "conversations-read", method: "POST", path: "/v1/conversations/{id}/read", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || post(messages::mark_read) },
    RouteDef { function: "messages-delete", method: "DELETE", path: "/v1/conversations/{id}/messages/{message_id}", access: user(AppUse), ports: &[Store, Blobs, Keys, Secrets], make: || delete(messages::recall) },
    RouteDef { function: "attachments-upload", method: "POST", path: "/v1/attachments", access: user(AppUse), ports: &[Store, Blobs, Keys, Secrets], make: || post(attachments::upload) },
    RouteDef { function: "attachments-get", method: "GET", path: "/v1/attachments/{id}", access: user(AppUse), ports: &[Store, Blobs, Keys, Secrets], make: || get(attachments::download) },
    RouteDef { function: "devices-register", method: "POST", path: "/v1/me/devices", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || post(devices::register) },
    RouteDef { function: "devices-unregister", method: "DELETE", path: "/v1/me/devices/{id}", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || delete(devices::unregister) },
    RouteDef { function: "policy-get", method: "GET", path: "/v1/policy", access: user(AccountSelf), ports: &[Store, Secrets], make: || get(policy::get_policy) },
    RouteDef { function: "admin-policy-put", method: "PUT", path: "/v1/admin/policy", access: user(PolicyManage), ports: &[Store, Secrets], make: || put(admin::put_policy) },
    RouteDef { function: "admin-invitations-create", method: "POST", path: "/v1/admin/invitations", access: user(UsersManage), ports: &[Store, Keys, Secrets, Mail], make: || post(admin::invite) },
    RouteDef { function: "admin-users-list", method: "GET", path: "/v1/admin/users", access: user(UsersManage), ports: &[Store, Keys, Secrets], make: || get(admin::list_users) },
    RouteDef { function: "admin-users-patch", method: "PATCH", path: "/v1/admin/users/{user_id}", access: user(UsersManage), ports: &[Store, Keys, Secrets], make: || patch(admin::patch_user) },
    RouteDef { function: "admin-users-require-password-change", method: "POST", path: "/v1/admin/users/{user_id}/require-password-change", access: user(UsersManage), ports: &[Store, Secrets], make: || post(admin::require_password_change) },
    RouteDef { function: "admin-users-unlock", method: "POST", path: "/v1/admin/users/{user_id}/unlock", access: user(UsersManage), ports: &[Store, Secrets], make: || post(admin::unlock) },
    RouteDef { function: "admin-users-mfa-reset", method: "POST", path: "/v1/admin/users/{user_id}/mfa/reset", access: user(UsersManage), ports: &[Store, Secrets], make: || post(mfa::admin_reset) },
    RouteDef { function: "admin-audit-list", method: "GET", path: "/v1/admin/audit", access: user(AuditRead), ports: &[Store, Secrets], make: || get(admin::audit_log) },
    RouteDef { function: "events-create", method: "POST", path: "/v1/events", access: user(EventsManage), ports: &[Store, Secrets], make: || post(events::create) },
    RouteDef { function: "events-list", method: "GET", path: "/v1/events", access: user(AppUse), ports: &[Store, Secrets], make: || get(events::list) },
    RouteDef { function: "events-get", method: "GET", path: "/v1/events/{id}", access: user(AppUse), ports: &[Store, Secrets], make: || get(events::get) },
    RouteDef { function: "events-patch", method: "PATCH", path: "/v1/events/{id}", access: user(EventsManage), ports: &[Store, Secrets, Queue], make: || patch(events::patch) },
    RouteDef { function: "events-publish", method: "POST", path: "/v1/events/{id}/publish", access: user(EventsManage), ports: &[Store, Secrets], make: || post(events::publish) },
    RouteDef { function: "events-cancel", method: "POST", path: "/v1/events/{id}/cancel", access: user(EventsManage), ports: &[Store, Secrets, Queue], make: || post(events::cancel) },
    RouteDef { function: "events-sessions-create", method: "POST", path: "/v1/events/{id}/sessions", access: user(EventsManage), ports: &[Store, Secrets], make: || post(events::create_session) },
    RouteDef { function: "events-sessions-list", method: "GET", path: "/v1/events/{id}/sessions", access: user(AppUse), ports: &[Store, Secrets], make: || get(events::list_sessions) },
    RouteDef { function: "events-sessions-patch", method: "PATCH", path: "/v1/events/{id}/sessions/{sid}", access: user(EventsManage), ports: &[Store, Secrets], make: || patch(events::patch_session) },
    RouteDef { function: "events-sessions-delete", method: "DELETE", path: "/v1/events/{id}/sessions/{sid}", access: user(EventsManage), ports: &[Store, Secrets], make: || delete(events::delete_session) },
    RouteDef { function: "events-sessions-rtc-token", method: "POST", path: "/v1/events/{id}/sessions/{sid}/rtc-token", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || post(events::rtc_token) },
    RouteDef { function: "events-registration-create", method: "POST", path: "/v1/events/{id}/registration", access: user(AppUse), ports: &[Store, Secrets], make: || post(events::register) },
    RouteDef { function: "events-registration-delete", method: "DELETE", path: "/v1/events/{id}/registration", access: user(AppUse), ports: &[Store, Secrets, Queue], make: || delete(events::unregister) },
    RouteDef { function: "events-registrations-list", method: "GET", path: "/v1/events/{id}/registrations", access: user(EventsManage), ports: &[Store, Keys, Secrets], make: || get(events::list_registrations) },
    RouteDef { function: "events-announcements-create", method: "POST", path: "/v1/events/{id}/announcements", access: user(EventsManage), ports: &[Store, Keys, Secrets, Queue], make: || post(events::announce) },
    RouteDef { function: "events-announcements-list", method: "GET", path: "/v1/events/{id}/announcements", access: user(AppUse), ports: &[Store, Keys, Secrets], make: || get(events::list_announcements) },
    RouteDef { function: "admin-integrations-agora-put", method: "PUT", path: "/v1/admin/integrations/agora", access: user(IntegrationsManage), ports: &[Store, Keys, Secrets], make: || put(events::configure_agora) },
    RouteDef { function: "admin-sso-get", method: "GET", path: "/v1/admin/sso", access: user(IntegrationsManage), ports: &[Store, Secrets], make: || get(sso::get) },
    RouteDef { function: "admin-sso-oidc-put", method: "PUT", path: "/v1/admin/sso/oidc", access: user(IntegrationsManage), ports: &[Store, Keys, Secrets, Idp], make: || put(sso::put_oidc) },
    RouteDef { function: "admin-sso-oidc-delete", method: "DELETE", path: "/v1/admin/sso/oidc", access: user(IntegrationsManage), ports: &[Store, Secrets], make: || delete(sso::delete_oidc) },
    RouteDef { function: "sso-oidc-start", method: "GET", path: "/v1/sso/{tenant}/oidc/start", access: Access::Public, ports: &[Store, Idp], make: || get(sso::start::<false>) },
    RouteDef { function: "sso-oidc-callback", method: "GET", path: "/v1/sso/oidc/callback", access: Access::Public, ports: &[Store, Keys, Secrets, Idp], make: || get(sso::oidc_callback) },
    RouteDef { function: "admin-sso-saml-put", method: "PUT", path: "/v1/admin/sso/saml", access: user(IntegrationsManage), ports: &[Store, Secrets], make: || put(sso::put_saml) },
    RouteDef { function: "admin-sso-saml-delete", method: "DELETE", path: "/v1/admin/sso/saml", access: user(IntegrationsManage), ports: &[Store, Secrets], make: || delete(sso::delete_saml) },
    RouteDef { function: "sso-methods", method: "GET", path: "/v1/sso/{tenant}/methods", access: Access::Public, ports: &[Store], make: || get(sso::methods) },
    RouteDef { function: "sso-saml-metadata", method: "GET", path: "/v1/sso/{tenant}/saml/metadata", access: Access::Public, ports: &[Store], make: || get(sso::saml_metadata) },
    RouteDef { function: "sso-saml-start", method: "GET", path: "/v1/sso/{tenant}/saml/start", access: Access::Public, ports: &[Store], make: || get(sso::start::<true>) },
    RouteDef { function: "sso-saml-acs", method: "POST", path: "/v1/sso/saml/acs", access: Access::Public, ports: &[Store, Keys, Secrets], make: || post(sso::saml_acs) },
    RouteDef { function: "auth-sso-exchange", method: "POST", path: "/v1/auth/sso/exchange", access: Access::Public, ports: &[Store, Secrets], make: || post(sso::exchange) },
];

/// The routes that create something and so take an `Idempotency-Key` (API.md "Conventions").
pub const IDEMPOTENT: &[&str] = &[
    "conversations-create",
    "messages-send",
    "attachments-upload",
    "admin-invitations-create",
    "devices-register",
    "events-create",
    "events-sessions-create",
    "events-registration-create",
    "events-announcements-create",
];

/// The whole API (local server, tests).
pub fn app(state: AppState) -> Router {
    build(state, ROUTES)
}

/// Only the routes of one function, looked up at run time (tests). Unknown names give a
/// router that answers 404. A Lambda binary uses [`route`] instead, fixed at compile time.
pub fn app_for(state: AppState, function: &str) -> Router {
    build(state, ROUTES.iter().filter(|r| r.function == function))
}

/// Mounts `routes`, each with its access check, and with its own ports and caches only (see
/// [`AppState::for_function`]).
pub fn build<'a>(state: AppState, routes: impl IntoIterator<Item = &'a RouteDef>) -> Router {
    let mut router = Router::new();
    for r in routes {
        let route_state = state.for_function(r.ports);
        let mut method_router = (r.make)();
        if IDEMPOTENT.contains(&r.function) {
            // Inside the access check (a route layer added earlier runs later).
            let layer = axum::middleware::from_fn_with_state(route_state.clone(), middleware::idempotent);
            method_router = method_router.route_layer(layer);
        }
        if matches!(r.access, Access::User { .. }) {
            let layer =
                axum::middleware::from_fn_with_state((route_state.clone(), r.access), crate::http::access::require);
            method_router = method_router.route_layer(layer);
        }
        if r.access == Access::Public {
            let layer = axum::middleware::from_fn_with_state(route_state.clone(), middleware::limit_anonymous);
            method_router = method_router.route_layer(layer);
        }
        router = router.route(r.path, method_router.with_state(route_state));
    }
    router
        .fallback(|| async { ApiError::Service(ServiceError::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::request_context))
}

/// The index in [`ROUTES`] of `function`'s route, for a function's `main` to pass as a const
/// generic. An unknown name fails the build.
pub const fn route(function: &str) -> usize {
    let mut i = 0;
    while i < ROUTES.len() {
        if str_eq(ROUTES[i].function, function) {
            return i;
        }
        i += 1;
    }
    panic!("no route is served by this function name")
}

pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
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
