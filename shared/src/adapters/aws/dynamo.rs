//! DynamoDB item store. One table per tenant (`<prefix>-tenant-<id>`) plus the platform
//! directory (`<prefix>-platform`), each keyed `pk` (hash) / `sk` (range) with TTL on
//! `expires_at`. [`Cond`]itions compile to condition expressions evaluated by DynamoDB
//! atomically with the write; expiry is folded into them so an expired-but-unswept item
//! counts as absent, as the port requires.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Put, ReturnValue, ScalarAttributeType, SseSpecification, SseType, TableStatus,
    Tag, TimeToLiveSpecification, TransactWriteItem, Update as DynUpdate,
};
use aws_sdk_dynamodb::Client;

use super::describe;
use crate::ports::clock::Clock;
use crate::ports::store::*;

pub struct DynamoStore {
    client: super::Lazy<Client>,
    prefix: String,
    /// The master key (`BULWARK_KMS_KEY_ID`): tables this store creates are encrypted at rest
    /// with it, as the platform table is in `template.yaml`.
    kms_key_id: String,
    clock: Arc<dyn Clock>,
}

/// The tag AWS Backup's plan selects tables by (`template.yaml`, `BackupSelection`).
pub const BACKUP_TAG: (&str, &str) = ("bulwark:backup", "true");

fn be(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(describe(e))
}

fn to_av(v: &AttrValue) -> AttributeValue {
    match v {
        AttrValue::S(s) => AttributeValue::S(s.clone()),
        AttrValue::N(n) => AttributeValue::N(n.to_string()),
        AttrValue::B(b) => AttributeValue::B(Blob::new(b.clone())),
        AttrValue::Bool(b) => AttributeValue::Bool(*b),
        AttrValue::L(l) => AttributeValue::L(l.iter().map(to_av).collect()),
    }
}

fn from_av(v: &AttributeValue) -> Result<AttrValue, StoreError> {
    Ok(match v {
        AttributeValue::S(s) => AttrValue::S(s.clone()),
        AttributeValue::N(n) => AttrValue::N(n.parse().map_err(|_| StoreError::Invalid("non-integer number".into()))?),
        AttributeValue::B(b) => AttrValue::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => AttrValue::Bool(*b),
        AttributeValue::L(l) => AttrValue::L(l.iter().map(from_av).collect::<Result<_, _>>()?),
        _ => return Err(StoreError::Invalid("unsupported attribute type".into())),
    })
}

fn to_map(item: &Item) -> HashMap<String, AttributeValue> {
    let mut m: HashMap<String, AttributeValue> = item.attrs.iter().map(|(k, v)| (k.clone(), to_av(v))).collect();
    m.insert(PK.into(), AttributeValue::S(item.pk.clone()));
    m.insert(SK.into(), AttributeValue::S(item.sk.clone()));
    m
}

fn from_map(mut m: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let key = |m: &mut HashMap<String, AttributeValue>, k: &str| match m.remove(k) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(StoreError::Invalid(format!("item without a string {k}"))),
    };
    let pk = key(&mut m, PK)?;
    let sk = key(&mut m, SK)?;
    let attrs = m.iter().map(|(k, v)| Ok((k.clone(), from_av(v)?))).collect::<Result<_, StoreError>>()?;
    Ok(Item { pk, sk, attrs })
}

fn key_map(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.into(), AttributeValue::S(pk.into())), (SK.into(), AttributeValue::S(sk.into()))])
}

