//! Application state shared by every handler: the ports, the tenant key cache and the few
//! settings handlers need. Built once per process (server start or Lambda init).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::types::TenantId;
use crate::ports::secrets::SecretName;
use crate::runtime::backend::Ports;
use crate::services::identity::keys::IdentityKeys;
use crate::services::tenancy::keys::TenantKeys;

/// Where the platform operator's bearer token is checked against.
pub enum OperatorAuth {
    /// SHA-256 of the token (local runs: `BULWARK_OPERATOR_TOKEN` or the data dir's file).
    Digest([u8; 32]),
    /// A secret of the secret store (AWS: Secrets Manager), read on use and cached there.
    Secret(SecretName),
}

impl OperatorAuth {
    pub fn from_token(token: &SecretString) -> Self {
        OperatorAuth::Digest(Sha256::digest(token.expose_secret().trim().as_bytes()).into())
    }
}

pub struct Settings {
    /// Base URL of the client app for links in emails.
    pub app_url: String,
    pub operator: OperatorAuth,
    /// Requests a minute one client IP may make to the anonymous routes.
    pub anon_rate_per_ip: u32,
    /// Account emails (reset, recovery) one account may be sent in an hour.
    pub mail_rate_per_account: u32,
}

impl Settings {
    /// The settings of a process: the abuse limits from the environment (API.md defaults).
    pub fn new(app_url: String, operator: OperatorAuth) -> Self {
        Settings {
            app_url,
            operator,
            anon_rate_per_ip: crate::runtime::settings::anon_rate_per_ip(),
            mail_rate_per_account: crate::runtime::settings::mail_rate_per_account(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub ports: Ports,
    pub settings: Arc<Settings>,
    pub tenant_keys: Arc<TenantKeys>,
    pub identity_keys: Arc<IdentityKeys>,
    pub verified_tokens: Arc<crate::services::identity::sessions::VerifiedTokens>,
    /// slug → tenant id of active tenants (immutable once active).
    pub slugs: Arc<Mutex<HashMap<String, TenantId>>>,
    /// tenant → (read at, policy); see `policy::load`.
    pub policies: Arc<Mutex<HashMap<String, (std::time::Instant, crate::services::tenancy::policy::Policy)>>>,
    /// Per-client-IP budgets of the anonymous routes, shared by every route of the process.
    pub anon_limiter: Arc<crate::http::ratelimit::RateLimiter>,
}

impl AppState {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        let limiter = Arc::new(crate::http::ratelimit::RateLimiter::per_minute(settings.anon_rate_per_ip));
        Self::with_settings(ports, Arc::new(settings), limiter)
    }

    fn with_settings(
        ports: Ports,
        settings: Arc<Settings>,
        anon_limiter: Arc<crate::http::ratelimit::RateLimiter>,
    ) -> Self {
        AppState {
            anon_limiter,
            ports,
            settings,
            tenant_keys: Arc::new(TenantKeys::default()),
            identity_keys: Arc::new(IdentityKeys::default()),
            verified_tokens: Arc::default(),
            slugs: Arc::new(Mutex::new(HashMap::new())),
            policies: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The state one route (one Lambda function) runs with: only the ports in `grant`, and
    /// caches of its own, as its function's process would have; so the local server and the
    /// tests see every port a route needs, even one a cache filled by another route hides.
    pub fn for_function(&self, grant: &[crate::ports::Port]) -> Self {
        Self::with_settings(self.ports.restricted(grant), Arc::clone(&self.settings), Arc::clone(&self.anon_limiter))
    }

    /// Constant-time check of a presented operator token.
    pub async fn is_operator(&self, presented: &str) -> anyhow::Result<bool> {
        let want: [u8; 32] = match &self.settings.operator {
            OperatorAuth::Digest(d) => *d,
            OperatorAuth::Secret(name) => {
                let s = self.ports.secrets.get(name).await?;
                let text = std::str::from_utf8(s.expose_secret())
                    .map_err(|_| anyhow::anyhow!("operator token secret is not UTF-8"))?;
                Sha256::digest(text.trim().as_bytes()).into()
            }
        };
        let got: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        Ok(bool::from(got.ct_eq(&want)))
    }
}
