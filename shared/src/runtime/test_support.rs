//! Fixtures shared by the black-box tests and `scripts/bench` (feature `test-support`): a mailer
//! that records what it sends, the SDK configuration for a local moto server, and the AWS
//! resources the SAM template would create there.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{MailError, Mailer, OutgoingEmail, Ports};
use crate::runtime::backend::{AwsSettings, PushSettings};

/// Every email sent through a [`CapturingMailer`], oldest first.
pub type SentMail = Arc<Mutex<Vec<OutgoingEmail>>>;

/// Records every email and still sends it through the real adapter (outbox or SES), so
/// callers read links the same way in both modes.
pub struct CapturingMailer {
    inner: Arc<dyn Mailer>,
    sent: SentMail,
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        self.inner.send(email).await?;
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(email.clone());
        }
        Ok(())
    }
}

/// Wrap the ports' mailer in a [`CapturingMailer`]; returns what it will have sent.
pub fn capture_mail(ports: &mut Ports) -> SentMail {
    let sent = SentMail::default();
    ports.mailer = Arc::new(CapturingMailer { inner: ports.mailer.clone(), sent: sent.clone() });
    sent
}

/// The SDK configuration of a moto server at `endpoint` (fixed test credentials, us-east-1).
pub async fn moto_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bulwark-test-support"))
        .http_client(crate::adapters::aws::LazyHttpClient::default())
        .load()
        .await
}

/// Create in moto what the SAM template would for one deployment: the bucket, the KMS key and
/// the SES identity of `mail_from`'s domain; returns the AWS settings that use them.
pub async fn provision_moto(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    bucket: &str,
    mail_from: &str,
    push: PushSettings,
) -> anyhow::Result<AwsSettings> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    s3.create_bucket().bucket(bucket).send().await?;
    let key = aws_sdk_kms::Client::new(sdk).create_key().send().await?;
    let kms_key_id = key.key_metadata.ok_or_else(|| anyhow::anyhow!("no key metadata"))?.key_id;
    let domain = mail_from.rsplit('@').next().unwrap_or_default().trim_end_matches('>');
    aws_sdk_sesv2::Client::new(sdk).create_email_identity().email_identity(domain).send().await?;
    Ok(AwsSettings { push, prefix: prefix.into(), bucket: bucket.into(), kms_key_id, mail_from: mail_from.into() })
}

pub use crate::runtime::app::ensure_platform;

/// `n` users of the tenant `slug`, each signed in: `(user_id, access token)`. Made straight
/// through the services, without the invitation mail and with one password hash for all,
/// because races and load runs need hundreds or thousands of accounts; everything they do
/// afterwards goes through the API like any other client.
pub async fn seed_users(
    ctx: &crate::services::context::Context,
    slug: &str,
    prefix: &str,
    n: usize,
    role: crate::domain::types::Role,
) -> anyhow::Result<Vec<(String, String)>> {
    use crate::domain::types::Email;
    use crate::services::identity::{password, sessions, users};
    let tenant = crate::services::tenancy::tenants::id_of_slug(ctx, slug)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?;
    let keys = ctx.identity_keys.get(&*ctx.ports.secrets).await?;
    let hash = password::hash("Correct-Horse-Battery-9".to_owned().into()).await?;
    let mut out = Vec::with_capacity(n);
    // Thirty users (two writes each, and a session) per transaction: thousands in seconds.
    for chunk in (0..n).collect::<Vec<_>>().chunks(30) {
        let (mut ops, mut made) = (Vec::new(), Vec::new());
        for i in chunk {
            let email = Email::parse(&format!("{prefix}{i}@{slug}.test")).map_err(|e| anyhow::anyhow!(e))?;
            let index = keys.email_index(tenant.as_str(), &email);
            let user_id = users::new_user_id();
            let new = users::NewUser {
                user_id: &user_id,
                email: &email,
                email_index: &index,
                display_name: "Seeded Attendee",
                role,
                password_hash: hash.clone(),
            };
            ops.extend(users::create_ops(ctx, &tenant, new).await?);
            made.push(user_id);
        }
        ctx.ports.store.transact(ops).await?;
        let mut starts = Vec::new();
        let mut sessions = Vec::new();
        for user_id in made {
            let user =
                users::get(ctx, &tenant, &user_id).await?.ok_or_else(|| anyhow::anyhow!("seeded user vanished"))?;
            let (start, session) = sessions::start(ctx, &tenant, slug, &user, "password");
            starts.push(start);
            sessions.push((user_id, session));
        }
        ctx.ports.store.transact(starts).await?;
        for (user_id, session) in sessions {
            out.push((user_id, session.tokens(ctx).await?.access_token));
        }
    }
    Ok(out)
}
