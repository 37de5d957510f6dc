//! Identity providers for the SSO tests, both on loopback: the real one (panva's
//! `oidc-provider`, pinned in tests/idp/oidc, installed on first use) for the happy path, and
//! a stand-in written here (axum) that serves discovery, JWKS and a token endpoint signing
//! whatever ID token a test asks for — the misbehaving IdP the attack tests need. Plus a
//! "browser" that follows the redirect chain: URLs under the test app's API_URL go to its
//! router, the rest over HTTP with a cookie jar.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;

use crate::helpers::{TestApp, API_URL};

pub const CALLBACK: &str = "/v1/sso/oidc/callback";

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The real IdP, running until dropped.
pub struct RealIdp {
    pub issuer: String,
    _child: tokio::process::Child,
    /// Kept open: node dies of EPIPE if its stdout closes.
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl RealIdp {
    /// Start one with a single account (`sub`, `email`, `email_verified`, `name`).
    pub async fn start(account: Value) -> RealIdp {
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/oidc");
        {
            let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
            if !dir.join("node_modules/oidc-provider").exists() {
                let ok = std::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(&dir)
                    .status();
                assert!(ok.is_ok_and(|s| s.success()), "npm ci in tests/idp/oidc failed");
            }
        }
        let config = json!({"callback": format!("{API_URL}{CALLBACK}"), "account": account});
        let mut child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("IDP_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        tokio::time::timeout(std::time::Duration::from_secs(30), read).await.expect("IdP start").unwrap();
        let issuer = serde_json::from_str::<Value>(&line).expect("IdP banner")["issuer"].as_str().unwrap().to_owned();
        RealIdp { issuer, _child: child, _stdout: reader }
    }
}

/// How the stand-in signs the ID tokens it issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// ES256 with the key its JWKS publishes.
    Good,
    /// `alg: none`, no signature.
    None,
    /// HS256 with the published public key as the HMAC secret (algorithm confusion).
    Hs256WithPublicKey,
    /// ES256 with a key the JWKS does not hold, under the published `kid`.
    ForeignKey,
}

/// What the stand-in's next ID tokens look like: claims to set (`null` removes one).
#[derive(Clone)]
pub struct Tweak {
    pub claims: Map<String, Value>,
    pub sign: Sign,
}

impl Default for Tweak {
    fn default() -> Self {
        Tweak { claims: Map::new(), sign: Sign::Good }
    }
}

/// One code the stand-in issued, with what its authorization request said.
#[derive(Clone)]
struct Grant {
    client_id: String,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct FakeState {
    issuer: String,
    tweak: Tweak,
    codes: HashMap<String, Grant>,
    /// Signing with the second key (`ec-2`), which the JWKS now publishes too.
    rotated: bool,
    /// Token requests seen: (Authorization header, form).
    token_requests: Vec<(String, HashMap<String, String>)>,
}

/// The stand-in IdP: a confidential client `bulwark` / `bulwark-secret`.
#[derive(Clone)]
pub struct FakeIdp {
    pub issuer: String,
    state: Arc<Mutex<FakeState>>,
}

pub const FAKE_CLIENT: &str = "bulwark";
pub const FAKE_SECRET: &str = "bulwark-secret:with/odd&chars";
/// The stand-in's signing key (P-256; a test key, used nowhere else) and its JWK coordinates.
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTlC91Mjw8z34ph6C
+1bJP93EhOag5jcfDyhhDbCBdyGhRANCAAQuq2aotLfIl/V/GDCSm6NNWHRcXkMw
tni/UJJoUva21iZ+oCS9rRHhhcI2eyn1zAlSBq8JPlOmeCsZl5iCiKhl
-----END PRIVATE KEY-----";
const EC_X: &str = "LqtmqLS3yJf1fxgwkpujTVh0XF5DMLZ4v1CSaFL2ttY";
const EC_Y: &str = "Jn6gJL2tEeGFwjZ7KfXMCVIGrwk-U6Z4KxmXmIKIqGU";
/// Another P-256 key the JWKS never publishes.
const FOREIGN_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLqGjT7ccVmS3uxb6
kdyQgO0DvmoiG+pdnMKHTznEH4GhRANCAAT1acNt3l3YILrK21hpWSkoRpQ8sUZJ
hoO+zwqbuiievu+A2mAZNM5i9H3s8+KgV1zfQGjKJxgySNM3xMTITSz4
-----END PRIVATE KEY-----";

fn jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig", "alg": "ES256", "x": EC_X, "y": EC_Y})
}

/// The second key, published (as `ec-2`) once the stand-in rotates.
fn rotated_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "kid": "ec-2", "use": "sig", "alg": "ES256",
        "x": "9WnDbd5d2CC6yttYaVkpKEaUPLFGSYaDvs8Km7oonr4", "y": "74DaYBk0zmL0fezz4qBXXN9AaMonGDJI0zfExMhNLPg"})
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState { issuer: issuer.clone(), ..Default::default() }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeIdp { issuer, state }
    }

    /// Shape the next ID tokens.
    pub fn tweak(&self, t: Tweak) {
        self.state.lock().unwrap().tweak = t;
    }

    /// What the browser would get at the authorization endpoint: a code for the request in
    /// `authorize_url` (issued to `client_id`, normally the one the URL names).
    pub fn authorize(&self, authorize_url: &str, client_id: Option<&str>) -> String {
        let q = query_of(authorize_url);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        let code = uuid::Uuid::new_v4().simple().to_string();
        let grant = Grant {
            client_id: client_id.unwrap_or(&q["client_id"]).to_owned(),
            nonce: q["nonce"].clone(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: q["redirect_uri"].clone(),
        };
        self.state.lock().unwrap().codes.insert(code.clone(), grant);
        code
    }

    /// Key rotation at the IdP: from now on tokens are signed with a new key under a new
    /// `kid`, which the JWKS publishes beside the old one.
    pub fn rotate(&self) {
        self.state.lock().unwrap().rotated = true;
    }

    pub fn token_requests(&self) -> Vec<(String, HashMap<String, String>)> {
        self.state.lock().unwrap().token_requests.clone()
    }
}

