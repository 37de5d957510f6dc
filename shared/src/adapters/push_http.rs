//! The push provider over HTTPS: FCM HTTP v1 (OAuth2 access token minted from the Firebase
//! service account with an RS256 JWT) and APNs (ES256 provider token, HTTP/2). Credentials
//! come from the secret store (`push/fcm`: the service-account JSON; `push/apns`:
//! `{"team_id","key_id","topic","private_key"}` with the `.p8` key). Tokens are cached; the
//! HTTP client is built on first use (loading the trust roots reads the system store, which
//! no function but the push worker should pay for at init). Base URLs are configurable so a
//! test or a relay can stand in.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::ports::push::{Platform, PushError, PushPayload, PushProvider};
use crate::ports::secrets::{SecretError, SecretName, SecretStore};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct HttpPushProvider {
    secrets: Arc<dyn SecretStore>,
    fcm_url: String,
    apns_url: String,
    client: std::sync::OnceLock<Client<Https, Full<Bytes>>>,
    fcm_token: Mutex<Option<(Instant, String)>>,
    apns_token: Mutex<Option<(Instant, String)>>,
}

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    token_uri: String,
    project_id: String,
}

#[derive(Deserialize)]
struct ApnsKey {
    team_id: String,
    key_id: String,
    topic: String,
    private_key: String,
}

fn retry(e: impl std::fmt::Display) -> PushError {
    PushError::Retry(anyhow::anyhow!("{e}"))
}

impl HttpPushProvider {
    pub fn new(secrets: Arc<dyn SecretStore>, fcm_url: String, apns_url: String) -> Self {
        HttpPushProvider {
            secrets,
            fcm_url: fcm_url.trim_end_matches('/').into(),
            apns_url: apns_url.trim_end_matches('/').into(),
            client: std::sync::OnceLock::new(),
            fcm_token: Mutex::new(None),
            apns_token: Mutex::new(None),
        }
    }

