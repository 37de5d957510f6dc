//! Wiring: builds the ports for one run mode. The embedded mode opens (or creates) the data
//! directory; the AWS mode builds each SDK client once from one `SdkConfig`. A Lambda function
//! builds only the adapters its [`Grant`] names (the rest are [`Ungranted`]), so its binary
//! links no other backend code. Nothing here performs network I/O, so Lambda init stays cheap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::adapters::embedded::{
    EmbeddedQueue, EmbeddedSecrets, EmbeddedStore, FileBlobStore, Keyring, KeyringError, Outbox,
};
use crate::ports::clock::Clock;
use crate::ports::*;
use crate::ports::{Mode, Ports};

/// Where push notifications go (FCM HTTP v1 and APNs base URLs).
#[derive(Clone)]
pub struct PushSettings {
    pub fcm_url: String,
    pub apns_url: String,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings { fcm_url: "https://fcm.googleapis.com".into(), apns_url: "https://api.push.apple.com".into() }
    }
}

fn push_provider(secrets: &Arc<dyn SecretStore>, s: &PushSettings) -> crate::adapters::push_http::HttpPushProvider {
    crate::adapters::push_http::HttpPushProvider::new(Arc::clone(secrets), s.fcm_url.clone(), s.apns_url.clone())
}

pub struct EmbeddedSettings {
    pub data_dir: PathBuf,
    pub push: PushSettings,
    /// `BULWARK_KEYRING_PASSPHRASE`; `None` lets a fresh dev data dir generate one.
    pub passphrase: Option<SecretString>,
    pub mail_from: String,
}

pub struct AwsSettings {
    pub push: PushSettings,
    /// Prefix of the DynamoDB tables, SQS queues and secret names (`BULWARK_RESOURCE_PREFIX`).
    pub prefix: String,
    pub bucket: String,
    pub kms_key_id: String,
    pub mail_from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("the data directory {0} is in use by another Bulwark process (or is unreadable): {1}")]
    Database(PathBuf, String),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("missing configuration: {0}")]
    Config(String),
}

/// Jobs are invisible this long after a receive, before being retried.
pub const QUEUE_VISIBILITY: Duration = Duration::from_secs(30);

/// `$make` if the grant `$g` holds `$port`, else an [`Ungranted`] stand-in. The condition is a
/// constant of the monomorphised wiring, so an ungranted adapter is not even linked.
macro_rules! granted {
    ($g:ty, $port:ident, $make:expr) => {
        if const { Port::$port.in_set(<$g>::PORTS) } {
            Arc::new($make)
        } else {
            Arc::new(Ungranted(Port::$port))
        }
    };
}

