//! A tenant's SSO configuration (API.md "Single sign-on"): the OIDC relying party's settings,
//! the IdP metadata discovered from its issuer (endpoints and JWKS, cached in the same item
//! and refreshed after [`METADATA_TTL`] or when a token names an unknown key), and the client
//! secret sealed with the tenant's data key (never returned, never logged).

use anyhow::Context as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::domain::types::{present, Role, TenantId};
use crate::ports::clock::rfc3339;
use crate::ports::idp::{url_allowed, IdpError, IdpRequest};
use crate::ports::store::{AttrValue, Cond, Item, StoreError, Table, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::Principal;
use crate::services::sso::id_token;
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

pub const PK: &str = "SSO";
pub const OIDC_SK: &str = "OIDC";
pub const SAML_SK: &str = "SAML";
const MAX_CERTIFICATES: usize = 5;
/// Far above real IdP metadata (tens of KiB), and within the JSON body limit.
const MAX_METADATA_CHARS: usize = 128 * 1024;
/// How long discovered endpoints and keys are trusted before they are fetched again.
pub const METADATA_TTL_SECS: i64 = 3600;
/// A token naming an unknown key refreshes the JWKS, but not more often than this.
pub const JWKS_REFRESH_FLOOR_SECS: i64 = 60;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_SCOPES: usize = 20;

/// Just-in-time provisioning: an unknown email gets an account with `role` (never admin).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Jit {
    pub enabled: bool,
    #[serde(default = "member")]
    pub role: String,
}

fn member() -> String {
    "member".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcBody {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default, deserialize_with = "present")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email_claim: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    pub jit: Option<Jit>,
}

/// The configuration as `GET /v1/admin/sso` shows it (no secret).
#[derive(Serialize)]
pub struct OidcView {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_set: bool,
    pub scopes: Vec<String>,
    pub email_claim: String,
    pub redirect_uris: Vec<String>,
    pub jit: Jit,
    pub updated_at: Option<String>,
}

#[derive(Serialize)]
pub struct SsoView {
    pub oidc: Option<OidcView>,
    pub saml: Option<SamlView>,
}

/// A stored OIDC configuration, with its discovered metadata.
pub struct Oidc {
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub email_claim: String,
    pub redirect_uris: Vec<String>,
    pub jit: Jit,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub jwks: Value,
    pub fetched_at: i64,
    /// Changes with every `PUT`, so a refresh never overwrites a newer configuration.
    pub version: String,
    item: Item,
}

