//! What every use case runs with: the ports, the settings that shape the rules, and the
//! process's caches. Built once per process by the runtime (server start, Lambda init, test
//! harness); a route's copy holds only the ports its function is granted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::policy::Policy;
use crate::domain::types::TenantId;
use crate::ports::secrets::SecretName;
use crate::ports::{Port, Ports};
use crate::services::identity::keys::IdentityKeys;
use crate::services::identity::tokens::VerifiedTokens;
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

/// Single sign-on settings.
#[derive(Clone, Debug)]
pub struct SsoSettings {
    /// The public base URL of this API (`BULWARK_API_URL`): IdPs send users back to
    /// `<api_url>/v1/sso/oidc/callback`, which is registered at the IdP.
    pub api_url: String,
    /// Plain `http` to loopback IdPs (local runs and tests). Never in a Lambda function, where
    /// loopback is the Lambda runtime API.
    pub allow_loopback_http: bool,
}

/// The settings the rules depend on.
pub struct ServiceSettings {
    /// Base URL of the client app for links in emails.
    pub app_url: String,
    pub operator: OperatorAuth,
    /// Account emails (reset, recovery) one account may be sent in an hour.
    pub mail_rate_per_account: u32,
    pub sso: SsoSettings,
}

#[derive(Clone)]
pub struct Context {
    pub ports: Ports,
    pub settings: Arc<ServiceSettings>,
    pub tenant_keys: Arc<TenantKeys>,
    pub identity_keys: Arc<IdentityKeys>,
    pub verified_tokens: Arc<VerifiedTokens>,
    /// slug → tenant id of active tenants (immutable once active).
    pub slugs: Arc<Mutex<HashMap<String, TenantId>>>,
    /// tenant → (read at, policy); see `policy::load`.
    pub policies: Arc<Mutex<HashMap<String, (std::time::Instant, Policy)>>>,
    /// tenant → (read at, epoch seconds; disabled); see `tenancy::status`.
    pub tenant_status: Arc<Mutex<HashMap<String, (i64, TenantStatus)>>>,
}

impl Context {
    pub fn new(ports: Ports, settings: ServiceSettings) -> Self {
        Self::with_settings(ports, Arc::new(settings))
    }

    fn with_settings(ports: Ports, settings: Arc<ServiceSettings>) -> Self {
        Context {
            ports,
            settings,
            tenant_keys: Arc::default(),
            identity_keys: Arc::default(),
            verified_tokens: Arc::default(),
            slugs: Arc::default(),
            policies: Arc::default(),
            tenant_status: Arc::default(),
        }
    }

    /// The context one route (one Lambda function) runs with: only the ports in `grant`, and
    /// caches of its own, as its function's process would have; so the local server and the
    /// tests see every port a route needs, even one a cache filled by another route hides.
    pub fn for_function(&self, grant: &[Port]) -> Self {
        Self::with_settings(self.ports.restricted(grant), Arc::clone(&self.settings))
    }

    /// Commit `ops` as one transaction; a cancelled one (a condition failed) answers
    /// `on_cancel`, anything else unexpected is internal (or transient: 503).
    pub async fn commit(
        &self,
        ops: Vec<crate::ports::TxOp>,
        on_cancel: crate::services::error::ServiceError,
    ) -> Result<(), crate::services::error::ServiceError> {
        match self.ports.store.transact(ops).await {
            Ok(()) => Ok(()),
            Err(crate::ports::StoreError::TransactionCancelled { .. }) => Err(on_cancel),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of a listing whose cursor came from a client: a cursor that is not this
    /// query's is 400, any other failure carries `step`.
    pub async fn page(
        &self,
        req: crate::ports::QueryRequest,
        step: &'static str,
    ) -> Result<crate::ports::Page, crate::services::error::ServiceError> {
        use crate::services::error::ServiceError;
        self.ports.store.query(req).await.map_err(|e| match e {
            crate::ports::StoreError::InvalidCursor => ServiceError::InvalidRequest("bad cursor".into()),
            e => anyhow::Error::from(e).context(step).into(),
        })
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

/// A tenant's status marker as last read (`tenancy::status`). It lives here, with the cache
/// that holds it, so the context needs nothing of the module that reads it.
/// `push_devices` is `None` for tenants provisioned before it was kept (they may have
/// devices: they are sent pushes as before).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TenantStatus {
    pub disabled: bool,
    pub push_devices: Option<bool>,
}
