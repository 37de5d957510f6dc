//! Embedded item store on redb: one redb table per [`Table`] (`platform`, `tenant-<id>`),
//! keyed by `(pk, sk)` so a partition is a contiguous, ordered key range. Every write runs in
//! one serializable write transaction that evaluates its condition and writes, so conditions
//! are atomic exactly as DynamoDB's are.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use redb::{Database, ReadableTable, TableDefinition, TableError, WriteTransaction};

use super::blocking;
use crate::clock::Clock;
use crate::ports::store::*;

type Key<'a> = (&'a str, &'a str);

struct Inner {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    known: RwLock<HashSet<String>>,
}

fn ns(table: &Table) -> String {
    match table {
        Table::Platform => "store:platform".to_owned(),
        Table::Tenant(id) => format!("store:tenant-{id}"),
    }
}

fn def(name: &str) -> TableDefinition<'_, Key<'static>, &'static [u8]> {
    TableDefinition::new(name)
}

fn be(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(anyhow::anyhow!("redb: {e}"))
}

fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&item.attrs).map_err(be)
}

fn decode(pk: &str, sk: &str, bytes: &[u8]) -> Result<Item, StoreError> {
    let attrs: BTreeMap<String, AttrValue> = serde_json::from_slice(bytes).map_err(be)?;
    Ok(Item { pk: pk.to_owned(), sk: sk.to_owned(), attrs })
}