fn strings(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttrValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

fn list(values: &[String]) -> AttrValue {
    AttrValue::L(values.iter().map(|v| AttrValue::S(v.clone())).collect())
}

impl Oidc {
    fn from_item(item: Item) -> anyhow::Result<Oidc> {
        let s = |n: &str| item.s(n).map(str::to_owned).with_context(|| format!("OIDC config without {n}"));
        Ok(Oidc {
            issuer: s("issuer")?,
            client_id: s("client_id")?,
            scopes: strings(&item, "scopes"),
            email_claim: s("email_claim")?,
            redirect_uris: strings(&item, "redirect_uris"),
            jit: Jit { enabled: item.bool("jit_enabled").unwrap_or(false), role: s("jit_role")? },
            authorization_endpoint: s("authorization_endpoint")?,
            token_endpoint: s("token_endpoint")?,
            jwks_uri: s("jwks_uri")?,
            jwks: serde_json::from_str(item.s("jwks").unwrap_or("{}")).context("stored JWKS")?,
            fetched_at: item.n("fetched_at").unwrap_or(0),
            version: s("version")?,
            item,
        })
    }

    pub fn view(&self) -> OidcView {
        OidcView {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret_set: self.item.b("client_secret_enc").is_some(),
            scopes: self.scopes.clone(),
            email_claim: self.email_claim.clone(),
            redirect_uris: self.redirect_uris.clone(),
            jit: self.jit.clone(),
            updated_at: self.item.s("updated_at").map(str::to_owned),
        }
    }

    /// The client secret, opened.
    pub async fn client_secret(&self, ctx: &Context, tenant: &TenantId) -> anyhow::Result<SecretString> {
        let sealed = self.item.b("client_secret_enc").context("OIDC config without a client secret")?;
        let field = Field { pk: PK, sk: OIDC_SK, name: "client_secret" };
        let plain = ctx.tenant_keys.open_field(&ctx.ports, tenant, &field, sealed).await?;
        Ok(SecretString::from(String::from_utf8(plain.to_vec()).context("client secret is not UTF-8")?))
    }
}

/// The tenant's OIDC configuration, if any.
pub async fn load_oidc(ctx: &Context, tenant: &TenantId) -> Result<Option<Oidc>, ServiceError> {
    let item = ctx.ports.store.get(&Table::tenant(tenant), PK, OIDC_SK).await.context("load the OIDC config")?;
    Ok(item.map(Oidc::from_item).transpose()?)
}

/// Both configurations in one read.
pub async fn load_both(ctx: &Context, tenant: &TenantId) -> Result<(Option<Oidc>, Option<Saml>), ServiceError> {
    let keys = [(PK, OIDC_SK), (PK, SAML_SK)];
    let mut found = ctx.ports.store.get_many(&Table::tenant(tenant), &keys).await.context("load the SSO configs")?;
    let saml = found.pop().flatten().as_ref().map(Saml::from_item).transpose()?;
    let oidc = found.pop().flatten().map(Oidc::from_item).transpose()?;
    Ok((oidc, saml))
}

/// `GET /v1/admin/sso`.
pub async fn get(ctx: &Context, p: &Principal) -> Result<SsoView, ServiceError> {
    let (oidc, saml) = load_both(ctx, &p.tenant).await?;
    Ok(SsoView { oidc: oidc.map(|o| o.view()), saml: saml.map(|s| s.view(ctx, &p.tenant_slug)) })
}

/// `DELETE /v1/admin/sso/oidc` → 204, configured or not.
pub async fn delete_oidc(ctx: &Context, p: &Principal) -> Result<(), ServiceError> {
    let table = Table::tenant(&p.tenant);
    ctx.ports.store.delete(&table, PK, OIDC_SK, Cond::Always).await.context("delete the OIDC config")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "sso.oidc.delete", "oidc", "success").await?;
    Ok(())
}

/// `DELETE /v1/admin/sso/saml` → 204, configured or not.
pub async fn delete_saml(ctx: &Context, p: &Principal) -> Result<(), ServiceError> {
    let table = Table::tenant(&p.tenant);
    ctx.ports.store.delete(&table, PK, SAML_SK, Cond::Always).await.context("delete the SAML config")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "sso.saml.delete", "saml", "success").await?;
    Ok(())
}

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::ValidationFailed(m.into())
}

/// Whether `uri` may receive login codes: `https`, `http` to loopback only when loopback is
/// allowed, or an app's own scheme (`com.example.app:/cb`); never a fragment, never a scheme
/// a browser would run (`javascript:`, `data:`...).
pub fn redirect_uri_allowed(uri: &str, allow_loopback_http: bool) -> Result<(), String> {
    if uri.len() > 2048 || uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("redirect_uris must be URLs without fragments, at most 2048 characters".into());
    }
    let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    match scheme.as_str() {
        "https" | "http" => url_allowed(uri, allow_loopback_http),
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" => {
            Err(format!("redirect_uris must not use the {scheme}: scheme"))
        }
        _ if scheme_ok && uri.len() > scheme.len() + 1 => Ok(()),
        _ => Err("redirect_uris must be absolute URLs".into()),
    }
}

/// The discovered endpoints of an issuer.
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    jwks: Value,
}

