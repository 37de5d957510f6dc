//! Shared test harness: builds a fresh, isolated backend of either kind. Embedded backends
//! live in a temporary data dir; AWS backends talk to the moto server that `scripts/test`
//! starts (`BULWARK_TEST_AWS_ENDPOINT`), each with its own resource prefix, bucket and KMS
//! key so tests run in parallel without seeing each other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark::backend::{AwsSettings, EmbeddedSettings, Ports};
use bulwark::clock::ManualClock;

pub const MAIL_FROM: &str = "Bulwark <no-reply@bulwark.test>";

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("bulwark-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Aws,
}

pub struct Backend {
    pub kind: Kind,
    pub ports: Ports,
    pub clock: Arc<ManualClock>,
    /// Embedded: the data dir. AWS: unused scratch space.
    pub dir: TempDir,
    pub aws: Option<AwsEnv>,
}

pub struct AwsEnv {
    pub sdk: aws_config::SdkConfig,
    pub prefix: String,
    pub bucket: String,
}

pub fn moto_endpoint() -> String {
    std::env::var("BULWARK_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("BULWARK_TEST_AWS_ENDPOINT is not set: run the suite with scripts/test, which starts moto's server")
    })
}

pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bulwark-tests"))
        .load()
        .await
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Backend {
    pub async fn new(kind: Kind) -> Backend {
        match kind {
            Kind::Embedded => Backend::embedded().await,
            Kind::Aws => Backend::aws().await,
        }
    }

    pub async fn embedded() -> Backend {
        let dir = TempDir::new();
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let ports = Ports::embedded(
            EmbeddedSettings {
                data_dir: dir.path().to_owned(),
                passphrase: Some("correct horse battery staple".to_owned().into()),
                mail_from: MAIL_FROM.into(),
            },
            clock.clone(),
        )
        .expect("embedded backend");
        Backend { kind: Kind::Embedded, ports, clock, dir, aws: None }
    }

    pub async fn aws() -> Backend {
        let sdk = moto_sdk_config().await;
        let prefix = unique("bw");
        let bucket = unique("bulwark-test-");
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        let kms = aws_sdk_kms::Client::new(&sdk);
        let key = kms.create_key().send().await.expect("create KMS key");
        let key_id = key.key_metadata.expect("key metadata").key_id;
        let ses = aws_sdk_sesv2::Client::new(&sdk);
        ses.create_email_identity().email_identity("bulwark.test").send().await.expect("verify SES identity");
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let ports = Ports::aws(
            AwsSettings { prefix: prefix.clone(), bucket: bucket.clone(), kms_key_id: key_id, mail_from: MAIL_FROM.into() },
            &sdk,
            clock.clone(),
        );
        Backend { kind: Kind::Aws, ports, clock, dir: TempDir::new(), aws: Some(AwsEnv { sdk, prefix, bucket }) }
    }

    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }
}

/// Declare a contract test that runs against both adapters: `contract!(name)` expects an
/// `async fn name(b: &Backend)` in scope.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, Kind};
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    super::$name(&Backend::new(Kind::Embedded).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn aws() {
                    super::$name(&Backend::new(Kind::Aws).await).await
                }
            }
        )*
    };
}
