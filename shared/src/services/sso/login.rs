//! The end of every single sign-on, whatever the protocol: the verified email finds the user
//! (through the blind index) or provisions one just in time; a single-use, 60-second login
//! code is handed to the client's redirect URI; `POST /v1/auth/sso/exchange` turns it into
//! the normal token pair. Every SSO login and failure is audited with its method and the
//! IdP's subject keyed-hashed.

use anyhow::Context as _;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::types::{parse_display_text, Email, Role, TenantId};
use crate::ports::store::{Cond, Item, StoreError, Table, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::keys::{token_hash, token_tenant};
use crate::services::identity::password;
use crate::services::identity::signin::{finish_login_with, token_record, user_lock, TokenPair};
use crate::services::identity::users::{self, UserRecord};
use crate::services::tenancy::{audit, tenants};

/// A sign-in must come back within this time (API.md).
pub const STATE_TTL_SECS: i64 = 600;
/// A login code lives this long (API.md).
pub const LOGIN_CODE_TTL_SECS: i64 = 60;
const CODE_KIND: &str = "SSOCODE";

/// Why a sign-in that reached us with a known `state` failed: the `error=` the client's
/// redirect URI receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The IdP refused, the email is not verified, the user is unknown (no JIT) or disabled.
    AccessDenied,
    /// The ID token (or SAML assertion) failed verification.
    InvalidToken,
    /// The IdP answered with an error or not at all.
    IdpError,
    /// The tenant's configuration was removed during the sign-in.
    NotConfigured,
    /// Something failed on our side (logged).
    ServerError,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Failure::AccessDenied => "access_denied",
            Failure::InvalidToken => "invalid_token",
            Failure::IdpError => "idp_error",
            Failure::NotConfigured => "not_configured",
            Failure::ServerError => "server_error",
        }
    }
}

/// Who the IdP vouched for.
pub struct Asserted<'a> {
    pub method: &'static str,
    /// The IdP subject, keyed-hashed (audit only).
    pub subject: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    /// Provision unknown emails with this role (never admin), or refuse them.
    pub jit_role: Option<Role>,
    /// The app's PKCE challenge from the start of the sign-in, if it sent one.
    pub app_challenge: Option<&'a str>,
}

/// An S256 `code_challenge`: 43 characters of unpadded base64url (RFC 7636 §4.2).
pub fn check_challenge_syntax(c: &str) -> Result<(), ServiceError> {
    if c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(ServiceError::InvalidRequest("code_challenge must be an S256 challenge (43 base64url characters)".into()))
    }
}

/// A tenant by slug, with its canonical slug; an unknown or malformed slug is `None` (and the
/// sign-in routes answer it like a tenant without SSO: slugs are not enumerable there).
pub async fn tenant_of_slug(ctx: &Context, slug: &str) -> Result<Option<(TenantId, String)>, ServiceError> {
    let Ok(s) = crate::domain::types::TenantSlug::parse(slug) else { return Ok(None) };
    Ok(tenants::id_of_slug(ctx, s.as_str()).await?.map(|t| (t, s.as_str().to_owned())))
}

/// A sign-in start's checks: `redirect_uri` is one of the configured ones, exactly, and the
/// app's PKCE challenge (if any) is well formed.
pub fn check_start<'a>(
    configured: &[String],
    redirect_uri: Option<&'a str>,
    app_challenge: Option<&str>,
) -> Result<&'a str, ServiceError> {
    let redirect_uri = redirect_uri.ok_or_else(|| ServiceError::InvalidRequest("redirect_uri is required".into()))?;
    if !configured.iter().any(|u| u == redirect_uri) {
        return Err(ServiceError::InvalidRequest("redirect_uri is not one of the configured redirect_uris".into()));
    }
    if let Some(c) = app_challenge {
        check_challenge_syntax(c)?;
    }
    Ok(redirect_uri)
}