async fn fetch_json(ctx: &Context, url: &str) -> Result<Value, String> {
    let allow = ctx.settings.sso.allow_loopback_http;
    let resp = ctx.ports.idp.send(IdpRequest::Get { url: url.to_owned() }, allow).await.map_err(|e| match e {
        IdpError::Refused(m) => m,
        IdpError::Unreachable(m) => format!("unreachable: {m}"),
    })?;
    if resp.status != 200 {
        return Err(format!("answered HTTP {}", resp.status));
    }
    serde_json::from_slice(&resp.body).map_err(|_| "did not answer JSON".to_owned())
}

/// Discovery (OpenID Connect Discovery 1.0 §4) and the JWKS, validated: the document's
/// `issuer` must be exactly the configured one (§4.3), its endpoints must be callable URLs,
/// PKCE S256 and `client_secret_basic` must be supported when the document lists what it
/// supports, and the JWKS must hold at least one usable signing key.
async fn discover(ctx: &Context, issuer: &str) -> Result<Metadata, String> {
    let allow = ctx.settings.sso.allow_loopback_http;
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let doc = fetch_json(ctx, &url).await.map_err(|e| format!("the issuer's discovery document: {e}"))?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("the discovery document names another issuer".into());
    }
    let endpoint = |name: &str| -> Result<String, String> {
        let v = doc.get(name).and_then(Value::as_str).ok_or(format!("the discovery document has no {name}"))?;
        url_allowed(v, allow).map_err(|e| format!("the discovery document's {name}: {e}"))?;
        Ok(v.to_owned())
    };
    let lists = |name: &str, want: &str| match doc.get(name).and_then(Value::as_array) {
        None => true,
        Some(a) => a.iter().any(|v| v.as_str() == Some(want)),
    };
    if !lists("code_challenge_methods_supported", "S256") {
        return Err("the IdP does not support PKCE with S256".into());
    }
    if !lists("token_endpoint_auth_methods_supported", "client_secret_basic") {
        return Err("the IdP does not support client_secret_basic".into());
    }
    if !lists("response_types_supported", "code") {
        return Err("the IdP does not support the authorization code flow".into());
    }
    let (authorization_endpoint, token_endpoint, jwks_uri) =
        (endpoint("authorization_endpoint")?, endpoint("token_endpoint")?, endpoint("jwks_uri")?);
    let jwks = fetch_json(ctx, &jwks_uri).await.map_err(|e| format!("the issuer's JWKS: {e}"))?;
    if id_token::signing_keys(&jwks).is_empty() {
        return Err("the issuer's JWKS has no usable signing key".into());
    }
    Ok(Metadata { authorization_endpoint, token_endpoint, jwks_uri, jwks })
}