/// Encode a page boundary; both adapters use the same cursor format (the last sort key).
pub(crate) fn encode_cursor(sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

pub(crate) fn decode_cursor(c: &str, range: &SkRange) -> Result<String, StoreError> {
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::InvalidCursor)?;
    let sk = String::from_utf8(raw).map_err(|_| StoreError::InvalidCursor)?;
    let inside = match range {
        SkRange::Prefix(p) => sk.starts_with(p.as_str()),
        SkRange::Between(a, b) => a <= &sk && &sk <= b,
    };
    if inside {
        Ok(sk)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

impl Inner {
    /// Whether the namespace exists, without creating it (a write to a missing table is an
    /// error, as in DynamoDB).
    fn exists(&self, txn: &WriteTransaction, name: &str) -> Result<bool, StoreError> {
        if self.known.read().map(|k| k.contains(name)).unwrap_or(false) {
            return Ok(true);
        }
        use redb::TableHandle;
        let found = txn.list_tables().map_err(be)?.any(|h| h.name() == name);
        if found {
            if let Ok(mut k) = self.known.write() {
                k.insert(name.to_owned());
            }
        }
        Ok(found)
    }

    /// Run `f` in one write transaction; commit only if it returns Ok.
    async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Inner, &WriteTransaction, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = Arc::clone(self);
        blocking(move || {
            let txn = this.db.begin_write().map_err(be)?;
            let now = this.clock.now_secs();
            let out = f(&this, &txn, now)?;
            txn.commit().map_err(be)?;
            Ok(out)
        })
        .await
        .map_err(StoreError::Backend)?
    }

    fn load(txn: &WriteTransaction, name: &str, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let t = txn.open_table(def(name)).map_err(be)?;
        let v = t.get((pk, sk)).map_err(be)?;
        v.map(|g| decode(pk, sk, g.value())).transpose()
    }

    fn apply(&self, txn: &WriteTransaction, op: &TxOp, now: i64) -> Result<bool, StoreError> {
        let (table, pk, sk, cond) = match op {
            TxOp::Put { table, item, cond } => (table, item.pk.as_str(), item.sk.as_str(), cond),
            TxOp::Update { table, pk, sk, cond, .. }
            | TxOp::Delete { table, pk, sk, cond }
            | TxOp::Check { table, pk, sk, cond } => (table, pk.as_str(), sk.as_str(), cond),
        };
        let name = ns(table);
        if !self.exists(txn, &name)? {
            return Err(StoreError::NoSuchTable);
        }
        let current = Self::load(txn, &name, pk, sk)?;
        if !eval_cond(cond, current.as_ref(), now) {
            return Ok(false);
        }
        let mut t = txn.open_table(def(&name)).map_err(be)?;
        match op {
            TxOp::Put { item, .. } => {
                t.insert((pk, sk), encode(item)?.as_slice()).map_err(be)?;
            }
            TxOp::Update { update, .. } => {
                let next = apply_update(pk, sk, current, update)?;
                t.insert((pk, sk), encode(&next)?.as_slice()).map_err(be)?;
            }
            TxOp::Delete { .. } => {
                t.remove((pk, sk)).map_err(be)?;
            }
            TxOp::Check { .. } => {}
        }
        Ok(true)
    }

    /// Delete every expired item (the embedded stand-in for DynamoDB's TTL sweeper).
    /// Returns how many were removed.
    pub async fn sweep_expired(self: &Arc<Self>) -> Result<usize, StoreError> {
        self.write(|_, txn, now| {
            use redb::TableHandle;
            let names: Vec<String> = txn
                .list_tables()
                .map_err(be)?
                .map(|h| h.name().to_owned())
                .filter(|n| n.starts_with("store:"))
                .collect();
            let mut removed = 0;
            for name in names {
                let mut t = txn.open_table(def(&name)).map_err(be)?;
                let mut dead = Vec::new();
                for row in t.iter().map_err(be)? {
                    let (k, v) = row.map_err(be)?;
                    let (pk, sk) = k.value();
                    if decode(pk, sk, v.value())?.is_expired(now) {
                        dead.push((pk.to_owned(), sk.to_owned()));
                    }
                }
                for (pk, sk) in &dead {
                    t.remove((pk.as_str(), sk.as_str())).map_err(be)?;
                }
                removed += dead.len();
            }
            Ok(removed)
        })
        .await
    }
}

/// A table for reading; a missing table is `NoSuchTable`, as in DynamoDB.
fn open_read(db: &Database, name: &str) -> Result<redb::ReadOnlyTable<Key<'static>, &'static [u8]>, StoreError> {
    let r = db.begin_read().map_err(be)?;
    match r.open_table(def(name)) {
        Ok(t) => Ok(t),
        Err(TableError::TableDoesNotExist(_)) => Err(StoreError::NoSuchTable),
        Err(e) => Err(be(e)),
    }
}

/// The embedded [`ItemStore`] adapter (cheap to clone; one database per process).
#[derive(Clone)]
pub struct EmbeddedStore(Arc<Inner>);

impl EmbeddedStore {
    pub fn new(db: Arc<Database>, clock: Arc<dyn Clock>) -> Self {
        EmbeddedStore(Arc::new(Inner { db, clock, known: RwLock::new(HashSet::new()) }))
    }

    /// Delete every expired item (the embedded stand-in for DynamoDB's TTL sweeper).
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.0.sweep_expired().await
    }
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn ensure_table(&self, table: &Table) -> Result<(), StoreError> {
        let name = ns(table);
        self.0
            .write(move |s, txn, _| {
                txn.open_table(def(&name)).map_err(be)?;
                if let Ok(mut k) = s.known.write() {
                    k.insert(name.clone());
                }
                Ok(())
            })
            .await
    }

    async fn get(&self, table: &Table, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (name, pk, sk) = (ns(table), pk.to_owned(), sk.to_owned());
        let this = Arc::clone(&self.0);
        blocking(move || {
            let now = this.clock.now_secs();
            let t = open_read(&this.db, &name)?;
            let v = t.get((pk.as_str(), sk.as_str())).map_err(be)?;
            let item = v.map(|g| decode(&pk, &sk, g.value())).transpose()?;
            Ok(item.filter(|i| !i.is_expired(now)))
        })
        .await
        .map_err(StoreError::Backend)?
    }

    async fn put(&self, table: &Table, item: Item, cond: Cond) -> Result<(), StoreError> {
        let op = TxOp::Put { table: table.clone(), item, cond };
        self.0
            .write(move |s, txn, now| if s.apply(txn, &op, now)? { Ok(()) } else { Err(StoreError::ConditionFailed) })
            .await
    }

    async fn update(&self, table: &Table, pk: &str, sk: &str, update: Update, cond: Cond) -> Result<Item, StoreError> {
        let (table, pk, sk) = (table.clone(), pk.to_owned(), sk.to_owned());
        self.0
            .write(move |s, txn, now| {
                let op = TxOp::Update { table: table.clone(), pk: pk.clone(), sk: sk.clone(), update, cond };
                if !s.apply(txn, &op, now)? {
                    return Err(StoreError::ConditionFailed);
                }
                Inner::load(txn, &ns(&table), &pk, &sk)?.ok_or_else(|| be("updated item vanished"))
            })
            .await
    }

    async fn delete(&self, table: &Table, pk: &str, sk: &str, cond: Cond) -> Result<(), StoreError> {
        let op = TxOp::Delete { table: table.clone(), pk: pk.to_owned(), sk: sk.to_owned(), cond };
        self.0
            .write(move |s, txn, now| if s.apply(txn, &op, now)? { Ok(()) } else { Err(StoreError::ConditionFailed) })
            .await
    }

    async fn query(&self, req: QueryRequest) -> Result<Page, StoreError> {
        check_limit(req.limit)?;
        let after = req.cursor.as_deref().map(|c| decode_cursor(c, &req.range)).transpose()?;
        let this = Arc::clone(&self.0);
        blocking(move || {
            let now = this.clock.now_secs();
            let name = ns(&req.table);
            let t = open_read(&this.db, &name)?;
            // Inclusive sort-key bounds of the selection.
            let (mut lo, mut hi) = match &req.range {
                SkRange::Prefix(p) => (p.clone(), format!("{p}\u{10FFFF}")),
                SkRange::Between(a, b) => (a.clone(), b.clone()),
            };
            // Seek straight to the cursor; the boundary item itself is skipped below.
            match (&after, req.direction) {
                (Some(a), Direction::Forward) => lo = a.clone(),
                (Some(a), Direction::Backward) => hi = a.clone(),
                (None, _) => {}
            }
            let pk = req.pk.as_str();
            let in_range = |sk: &str| match &req.range {
                SkRange::Prefix(p) => sk.starts_with(p.as_str()),
                SkRange::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            };
            let iter = t.range((pk, lo.as_str())..=(pk, hi.as_str())).map_err(be)?;
            let rows: Box<dyn Iterator<Item = _>> = match req.direction {
                Direction::Forward => Box::new(iter),
                Direction::Backward => Box::new(iter.rev()),
            };
            let mut items = Vec::new();
            let mut scanned = 0usize;
            let mut last_sk: Option<String> = None;
            let mut more = false;
            for row in rows {
                let (k, v) = row.map_err(be)?;
                let (rpk, rsk) = k.value();
                if rpk != pk || !in_range(rsk) {
                    continue;
                }
                if let Some(a) = &after {
                    let past = match req.direction {
                        Direction::Forward => rsk > a.as_str(),
                        Direction::Backward => rsk < a.as_str(),
                    };
                    if !past {
                        continue;
                    }
                }
                if scanned == req.limit {
                    more = true;
                    break;
                }
                scanned += 1;
                last_sk = Some(rsk.to_owned());
                let item = decode(rpk, rsk, v.value())?;
                if !item.is_expired(now) {
                    items.push(item);
                }
            }
            let next_cursor = if more { last_sk.as_deref().map(encode_cursor) } else { None };
            Ok(Page { items, next_cursor })
        })
        .await
        .map_err(StoreError::Backend)?
    }

    async fn scan(&self, table: &Table, limit: usize, cursor: Option<String>) -> Result<Page, StoreError> {
        check_limit(limit)?;
        let after = cursor.as_deref().map(decode_scan_cursor).transpose()?;
        let this = Arc::clone(&self.0);
        let name = ns(table);
        blocking(move || {
            let now = this.clock.now_secs();
            let t = open_read(&this.db, &name)?;
            let rows = match &after {
                Some((pk, sk)) => t.range::<(&str, &str)>((pk.as_str(), sk.as_str())..).map_err(be)?,
                None => t.iter().map_err(be)?,
            };
            let (mut items, mut last, mut more) = (Vec::new(), None, false);
            let mut scanned = 0usize;
            for row in rows {
                let (k, v) = row.map_err(be)?;
                let (pk, sk) = k.value();
                if after.as_ref().is_some_and(|(apk, ask)| (apk.as_str(), ask.as_str()) == (pk, sk)) {
                    continue;
                }
                if scanned == limit {
                    more = true;
                    break;
                }
                scanned += 1;
                last = Some((pk.to_owned(), sk.to_owned()));
                let item = decode(pk, sk, v.value())?;
                if !item.is_expired(now) {
                    items.push(item);
                }
            }
            let next_cursor = if more { last.map(|(pk, sk)| encode_scan_cursor(&pk, &sk)) } else { None };
            Ok(Page { items, next_cursor })
        })
        .await
        .map_err(StoreError::Backend)?
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        check_transaction(&ops)?;
        self.0
            .write(move |s, txn, now| {
                for (i, op) in ops.iter().enumerate() {
                    // Returning an error drops the transaction uncommitted: nothing is written.
                    if !s.apply(txn, op, now)? {
                        return Err(StoreError::TransactionCancelled { index: Some(i) });
                    }
                }
                Ok(())
            })
            .await
    }
}
