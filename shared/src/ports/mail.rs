//! Mailer port: send one plain-text email. Formatting (RFC 5322) is done once, here, with
//! `lettre`'s builder, so the outbox files and SES raw messages are byte-identical in shape.

use async_trait::async_trait;

use crate::domain::types::Email;

#[derive(Clone)]
pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // Recipients and bodies (which carry tokens) are personal/secret: never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail").field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the message could not be built")]
    Build(#[source] anyhow::Error),
    #[error("mail backend failure")]
    Backend(#[source] anyhow::Error),
    /// Throttled or briefly unavailable; nothing was done, and a retry may succeed.
    #[error("mail temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl OutgoingEmail {
    /// The RFC 5322 message, from `from` (e.g. `Bulwark <no-reply@example.org>`).
    pub fn to_rfc5322(&self, from: &str) -> Result<Vec<u8>, MailError> {
        use lettre::message::header::{ContentTransferEncoding, ContentType};
        use lettre::message::{Body, Mailbox, Message};
        let from: Mailbox = from.parse().map_err(|e| MailError::Build(anyhow::Error::new(e)))?;
        let to: Mailbox = self.to.as_str().parse().map_err(|e| MailError::Build(anyhow::Error::new(e)))?;
        // 7bit (8bit for non-ASCII text) keeps token links whole and readable in the outbox;
        // lettre would pick quoted-printable for lines over 76 characters and split the link.
        // RFC 5322 allows 998-octet lines, which we check ourselves.
        let text = self.text.replace("\r\n", "\n").replace('\n', "\r\n");
        if text.contains('\0') || text.split("\r\n").any(|line| line.len() > 998) {
            return Err(MailError::Build(anyhow::anyhow!("the email body has a NUL or an over-long line")));
        }
        let encoding =
            if text.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
        let body = Body::dangerous_pre_encoded(text.into_bytes(), encoding);
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(self.subject.clone())
            .message_id(Some(format!("<{}@bulwark>", uuid::Uuid::new_v4().simple())))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(anyhow::Error::new(e)))?;
        Ok(msg.formatted())
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}
