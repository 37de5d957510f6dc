//! Capability ports: the narrow traits the domain depends on. Each has an embedded adapter
//! (`crate::adapters::embedded`) and an AWS adapter (`crate::adapters::aws`); one contract suite per port
//! (`tests/api/contract_*.rs`) runs against both so they cannot drift.

pub mod blob;
pub mod clock;
pub mod idp;
pub mod keys;
pub mod mail;
pub mod push;
pub mod queue;
pub mod secrets;
pub mod store;

pub use blob::{BlobError, BlobKey, BlobStore, ByteStream};
pub use idp::{IdpClient, IdpError, IdpRequest, IdpResponse};
pub use keys::{DataKey, EncryptionContext, KeyError, KeyService};
pub use mail::{MailError, Mailer, OutgoingEmail};
pub use push::{Platform, PushError, PushPayload, PushProvider};
pub use queue::{Delivery, JobQueue, QueueError, QueueName};
pub use secrets::{SecretError, SecretName, SecretStore};
pub use store::{
    AttrValue, Cond, Direction, Item, ItemStore, Page, QueryRequest, SkRange, StoreError, Table, TxOp, Update,
};
pub mod grant;

pub use grant::{AllPorts, Grant, Port, Ungranted};

use std::sync::Arc;

use async_trait::async_trait;

use clock::Clock;

/// How the process runs: on AWS services, or embedded in one process with its own store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Aws,
}

/// Deletes expired items where no service does it (DynamoDB's TTL does on AWS).
#[async_trait]
pub trait ExpirySweeper: Send + Sync {
    /// Delete what has expired; returns how many items went.
    async fn sweep_expired(&self) -> Result<usize, StoreError>;
}

/// A consistent copy of a whole data directory while it is in use (embedded mode; on AWS,
/// AWS Backup and point-in-time recovery do this).
pub trait Snapshots: Send + Sync {
    /// Copy everything needed to run again — store, blobs, sealed keyring, outbox — into `dest`
    /// (created; must not exist). Files of `previous` (an earlier snapshot) that are unchanged
    /// are hard-linked instead of copied. Blocking: call from a blocking task.
    fn snapshot(&self, dest: &std::path::Path, previous: Option<&std::path::Path>) -> anyhow::Result<SnapshotReport>;
}

/// What a snapshot holds.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SnapshotReport {
    pub files: u64,
    pub bytes: u64,
    /// Files hard-linked from the previous snapshot.
    pub linked: u64,
    /// How long writers waited while the store file was copied.
    pub write_pause_ms: u64,
}

/// Every port, behind trait objects: the services see only these.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn ItemStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub keys: Arc<dyn KeyService>,
    pub secrets: Arc<dyn SecretStore>,
    pub mailer: Arc<dyn Mailer>,
    pub queue: Arc<dyn JobQueue>,
    pub push: Arc<dyn PushProvider>,
    /// Outbound HTTPS to tenants' identity providers (single sign-on).
    pub idp: Arc<dyn IdpClient>,
    pub clock: Arc<dyn Clock>,
    pub mode: Mode,
    /// The embedded store's expiry sweep (`None` on AWS, where DynamoDB's TTL deletes).
    pub sweeper: Option<Arc<dyn ExpirySweeper>>,
    /// The embedded data directory's online snapshots (`None` on AWS).
    pub snapshots: Option<Arc<dyn Snapshots>>,
}

impl Ports {
    /// The same ports with every one outside `grant` replaced by [`Ungranted`]: how the local
    /// server runs each route, exactly as its Lambda function would.
    pub fn restricted(&self, grant: &[Port]) -> Ports {
        let mut p = self.clone();
        macro_rules! ungrant {
            ($($field:ident: $port:ident),*) => {$(
                if !Port::$port.in_set(grant) {
                    p.$field = Arc::new(Ungranted(Port::$port));
                }
            )*};
        }
        ungrant!(store: Store, blobs: Blobs, keys: Keys, secrets: Secrets, mailer: Mail, queue: Queue, push: Push, idp: Idp);
        p
    }
}
