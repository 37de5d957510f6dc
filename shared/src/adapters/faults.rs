//! Fault injection (tests and drills): wrappers around any real adapter of the store, blob,
//! key, queue, mail, secret and push ports that, at a set rate and from a seed, fail as a throttled or
//! briefly unavailable backend does (nothing done; each port's `Unavailable`), or answer
//! slowly. Used by the tests on both backends to prove that a
//! failed request answers 503 with `Retry-After`, leaves no partial write, and succeeds when
//! retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ports::store::*;
use crate::ports::{
    BlobError, BlobKey, BlobStore, ByteStream, DataKey, Delivery, EncryptionContext, JobQueue, KeyError, KeyService,
    MailError, Mailer, OutgoingEmail, Platform, PushError, PushPayload, PushProvider, QueueError, QueueName,
    SecretError, SecretName, SecretStore,
};

/// What to inject, and how often.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Share of the affected calls that fail, 0.0..=1.0.
    pub rate: f64,
    /// Which calls are affected.
    pub target: FaultTarget,
    /// Every affected call is first delayed this long.
    pub delay: Option<Duration>,
    pub seed: u64,
}

/// The calls a plan affects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    Every,
    /// Writes fail, reads pass: a table whose write capacity is exhausted.
    Writes,
    /// Only multi-item transactions fail: conflicting transactions on busy items.
    Transactions,
}

/// Decides, call by call, whether to fail (seeded, so a run can be repeated).
struct Injector {
    plan: FaultPlan,
    rng: Mutex<StdRng>,
    injected: AtomicUsize,
}

impl Injector {
    fn new(plan: FaultPlan) -> Self {
        Injector { rng: Mutex::new(StdRng::seed_from_u64(plan.seed)), plan, injected: AtomicUsize::new(0) }
    }

    /// `Err(cause)` when this call is to fail.
    async fn fault(&self, call: Call) -> Result<(), anyhow::Error> {
        let affected = match self.plan.target {
            FaultTarget::Every => true,
            FaultTarget::Writes => call != Call::Read,
            FaultTarget::Transactions => call == Call::Transaction,
        };
        if !affected {
            return Ok(());
        }
        if let Some(d) = self.plan.delay {
            tokio::time::sleep(d).await;
        }
        let fail = self.rng.lock().map(|mut r| r.gen_bool(self.plan.rate.clamp(0.0, 1.0))).unwrap_or(false);
        if fail {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(anyhow::anyhow!("injected fault: throttled"));
        }
        Ok(())
    }
}