/// `PUT /v1/admin/sso/oidc` → 200 the configuration (with `client_secret_set`).
pub async fn put_oidc(ctx: &Context, p: &Principal, body: OidcBody) -> Result<OidcView, ServiceError> {
    let allow = ctx.settings.sso.allow_loopback_http;
    let issuer = body.issuer.trim().to_owned();
    url_allowed(&issuer, allow).map_err(|e| invalid(format!("issuer: {e}")))?;
    if issuer.len() > 512 || issuer.contains('?') {
        return Err(invalid("issuer must be a URL without a query, at most 512 characters"));
    }
    let client_id = body.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(|c| c.is_control()) {
        return Err(invalid("client_id must be 1..=255 printable characters"));
    }
    if body.client_secret.is_empty() || body.client_secret.len() > 1024 {
        return Err(invalid("client_secret must be 1..=1024 characters"));
    }
    let scopes = body.scopes.unwrap_or_else(|| vec!["openid".into(), "email".into()]);
    // RFC 6749 §3.3 scope-token characters.
    let scope_ok = |s: &String| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b > 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    };
    if scopes.len() > MAX_SCOPES || !scopes.iter().all(scope_ok) || !scopes.iter().any(|s| s == "openid") {
        return Err(invalid("scopes must include \"openid\" and be at most 20 scope tokens"));
    }
    let email_claim = body.email_claim.unwrap_or_else(|| "email".into());
    if email_claim.is_empty()
        || email_claim.len() > 64
        || !email_claim.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    {
        return Err(invalid("email_claim must be a claim name"));
    }
    redirect_uris_of(&body.redirect_uris, allow)?;
    let jit = jit_of(body.jit)?;
    let meta = discover(ctx, &issuer).await.map_err(invalid)?;
    let now = ctx.ports.clock.now_secs();
    let field = Field { pk: PK, sk: OIDC_SK, name: "client_secret" };
    let sealed = ctx
        .tenant_keys
        .seal_field(&ctx.ports, &p.tenant, &field, body.client_secret.as_bytes())
        .await
        .context("seal the OIDC client secret")?;
    let item = Item::new(PK, OIDC_SK)
        .with("issuer", issuer)
        .with("client_id", client_id)
        .with("client_secret_enc", sealed)
        .with("scopes", list(&scopes))
        .with("email_claim", email_claim)
        .with("redirect_uris", list(&body.redirect_uris))
        .with("jit_enabled", jit.enabled)
        .with("jit_role", jit.role)
        .with("authorization_endpoint", meta.authorization_endpoint)
        .with("token_endpoint", meta.token_endpoint)
        .with("jwks_uri", meta.jwks_uri)
        .with("jwks", meta.jwks.to_string())
        .with("fetched_at", now)
        .with("version", uuid::Uuid::new_v4().simple().to_string())
        .with("updated_at", rfc3339(ctx.ports.clock.now()))
        .with("updated_by", p.user_id.as_str());
    ctx.ports
        .store
        .put(&Table::tenant(&p.tenant), item.clone(), Cond::Always)
        .await
        .context("store the OIDC config")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "sso.oidc.set", "oidc", "success").await?;
    Ok(Oidc::from_item(item)?.view())
}

