//! Fault injection (tests and drills): an item store that, at a set rate and from a seed, fails
//! as a throttled or briefly unavailable backend does (nothing written; `Unavailable`), or
//! answers slowly, around any real store. Used by the tests on both backends to prove that a
//! failed request answers 503 with `Retry-After`, leaves no partial write, and succeeds when
//! retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ports::store::*;

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

pub struct FaultyStore {
    inner: Arc<dyn ItemStore>,
    plan: FaultPlan,
    rng: Mutex<StdRng>,
    injected: AtomicUsize,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ItemStore>, plan: FaultPlan) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(plan.seed));
        FaultyStore { inner, plan, rng, injected: AtomicUsize::new(0) }
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::Relaxed)
    }

    async fn fault(&self, call: Call) -> Result<(), StoreError> {
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
            return Err(StoreError::Unavailable(anyhow::anyhow!("injected fault: throttled")));
        }
        Ok(())
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