/// Store a sign-in's state (what [`consume_state`] takes back) for 10 minutes: `attrs` (the
/// protocol's own secrets) with the redirect URI and the app's challenge, under the hash of
/// a new single-use token naming the tenant; the token.
pub async fn begin_state(
    ctx: &Context,
    tenant: &TenantId,
    kind: &str,
    redirect_uri: &str,
    app_challenge: Option<&str>,
    attrs: &[(&str, &str)],
) -> Result<String, ServiceError> {
    let token = tenants::issue_token(tenant);
    let now = ctx.ports.clock.now_secs();
    let mut item = Item::new(format!("{kind}#{}", token.hash), kind)
        .with("redirect_uri", redirect_uri)
        .with(EXPIRES_AT, now + STATE_TTL_SECS);
    for (name, value) in attrs {
        item = item.with(name, *value);
    }
    if let Some(c) = app_challenge {
        item = item.with("app_challenge", c);
    }
    ctx.ports.store.put(&Table::tenant(tenant), item, Cond::NotExists).await.context("store the sign-in state")?;
    Ok(token.token)
}

/// The sign-in a single-use state token (OIDC `state`, SAML `RelayState`) names, consumed:
/// its tenant and record. Unknown, expired or already used → `bad()`; only one caller can
/// ever consume it, whatever happens next.
pub async fn consume_state(
    ctx: &Context,
    token: Option<&str>,
    kind: &str,
    bad: impl Fn() -> ServiceError,
) -> Result<(TenantId, Item), ServiceError> {
    let token = token.filter(|s| s.len() <= 256).ok_or_else(&bad)?;
    let tenant = token_tenant(token).ok_or_else(&bad)?;
    let table = Table::tenant(&tenant);
    let pk = format!("{kind}#{}", token_hash(token));
    let record = match ctx.ports.store.get(&table, &pk, kind).await {
        Ok(Some(r)) => r,
        Ok(None) | Err(StoreError::NoSuchTable) => return Err(bad()),
        Err(e) => return Err(ServiceError::internal(e)),
    };
    match ctx.ports.store.delete(&table, &pk, kind, Cond::Exists).await {
        Ok(()) => Ok((tenant, record)),
        Err(StoreError::ConditionFailed) => Err(bad()),
        Err(e) => Err(ServiceError::internal(e)),
    }
}

/// Where the browser goes at the end: the client's redirect URI with the login code or the
/// error.
pub fn answer(record: &Item, outcome: Result<String, Failure>) -> Result<String, ServiceError> {
    let redirect_uri = record.s("redirect_uri").context("sign-in state without redirect_uri")?;
    Ok(match outcome {
        Ok(code) => with_query(redirect_uri, &[("login_code", &code)]),
        Err(failure) => with_query(redirect_uri, &[("error", failure.code())]),
    })
}

/// `url` with `pairs` added to its query.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Audit a failed SSO sign-in.
pub async fn audit_failure(ctx: &Context, tenant: &TenantId, actor: &str, method: &str, subject: &str, why: Failure) {
    let details = [("method", method), ("subject", subject)];
    let r = audit::record_with(&ctx.ports, tenant, actor, "login.failure", subject, why.code(), &details).await;
    if let Err(e) = r {
        tracing::error!(error = format!("{e:#}"), "could not audit an SSO failure");
    }
}

/// The user `who` names, provisioned if allowed; a login code for them.
pub async fn issue_code(ctx: &Context, tenant: &TenantId, who: &Asserted<'_>) -> Result<String, Failure> {
    let server = |e: anyhow::Error| {
        tracing::error!(error = format!("{e:#}"), "SSO sign-in failed");
        Failure::ServerError
    };
    let Ok(email) = Email::parse(who.email) else {
        audit_failure(ctx, tenant, "unknown", who.method, who.subject, Failure::AccessDenied).await;
        return Err(Failure::AccessDenied);
    };
    let keys = ctx.identity_keys.get(&*ctx.ports.secrets).await.map_err(server)?;
    let index = keys.email_index(tenant.as_str(), &email);
    let mut user = users::find_by_index(ctx, tenant, &index).await.map_err(server)?;
    if user.is_none() {
        if let Some(role) = who.jit_role.filter(|r| *r != Role::Admin) {
            user = provision(ctx, tenant, &email, &index, who, role).await.map_err(server)?;
        }
    }
    let actor = user.as_ref().map(|u| u.user_id.clone()).unwrap_or_else(|| "unknown".into());
    let Some(user) = user.filter(|u| !u.disabled) else {
        audit_failure(ctx, tenant, &actor, who.method, who.subject, Failure::AccessDenied).await;
        return Err(Failure::AccessDenied);
    };
    let code = tenants::issue_token(tenant);
    let now = ctx.ports.clock.now_secs();
    let mut item = Item::new(format!("{CODE_KIND}#{}", code.hash), CODE_KIND)
        .with("user_id", user.user_id.as_str())
        .with("method", who.method)
        .with("subject", who.subject)
        .with(EXPIRES_AT, now + LOGIN_CODE_TTL_SECS);
    if let Some(c) = who.app_challenge {
        item = item.with("app_challenge", c);
    }
    let put = ctx.ports.store.put(&Table::tenant(tenant), item, Cond::NotExists).await;
    put.context("store the login code").map_err(server)?;
    Ok(code.token)
}