/// Fetch the issuer's metadata and keys again and store them (unless the configuration was
/// replaced meanwhile). Failure leaves the stored copy as it was.
pub async fn refresh(ctx: &Context, tenant: &TenantId, oidc: &mut Oidc) -> Result<(), String> {
    let meta = discover(ctx, &oidc.issuer).await?;
    let now = ctx.ports.clock.now_secs();
    let update = Update::default()
        .set("authorization_endpoint", meta.authorization_endpoint.as_str())
        .set("token_endpoint", meta.token_endpoint.as_str())
        .set("jwks_uri", meta.jwks_uri.as_str())
        .set("jwks", meta.jwks.to_string())
        .set("fetched_at", now);
    let table = Table::tenant(tenant);
    match ctx.ports.store.update(&table, PK, OIDC_SK, update, Cond::eq("version", oidc.version.as_str())).await {
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(e) => tracing::warn!(error = %e, "could not store the refreshed IdP metadata"),
    }
    oidc.authorization_endpoint = meta.authorization_endpoint;
    oidc.token_endpoint = meta.token_endpoint;
    oidc.jwks_uri = meta.jwks_uri;
    oidc.jwks = meta.jwks;
    oidc.fetched_at = now;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlBody {
    #[serde(default, deserialize_with = "present")]
    pub idp_metadata_xml: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub idp_entity_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub sso_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub signing_certificates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email_attribute: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    pub jit: Option<Jit>,
}

/// A signing certificate as the admin sees it: enough to recognise it, nothing to copy.
#[derive(Serialize)]
pub struct CertificateView {
    pub sha256_fingerprint: String,
}

/// The SAML configuration as `GET /v1/admin/sso` shows it, with what the IdP's admin needs
/// from us (our entity ID, which is also the metadata URL, and the ACS URL).
#[derive(Serialize)]
pub struct SamlView {
    pub idp_entity_id: String,
    pub sso_url: String,
    pub signing_certificates: Vec<CertificateView>,
    pub email_attribute: Option<String>,
    pub redirect_uris: Vec<String>,
    pub jit: Jit,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub updated_at: Option<String>,
}

/// A stored SAML configuration.
pub struct Saml {
    pub idp_entity_id: String,
    pub sso_url: String,
    /// DER.
    pub certificates: Vec<Vec<u8>>,
    pub email_attribute: Option<String>,
    pub redirect_uris: Vec<String>,
    pub jit: Jit,
    pub version: String,
    updated_at: Option<String>,
}

impl Saml {
    fn from_item(item: &Item) -> anyhow::Result<Saml> {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let s = |n: &str| item.s(n).map(str::to_owned).with_context(|| format!("SAML config without {n}"));
        let certificates = strings(item, "certificates")
            .iter()
            .map(|c| STANDARD.decode(c).context("stored certificate"))
            .collect::<anyhow::Result<_>>()?;
        Ok(Saml {
            idp_entity_id: s("idp_entity_id")?,
            sso_url: s("sso_url")?,
            certificates,
            email_attribute: item.s("email_attribute").map(str::to_owned),
            redirect_uris: strings(item, "redirect_uris"),
            jit: Jit { enabled: item.bool("jit_enabled").unwrap_or(false), role: s("jit_role")? },
            version: s("version")?,
            updated_at: item.s("updated_at").map(str::to_owned),
        })
    }

    /// The keys responses must be signed with.
    pub fn keys(&self) -> Vec<crate::domain::xmldsig::TrustedKey> {
        self.certificates
            .iter()
            .filter_map(|c| crate::domain::xmldsig::TrustedKey::from_certificate_der(c).ok())
            .collect()
    }

    pub fn view(&self, ctx: &Context, slug: &str) -> SamlView {
        SamlView {
            idp_entity_id: self.idp_entity_id.clone(),
            sso_url: self.sso_url.clone(),
            signing_certificates: self
                .certificates
                .iter()
                .map(|c| CertificateView { sha256_fingerprint: hex::encode(sha2::Sha256::digest(c)) })
                .collect(),
            email_attribute: self.email_attribute.clone(),
            redirect_uris: self.redirect_uris.clone(),
            jit: self.jit.clone(),
            sp_entity_id: sp_entity_id(ctx, slug),
            acs_url: acs_url(ctx),
            updated_at: self.updated_at.clone(),
        }
    }
}

pub const ACS_PATH: &str = "/v1/sso/saml/acs";

/// Our SAML entity ID for a tenant: its metadata URL (Metadata §4.1, well-known location).
pub fn sp_entity_id(ctx: &Context, slug: &str) -> String {
    format!("{}/v1/sso/{slug}/saml/metadata", ctx.settings.sso.api_url)
}

/// The assertion consumer service: one URL for every tenant (the RelayState names the tenant).
pub fn acs_url(ctx: &Context) -> String {
    format!("{}{ACS_PATH}", ctx.settings.sso.api_url)
}

/// The tenant's SAML configuration, if any.
pub async fn load_saml(ctx: &Context, tenant: &TenantId) -> Result<Option<Saml>, ServiceError> {
    let item = ctx.ports.store.get(&Table::tenant(tenant), PK, SAML_SK).await.context("load the SAML config")?;
    Ok(item.as_ref().map(Saml::from_item).transpose()?)
}

/// A certificate given as PEM (or bare base64), as DER.
fn certificate_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| "signing_certificates must be PEM certificates".to_owned())
}

fn jit_of(jit: Option<Jit>) -> Result<Jit, ServiceError> {
    let jit = jit.unwrap_or(Jit { enabled: false, role: member() });
    match Role::parse(&jit.role) {
        Ok(Role::Admin) => Err(invalid("jit.role must not be admin")),
        Ok(_) => Ok(jit),
        Err(_) => Err(invalid("jit.role must be member, auditor or organizer")),
    }
}

