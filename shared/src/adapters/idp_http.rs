//! The identity-provider port over HTTPS (hyper + rustls with aws-lc-rs, the stack the push
//! client already uses, so SSO adds no second TLS or crypto library). Each call is bounded:
//! 5 s to connect, 10 s in all, at most [`MAX_RESPONSE_BYTES`] of body; redirects are not
//! followed (an IdP's endpoints come from its discovery document, and a redirect could point
//! anywhere). Host names must resolve to public addresses only (`PublicOnly`), checked at
//! connect time on the very addresses connected to; URLs naming an address are checked by
//! `url_allowed`. The client is built on first use, so functions that never call an IdP pay
//! nothing at init.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use secrecy::ExposeSecret;

use crate::ports::idp::{is_public_ip, url_allowed, IdpClient, IdpError, IdpRequest, IdpResponse, MAX_RESPONSE_BYTES};

type Https = hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>;

/// DNS resolution that drops every non-public address (`is_public_ip`) and fails when none is
/// left, so a name pointing into the deployment's network (or re-pointed there after a check)
/// is never connected to.
#[derive(Clone)]
struct PublicOnly(GaiResolver);

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.0.call(name);
        Box::pin(async move {
            let public: Vec<SocketAddr> = lookup.await?.filter(|a| is_public_ip(a.ip())).collect();
            if public.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves to no public address",
                ));
            }
            Ok(public.into_iter())
        })
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct HttpIdpClient {
    client: OnceLock<Client<Https, Full<Bytes>>>,
}

fn unreachable(e: impl std::fmt::Display) -> IdpError {
    IdpError::Unreachable(e.to_string())
}

/// An error with its causes ("client error (Connect): dns error: the host resolves to no
/// public address"); hyper's own message names only the outermost.
fn unreachable_chain(e: &(dyn std::error::Error + 'static)) -> IdpError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    IdpError::Unreachable(text)
}

/// `application/x-www-form-urlencoded` of `s`, as RFC 6749 §2.3.1 asks for the client id and
/// secret inside the Basic credentials.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl HttpIdpClient {
    fn client(&self) -> Result<&Client<Https, Full<Bytes>>, IdpError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut http = HttpConnector::new_with_resolver(PublicOnly(GaiResolver::new()));
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // The scheme is checked per request (url_allowed) before anything connects.
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(unreachable)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(self.client.get_or_init(|| Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)))
    }
}

#[async_trait]
impl IdpClient for HttpIdpClient {
    async fn send(&self, req: IdpRequest, allow_loopback_http: bool) -> Result<IdpResponse, IdpError> {
        let request = match req {
            IdpRequest::Get { url } => {
                url_allowed(&url, allow_loopback_http).map_err(IdpError::Refused)?;
                http::Request::get(url).header("accept", "application/json").body(Full::new(Bytes::new()))
            }
            IdpRequest::PostForm { url, client_id, client_secret, form } => {
                url_allowed(&url, allow_loopback_http).map_err(IdpError::Refused)?;
                let credentials = format!("{}:{}", form_encode(&client_id), form_encode(client_secret.expose_secret()));
                let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
                let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
                http::Request::post(url)
                    .header("accept", "application/json")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", format!("Basic {basic}"))
                    .body(Full::new(Bytes::from(body)))
            }
        }
        .map_err(|e| IdpError::Refused(e.to_string()))?;
        let client = self.client()?;
        let call = async {
            let resp = client.request(request).await.map_err(|e| unreachable_chain(&e))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES).collect().await.map_err(unreachable)?;
            Ok(IdpResponse { status, body: body.to_bytes().to_vec() })
        };
        tokio::time::timeout(TOTAL_TIMEOUT, call).await.map_err(|_| unreachable("no answer in time"))?
    }
}