/// A new account for an IdP-verified email. Its password is random and never told to anyone:
/// the account signs in through SSO (or after a password reset, if the tenant allows it).
async fn provision(
    ctx: &Context,
    tenant: &TenantId,
    email: &Email,
    index: &str,
    who: &Asserted<'_>,
    role: Role,
) -> anyhow::Result<Option<UserRecord>> {
    let fallback = email.as_str().split('@').next().unwrap_or("user").to_owned();
    let display_name = who
        .display_name
        .and_then(|n| parse_display_text(n, "display_name", 100).ok())
        .or_else(|| parse_display_text(&fallback, "display_name", 100).ok())
        .unwrap_or_else(|| "SSO user".into());
    let random = hex::encode(*crate::domain::crypto::random_32());
    let password_hash = password::hash(SecretString::from(random)).await?;
    let user_id = users::new_user_id();
    let new = users::NewUser {
        user_id: &user_id,
        email,
        email_index: index,
        display_name: &display_name,
        role,
        password_hash,
    };
    let ops = users::create_ops(ctx, tenant, new).await?;
    match ctx.ports.store.transact(ops).await {
        // Provisioned here, or by a parallel sign-in of the same person: either way, look up.
        Ok(()) | Err(StoreError::TransactionCancelled { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let details = [("method", who.method), ("subject", who.subject)];
    let created = users::find_by_index(ctx, tenant, index).await?;
    if created.as_ref().is_some_and(|u| u.user_id == user_id) {
        audit::record_with(&ctx.ports, tenant, &user_id, "user.jit_create", &user_id, "success", &details).await?;
    }
    Ok(created)
}

#[derive(Deserialize)]
pub struct ExchangeBody {
    pub login_code: String,
    /// Required when the sign-in was started with a `code_challenge`.
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    pub code_verifier: Option<String>,
}

/// `POST /v1/auth/sso/exchange` `{"login_code", "code_verifier"?}` → the token pair. Single
/// use, 60 s; anything else is 401 `invalid_credentials`. A code whose sign-in was started
/// with a `code_challenge` needs its verifier: an app that intercepted the redirect (another
/// app registered for the same custom scheme, RFC 8252 §8.1) holds the code but not the
/// verifier. A wrong verifier still spends the code.
pub async fn exchange(ctx: &Context, body: ExchangeBody) -> Result<TokenPair, ServiceError> {
    let (tenant, record) = token_record(ctx, &body.login_code, CODE_KIND).await?;
    // Only one exchange can delete it.
    match ctx.ports.store.delete(&Table::tenant(&tenant), &record.pk, CODE_KIND, Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ServiceError::InvalidCredentials),
        Err(e) => return Err(ServiceError::internal(e)),
    }
    // A client that holds a verifier started its sign-in with a challenge: a code minted
    // without one was started by someone else (login CSRF: an attacker's own sign-in
    // completed in the victim's browser), so it is refused.
    if record.s("app_challenge").is_none() && body.code_verifier.is_some() {
        return Err(ServiceError::InvalidCredentials);
    }
    if let Some(challenge) = record.s("app_challenge") {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let verifier = body.code_verifier.as_deref().unwrap_or_default();
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !(43..=128).contains(&verifier.len()) || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
            return Err(ServiceError::InvalidCredentials);
        }
    }
    let user = users::get(ctx, &tenant, record.s("user_id").unwrap_or_default())
        .await
        .context("exchange: users::get")?
        .filter(|u| !u.disabled)
        .ok_or(ServiceError::InvalidCredentials)?;
    let method = record.s("method").unwrap_or("sso");
    let details = [("subject", record.s("subject").unwrap_or("unknown"))];
    finish_login_with(ctx, &tenant, &user_lock(&tenant, &user), &user, method, &details).await
}
