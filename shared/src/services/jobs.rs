//! The maintenance queue's jobs: what producers enqueue (a data-key rotation, an anonymous
//! route's account email) and `maintenance::run` executes.

use serde::{Deserialize, Serialize};

use crate::ports::queue::{QueueName, MAX_DELAY_SECS};
use crate::services::context::Context;

pub const QUEUE: &str = "maintenance";
pub const MAX_RECEIVES: u32 = 5;

pub fn queue() -> QueueName {
    // A constant, valid name.
    QueueName::parse(QUEUE).unwrap_or_else(|_| unreachable!())
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Reencrypt {
        tenant_id: String,
        /// The version to move every field to.
        version: u32,
        /// Unix seconds before which the job must not start (stale writers, see
        /// `tenant_keys::CURRENT_TTL`).
        not_before: i64,
        cursor: Option<String>,
    },
    /// An email an anonymous route asked for (see `identity::account_mail`).
    AccountMail { mail: AccountMail },
    /// One page of an event notice's fan-out to the registered attendees' devices (see
    /// `events::notify`); the next page is its own job.
    EventFanout { tenant_id: String, notice: crate::services::push::EventNotice, cursor: Option<String> },
}

pub async fn enqueue(state: &Context, job: &Job, delay_secs: u32) -> anyhow::Result<()> {
    let body = serde_json::to_vec(job)?;
    state.ports.queue.enqueue_delayed(&queue(), &body, delay_secs.min(MAX_DELAY_SECS)).await?;
    Ok(())
}

/// A queued account email.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[serde(tag = "mail", rename_all = "snake_case")]
pub enum AccountMail {
    /// `POST /v1/auth/password/forgot`: the account with this email index, if any.
    PasswordReset { tenant_id: String, email_index: String },
    /// `POST /v1/auth/mfa/recover` with both answers right.
    MfaRecovery { tenant_id: String, user_id: String },
}
