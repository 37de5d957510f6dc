//! The SAML 2.0 service provider (Web Browser SSO profile, SP-initiated only): `start` sends
//! an AuthnRequest over HTTP-Redirect and keeps its ID server-side in a 10-minute, single-use
//! item named by the hash of the RelayState (which carries the tenant, as the OIDC `state`
//! does: the ACS is one URL for every tenant); `acs` consumes that item, validates the
//! Response (`domain::saml`) against it, refuses an assertion ID seen before, and ends like
//! every SSO sign-in (`login`). Unsolicited responses have no request to match and are
//! refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::domain::saml::{self, Expect, SKEW_SECS};
use crate::domain::types::{Role, TenantId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Item, StoreError, Table, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::sso::config::{self, acs_url, sp_entity_id};
use crate::services::sso::login::STATE_TTL_SECS;
use crate::services::sso::login::{self, Asserted, Failure};

const STATE_KIND: &str = "SAMLSTATE";
const ASSERTION_KIND: &str = "SAMLASSERTION";
/// A base64 SAMLResponse larger than this is refused unread.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Replay-cache entries live until the assertion expires, but not beyond this.
const MAX_ASSERTION_TTL_SECS: i64 = 24 * 3600;

fn not_configured() -> ServiceError {
    ServiceError::NotConfigured("single sign-on with SAML is not configured for this organisation".into())
}

/// `GET /v1/sso/{tenant}/methods` (extension): which sign-in protocols the tenant offers, so
/// a sign-in page can show its buttons. An unknown tenant answers like one without SSO.
pub async fn methods(ctx: &Context, slug: &str) -> Result<Vec<&'static str>, ServiceError> {
    let Some((tenant, _)) = login::tenant_of_slug(ctx, slug).await? else { return Ok(Vec::new()) };
    let (oidc, saml) = config::load_both(ctx, &tenant).await?;
    let mut out = Vec::new();
    if oidc.is_some() {
        out.push("oidc");
    }
    if saml.is_some() {
        out.push("saml");
    }
    Ok(out)
}

/// `GET /v1/sso/{tenant}/saml/metadata` → our SP metadata for the tenant.
pub async fn metadata(ctx: &Context, slug: &str) -> Result<String, ServiceError> {
    let (tenant, slug) = login::tenant_of_slug(ctx, slug).await?.ok_or_else(not_configured)?;
    config::load_saml(ctx, &tenant).await?.ok_or_else(not_configured)?;
    Ok(saml::sp_metadata(&sp_entity_id(ctx, &slug), &acs_url(ctx)))
}

/// `GET /v1/sso/{tenant}/saml/start?redirect_uri=` → the IdP's SSO URL with the request.
pub async fn start(
    ctx: &Context,
    slug: &str,
    redirect_uri: Option<&str>,
    app_challenge: Option<&str>,
) -> Result<String, ServiceError> {
    let (tenant, slug) = login::tenant_of_slug(ctx, slug).await?.ok_or_else(not_configured)?;
    let cfg = config::load_saml(ctx, &tenant).await?.ok_or_else(not_configured)?;
    let redirect_uri = login::check_start(&cfg.redirect_uris, redirect_uri, app_challenge)?;
    // An xs:ID must not start with a digit.
    let request_id = format!("_{}", hex::encode(*crate::domain::crypto::random_32()));
    let attrs = [("request_id", request_id.as_str()), ("slug", slug.as_str()), ("version", cfg.version.as_str())];
    let relay = login::begin_state(ctx, &tenant, STATE_KIND, redirect_uri, app_challenge, &attrs).await?;
    let destination = cfg.sso_url.split('?').next().unwrap_or_default();
    // Whole seconds: Core §1.3.3 warns against relying on finer instants.
    let now = ctx.ports.clock.now_secs();
    let now_secs = time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let xml = saml::authn_request(
        &request_id,
        &rfc3339(now_secs),
        destination,
        &acs_url(ctx),
        &sp_entity_id(ctx, &slug),
        cfg.email_attribute.is_none(),
    );
    Ok(saml::redirect_url(&cfg.sso_url, &xml, &relay))
}