macro_rules! faulty {
    ($(#[$doc:meta])* $name:ident, $port:ident) => {
        $(#[$doc])*
        pub struct $name {
            inner: Arc<dyn $port>,
            faults: Injector,
        }

        impl $name {
            pub fn new(inner: Arc<dyn $port>, plan: FaultPlan) -> Self {
                $name { inner, faults: Injector::new(plan) }
            }

            /// How many failures were injected so far.
            pub fn injected(&self) -> usize {
                self.faults.injected.load(Ordering::Relaxed)
            }
        }
    };
}

faulty!(
    /// An [`ItemStore`] that fails as `plan` says.
    FaultyStore,
    ItemStore
);
faulty!(
    /// A [`BlobStore`] that fails as `plan` says.
    FaultyBlobs,
    BlobStore
);
faulty!(
    /// A [`KeyService`] that fails as `plan` says.
    FaultyKeys,
    KeyService
);
faulty!(
    /// A [`JobQueue`] that fails as `plan` says.
    FaultyQueue,
    JobQueue
);
faulty!(
    /// A [`Mailer`] that fails as `plan` says.
    FaultyMailer,
    Mailer
);
faulty!(
    /// A [`SecretStore`] that fails as `plan` says.
    FaultySecrets,
    SecretStore
);
faulty!(
    /// A [`PushProvider`] that fails as `plan` says (a failed push is retried by the queue).
    FaultyPush,
    PushProvider
);

impl FaultyStore {
    async fn fault(&self, call: Call) -> Result<(), StoreError> {
        self.faults.fault(call).await.map_err(StoreError::Unavailable)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    Write,
    Transaction,
}

#[async_trait]
impl ItemStore for FaultyStore {
    async fn ensure_table(&self, table: &Table) -> Result<(), StoreError> {
        self.inner.ensure_table(table).await
    }
    async fn get(&self, table: &Table, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.fault(Call::Read).await?;
        self.inner.get(table, pk, sk).await
    }
    async fn get_many(&self, table: &Table, keys: &[(&str, &str)]) -> Result<Vec<Option<Item>>, StoreError> {
        self.fault(Call::Read).await?;
        self.inner.get_many(table, keys).await
    }
    async fn put(&self, table: &Table, item: Item, cond: Cond) -> Result<(), StoreError> {
        self.fault(Call::Write).await?;
        self.inner.put(table, item, cond).await
    }
    async fn update(&self, table: &Table, pk: &str, sk: &str, update: Update, cond: Cond) -> Result<Item, StoreError> {
        self.fault(Call::Write).await?;
        self.inner.update(table, pk, sk, update, cond).await
    }
    async fn delete(&self, table: &Table, pk: &str, sk: &str, cond: Cond) -> Result<(), StoreError> {
        self.fault(Call::Write).await?;
        self.inner.delete(table, pk, sk, cond).await
    }
    async fn query(&self, req: QueryRequest) -> Result<Page, StoreError> {
        self.fault(Call::Read).await?;
        self.inner.query(req).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        self.fault(Call::Transaction).await?;
        self.inner.transact(ops).await
    }
    async fn scan(&self, table: &Table, limit: usize, cursor: Option<String>) -> Result<Page, StoreError> {
        self.fault(Call::Read).await?;
        self.inner.scan(table, limit, cursor).await
    }
}

#[async_trait]
impl BlobStore for FaultyBlobs {
    async fn put(&self, key: &BlobKey, body: ByteStream) -> Result<u64, BlobError> {
        self.faults.fault(Call::Write).await.map_err(BlobError::Unavailable)?;
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        self.faults.fault(Call::Read).await.map_err(BlobError::Unavailable)?;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.faults.fault(Call::Write).await.map_err(BlobError::Unavailable)?;
        self.inner.delete(key).await
    }
}

#[async_trait]
impl KeyService for FaultyKeys {
    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KeyError> {
        self.faults.fault(Call::Write).await.map_err(KeyError::Unavailable)?;
        self.inner.generate_data_key(ctx).await
    }
    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, KeyError> {
        self.faults.fault(Call::Read).await.map_err(KeyError::Unavailable)?;
        self.inner.decrypt_data_key(wrapped, ctx).await
    }
}

#[async_trait]
impl JobQueue for FaultyQueue {
    async fn ensure_queue(&self, queue: &QueueName, max_receives: u32) -> Result<(), QueueError> {
        self.inner.ensure_queue(queue, max_receives).await
    }
    async fn enqueue_delayed(&self, queue: &QueueName, body: &[u8], delay_secs: u32) -> Result<String, QueueError> {
        self.faults.fault(Call::Write).await.map_err(QueueError::Unavailable)?;
        self.inner.enqueue_delayed(queue, body, delay_secs).await
    }
    async fn enqueue_batch(&self, queue: &QueueName, bodies: &[Vec<u8>]) -> Result<(), QueueError> {
        self.faults.fault(Call::Write).await.map_err(QueueError::Unavailable)?;
        self.inner.enqueue_batch(queue, bodies).await
    }
    async fn receive(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.faults.fault(Call::Read).await.map_err(QueueError::Unavailable)?;
        self.inner.receive(queue, max).await
    }
    async fn ack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(queue, receipt).await
    }
    async fn nack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.nack(queue, receipt).await
    }
    async fn receive_dead(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive_dead(queue, max).await
    }
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        self.faults.fault(Call::Write).await.map_err(MailError::Unavailable)?;
        self.inner.send(email).await
    }
}

#[async_trait]
impl SecretStore for FaultySecrets {
    async fn get(&self, name: &SecretName) -> Result<secrecy::SecretSlice<u8>, SecretError> {
        self.faults.fault(Call::Read).await.map_err(SecretError::Unavailable)?;
        self.inner.get(name).await
    }
    async fn create(&self, name: &SecretName, value: &[u8]) -> Result<(), SecretError> {
        self.faults.fault(Call::Write).await.map_err(SecretError::Unavailable)?;
        self.inner.create(name, value).await
    }
}

#[async_trait]
impl PushProvider for FaultyPush {
    async fn send(&self, platform: Platform, token: &str, payload: &PushPayload) -> Result<(), PushError> {
        self.faults.fault(Call::Write).await.map_err(PushError::Retry)?;
        self.inner.send(platform, token, payload).await
    }
}