    fn client(&self) -> Result<&Client<Https, Full<Bytes>>, PushError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(retry)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        // A racing first use may build a second client; one of them is kept.
        Ok(self.client.get_or_init(|| Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)))
    }

    async fn secret_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T, PushError> {
        let name = SecretName::parse(name).map_err(retry)?;
        let bytes = match self.secrets.get(&name).await {
            Ok(b) => b,
            Err(SecretError::NotFound) => {
                return Err(retry(format!("push provider not configured: secret {} is missing", name.as_str())))
            }
            Err(e) => return Err(PushError::Retry(e.into())),
        };
        serde_json::from_slice(bytes.expose_secret())
            .map_err(|e| retry(format!("secret {} is malformed: {e}", name.as_str())))
    }

    async fn post(&self, uri: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<(u16, Vec<u8>), PushError> {
        let mut req = http::Request::post(uri);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(retry)?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client()?.request(req))
            .await
            .map_err(retry)?
            .map_err(retry)?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(retry)?.to_bytes().to_vec();
        Ok((status, body))
    }

    async fn fcm_access_token(&self, sa: &ServiceAccount) -> Result<String, PushError> {
        if let Some((until, t)) = self.fcm_token.lock().ok().and_then(|c| c.clone()) {
            if Instant::now() < until {
                return Ok(t);
            }
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "iss": sa.client_email, "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "aud": sa.token_uri, "iat": now, "exp": now + 3600,
        });
        let key = EncodingKey::from_rsa_pem(sa.private_key.as_bytes()).map_err(retry)?;
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).map_err(retry)?;
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let (status, body) = self
            .post(&sa.token_uri, &[("content-type", "application/x-www-form-urlencoded".into())], form.into_bytes())
            .await?;
        if status != 200 {
            return Err(retry(format!("FCM token endpoint answered {status}")));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: u64,
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(retry)?;
        let until = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60));
        if let Ok(mut c) = self.fcm_token.lock() {
            *c = Some((until, t.access_token.clone()));
        }
        Ok(t.access_token)
    }

    async fn send_fcm(&self, token: &str, p: &PushPayload) -> Result<(), PushError> {
        let sa: ServiceAccount = self.secret_json("push/fcm").await?;
        let access = self.fcm_access_token(&sa).await?;
        let body = json!({"message": {
            "token": token,
            "notification": {"title": p.title, "body": p.body},
            "data": p.data(),
            "android": {"priority": "high"},
        }});
        let uri = format!("{}/v1/projects/{}/messages:send", self.fcm_url, sa.project_id);
        let headers = [("authorization", format!("Bearer {access}")), ("content-type", "application/json".into())];
        let (status, resp) = self.post(&uri, &headers, body.to_string().into_bytes()).await?;
        let text = String::from_utf8_lossy(&resp);
        match status {
            200 => Ok(()),
            404 => Err(PushError::DeviceGone),
            400 if text.contains("UNREGISTERED") || text.contains("registration token") => Err(PushError::DeviceGone),
            401 => {
                if let Ok(mut c) = self.fcm_token.lock() {
                    *c = None;
                }
                Err(retry("FCM rejected the access token"))
            }
            s => Err(retry(format!("FCM answered {s}"))),
        }
    }

    async fn apns_provider_token(&self, key: &ApnsKey) -> Result<String, PushError> {
        if let Some((until, t)) = self.apns_token.lock().ok().and_then(|c| c.clone()) {
            if Instant::now() < until {
                return Ok(t);
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.key_id.clone());
        let claims = json!({"iss": key.team_id, "iat": time::OffsetDateTime::now_utc().unix_timestamp()});
        let pem = EncodingKey::from_ec_pem(key.private_key.as_bytes()).map_err(retry)?;
        let token = jsonwebtoken::encode(&header, &claims, &pem).map_err(retry)?;
        // Apple accepts a provider token for an hour; renew well before.
        if let Ok(mut c) = self.apns_token.lock() {
            *c = Some((Instant::now() + Duration::from_secs(50 * 60), token.clone()));
        }
        Ok(token)
    }

    async fn send_apns(&self, token: &str, p: &PushPayload) -> Result<(), PushError> {
        let key: ApnsKey = self.secret_json("push/apns").await?;
        let provider = self.apns_provider_token(&key).await?;
        if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PushError::DeviceGone);
        }
        let mut body = p.data();
        body.insert("aps".into(), json!({"alert": {"title": p.title, "body": p.body}, "sound": "default"}));
        let body = serde_json::Value::Object(body);
        let headers = [
            ("authorization", format!("bearer {provider}")),
            ("apns-topic", key.topic.clone()),
            ("apns-push-type", "alert".into()),
            ("apns-priority", "10".into()),
            ("content-type", "application/json".into()),
        ];
        let (status, resp) =
            self.post(&format!("{}/3/device/{token}", self.apns_url), &headers, body.to_string().into_bytes()).await?;
        let text = String::from_utf8_lossy(&resp);
        match status {
            200 => Ok(()),
            410 => Err(PushError::DeviceGone),
            400 if text.contains("BadDeviceToken") || text.contains("DeviceTokenNotForTopic") => {
                Err(PushError::DeviceGone)
            }
            403 if text.contains("ExpiredProviderToken") => {
                if let Ok(mut c) = self.apns_token.lock() {
                    *c = None;
                }
                Err(retry("APNs provider token expired"))
            }
            s => Err(retry(format!("APNs answered {s}"))),
        }
    }
}

#[async_trait]
impl PushProvider for HttpPushProvider {
    async fn send(&self, platform: Platform, token: &str, payload: &PushPayload) -> Result<(), PushError> {
        match platform {
            Platform::Fcm => self.send_fcm(token, payload).await,
            Platform::Apns => self.send_apns(token, payload).await,
        }
    }
}
