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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPayload {
    pub kind: &'static str,
    /// (name, id) pairs the app fetches the content with; never the content itself.
    pub ids: Vec<(&'static str, String)>,
    pub title: &'static str,
    pub body: &'static str,
}

impl PushPayload {
    pub fn new_message(conversation_id: &str, message_id: &str) -> PushPayload {
        PushPayload {
            kind: "message",
            ids: vec![("conversation_id", conversation_id.into()), ("message_id", message_id.into())],
            title: "Bulwark",
            body: "You have a new secure message",
        }
    }

    /// A notice about an event: `kind` is `announcement`, `event_cancelled` or
    /// `registration_promoted`.
    pub fn event(kind: &'static str, event_id: &str, announcement_id: Option<&str>) -> PushPayload {
        let mut ids = vec![("event_id", event_id.to_owned())];
        if let Some(a) = announcement_id {
            ids.push(("announcement_id", a.to_owned()));
        }
        let body = match kind {
            "announcement" => "There is a new announcement for an event you attend",
            "event_cancelled" => "An event you registered for was cancelled",
            _ => "A place opened up: you are now registered for an event",
        };
        PushPayload { kind, ids, title: "Bulwark", body }
    }

    /// The provider's `data` fields: the kind and the ids.
    pub fn data(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), self.kind.into());
        for (k, v) in &self.ids {
            m.insert((*k).into(), v.clone().into());
        }
        m
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
