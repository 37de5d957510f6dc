//! Identity-provider HTTP port: the few outbound HTTPS calls single sign-on makes to a
//! tenant's IdP (OIDC discovery, JWKS, the token endpoint). Every URL here is chosen by a
//! tenant admin or by the IdP's discovery document, so the adapter treats it as untrusted:
//! bounded time, bounded size, no redirects followed, and only `https` (plain `http` only to a
//! loopback address, and only when the caller allows it for local testing). And only to public
//! addresses: a tenant admin must not be able to make Bulwark probe the network it runs in
//! (instance metadata, VPC services), whether the URL names the address or a DNS name that
//! resolves to it (the adapter checks the resolved addresses, so DNS rebinding gains nothing).

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
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
    match literal {
        Some(ip) if ip.is_loopback() && !allow_loopback_http => {
            return Err("the URL must not name a loopback address".into())
        }
        Some(ip) if !ip.is_loopback() && !is_public_ip(ip) => {
            return Err("the URL must not name a private, link-local or reserved address".into())
        }
        _ => {}
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_loopback_http && is_loopback(host) => Ok(()),
        Some("http") => Err("the URL must use https (http only to a loopback address in local runs)".into()),
        _ => Err("the URL must use https".into()),
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local (instance metadata lives there), shared (CGNAT), documentation,
/// benchmarking, multicast, broadcast, unspecified or reserved. IPv4-mapped IPv6 addresses are
/// judged as the IPv4 address they carry.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x0064 && v6.segments()[1] == 0xff9b))
        }
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
        // Addresses inside the deployment's network, named directly.
        for url in [
            "https://10.0.0.5/",
            "https://169.254.169.254/",
            "https://192.168.1.1/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://127.0.0.1/",
        ] {
            assert!(url_allowed(url, false).is_err(), "{url}");
        }
        assert!(url_allowed("https://127.0.0.1:8443/", true).is_ok());
        assert!(url_allowed("https://93.184.215.14/", false).is_ok());
    }

    #[test]
    fn public_addresses_are_told_from_internal_ones() {
        use super::is_public_ip;
        for ip in ["8.8.8.8", "2606:4700::1111", "93.184.215.14"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.100.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:192.168.1.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
