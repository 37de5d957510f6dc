//! SES v2 mailer: sends the same RFC 5322 bytes the outbox writes, as a raw message.

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use aws_sdk_sesv2::Client;

use super::describe;
use crate::ports::mail::*;

pub struct SesMailer {
    client: super::Lazy<Client>,
    from: String,
}

impl SesMailer {
    pub fn new(client: super::Lazy<Client>, from: String) -> Self {
        SesMailer { client, from }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let bytes = email.to_rfc5322(&self.from)?;
        let raw = RawMessage::builder().data(Blob::new(bytes)).build().map_err(|e| MailError::Build(e.into()))?;
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(email.to.as_str()).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| MailError::Backend(describe(e)))?;
        Ok(())
    }
}