/// The ACS form (Bindings §3.5).
#[derive(serde::Deserialize, Default)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// `POST /v1/sso/saml/acs` → where to send the browser: the client's redirect URI with a
/// `login_code` or an `error`. Without a RelayState this sign-in issued (unknown, expired,
/// used, or none: IdP-initiated) there is no redirect URI to trust: 400.
pub async fn acs(ctx: &Context, form: AcsForm) -> Result<String, ServiceError> {
    let bad_relay = || {
        ServiceError::InvalidRequest(
            "unknown, expired or already used RelayState (IdP-initiated sign-in is not accepted)".into(),
        )
    };
    let (tenant, record) = login::consume_state(ctx, form.relay_state.as_deref(), STATE_KIND, bad_relay).await?;
    let outcome = finish(ctx, &tenant, &record, form.saml_response.as_deref()).await;
    login::answer(&record, outcome)
}

async fn finish(ctx: &Context, tenant: &TenantId, record: &Item, response: Option<&str>) -> Result<String, Failure> {
    let fail = |subject: String, why: Failure| async move {
        login::audit_failure(ctx, tenant, "unknown", "saml", &subject, why).await;
        Err(why)
    };
    let cfg = match config::load_saml(ctx, tenant).await {
        Ok(Some(c)) if record.s("version") == Some(c.version.as_str()) => c,
        Ok(_) => return fail("unknown".into(), Failure::NotConfigured).await,
        Err(e) => {
            tracing::error!(error = %e, "could not load the SAML config");
            return Err(Failure::ServerError);
        }
    };
    let xml = response
        .filter(|r| r.len() <= MAX_RESPONSE_BYTES)
        .map(|r| r.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>())
        .and_then(|r| STANDARD.decode(r).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some(xml) = xml else { return fail("unknown".into(), Failure::InvalidToken).await };
    let slug = record.s("slug").unwrap_or_default();
    let (sp, acs, keys) = (sp_entity_id(ctx, slug), acs_url(ctx), cfg.keys());
    let now = ctx.ports.clock.now_secs();
    let expect = Expect {
        idp_entity_id: &cfg.idp_entity_id,
        sp_entity_id: &sp,
        acs_url: &acs,
        request_id: record.s("request_id").unwrap_or_default(),
        now,
        keys: &keys,
        email_attribute: cfg.email_attribute.as_deref(),
    };
    let verified = match saml::verify_response(&xml, &expect) {
        Ok(v) => v,
        Err(saml::Rejection::Status(status)) => {
            tracing::info!(status, "the IdP reported a failed SAML sign-in");
            return fail("unknown".into(), Failure::AccessDenied).await;
        }
        Err(why) => {
            tracing::info!(reason = %why, "SAML response refused");
            return fail("unknown".into(), Failure::InvalidToken).await;
        }
    };
    let keys = ctx.identity_keys.get(&*ctx.ports.secrets).await.map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "identity keys");
        Failure::ServerError
    })?;
    let subject = keys.sso_subject(tenant.as_str(), &cfg.idp_entity_id, &verified.name_id);

    // Each assertion counts once (Profiles §4.1.4.5), kept until it could no longer be used.
    let digest = hex::encode(Sha256::digest(format!("{}\n{}", cfg.idp_entity_id, verified.assertion_id)));
    let ttl = (verified.valid_until + SKEW_SECS - now).clamp(STATE_TTL_SECS, MAX_ASSERTION_TTL_SECS);
    let seen = Item::new(format!("{ASSERTION_KIND}#{digest}"), ASSERTION_KIND).with(EXPIRES_AT, now + ttl);
    match ctx.ports.store.put(&Table::tenant(tenant), seen, Cond::NotExists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            tracing::info!("SAML assertion replayed");
            return fail(subject, Failure::InvalidToken).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record the SAML assertion");
            return Err(Failure::ServerError);
        }
    }
    let jit_role = if cfg.jit.enabled { Role::parse(&cfg.jit.role).ok() } else { None };
    let who = Asserted {
        method: "saml",
        subject: &subject,
        email: &verified.email,
        display_name: verified.display_name.as_deref(),
        jit_role,
        app_challenge: record.s("app_challenge"),
    };
    login::issue_code(ctx, tenant, &who).await
}
