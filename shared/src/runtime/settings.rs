//! Runtime configuration, read once from the environment at start-up (see README for every
//! variable). Init-time failures here are the only place a process may refuse to start.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::runtime::backend::{AwsSettings, BackendError, EmbeddedSettings, PushSettings};
use crate::services::context::{OperatorAuth, SsoSettings};

/// Push provider endpoints (`BULWARK_FCM_URL`, `BULWARK_APNS_URL`; the real services by default).
pub fn push_settings() -> PushSettings {
    let d = PushSettings::default();
    PushSettings {
        fcm_url: var("BULWARK_FCM_URL").unwrap_or(d.fcm_url),
        apns_url: var("BULWARK_APNS_URL").unwrap_or(d.apns_url),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Embedded,
    Aws,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn backend_kind(default: BackendKind) -> Result<BackendKind, BackendError> {
    match var("BULWARK_BACKEND").as_deref() {
        None => Ok(default),
        Some("embedded") => Ok(BackendKind::Embedded),
        Some("aws") => Ok(BackendKind::Aws),
        Some(other) => Err(BackendError::Config(format!("BULWARK_BACKEND must be 'embedded' or 'aws', not {other:?}"))),
    }
}

pub fn mail_from() -> String {
    var("BULWARK_MAIL_FROM").unwrap_or_else(|| "Bulwark <no-reply@bulwark.localhost>".into())
}

/// Base URL of the client app, used in links sent by email.
pub fn app_url() -> String {
    var("BULWARK_APP_URL").unwrap_or_else(|| "http://localhost:8080".into()).trim_end_matches('/').to_owned()
}

/// Single sign-on: the API's public base URL (`BULWARK_API_URL`, default
/// `http://localhost:8080`) and whether loopback IdPs may use plain http (never inside a
/// Lambda function, where loopback is the runtime API; elsewhere unless
/// `BULWARK_SSO_LOOPBACK_HTTP=false`).
pub fn sso_settings() -> SsoSettings {
    let in_lambda = var("AWS_LAMBDA_FUNCTION_NAME").is_some() || var("AWS_LAMBDA_RUNTIME_API").is_some();
    SsoSettings {
        api_url: var("BULWARK_API_URL").unwrap_or_else(|| "http://localhost:8080".into()).trim_end_matches('/').into(),
        allow_loopback_http: !in_lambda && var("BULWARK_SSO_LOOPBACK_HTTP").as_deref() != Some("false"),
    }
}

/// `BULWARK_WEB_DIR`: the built web app the local server serves at `/` (default `web/dist`
/// when it has been built; `off` serves the API only).
pub fn web_dir() -> Option<PathBuf> {
    match var("BULWARK_WEB_DIR") {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from("web/dist")).filter(|d| d.join("index.html").is_file()),
    }
}

pub fn data_dir(default: &str) -> PathBuf {
    PathBuf::from(var("BULWARK_DATA_DIR").unwrap_or_else(|| default.into()))
}

pub fn embedded_settings(default_dir: &str) -> EmbeddedSettings {
    EmbeddedSettings {
        data_dir: data_dir(default_dir),
        push: push_settings(),
        passphrase: var("BULWARK_KEYRING_PASSPHRASE").map(SecretString::from),
        mail_from: mail_from(),
    }
}

pub fn aws_settings() -> Result<AwsSettings, BackendError> {
    let need = |n: &str| var(n).ok_or_else(|| BackendError::Config(format!("{n} must be set in AWS mode")));
    Ok(AwsSettings {
        push: push_settings(),
        prefix: var("BULWARK_RESOURCE_PREFIX").unwrap_or_else(|| "bulwark".into()),
        bucket: need("BULWARK_BUCKET")?,
        kms_key_id: need("BULWARK_KMS_KEY_ID")?,
        mail_from: mail_from(),
    })
}

pub fn operator_token_env() -> Option<SecretString> {
    var("BULWARK_OPERATOR_TOKEN").map(SecretString::from)
}

fn number(name: &str, default: u32) -> u32 {
    var(name).and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// `BULWARK_ANON_RATE_PER_IP`: requests a minute per client IP on the anonymous routes (120).
pub fn anon_rate_per_ip() -> u32 {
    number("BULWARK_ANON_RATE_PER_IP", 120)
}

/// `BULWARK_MAIL_RATE_PER_ACCOUNT`: account emails an hour per account (5).
pub fn mail_rate_per_account() -> u32 {
    number("BULWARK_MAIL_RATE_PER_ACCOUNT", 5)
}

/// `BULWARK_HASH_CONCURRENCY`: password hashes computed at once (default: sized to memory).
pub fn hash_concurrency() -> Option<usize> {
    var("BULWARK_HASH_CONCURRENCY").and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0)
}

/// What the application needs beyond its ports.
pub struct AppSettings {
    /// Base URL of the client app for links in emails (`BULWARK_APP_URL`).
    pub app_url: String,
    pub operator: OperatorAuth,
    /// Requests a minute one client IP may make to the anonymous routes.
    pub anon_rate_per_ip: u32,
    /// Account emails (reset, recovery) one account may be sent in an hour.
    pub mail_rate_per_account: u32,
    /// Password hashes computed at once; `None`: sized to the machine's memory.
    pub hash_concurrency: Option<usize>,
    pub sso: SsoSettings,
}

impl AppSettings {
    /// The settings of a process, from the environment (API.md's defaults where unset).
    pub fn from_env(operator: OperatorAuth) -> Self {
        AppSettings {
            app_url: app_url(),
            operator,
            anon_rate_per_ip: anon_rate_per_ip(),
            mail_rate_per_account: mail_rate_per_account(),
            hash_concurrency: hash_concurrency(),
            sso: sso_settings(),
        }
    }
}
