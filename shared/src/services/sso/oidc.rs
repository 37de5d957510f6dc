//! The OpenID Connect relying party: the authorization code flow with PKCE (S256), `state`
//! and `nonce` (OIDC Core §3.1). `start` keeps the login's secrets server-side in a 10-minute
//! item named by the hash of `state` (which carries its tenant, as every single-use token
//! here does, because the callback URL is the same for all tenants); the callback consumes it
//! by conditional delete, so a `state` works once. The code is exchanged with
//! `client_secret_basic`, the ID token verified (`id_token`), and the email taken from the
//! configured claim — only when `email_verified`, if the IdP sends it, is true.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::crypto::random_32;
use crate::domain::types::{Role, TenantId};
use crate::ports::idp::IdpRequest;
use crate::ports::store::Item;
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::sso::config::{self, Oidc, JWKS_REFRESH_FLOOR_SECS, METADATA_TTL_SECS};
use crate::services::sso::id_token::{self, Expect, Rejection};
use crate::services::sso::login::{self, with_query, Asserted, Failure};

const STATE_KIND: &str = "SSOSTATE";
pub const CALLBACK_PATH: &str = "/v1/sso/oidc/callback";

/// Where the IdP sends the browser back: one URL for every tenant.
pub fn callback_url(ctx: &Context) -> String {
    format!("{}{CALLBACK_PATH}", ctx.settings.sso.api_url)
}

fn not_configured() -> ServiceError {
    ServiceError::NotConfigured("single sign-on with OIDC is not configured for this organisation".into())
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(*random_32())
}

/// `GET /v1/sso/{tenant}/oidc/start?redirect_uri=&code_challenge=` → the IdP's authorization
/// URL. An unknown tenant answers like one without SSO (slugs are not enumerable here either).
/// `code_challenge` (extension, RFC 7636 S256) binds the login code to the app that started
/// the sign-in: see `login::exchange`.
pub async fn start(
    ctx: &Context,
    slug: &str,
    redirect_uri: Option<&str>,
    app_challenge: Option<&str>,
) -> Result<String, ServiceError> {
    let (tenant, _) = login::tenant_of_slug(ctx, slug).await?.ok_or_else(not_configured)?;
    let mut oidc = config::load_oidc(ctx, &tenant).await?.ok_or_else(not_configured)?;
    let redirect_uri = login::check_start(&oidc.redirect_uris, redirect_uri, app_challenge)?;
    let now = ctx.ports.clock.now_secs();
    if oidc.fetched_at + METADATA_TTL_SECS <= now {
        // Stale metadata: refresh it, but an unreachable IdP must not stop a sign-in that
        // the cached endpoints may still serve.
        if let Err(e) = config::refresh(ctx, &tenant, &mut oidc).await {
            tracing::warn!(error = e, "IdP metadata refresh failed; using the cached copy");
        }
    }
    let (nonce, verifier) = (random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let attrs = [("nonce", nonce.as_str()), ("verifier", verifier.as_str()), ("version", oidc.version.as_str())];
    let state = login::begin_state(ctx, &tenant, STATE_KIND, redirect_uri, app_challenge, &attrs).await?;
    let scope = oidc.scopes.join(" ");
    let callback = callback_url(ctx);
    Ok(with_query(
        &oidc.authorization_endpoint,
        &[
            ("response_type", "code"),
            ("client_id", &oidc.client_id),
            ("redirect_uri", &callback),
            ("scope", &scope),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    ))
}

/// The callback's query (RFC 6749 §4.1.2; §4.1.2.1 for errors).
#[derive(serde::Deserialize, Default)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// `GET /v1/sso/oidc/callback` → where to send the browser: the client's redirect URI with a
/// `login_code` or an `error`. An unknown, expired or spent `state` is 400 (there is no
/// redirect URI to trust).
pub async fn callback(ctx: &Context, q: CallbackQuery) -> Result<String, ServiceError> {
    let bad_state = || ServiceError::InvalidRequest("unknown, expired or already used state".into());
    let (tenant, record) = login::consume_state(ctx, q.state.as_deref(), STATE_KIND, bad_state).await?;
    let outcome = finish(ctx, &tenant, &record, &q).await;
    login::answer(&record, outcome)
}

/// Everything after the state is known good; each failure is audited.
async fn finish(ctx: &Context, tenant: &TenantId, record: &Item, q: &CallbackQuery) -> Result<String, Failure> {
    let fail = |subject: &'static str, why: Failure| async move {
        login::audit_failure(ctx, tenant, "unknown", "oidc", subject, why).await;
        Err(why)
    };
    if let Some(e) = &q.error {
        let why = if e == "access_denied" { Failure::AccessDenied } else { Failure::IdpError };
        return fail("unknown", why).await;
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return fail("unknown", Failure::IdpError).await;
    };
    let mut oidc = match config::load_oidc(ctx, tenant).await {
        Ok(Some(o)) if record.s("version") == Some(o.version.as_str()) => o,
        // Removed or replaced since the sign-in started: its client and keys no longer apply.
        Ok(_) => return fail("unknown", Failure::NotConfigured).await,
        Err(e) => {
            tracing::error!(error = %e, "could not load the OIDC config");
            return Err(Failure::ServerError);
        }
    };
    let id_token = match redeem(ctx, tenant, &oidc, code, record.s("verifier").unwrap_or_default()).await {
        Ok(t) => t,
        Err(why) => return fail("unknown", why).await,
    };
    let expect_nonce = record.s("nonce").unwrap_or_default().to_owned();
    let claims = match verify(ctx, tenant, &mut oidc, &id_token, &expect_nonce).await {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(reason = ?why, "ID token refused");
            return fail("unknown", Failure::InvalidToken).await;
        }
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let keys = ctx.identity_keys.get(&*ctx.ports.secrets).await.map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "identity keys");
        Failure::ServerError
    })?;
    let subject = keys.sso_subject(tenant.as_str(), &oidc.issuer, sub);
    // OIDC Core §5.1: `email_verified` false means the IdP does not vouch for the address.
    let verified = match claims.get("email_verified") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(_) => false,
    };
    let email = claims.get(&oidc.email_claim).and_then(Value::as_str);
    let (true, Some(email)) = (verified, email) else {
        login::audit_failure(ctx, tenant, "unknown", "oidc", &subject, Failure::AccessDenied).await;
        return Err(Failure::AccessDenied);
    };
    let jit_role = if oidc.jit.enabled { Role::parse(&oidc.jit.role).ok() } else { None };
    let who = Asserted {
        method: "oidc",
        subject: &subject,
        email,
        display_name: claims.get("name").and_then(Value::as_str),
        jit_role,
        app_challenge: record.s("app_challenge"),
    };
    login::issue_code(ctx, tenant, &who).await
}

