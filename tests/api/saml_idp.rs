//! Two real SAML 2.0 identity providers for the SSO tests, both started on loopback per test
//! (installed by scripts/setup, pinned): npm `samlify` (tests/idp/saml/samlify) and PyPI
//! `pysaml2` signing with Debian's `xmlsec1` (tests/idp/saml/pysaml2), the latter also
//! producing the hostile variants (`variant=` in its SSO URL's query: unsigned, another key,
//! wrapped, expired...). And the browser's part of the Web Browser SSO profile: follow the
//! start redirect to the IdP, read its auto-submit form, post it to the ACS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::helpers::{Reply, TestApp, API_URL};

pub const ACS: &str = "/v1/sso/saml/acs";

#[derive(Clone, Copy, Debug)]
pub enum Implementation {
    Samlify,
    Pysaml2,
}

/// A running IdP, stopped when dropped.
pub struct SamlIdp {
    pub entity_id: String,
    pub sso_url: String,
    pub metadata_url: String,
    pub certificate: String,
    /// pysaml2 only: the certificate of the key `variant=key=other` signs with.
    pub other_certificate: Option<String>,
    _child: tokio::process::Child,
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

impl SamlIdp {
    /// Start one whose signed-in user is `email` unless the SSO URL's query says otherwise.
    pub async fn start(which: Implementation, email: &str) -> SamlIdp {
        let root = repo();
        let config = json!({"acs_url": format!("{API_URL}{ACS}"), "sp_entity_prefix": API_URL, "email": email});
        let mut cmd = match which {
            Implementation::Samlify => {
                let dir = root.join("tests/idp/saml/samlify");
                assert!(
                    dir.join("node_modules").exists(),
                    "tests/idp/saml/samlify/node_modules is missing: run scripts/setup"
                );
                let mut c = tokio::process::Command::new("node");
                c.arg("server.mjs").current_dir(dir);
                c
            }
            Implementation::Pysaml2 => {
                let python = root.join(".venv-saml/bin/python");
                assert!(python.exists(), ".venv-saml is missing: run scripts/setup");
                let mut c = tokio::process::Command::new(python);
                c.arg("idp.py").current_dir(root.join("tests/idp/saml/pysaml2"));
                c
            }
        };
        let mut child = cmd
            .env("IDP_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SAML IdP");
        let mut reader = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        tokio::time::timeout(std::time::Duration::from_secs(60), read).await.expect("IdP start").unwrap();
        let banner: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("IdP banner: {line}"));
        let s = |k: &str| banner[k].as_str().map(str::to_owned);
        SamlIdp {
            entity_id: s("entity_id").unwrap(),
            sso_url: s("sso_url").unwrap(),
            metadata_url: s("metadata_url").unwrap(),
            certificate: s("certificate").unwrap(),
            other_certificate: s("other_certificate"),
            _child: child,
            _stdout: reader,
        }
    }

    /// The SSO URL asking for `variant` (pysaml2) as `email`, plus any `extra` pairs.
    pub fn sso_url_with(&self, email: &str, variant: &str, extra: &[(&str, &str)]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("email", email);
        if !variant.is_empty() {
            q.append_pair("variant", variant);
        }
        q.extend_pairs(extra);
        format!("{}?{}", self.sso_url, q.finish())
    }

    pub async fn metadata(&self) -> String {
        let (status, body) = http_get(&self.metadata_url).await;
        assert_eq!(status, 200, "IdP metadata");
        body
    }
}

/// GET over real HTTP (the IdPs are separate processes).
pub async fn http_get(url: &str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let req = http::Request::get(url).body(Full::new(bytes::Bytes::new())).unwrap();
    let resp = client.request(req).await.expect("IdP request");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// What the IdP's auto-submit form would post to the ACS.
#[derive(Clone, Debug)]
pub struct Posted {
    pub saml_response: String,
    pub relay_state: String,
}

fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in the IdP's page: {html}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&#x2B;", "+").replace("&#43;", "+").replace("&#x3D;", "=").replace("&amp;", "&")
}

/// Start a sign-in at the app (`start_path` under the API) and let the IdP answer.
pub async fn through_idp(app: &TestApp, start_path: &str) -> Posted {
    let r = app.call("GET", start_path, None, None).await;
    assert_eq!(r.status, 302, "start: {}", r.json);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    let (status, html) = http_get(&location).await;
    assert_eq!(status, 200, "IdP SSO: {html}");
    Posted { saml_response: form_field(&html, "SAMLResponse"), relay_state: form_field(&html, "RelayState") }
}

/// POST a form to the ACS.
pub async fn post_acs(app: &TestApp, fields: &[(&str, &str)]) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let req = http::Request::post(ACS)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .unwrap();
    app.send(req).await
}

pub async fn post(app: &TestApp, p: &Posted) -> Reply {
    post_acs(app, &[("SAMLResponse", &p.saml_response), ("RelayState", &p.relay_state)]).await
}

/// The query of the ACS's redirect.
pub fn landing(r: &Reply) -> HashMap<String, String> {
    assert_eq!(r.status, 302, "ACS: {}", r.json);
    crate::sso_idp::query_of(r.headers["location"].to_str().unwrap())
}
