//! Mailer contract: the outbox and SES accept the same message; the outbox file is a real
//! RFC 5322 message.

use bulwark::domain::types::Email;
use bulwark::ports::mail::*;

use crate::helpers::{Backend, Kind};
use crate::on_both_backends;

on_both_backends!(Backend: sends_a_plain_text_email);

async fn sends_a_plain_text_email(b: &Backend) {
    let mail = OutgoingEmail {
        to: Email::parse("Admin@Acme.Test").unwrap(),
        subject: "You're invited to Acme Health".into(),
        text: "Accept: https://app.example/invite?token=abc123\n".into(),
    };
    assert!(!format!("{mail:?}").contains("acme.test"));
    b.ports.mailer.send(&mail).await.unwrap();
    if b.kind == Kind::Embedded {
        let files: Vec<_> = std::fs::read_dir(b.outbox()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: admin@acme.test"), "{text}");
        assert!(text.contains("From: Bulwark <no-reply@bulwark.test>"), "{text}");
        assert!(text.contains("Subject: You're invited to Acme Health"), "{text}");
        assert!(text.contains("token=abc123"), "{text}");
        assert!(text.contains("Date: ") && text.contains("Message-ID: "), "{text}");
    }
}