/// The token request (RFC 6749 §4.1.3, PKCE's `code_verifier`), authenticated with
/// `client_secret_basic`; the ID token of its answer.
async fn redeem(ctx: &Context, tenant: &TenantId, oidc: &Oidc, code: &str, verifier: &str) -> Result<String, Failure> {
    let secret = oidc.client_secret(ctx, tenant).await.map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "could not open the OIDC client secret");
        Failure::ServerError
    })?;
    let req = IdpRequest::PostForm {
        url: oidc.token_endpoint.clone(),
        client_id: oidc.client_id.clone(),
        client_secret: secret,
        form: vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.to_owned()),
            ("redirect_uri", callback_url(ctx)),
            ("code_verifier", verifier.to_owned()),
        ],
    };
    let resp = ctx.ports.idp.send(req, ctx.settings.sso.allow_loopback_http).await.map_err(|e| {
        tracing::warn!(error = %e, "OIDC token request failed");
        Failure::IdpError
    })?;
    if resp.status != 200 {
        // The error code only (RFC 6749 §5.2), never the body's free text.
        let error = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>()));
        tracing::warn!(status = resp.status, error = error.as_deref().unwrap_or("-"), "OIDC token request refused");
        return Err(Failure::IdpError);
    }
    let body: Value = serde_json::from_slice(&resp.body).map_err(|_| Failure::IdpError)?;
    body.get("id_token").and_then(Value::as_str).map(str::to_owned).ok_or(Failure::IdpError)
}

/// Verify the ID token against the cached JWKS; a key the cache does not know refreshes it
/// (at most once a minute), as does a cache older than its TTL.
async fn verify(
    ctx: &Context,
    tenant: &TenantId,
    oidc: &mut Oidc,
    token: &str,
    nonce: &str,
) -> Result<serde_json::Map<String, Value>, Rejection> {
    let now = ctx.ports.clock.now_secs();
    if oidc.fetched_at + METADATA_TTL_SECS <= now {
        if let Err(e) = config::refresh(ctx, tenant, oidc).await {
            tracing::warn!(error = e, "IdP metadata refresh failed; using the cached keys");
        }
    }
    let issuer = oidc.issuer.clone();
    let client_id = oidc.client_id.clone();
    let expect = Expect { issuer: &issuer, client_id: &client_id, nonce, now };
    match id_token::verify(token, &id_token::signing_keys(&oidc.jwks), &expect) {
        Err(Rejection::UnknownKey) if oidc.fetched_at + JWKS_REFRESH_FLOOR_SECS <= now => {
            config::refresh(ctx, tenant, oidc).await.map_err(|e| {
                tracing::warn!(error = e, "JWKS refresh for an unknown key failed");
                Rejection::UnknownKey
            })?;
            id_token::verify(token, &id_token::signing_keys(&oidc.jwks), &expect)
        }
        other => other,
    }
}
