//! Item store port, shaped like a DynamoDB single-table design: items live in a table (the
//! platform directory or one table per tenant), keyed by a partition key `pk` and a sort key
//! `sk`. Writes take a [`Cond`] evaluated atomically with the write, which is how uniqueness,
//! single-use tokens and counters stay correct under many concurrent Lambdas.
//!
//! Expiry: an item whose numeric [`EXPIRES_AT`] attribute (epoch seconds) is at or before the
//! clock's now is *expired*. Expired items are invisible to `get`/`query`, count as absent for
//! [`Cond::NotExists`]/[`Cond::Exists`], and are eventually deleted by the backend (DynamoDB
//! TTL; the embedded sweeper). `update` works on the stored attributes, expired or not —
//! exactly like DynamoDB before its TTL sweep — so callers re-arming an expiring item
//! condition on `expires_at` themselves.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Name of the TTL attribute (DynamoDB TimeToLive is configured on it).
pub const EXPIRES_AT: &str = "expires_at";
/// Partition and sort key attribute names; they are not part of [`Item::attrs`].
pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// Which table an operation addresses. Tenant data never shares a table with another tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// The small platform directory: tenant slugs and tenant records.
    Platform,
    /// One tenant's own table (AWS) or namespace (embedded). The string is the tenant id.
    Tenant(String),
}

impl Table {
    /// The table of one tenant.
    pub fn tenant(t: &crate::domain::types::TenantId) -> Table {
        Table::Tenant(t.as_str().to_owned())
    }
}

/// An attribute value: the subset of DynamoDB types the domain uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrValue {
    S(String),
    N(i64),
    #[serde(with = "b64")]
    B(Vec<u8>),
    Bool(bool),
    L(Vec<AttrValue>),
}

