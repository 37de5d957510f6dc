//! AWS adapters: DynamoDB, S3, KMS, Secrets Manager, SES v2 and SQS through the official
//! `aws-sdk-*` crates. Clients are built once per process from one shared `SdkConfig`; the
//! endpoint follows `AWS_ENDPOINT_URL` (the SDK reads it), so tests point every client at a
//! local moto server.

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

/// Load the shared SDK configuration (region, credentials, endpoint) from the environment.
/// Does no network I/O: credentials resolve lazily on the first call.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// The error text of an SDK error with its whole source chain (service error codes
/// included), for logs. Requests never carry secrets in their error text.
pub(crate) fn describe<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::Error::new(e)
}
