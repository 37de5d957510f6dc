//! Which ports a function may use. Each route (and worker) declares its ports next to its
//! handler; a Lambda function is built with only those adapters, so its binary links nothing
//! else, and the local server runs each route with the same restriction, so the whole test
//! suite proves each declaration. `template.yaml` grants each function's IAM role exactly the
//! services of its ports (checked by the consistency test).

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretSlice;
use zeroize::Zeroizing;

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Port {
    Store,
    Blobs,
    Keys,
    Secrets,
    Mail,
    Queue,
    Push,
    /// Outbound HTTPS to identity providers (no AWS service: no IAM grant).
    Idp,
}

impl Port {
    pub const ALL: [Port; 8] =
        [Port::Store, Port::Blobs, Port::Keys, Port::Secrets, Port::Mail, Port::Queue, Port::Push, Port::Idp];

    /// Whether `set` holds `self`; usable in constants, so a build can depend on it.
    pub const fn in_set(self, set: &[Port]) -> bool {
        let mut i = 0;
        while i < set.len() {
            if set[i] as u8 == self as u8 {
                return true;
            }
            i += 1;
        }
        false
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A compile-time port set: wiring generic over it builds only the granted adapters.
pub trait Grant {
    const PORTS: &'static [Port];
}

/// The whole API in one process (local server, tests' fixtures).
pub struct AllPorts;

impl Grant for AllPorts {
    const PORTS: &'static [Port] = &Port::ALL;
}

/// Stands in for a port the function was not granted: every call fails as a backend error
/// (an opaque 500 to the client, the port's name in the log), never a silent success.
pub struct Ungranted(pub Port);

impl Ungranted {
    fn cause(&self) -> anyhow::Error {
        anyhow::anyhow!("the {} port is not granted to this function (see its route's `ports`)", self.0)
    }
}

#[async_trait]
impl ItemStore for Ungranted {
    async fn ensure_table(&self, _: &Table) -> Result<(), StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn get(&self, _: &Table, _: &str, _: &str) -> Result<Option<Item>, StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn put(&self, _: &Table, _: Item, _: Cond) -> Result<(), StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn update(&self, _: &Table, _: &str, _: &str, _: Update, _: Cond) -> Result<Item, StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn delete(&self, _: &Table, _: &str, _: &str, _: Cond) -> Result<(), StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn query(&self, _: QueryRequest) -> Result<Page, StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn transact(&self, _: Vec<TxOp>) -> Result<(), StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
    async fn scan(&self, _: &Table, _: usize, _: Option<String>) -> Result<Page, StoreError> {
        Err(StoreError::Backend(self.cause()))
    }
}

#[async_trait]
impl BlobStore for Ungranted {
    async fn put(&self, _: &BlobKey, _: ByteStream) -> Result<u64, BlobError> {
        Err(BlobError::Backend(self.cause()))
    }
    async fn get(&self, _: &BlobKey) -> Result<ByteStream, BlobError> {
        Err(BlobError::Backend(self.cause()))
    }
    async fn delete(&self, _: &BlobKey) -> Result<(), BlobError> {
        Err(BlobError::Backend(self.cause()))
    }
}

#[async_trait]
impl KeyService for Ungranted {
    async fn generate_data_key(&self, _: &EncryptionContext) -> Result<DataKey, KeyError> {
        Err(KeyError::Backend(self.cause()))
    }
    async fn decrypt_data_key(&self, _: &[u8], _: &EncryptionContext) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        Err(KeyError::Backend(self.cause()))
    }
}

#[async_trait]
impl SecretStore for Ungranted {
    async fn get(&self, _: &SecretName) -> Result<SecretSlice<u8>, SecretError> {
        Err(SecretError::Backend(self.cause()))
    }
    async fn create(&self, _: &SecretName, _: &[u8]) -> Result<(), SecretError> {
        Err(SecretError::Backend(self.cause()))
    }
}

#[async_trait]
impl Mailer for Ungranted {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), MailError> {
        Err(MailError::Backend(self.cause()))
    }
}

#[async_trait]
impl JobQueue for Ungranted {
    async fn ensure_queue(&self, _: &QueueName, _: u32) -> Result<(), QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn enqueue_delayed(&self, _: &QueueName, _: &[u8], _: u32) -> Result<String, QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn enqueue_batch(&self, _: &QueueName, _: &[Vec<u8>]) -> Result<(), QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn receive(&self, _: &QueueName, _: u32) -> Result<Vec<Delivery>, QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn ack(&self, _: &QueueName, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn nack(&self, _: &QueueName, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
    async fn receive_dead(&self, _: &QueueName, _: u32) -> Result<Vec<Delivery>, QueueError> {
        Err(QueueError::Backend(self.cause()))
    }
}

#[async_trait]
impl PushProvider for Ungranted {
    async fn send(&self, _: Platform, _: &str, _: &PushPayload) -> Result<(), PushError> {
        Err(PushError::Retry(self.cause()))
    }
}

#[async_trait]
impl IdpClient for Ungranted {
    async fn send(&self, _: IdpRequest, _: bool) -> Result<IdpResponse, IdpError> {
        Err(IdpError::Unreachable(self.cause().to_string()))
    }
}