/// Building the ports of a run mode (the composition root's half of [`Ports`]).
pub trait Wiring: Sized {
    fn embedded(s: EmbeddedSettings, clock: Arc<dyn Clock>) -> Result<Self, BackendError>;
    fn aws(s: AwsSettings, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Self;
    fn embedded_for<G: Grant>(s: EmbeddedSettings, clock: Arc<dyn Clock>) -> Result<Self, BackendError>;
    fn aws_for<G: Grant>(s: AwsSettings, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Self;
}

impl Wiring for Ports {
    fn embedded(s: EmbeddedSettings, clock: Arc<dyn Clock>) -> Result<Ports, BackendError> {
        Self::embedded_for::<AllPorts>(s, clock)
    }

    fn aws(s: AwsSettings, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Ports {
        Self::aws_for::<AllPorts>(s, sdk, clock)
    }

    fn embedded_for<G: Grant>(s: EmbeddedSettings, clock: Arc<dyn Clock>) -> Result<Ports, BackendError> {
        std::fs::create_dir_all(&s.data_dir).map_err(|e| BackendError::DataDir(s.data_dir.clone(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&s.data_dir, std::fs::Permissions::from_mode(0o700));
        }
        let keyring = Arc::new(Keyring::open_or_create(&s.data_dir, s.passphrase)?);
        let db_path = s.data_dir.join("bulwark.redb");
        // redb's default page cache is 1 GiB, which the expiry sweep and listings fill: bounded.
        let db = redb::Builder::new()
            .set_cache_size(store_cache_bytes())
            .create(&db_path)
            .map_err(|e| BackendError::Database(s.data_dir.clone(), e.to_string()))?;
        let db = Arc::new(db);
        let snapshot_db = Arc::clone(&db);
        let store = EmbeddedStore::new(Arc::clone(&db), Arc::clone(&clock))
            .map_err(|e| BackendError::Database(s.data_dir.clone(), e.to_string()))?;
        let secrets: Arc<dyn SecretStore> =
            granted!(G, Secrets, EmbeddedSecrets::new(Arc::clone(&db), Arc::clone(&keyring)));
        Ok(Ports {
            store: granted!(G, Store, store.clone()),
            blobs: granted!(G, Blobs, FileBlobStore::new(s.data_dir.join("blobs"))),
            keys: if const { Port::Keys.in_set(G::PORTS) } { keyring } else { Arc::new(Ungranted(Port::Keys)) },
            push: granted!(G, Push, push_provider(&secrets, &s.push)),
            idp: granted!(G, Idp, crate::adapters::idp_http::HttpIdpClient::default()),
            secrets,
            mailer: granted!(G, Mail, Outbox::new(s.data_dir.join("outbox"), s.mail_from)),
            queue: granted!(G, Queue, EmbeddedQueue::new(store.clone(), Arc::clone(&clock), QUEUE_VISIBILITY)),
            clock,
            mode: Mode::Embedded,
            sweeper: Some(Arc::new(store)),
            snapshots: Some(Arc::new(crate::adapters::embedded::backup::DataDirSnapshots::new(
                Arc::clone(&snapshot_db),
                s.data_dir.clone(),
            ))),
        })
    }

    fn aws_for<G: Grant>(s: AwsSettings, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Ports {
        use crate::adapters::aws::calls::CallCounter;
        use crate::adapters::aws::*;
        // Every client counts its calls (aws::calls) and is built on first use (aws::Lazy).
        macro_rules! client {
            ($sdk_crate:ident) => {{
                let conf = $sdk_crate::config::Builder::from(sdk).interceptor(CallCounter).build();
                Lazy::new(move || $sdk_crate::Client::from_conf(conf.clone()))
            }};
        }
        let secrets: Arc<dyn SecretStore> =
            granted!(G, Secrets, SecretsManager::new(client!(aws_sdk_secretsmanager), s.prefix.clone()));
        Ports {
            store: granted!(
                G,
                Store,
                DynamoStore::new(client!(aws_sdk_dynamodb), s.prefix.clone(), s.kms_key_id.clone(), Arc::clone(&clock))
            ),
            blobs: granted!(G, Blobs, {
                // Emulators (moto) serve S3 on one host: path-style addressing is required there.
                let conf = aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(sdk.endpoint_url().is_some())
                    .interceptor(CallCounter)
                    .build();
                S3Blobs::new(Lazy::new(move || aws_sdk_s3::Client::from_conf(conf.clone())), s.bucket)
            }),
            keys: granted!(G, Keys, KmsKeys::new(client!(aws_sdk_kms), s.kms_key_id)),
            push: granted!(G, Push, push_provider(&secrets, &s.push)),
            idp: granted!(G, Idp, crate::adapters::idp_http::HttpIdpClient::default()),
            secrets,
            mailer: granted!(G, Mail, SesMailer::new(client!(aws_sdk_sesv2), s.mail_from)),
            queue: granted!(G, Queue, SqsQueue::new(client!(aws_sdk_sqs), s.prefix, QUEUE_VISIBILITY)),
            clock,
            mode: Mode::Aws,
            sweeper: None,
            snapshots: None,
        }
    }
}

/// The embedded store's page cache: `BULWARK_STORE_CACHE_MB` (default 16), read here rather
/// than in `settings` (which builds on this module's types). The kernel's page cache holds the
/// file as well, so a miss here costs a read from memory, not from the disk; a small cache
/// keeps the server's memory the same from its first thousand messages to millions
/// (BENCHMARKS.md, issue 21).
fn store_cache_bytes() -> usize {
    let mb = std::env::var("BULWARK_STORE_CACHE_MB").ok().and_then(|v| v.trim().parse::<usize>().ok());
    mb.unwrap_or(16).clamp(4, 16 * 1024) * 1024 * 1024
}
