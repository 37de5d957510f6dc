//! Embedded mailer: each email is written atomically as one RFC 5322 `*.eml` file in
//! `$BULWARK_DATA_DIR/outbox/`, named so a directory listing sorts oldest first.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{blocking, write_atomic};
use crate::ports::mail::*;

pub struct Outbox {
    dir: PathBuf,
    from: String,
}

impl Outbox {
    pub fn new(dir: PathBuf, from: String) -> Self {
        Outbox { dir, from }
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let bytes = email.to_rfc5322(&self.from)?;
        let name = format!("{}.eml", uuid::Uuid::now_v7().simple());
        let path = self.dir.join(name);
        blocking(move || write_atomic(&path, &bytes, Some(0o600)))
            .await
            .map_err(MailError::Backend)?
            .map_err(|e| MailError::Backend(e.into()))
    }
}
