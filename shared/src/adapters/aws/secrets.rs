//! Secrets Manager secret store. Secret `name` lives at `<prefix>/<name>`. Values are cached
//! for five minutes: secrets are read on hot paths (token signing), and rotation only needs
//! the new value to appear within minutes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretSlice};

use super::describe;
use crate::ports::secrets::*;

const TTL: Duration = Duration::from_secs(300);

pub struct SecretsManager {
    client: super::Lazy<Client>,
    prefix: String,
    cache: Mutex<HashMap<String, (Instant, SecretSlice<u8>)>>,
}

impl SecretsManager {
    pub fn new(client: super::Lazy<Client>, prefix: String) -> Self {
        SecretsManager { client, prefix, cache: Mutex::new(HashMap::new()) }
    }
    fn id(&self, name: &SecretName) -> String {
        format!("{}/{}", self.prefix, name.as_str())
    }
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn get(&self, name: &SecretName) -> Result<SecretSlice<u8>, SecretError> {
        let id = self.id(name);
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, v)) = cache.get(&id) {
                if at.elapsed() < TTL {
                    return Ok(SecretSlice::from(v.expose_secret().to_vec()));
                }
            }
        }
        let out = self.client.get_secret_value().secret_id(&id).send().await.map_err(|e| {
            match e.as_service_error().and_then(|s| s.code()) {
                Some("ResourceNotFoundException") => SecretError::NotFound,
                _ => SecretError::Backend(describe(e)),
            }
        })?;
        let bytes = match (out.secret_binary, out.secret_string) {
            (Some(b), _) => b.into_inner(),
            (None, Some(s)) => s.into_bytes(),
            (None, None) => return Err(SecretError::NotFound),
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id, (Instant::now(), SecretSlice::from(bytes.clone())));
        }
        Ok(SecretSlice::from(bytes))
    }

    async fn create(&self, name: &SecretName, value: &[u8]) -> Result<(), SecretError> {
        self.client.create_secret().name(self.id(name)).secret_binary(Blob::new(value.to_vec())).send().await.map_err(
            |e| match e.as_service_error().and_then(|s| s.code()) {
                Some("ResourceExistsException") => SecretError::AlreadyExists,
                _ => SecretError::Backend(describe(e)),
            },
        )?;
        Ok(())
    }
}
