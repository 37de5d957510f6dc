//! Push provider port: deliver one notification to one device (FCM HTTP v1 or APNs). The
//! payload carries ids and a fixed generic text only — never message content or names.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Fcm,
    Apns,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "fcm" => Some(Platform::Fcm),
            "apns" => Some(Platform::Apns),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Fcm => "fcm",
            Platform::Apns => "apns",
        }
    }
}

/// What a notification may say: ids to fetch with, and a generic line of text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushPayload {
    pub kind: &'static str,
    pub conversation_id: String,
    pub message_id: String,
    pub title: &'static str,
    pub body: &'static str,
}

impl PushPayload {
    pub fn new_message(conversation_id: &str, message_id: &str) -> PushPayload {
        PushPayload {
            kind: "message",
            conversation_id: conversation_id.into(),
            message_id: message_id.into(),
            title: "Bulwark",
            body: "You have a new secure message",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The provider says the token is dead: drop the registration, do not retry.
    #[error("the device token is no longer valid")]
    DeviceGone,
    /// Anything worth retrying later (provider down, throttled, not configured yet).
    #[error("push delivery failed")]
    Retry(#[source] anyhow::Error),
}

#[async_trait]
pub trait PushProvider: Send + Sync {
    async fn send(&self, platform: Platform, token: &str, payload: &PushPayload) -> Result<(), PushError>;
}