fn redirect_uris_of(uris: &[String], allow: bool) -> Result<(), ServiceError> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid("redirect_uris must hold 1..=10 URLs"));
    }
    uris.iter().try_for_each(|u| redirect_uri_allowed(u, allow).map_err(invalid))
}

/// `PUT /v1/admin/sso/saml` → 200 the configuration. Either the IdP's metadata XML or its
/// entity ID, SSO URL and signing certificates (several, for rollover).
pub async fn put_saml(ctx: &Context, p: &Principal, body: SamlBody) -> Result<SamlView, ServiceError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let allow = ctx.settings.sso.allow_loopback_http;
    let (entity_id, sso_url, certificates) = match body {
        SamlBody {
            idp_metadata_xml: Some(xml),
            idp_entity_id: None,
            sso_url: None,
            signing_certificates: None,
            ..
        } => {
            if xml.chars().count() > MAX_METADATA_CHARS {
                return Err(invalid("idp_metadata_xml is longer than 131072 characters"));
            }
            let md = crate::domain::saml::parse_idp_metadata(&xml).map_err(invalid)?;
            (md.entity_id, md.sso_url, md.certificates)
        }
        SamlBody {
            idp_metadata_xml: None,
            idp_entity_id: Some(e),
            sso_url: Some(u),
            signing_certificates: Some(certs),
            ..
        } => {
            let ders = certs.iter().map(|c| certificate_der(c)).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
            (e.trim().to_owned(), u.trim().to_owned(), ders)
        }
        _ => return Err(invalid("give either idp_metadata_xml, or idp_entity_id, sso_url and signing_certificates")),
    };
    if entity_id.is_empty() || entity_id.len() > 1024 || entity_id.chars().any(|c| c.is_control()) {
        return Err(invalid("idp_entity_id must be 1..=1024 printable characters"));
    }
    if sso_url.len() > 2048 {
        return Err(invalid("sso_url must be at most 2048 characters"));
    }
    url_allowed(&sso_url, allow).map_err(|e| invalid(format!("sso_url: {e}")))?;
    if certificates.is_empty() || certificates.len() > MAX_CERTIFICATES {
        return Err(invalid("signing_certificates must hold 1..=5 certificates"));
    }
    for (i, der) in certificates.iter().enumerate() {
        crate::domain::xmldsig::TrustedKey::from_certificate_der(der)
            .map_err(|e| invalid(format!("signing_certificates[{i}]: {e}")))?;
    }
    let email_attribute = body.email_attribute.map(|a| a.trim().to_owned());
    if email_attribute.as_ref().is_some_and(|a| a.is_empty() || a.len() > 256 || a.chars().any(|c| c.is_control())) {
        return Err(invalid("email_attribute must be an attribute name"));
    }
    redirect_uris_of(&body.redirect_uris, allow)?;
    let jit = jit_of(body.jit)?;
    let certs: Vec<String> = certificates.iter().map(|c| STANDARD.encode(c)).collect();
    let mut item = Item::new(PK, SAML_SK)
        .with("idp_entity_id", entity_id)
        .with("sso_url", sso_url)
        .with("certificates", list(&certs))
        .with("redirect_uris", list(&body.redirect_uris))
        .with("jit_enabled", jit.enabled)
        .with("jit_role", jit.role)
        .with("version", uuid::Uuid::new_v4().simple().to_string())
        .with("updated_at", rfc3339(ctx.ports.clock.now()))
        .with("updated_by", p.user_id.as_str());
    if let Some(a) = email_attribute {
        item = item.with("email_attribute", a);
    }
    ctx.ports
        .store
        .put(&Table::tenant(&p.tenant), item.clone(), Cond::Always)
        .await
        .context("store the SAML config")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "sso.saml.set", "saml", "success").await?;
    Ok(Saml::from_item(&item)?.view(ctx, &p.tenant_slug))
}