/// Builds one request's expression placeholders (`#n0`, `:v0`), shared by its condition,
/// update and key expressions.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        if let Some((ph, _)) = self.names.iter().find(|(_, v)| v.as_str() == n) {
            return ph.clone();
        }
        let ph = format!("#n{}", self.names.len());
        self.names.insert(ph.clone(), n.to_owned());
        ph
    }
    fn value(&mut self, v: AttributeValue) -> String {
        let ph = format!(":v{}", self.values.len());
        self.values.insert(ph.clone(), v);
        ph
    }
    /// `None` means "always true" (DynamoDB has no literal for it).
    fn cond(&mut self, c: &Cond, now: i64) -> Option<String> {
        let cmp = |e: &mut Expr, n: &str, op: &str, v: &AttrValue| {
            let (n, v) = (e.name(n), e.value(to_av(v)));
            Some(format!("{n} {op} {v}"))
        };
        match c {
            Cond::Always => None,
            Cond::NotExists => {
                let (pk, exp, now) =
                    (self.name(PK), self.name(EXPIRES_AT), self.value(AttributeValue::N(now.to_string())));
                Some(format!("(attribute_not_exists({pk}) OR {exp} <= {now})"))
            }
            Cond::Exists => {
                let (pk, exp, now) =
                    (self.name(PK), self.name(EXPIRES_AT), self.value(AttributeValue::N(now.to_string())));
                Some(format!("(attribute_exists({pk}) AND (attribute_not_exists({exp}) OR {exp} > {now}))"))
            }
            Cond::Eq(n, v) => cmp(self, n, "=", v),
            Cond::Lt(n, v) => cmp(self, n, "<", v),
            Cond::Le(n, v) => cmp(self, n, "<=", v),
            Cond::Gt(n, v) => cmp(self, n, ">", v),
            Cond::Ge(n, v) => cmp(self, n, ">=", v),
            Cond::Has(n) => Some(format!("attribute_exists({})", self.name(n))),
            Cond::Missing(n) => Some(format!("attribute_not_exists({})", self.name(n))),
            Cond::And(cs) => {
                let parts: Vec<String> = cs.iter().filter_map(|c| self.cond(c, now)).collect();
                (!parts.is_empty()).then(|| format!("({})", parts.join(" AND ")))
            }
            Cond::Or(cs) => {
                let parts: Vec<Option<String>> = cs.iter().map(|c| self.cond(c, now)).collect();
                if cs.is_empty() {
                    // An empty OR is false: make it so explicitly.
                    let pk = self.name(PK);
                    return Some(format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))"));
                }
                if parts.iter().any(Option::is_none) {
                    return None;
                }
                Some(format!("({})", parts.into_iter().flatten().collect::<Vec<_>>().join(" OR ")))
            }
        }
    }
    fn update(&mut self, u: &Update) -> Option<String> {
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let s: Vec<String> =
                u.set.iter().map(|(n, v)| format!("{} = {}", self.name(n), self.value(to_av(v)))).collect();
            clauses.push(format!("SET {}", s.join(", ")));
        }
        if !u.add.is_empty() {
            let s: Vec<String> = u
                .add
                .iter()
                .map(|(n, by)| format!("{} {}", self.name(n), self.value(AttributeValue::N(by.to_string()))))
                .collect();
            clauses.push(format!("ADD {}", s.join(", ")));
        }
        if !u.remove.is_empty() {
            let s: Vec<String> = u.remove.iter().map(|n| self.name(n)).collect();
            clauses.push(format!("REMOVE {}", s.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Error codes after which the same request may succeed later (nothing was written).
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Map a service error: conditional-check failure and missing table are domain outcomes;
/// throttling and server-side failures are transient.
fn map_sdk<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("ResourceNotFoundException") => StoreError::NoSuchTable,
        Some(code) if TRANSIENT.contains(&code) => StoreError::Unavailable(describe(e)),
        // The SDK's own retries with backoff are spent: the caller may try again later.
        None if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) => {
            StoreError::Unavailable(describe(e))
        }
        _ => be(e),
    }
}

impl DynamoStore {
    pub fn new(client: super::Lazy<Client>, prefix: String, kms_key_id: String, clock: Arc<dyn Clock>) -> Self {
        DynamoStore { client, prefix, kms_key_id, clock }
    }

    pub fn table_name(&self, t: &Table) -> String {
        match t {
            Table::Platform => format!("{}-platform", self.prefix),
            Table::Tenant(id) => format!("{}-tenant-{id}", self.prefix),
        }
    }