async fn jwks(State(s): State<Arc<Mutex<FakeState>>>) -> Json<Value> {
    match s.lock().unwrap().rotated {
        false => Json(json!({"keys": [jwk()]})),
        true => Json(json!({"keys": [jwk(), rotated_jwk()]})),
    }
}

async fn discovery(State(s): State<Arc<Mutex<FakeState>>>) -> Json<Value> {
    let issuer = s.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

fn oauth_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

/// The token endpoint: client_secret_basic (RFC 6749 §2.3.1 form-encoding), the code's
/// client, redirect URI and PKCE verifier are all checked, as a real IdP does.
async fn token(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut st = s.lock().unwrap();
    st.token_requests.push((auth.clone(), form.clone()));
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (id, secret) = decoded.split_once(':').unwrap_or_default();
    let dec = |v: &str| form_urlencoded::parse(format!("v={v}").as_bytes()).next().unwrap().1.into_owned();
    if dec(id) != FAKE_CLIENT || dec(secret) != FAKE_SECRET {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error("unsupported_grant_type");
    }
    let Some(grant) = form.get("code").and_then(|c| st.codes.remove(c)) else { return oauth_error("invalid_grant") };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if grant.client_id != FAKE_CLIENT
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
        || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
    {
        return oauth_error("invalid_grant");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": st.issuer, "aud": FAKE_CLIENT, "sub": "fake-subject-1", "email": "sso.user@acme.test",
        "email_verified": true, "name": "Sso User", "nonce": grant.nonce, "iat": now, "exp": now + 300,
    });
    for (k, v) in &st.tweak.claims {
        match v {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(k);
            }
            v => claims[k] = v.clone(),
        }
    }
    let id_token = match (st.rotated, st.tweak.sign) {
        (true, Sign::Good) => {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("ec-2".into());
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(FOREIGN_PRIVATE.as_bytes()).unwrap())
                .unwrap()
        }
        (_, how) => sign(&claims, how),
    };
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

fn sign(claims: &Value, how: Sign) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    match how {
        Sign::Good => {
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap()).unwrap()
        }
        Sign::ForeignKey => {
            let key = EncodingKey::from_ec_pem(FOREIGN_PRIVATE.as_bytes()).unwrap();
            jsonwebtoken::encode(&header, claims, &key).unwrap()
        }
        Sign::Hs256WithPublicKey => {
            header.alg = Algorithm::HS256;
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(jwk().to_string().as_bytes())).unwrap()
        }
        Sign::None => {
            let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.", part(json!({"alg": "none", "typ": "JWT", "kid": "ec-1"})), part(claims.clone()))
        }
    }
}

/// A browser: follows redirects, keeps cookies, and hands URLs under `API_URL` to the app.
pub struct Browser<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>,
}

/// Where a redirect chain ended.
#[derive(Debug)]
pub struct Landing {
    /// The URL the last redirect pointed to (outside both the app and the IdP).
    pub url: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Browser<'a> {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Browser { app, cookies: HashMap::new(), client }
    }

    /// GET `url` and follow redirects until one leaves both the app and `idp_base`.
    pub async fn follow(&mut self, url: &str, idp_base: &str) -> Landing {
        let mut url = url.to_owned();
        for _ in 0..20 {
            let (status, location) = if let Some(path) = url.strip_prefix(API_URL) {
                let req = http::Request::get(path).body(axum::body::Body::empty()).unwrap();
                let reply = self.app.send(req).await;
                (reply.status, reply.headers.get("location").map(|v| v.to_str().unwrap().to_owned()))
            } else if url.starts_with(idp_base) {
                self.idp_get(&url).await
            } else {
                return Landing { url };
            };
            match (status, location) {
                (301..=303 | 307, Some(loc)) => {
                    url = if loc.starts_with('/') { format!("{idp_base}{loc}") } else { loc };
                }
                (status, _) => panic!("{url} answered {status} without a redirect"),
            }
        }
        panic!("too many redirects");
    }

    async fn idp_get(&mut self, url: &str) -> (u16, Option<String>) {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let req = http::Request::get(url).header("cookie", cookie).body(Full::new(bytes::Bytes::new())).unwrap();
        let resp = self.client.request(req).await.expect("IdP request");
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.trim().to_owned(), v.to_owned());
            }
        }
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        if status >= 400 {
            panic!("IdP answered {status}: {}", String::from_utf8_lossy(&body));
        }
        (status, location)
    }
}
