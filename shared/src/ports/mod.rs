//! Capability ports: the narrow traits the domain depends on. Each has an embedded adapter
//! (`crate::adapters::embedded`) and an AWS adapter (`crate::adapters::aws`); one contract suite per port
//! (`tests/api/contract_*.rs`) runs against both so they cannot drift.

pub mod blob;
pub mod clock;
pub mod keys;
pub mod mail;
pub mod push;
pub mod queue;
pub mod secrets;
pub mod store;

pub use blob::{BlobError, BlobKey, BlobStore, ByteStream};
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