    fn tx_item(&self, op: &TxOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let b = TransactWriteItem::builder();
        let bad = |x: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(x.to_string());
        Ok(match op {
            TxOp::Put { table, item, cond } => {
                let c = e.cond(cond, now);
                b.put(
                    Put::builder()
                        .table_name(self.table_name(table))
                        .set_item(Some(to_map(item)))
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(bad)?,
                )
                .build()
            }
            TxOp::Update { table, pk, sk, update, cond } => {
                let u = e.update(update);
                let c = e.cond(cond, now);
                // A transactional Update needs an expression; an empty update is a no-op SET.
                let u = match u {
                    Some(u) => u,
                    None => format!("SET {} = {}", e.name(PK), e.value(AttributeValue::S(pk.clone()))),
                };
                b.update(
                    DynUpdate::builder()
                        .table_name(self.table_name(table))
                        .set_key(Some(key_map(pk, sk)))
                        .update_expression(u)
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(bad)?,
                )
                .build()
            }
            TxOp::Delete { table, pk, sk, cond } => {
                let c = e.cond(cond, now);
                b.delete(
                    Delete::builder()
                        .table_name(self.table_name(table))
                        .set_key(Some(key_map(pk, sk)))
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(bad)?,
                )
                .build()
            }
            TxOp::Check { table, pk, sk, cond } => {
                // A ConditionCheck needs an expression; "always" is "pk exists or not".
                let c = e.cond(cond, now).unwrap_or_else(|| {
                    let pk = e.name(PK);
                    format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
                });
                b.condition_check(
                    ConditionCheck::builder()
                        .table_name(self.table_name(table))
                        .set_key(Some(key_map(pk, sk)))
                        .condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(bad)?,
                )
                .build()
            }
        })
    }