mod b64 {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

impl AttrValue {
    pub fn as_s(&self) -> Option<&str> {
        match self {
            AttrValue::S(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_n(&self) -> Option<i64> {
        match self {
            AttrValue::N(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_b(&self) -> Option<&[u8]> {
        match self {
            AttrValue::B(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::S(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::S(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::N(v)
    }
}
impl From<Vec<u8>> for AttrValue {
    fn from(v: Vec<u8>) -> Self {
        AttrValue::B(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

/// One item: its key and its other attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub attrs: BTreeMap<String, AttrValue>,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Item { pk: pk.into(), sk: sk.into(), attrs: BTreeMap::new() }
    }
    /// Builder-style attribute setter.
    pub fn with(mut self, name: &str, value: impl Into<AttrValue>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.attrs.get(name)
    }
    pub fn s(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(AttrValue::as_s)
    }
    pub fn n(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(AttrValue::as_n)
    }
    pub fn b(&self, name: &str) -> Option<&[u8]> {
        self.get(name).and_then(AttrValue::as_b)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(AttrValue::as_bool)
    }
    /// Whether the item is expired at `now` (epoch seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        matches!(self.n(EXPIRES_AT), Some(t) if t <= now)
    }
}

/// A condition evaluated atomically with a write. Attribute comparisons on a missing
/// attribute are false (DynamoDB semantics); numbers compare numerically, strings bytewise.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// No condition.
    Always,
    /// The item is absent or expired.
    NotExists,
    /// The item is present and not expired.
    Exists,
    Eq(String, AttrValue),
    Lt(String, AttrValue),
    Le(String, AttrValue),
    Gt(String, AttrValue),
    Ge(String, AttrValue),
    /// The attribute is present.
    Has(String),
    /// The attribute is absent.
    Missing(String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    pub fn eq(name: &str, v: impl Into<AttrValue>) -> Self {
        Cond::Eq(name.to_owned(), v.into())
    }
    pub fn lt(name: &str, v: impl Into<AttrValue>) -> Self {
        Cond::Lt(name.to_owned(), v.into())
    }
    pub fn le(name: &str, v: impl Into<AttrValue>) -> Self {
        Cond::Le(name.to_owned(), v.into())
    }
    pub fn gt(name: &str, v: impl Into<AttrValue>) -> Self {
        Cond::Gt(name.to_owned(), v.into())
    }
    pub fn ge(name: &str, v: impl Into<AttrValue>) -> Self {
        Cond::Ge(name.to_owned(), v.into())
    }
}

/// An atomic in-place update: `set` attributes, `add` to numbers (a missing number counts
/// as 0), `remove` attributes. Applied to a missing item it creates it (an upsert), unless
/// the condition forbids that.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, AttrValue)>,
    pub add: Vec<(String, i64)>,
    pub remove: Vec<String>,
}

impl Update {
    pub fn set(mut self, name: &str, v: impl Into<AttrValue>) -> Self {
        self.set.push((name.to_owned(), v.into()));
        self
    }
    pub fn add(mut self, name: &str, by: i64) -> Self {
        self.add.push((name.to_owned(), by));
        self
    }
    pub fn remove(mut self, name: &str) -> Self {
        self.remove.push(name.to_owned());
        self
    }
}

/// Which sort keys a query selects inside one partition.
#[derive(Clone, Debug, PartialEq)]
pub enum SkRange {
    /// Sort keys starting with this prefix (empty: the whole partition).
    Prefix(String),
    /// Sort keys between the two bounds, both inclusive.
    Between(String, String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

#[derive(Clone, Debug)]
pub struct QueryRequest {
    pub table: Table,
    pub pk: String,
    pub range: SkRange,
    pub direction: Direction,
    /// At most this many items (1..=1000).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of query results. `next_cursor` is opaque; `None` means there is nothing more.
/// A page may hold fewer than `limit` items (expired items are filtered after the limit,
/// as DynamoDB does) while a cursor is still returned.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum TxOp {
    Put {
        table: Table,
        item: Item,
        cond: Cond,
    },
    Update {
        table: Table,
        pk: String,
        sk: String,
        update: Update,
        cond: Cond,
    },
    Delete {
        table: Table,
        pk: String,
        sk: String,
        cond: Cond,
    },
    /// A condition on an item that the transaction does not write.
    Check {
        table: Table,
        pk: String,
        sk: String,
        cond: Cond,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition was false; nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; `index` is the first operation whose condition failed,
    /// when the backend says which. Nothing was written.
    #[error("transaction cancelled")]
    TransactionCancelled { index: Option<usize> },
    /// The table does not exist.
    #[error("no such table")]
    NoSuchTable,
    /// The cursor was not produced by this query.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Throttled, briefly unavailable, or a transaction lost a race it may win on a retry:
    /// nothing was written, and the same request may succeed later.
    #[error("store temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("store backend failure")]
    Backend(#[source] anyhow::Error),
}

impl StoreError {
    pub fn backend(e: impl Into<anyhow::Error>) -> Self {
        StoreError::Backend(e.into())
    }
}

#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Create the table if it does not exist (idempotent). AWS: DynamoDB table with TTL on
    /// `expires_at` and point-in-time recovery; embedded: a namespace.
    async fn ensure_table(&self, table: &Table) -> Result<(), StoreError>;
    async fn get(&self, table: &Table, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Several items of one table in one round trip (at most 100 keys), consistently read,
    /// in the order of `keys`. AWS: BatchGetItem; embedded: one read transaction.
    async fn get_many(&self, table: &Table, keys: &[(&str, &str)]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for (pk, sk) in keys {
            out.push(self.get(table, pk, sk).await?);
        }
        Ok(out)
    }
    async fn put(&self, table: &Table, item: Item, cond: Cond) -> Result<(), StoreError>;
    /// Atomically update and return the item as it is after the update.
    async fn update(&self, table: &Table, pk: &str, sk: &str, update: Update, cond: Cond) -> Result<Item, StoreError>;
    async fn delete(&self, table: &Table, pk: &str, sk: &str, cond: Cond) -> Result<(), StoreError>;
    async fn query(&self, req: QueryRequest) -> Result<Page, StoreError>;
    /// All operations succeed or none does (at most 100, each on a distinct item).
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError>;
    /// One page of every live item of a table, in no particular order (maintenance jobs:
    /// re-encryption). `cursor` is the previous page's `next_cursor`; `limit` is 1..=1000.
    async fn scan(&self, table: &Table, limit: usize, cursor: Option<String>) -> Result<Page, StoreError>;
}

/// A query cursor: the page's last sort key, opaque to callers; both adapters use this format.
pub fn encode_cursor(sk: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

/// A query cursor back to its sort key, refused unless it lies inside the query's range (so
/// a cursor cannot move a query to another part of the partition).
pub fn decode_cursor(c: &str, range: &SkRange) -> Result<String, StoreError> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
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

/// A scan cursor: the last item's key, opaque to callers.
pub fn encode_scan_cursor(pk: &str, sk: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(pk, sk)).unwrap_or_default())
}

pub fn decode_scan_cursor(c: &str) -> Result<(String, String), StoreError> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::InvalidCursor)?;
    serde_json::from_slice(&raw).map_err(|_| StoreError::InvalidCursor)
}

/// Every item of one partition range, forward, following cursors until done or `cap` items
/// are collected (a bound for listings that must not grow without limit).
pub async fn query_all(
    store: &dyn ItemStore,
    table: &Table,
    pk: &str,
    range: SkRange,
    cap: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let req = QueryRequest {
            table: table.clone(),
            pk: pk.to_owned(),
            range: range.clone(),
            direction: Direction::Forward,
            limit: 500,
            cursor,
        };
        let page = store.query(req).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) if out.len() < cap => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

/// Delete every item of a partition whose sort key starts with `prefix` (not atomic: for
/// cleanup — recall, wipe, regeneration — where each item is independent).
pub async fn delete_partition(
    store: &dyn ItemStore,
    table: &Table,
    pk: &str,
    prefix: &str,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    loop {
        let req = QueryRequest {
            table: table.clone(),
            pk: pk.to_owned(),
            range: SkRange::Prefix(prefix.to_owned()),
            direction: Direction::Forward,
            limit: 100,
            cursor: None,
        };
        let page = store.query(req).await?;
        if page.items.is_empty() {
            return Ok(deleted);
        }
        for item in page.items {
            store.delete(table, &item.pk, &item.sk, Cond::Always).await?;
            deleted += 1;
        }
    }
}

/// Validate what both adapters reject the same way.
pub fn check_transaction(ops: &[TxOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > 100 {
        return Err(StoreError::Invalid("a transaction holds 1..=100 operations".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        let key = match op {
            TxOp::Put { table, item, .. } => (table, item.pk.as_str(), item.sk.as_str()),
            TxOp::Update { table, pk, sk, .. }
            | TxOp::Delete { table, pk, sk, .. }
            | TxOp::Check { table, pk, sk, .. } => (table, pk.as_str(), sk.as_str()),
        };
        if !seen.insert(key) {
            return Err(StoreError::Invalid("a transaction touches each item once".into()));
        }
    }
    Ok(())
}

/// A query's sort-key range: DynamoDB refuses empty key values (and an inverted `BETWEEN`), so
/// both adapters refuse them alike.
pub fn check_range(range: &SkRange) -> Result<(), StoreError> {
    match range {
        SkRange::Between(a, b) if a.is_empty() || b.is_empty() => {
            Err(StoreError::Invalid("a sort-key range bound must not be empty".into()))
        }
        SkRange::Between(a, b) if a > b => Err(StoreError::Invalid("a sort-key range must not be inverted".into())),
        _ => Ok(()),
    }
}

pub fn check_limit(limit: usize) -> Result<(), StoreError> {
    if (1..=1000).contains(&limit) {
        Ok(())
    } else {
        Err(StoreError::Invalid("limit must be 1..=1000".into()))
    }
}

/// Evaluate a condition against the stored item (both adapters' reference semantics; the
/// embedded adapter uses it directly, the DynamoDB adapter compiles the same meaning).
pub fn eval_cond(cond: &Cond, item: Option<&Item>, now: i64) -> bool {
    let live = item.filter(|i| !i.is_expired(now));
    let attr = |name: &str| -> Option<AttrValue> {
        let it = item?;
        match name {
            PK => Some(AttrValue::S(it.pk.clone())),
            SK => Some(AttrValue::S(it.sk.clone())),
            _ => it.attrs.get(name).cloned(),
        }
    };
    let cmp = |name: &str, v: &AttrValue| -> Option<std::cmp::Ordering> {
        match (attr(name)?, v) {
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.as_slice().cmp(b.as_slice())),
            _ => None,
        }
    };
    use std::cmp::Ordering::*;
    match cond {
        Cond::Always => true,
        Cond::NotExists => live.is_none(),
        Cond::Exists => live.is_some(),
        Cond::Eq(n, v) => attr(n).as_ref() == Some(v),
        Cond::Lt(n, v) => cmp(n, v) == Some(Less),
        Cond::Le(n, v) => matches!(cmp(n, v), Some(Less | Equal)),
        Cond::Gt(n, v) => cmp(n, v) == Some(Greater),
        Cond::Ge(n, v) => matches!(cmp(n, v), Some(Greater | Equal)),
        Cond::Has(n) => attr(n).is_some(),
        Cond::Missing(n) => attr(n).is_none(),
        Cond::And(cs) => cs.iter().all(|c| eval_cond(c, item, now)),
        Cond::Or(cs) => cs.iter().any(|c| eval_cond(c, item, now)),
    }
}

/// Apply an update to the stored item (or a new one). Reference semantics for both adapters.
pub fn apply_update(pk: &str, sk: &str, existing: Option<Item>, update: &Update) -> Result<Item, StoreError> {
    let mut item = existing.unwrap_or_else(|| Item::new(pk, sk));
    for (n, v) in &update.set {
        item.attrs.insert(n.clone(), v.clone());
    }
    for (n, by) in &update.add {
        let cur = match item.attrs.get(n) {
            None => 0,
            Some(AttrValue::N(x)) => *x,
            Some(_) => return Err(StoreError::Invalid(format!("ADD on a non-number attribute {n}"))),
        };
        let next = cur.checked_add(*by).ok_or_else(|| StoreError::Invalid("number overflow".into()))?;
        item.attrs.insert(n.clone(), AttrValue::N(next));
    }
    for n in &update.remove {
        item.attrs.remove(n);
    }
    Ok(item)
}
