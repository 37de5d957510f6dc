//! AWS adapters: DynamoDB, S3, KMS, Secrets Manager, SES v2 and SQS through the official
//! `aws-sdk-*` crates. Clients are built once per process from one shared `SdkConfig`; the
//! endpoint follows `AWS_ENDPOINT_URL` (the SDK reads it), so tests point every client at a
//! local moto server.

pub mod calls;
pub mod dynamo;
pub mod kms;
pub mod s3;
pub mod secrets;
pub mod ses;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use kms::KmsKeys;
pub use s3::S3Blobs;
pub use secrets::SecretsManager;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

/// An SDK client built on first use. Building one loads the system's trust roots (the SDK
/// does it eagerly, ~150 files), which would otherwise be paid in every Lambda's init even by
/// functions that never reach that service. Derefs to the client.
pub struct Lazy<C> {
    cell: std::sync::OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> Lazy<C> {
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Lazy { cell: std::sync::OnceLock::new(), make: Box::new(make) }
    }
}

impl<C> std::ops::Deref for Lazy<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.cell.get_or_init(|| (self.make)())
    }
}

/// Load the shared SDK configuration (region, credentials, endpoint) from the environment.
/// Does no network I/O: credentials resolve lazily on the first call, and the HTTPS client
/// (with the trust roots it loads) is built on the first request ([`LazyHttpClient`]).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(LazyHttpClient::default());
    // Lambda puts the region and the function's credentials in the environment, where the
    // default chains look first. Building those chains anyway constructs an STS client (it
    // parses the SDK's endpoint partitions and compiles their regexes), an IMDS client and
    // profile readers: ~40% of a function's init instructions, for providers never asked.
    // Same answer, since the environment wins in both chains.
    if env_var("AWS_REGION").or_else(|| env_var("AWS_DEFAULT_REGION")).is_some() {
        loader = loader.region(aws_config::environment::EnvironmentVariableRegionProvider::new());
    }
    if env_var("AWS_ACCESS_KEY_ID").is_some() && env_var("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The SDK's rustls (aws-lc) HTTPS client, built on first use. The stock client loads the
/// system's ~150 trust-root files while the config is built — in every Lambda's init.
#[derive(Debug, Default)]
pub struct LazyHttpClient(std::sync::OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient>);

impl aws_smithy_runtime_api::client::http::HttpClient for LazyHttpClient {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        self.0
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::AwsLc)).build_https()
            })
            .http_connector(settings, components)
    }
}

/// The error text of an SDK error with its whole source chain (service error codes
/// included), for logs. Requests never carry secrets in their error text.
pub(crate) fn describe<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::Error::new(e)
}