    async fn wait_active(&self, name: &str) -> Result<(), StoreError> {
        for _ in 0..120 {
            let d = self.client.describe_table().table_name(name).send().await.map_err(map_sdk)?;
            if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(StoreError::Backend(anyhow::anyhow!("table {name} did not become active")))
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn ensure_table(&self, table: &Table) -> Result<(), StoreError> {
        let name = self.table_name(table);
        let attr =
            |n: &str| AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build();
        let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build();
        let bad = |x: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(x.to_string());
        let created = self
            .client
            .create_table()
            .table_name(&name)
            .attribute_definitions(attr(PK).map_err(bad)?)
            .attribute_definitions(attr(SK).map_err(bad)?)
            .key_schema(key(PK, KeyType::Hash).map_err(bad)?)
            .key_schema(key(SK, KeyType::Range).map_err(bad)?)
            .billing_mode(BillingMode::PayPerRequest)
            // Encrypted with the master key (not the AWS-owned one), protected from deletion and
            // tagged for the nightly backup plan; point-in-time recovery is switched on below.
            .sse_specification(
                SseSpecification::builder()
                    .enabled(true)
                    .sse_type(SseType::Kms)
                    .kms_master_key_id(&self.kms_key_id)
                    .build(),
            )
            .deletion_protection_enabled(true)
            .tags(Tag::builder().key(BACKUP_TAG.0).value(BACKUP_TAG.1).build().map_err(bad)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(SdkError::ServiceError(se)) if se.err().is_resource_in_use_exception() => {}
            Err(e) => return Err(be(e)),
        }
        self.wait_active(&name).await?;
        let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build().map_err(bad)?;
        if let Err(e) = self.client.update_time_to_live().table_name(&name).time_to_live_specification(ttl).send().await
        {
            // Re-enabling TTL on a table that has it is a ValidationException: not an error.
            let already = matches!(&e, SdkError::ServiceError(se) if se.err().meta().message().is_some_and(|m| m.contains("already enabled")));
            if !already {
                return Err(be(e));
            }
        }
        let pitr =
            PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().map_err(bad)?;
        self.client
            .update_continuous_backups()
            .table_name(&name)
            .point_in_time_recovery_specification(pitr)
            .send()
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn get(&self, table: &Table, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table_name(table))
            .set_key(Some(key_map(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_sdk)?;
        let now = self.clock.now_secs();
        out.item.map(from_map).transpose().map(|i| i.filter(|i| !i.is_expired(now)))
    }

    async fn get_many(&self, table: &Table, keys: &[(&str, &str)]) -> Result<Vec<Option<Item>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        if keys.len() > 100 {
            return Err(StoreError::Invalid("get_many takes at most 100 keys".into()));
        }
        let name = self.table_name(table);
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        // BatchGetItem refuses a key asked twice.
        let mut pending: Vec<HashMap<String, AttributeValue>> = Vec::with_capacity(keys.len());
        for (pk, sk) in keys {
            let k = key_map(pk, sk);
            if !pending.contains(&k) {
                pending.push(k);
            }
        }
        // BatchGetItem may leave keys unprocessed under load: ask again for those, with backoff.
        for attempt in 0..8u32 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(5))).await;
            }
            let req = KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut pending))).consistent_read(true);
            let out = self
                .client
                .batch_get_item()
                .request_items(&name, req.build().map_err(StoreError::backend)?)
                .send()
                .await
                .map_err(map_sdk)?;
            for m in out.responses.and_then(|mut r| r.remove(&name)).unwrap_or_default() {
                let item = from_map(m)?;
                found.insert((item.pk.clone(), item.sk.clone()), item);
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&name)).map(|k| k.keys).unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(StoreError::Unavailable(anyhow::anyhow!("BatchGetItem left keys unprocessed")));
        }
        let now = self.clock.now_secs();
        Ok(keys
            .iter()
            .map(|(pk, sk)| found.get(&((*pk).to_owned(), (*sk).to_owned())).cloned().filter(|i| !i.is_expired(now)))
            .collect())
    }

    async fn put(&self, table: &Table, item: Item, cond: Cond) -> Result<(), StoreError> {
        let mut e = Expr::default();
        let c = e.cond(&cond, self.clock.now_secs());
        self.client
            .put_item()
            .table_name(self.table_name(table))
            .set_item(Some(to_map(&item)))
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(map_sdk)?;
        Ok(())
    }

    async fn update(&self, table: &Table, pk: &str, sk: &str, update: Update, cond: Cond) -> Result<Item, StoreError> {
        let mut e = Expr::default();
        let u = e.update(&update);
        let c = e.cond(&cond, self.clock.now_secs());
        let out = self
            .client
            .update_item()
            .table_name(self.table_name(table))
            .set_key(Some(key_map(pk, sk)))
            .set_update_expression(u)
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(map_sdk)?;
        match out.attributes {
            Some(m) => from_map(m),
            // An update with nothing to set returns no attributes: read the item back.
            None => Ok(Item::new(pk, sk)),
        }
    }

    async fn delete(&self, table: &Table, pk: &str, sk: &str, cond: Cond) -> Result<(), StoreError> {
        let mut e = Expr::default();
        let c = e.cond(&cond, self.clock.now_secs());
        self.client
            .delete_item()
            .table_name(self.table_name(table))
            .set_key(Some(key_map(pk, sk)))
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(map_sdk)?;
        Ok(())
    }

    async fn query(&self, req: QueryRequest) -> Result<Page, StoreError> {
        check_limit(req.limit)?;
        check_range(&req.range)?;
        let after = req.cursor.as_deref().map(|c| decode_cursor(c, &req.range)).transpose()?;
        let now = self.clock.now_secs();
        let mut e = Expr::default();
        let pk = format!("{} = {}", e.name(PK), e.value(AttributeValue::S(req.pk.clone())));
        let key_cond = match &req.range {
            SkRange::Prefix(p) if p.is_empty() => pk,
            SkRange::Prefix(p) => {
                format!("{pk} AND begins_with({}, {})", e.name(SK), e.value(AttributeValue::S(p.clone())))
            }
            SkRange::Between(a, b) => format!(
                "{pk} AND {} BETWEEN {} AND {}",
                e.name(SK),
                e.value(AttributeValue::S(a.clone())),
                e.value(AttributeValue::S(b.clone()))
            ),
        };
        let filter = format!(
            "attribute_not_exists({exp}) OR {exp} > {now}",
            exp = e.name(EXPIRES_AT),
            now = e.value(AttributeValue::N(now.to_string()))
        );
        let out = self
            .client
            .query()
            .table_name(self.table_name(&req.table))
            .key_condition_expression(key_cond)
            .filter_expression(filter)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .scan_index_forward(req.direction == Direction::Forward)
            .limit(req.limit as i32)
            .consistent_read(true)
            .set_exclusive_start_key(after.map(|sk| key_map(&req.pk, &sk)))
            .send()
            .await
            .map_err(map_sdk)?;
        let items = out.items.unwrap_or_default().into_iter().map(from_map).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match out.last_evaluated_key {
            Some(k) => match k.get(SK) {
                Some(AttributeValue::S(sk)) => Some(encode_cursor(sk)),
                _ => return Err(StoreError::Backend(anyhow::anyhow!("page boundary without a sort key"))),
            },
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn scan(&self, table: &Table, limit: usize, cursor: Option<String>) -> Result<Page, StoreError> {
        check_limit(limit)?;
        let after = cursor.as_deref().map(decode_scan_cursor).transpose()?;
        let mut e = Expr::default();
        let filter = format!(
            "attribute_not_exists({exp}) OR {exp} > {now}",
            exp = e.name(EXPIRES_AT),
            now = e.value(AttributeValue::N(self.clock.now_secs().to_string()))
        );
        let out = self
            .client
            .scan()
            .table_name(self.table_name(table))
            .filter_expression(filter)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .limit(limit as i32)
            .consistent_read(true)
            .set_exclusive_start_key(after.map(|(pk, sk)| key_map(&pk, &sk)))
            .send()
            .await
            .map_err(map_sdk)?;
        let items = out.items.unwrap_or_default().into_iter().map(from_map).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match out.last_evaluated_key {
            Some(k) => match (k.get(PK), k.get(SK)) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(encode_scan_cursor(pk, sk)),
                _ => return Err(StoreError::Backend(anyhow::anyhow!("scan page boundary without a key"))),
            },
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        check_transaction(&ops)?;
        let now = self.clock.now_secs();
        let items = ops.iter().map(|op| self.tx_item(op, now)).collect::<Result<Vec<_>, _>>()?;
        // A transaction cancelled only by concurrent transactions on the same items (or by
        // throttling) applied nothing, so it is tried again, a few times, after a jittered
        // pause: members' summaries are shared by sends and read receipts of one conversation.
        let mut attempt = 0u32;
        loop {
            match self.transact_once(items.clone()).await {
                Err(StoreError::Unavailable(e)) if attempt < TRANSACT_RETRIES && e.is::<Raced>() => {
                    attempt += 1;
                    let pause = 10u64 << attempt;
                    let jitter = u64::from(rand::random::<u8>()) * pause / 255;
                    tokio::time::sleep(std::time::Duration::from_millis(pause / 2 + jitter)).await;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Tries of a transaction cancelled by a race, after the first.
const TRANSACT_RETRIES: u32 = 3;

/// A transaction cancelled by concurrent transactions or throttling, by no condition.
#[derive(Debug, thiserror::Error)]
#[error("transaction cancelled: {0:?}")]
struct Raced(Vec<String>);

impl DynamoStore {
    async fn transact_once(&self, items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>) -> Result<(), StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_transaction_canceled_exception() => {
                let reasons = match se.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                        t.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect()
                    }
                    _ => Vec::new(),
                };
                let index = reasons.iter().position(|c| c == "ConditionalCheckFailed");
                // Cancelled by a concurrent transaction on the same items, or throttling, and by no
                // condition: a retry may succeed.
                let raced = reasons.iter().any(|c| {
                    matches!(c.as_str(), "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
                });
                if index.is_none() && raced {
                    return Err(StoreError::Unavailable(Raced(reasons).into()));
                }
                Err(StoreError::TransactionCancelled { index })
            }
            Err(SdkError::ServiceError(se)) if se.err().is_resource_not_found_exception() => {
                Err(StoreError::NoSuchTable)
            }
            Err(e) => Err(be(e)),
        }
    }
}
