//! Identity-provider HTTP port: the few outbound HTTPS calls single sign-on makes to a
//! tenant's IdP (OIDC discovery, JWKS, the token endpoint). Every URL here is chosen by a
//! tenant admin or by the IdP's discovery document, so the adapter treats it as untrusted:
//! bounded time, bounded size, no redirects followed, and only `https` (plain `http` only to a
//! loopback address, and only when the caller allows it for local testing).

use async_trait::async_trait;
use secrecy::SecretString;

/// Largest response body accepted from an IdP (discovery documents and key sets are a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// One request to an IdP.
pub enum IdpRequest {
    /// `GET url` accepting JSON.
    Get { url: String },
    /// `POST url` with a form body and HTTP Basic client authentication
    /// (`client_secret_basic`, RFC 6749 §2.3.1).
    PostForm { url: String, client_id: String, client_secret: SecretString, form: Vec<(&'static str, String)> },
}

/// What the IdP answered (any status; the caller decides what counts).
pub struct IdpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The URL is not one we may call (scheme, host, syntax).
    #[error("refused URL: {0}")]
    Refused(String),
    /// No answer in time, connection or TLS failure, or an oversized body.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait IdpClient: Send + Sync {
    /// Send `req`. `allow_loopback_http`: plain `http` to 127.0.0.0/8, ::1 or `localhost` is
    /// allowed (local runs and tests); otherwise only `https`.
    async fn send(&self, req: IdpRequest, allow_loopback_http: bool) -> Result<IdpResponse, IdpError>;
}

/// Whether `url` may be called: `https://host...`, or `http://` to a loopback host when
/// `allow_loopback_http`. Used by the adapter before connecting and by the services to
/// validate configuration and discovery documents early, with a clear message.
pub fn url_allowed(url: &str, allow_loopback_http: bool) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
    let host = uri.host().filter(|h| !h.is_empty()).ok_or("the URL has no host")?;
    if url.contains('#') || uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("the URL must not carry a fragment or user info".into());
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_loopback_http && is_loopback(host) => Ok(()),
        Some("http") => Err("the URL must use https (http only to a loopback address in local runs)".into()),
        _ => Err("the URL must use https".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::url_allowed;

    #[test]
    fn only_https_or_loopback_http_when_allowed() {
        assert!(url_allowed("https://idp.example.com/realms/a", false).is_ok());
        assert!(url_allowed("http://idp.example.com", true).is_err());
        assert!(url_allowed("http://127.0.0.1:8080/", true).is_ok());
        assert!(url_allowed("http://[::1]:8080/", true).is_ok());
        assert!(url_allowed("http://localhost:1/", true).is_ok());
        assert!(url_allowed("http://127.0.0.1:8080/", false).is_err());
        assert!(url_allowed("http://169.254.169.254/latest", true).is_err());
        assert!(url_allowed("ftp://idp.example.com", true).is_err());
        assert!(url_allowed("https://user@idp.example.com", true).is_err());
        assert!(url_allowed("https://idp.example.com/#x", true).is_err());
        assert!(url_allowed("idp.example.com", true).is_err());
        assert!(url_allowed("", true).is_err());
    }
}
