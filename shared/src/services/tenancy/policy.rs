//! Tenant policy: the fixed password/lockout/session rules of API.md plus the settings an
//! admin may change (app passcode, MFA and SSO requirements), stored in the tenant's table.

use anyhow::Context as _;
use std::time::{Duration, Instant};

pub use crate::domain::policy::Policy;
use crate::domain::policy::APP_PASSCODE_TIMEOUT_MINUTES;
use crate::domain::types::TenantId;
use crate::ports::store::{Cond, Item, Table};
use crate::services::context::Context;
use crate::services::error::ServiceError;

/// How long a process trusts its copy of a tenant's policy (the MFA gate reads it on every
/// request); a change made elsewhere is seen within this time.
const CACHE_TTL: Duration = Duration::from_secs(10);

pub const POLICY_PK: &str = "TENANT";
pub const POLICY_SK: &str = "POLICY";

/// The item the policy is stored as.
pub fn to_item(policy: &Policy, now: i64) -> Item {
    let p = policy;
    Item::new(POLICY_PK, POLICY_SK)
        .with("app_passcode_required", p.app_passcode_required)
        .with("app_passcode_timeout_minutes", i64::from(p.app_passcode_timeout_minutes))
        .with("mfa_required", p.mfa_required)
        .with("sso_required", p.sso_required)
        .with("message_retention_days", p.message_retention_days.map(i64::from).unwrap_or(0))
        .with("updated_at", now)
}

/// A stored policy (defaults for what it lacks).
pub fn from_item(item: &Item) -> Policy {
    let d = Policy::default();
    Policy {
        app_passcode_required: item.bool("app_passcode_required").unwrap_or(d.app_passcode_required),
        app_passcode_timeout_minutes: item
            .n("app_passcode_timeout_minutes")
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| APP_PASSCODE_TIMEOUT_MINUTES.contains(n))
            .unwrap_or(d.app_passcode_timeout_minutes),
        mfa_required: item.bool("mfa_required").unwrap_or(d.mfa_required),
        sso_required: item.bool("sso_required").unwrap_or(d.sso_required),
        message_retention_days: item.n("message_retention_days").and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0),
    }
}

/// The tenant's policy (cached briefly).
pub async fn load(state: &Context, tenant: &TenantId) -> Result<Policy, ServiceError> {
    if let Some((at, p)) = state.policies.lock().ok().and_then(|c| c.get(tenant.as_str()).cloned()) {
        if at.elapsed() < CACHE_TTL {
            return Ok(p);
        }
    }
    let table = Table::tenant(tenant);
    let item = state.ports.store.get(&table, POLICY_PK, POLICY_SK).await.context("load: store.get")?;
    let policy = item.as_ref().map(from_item).unwrap_or_default();
    if let Ok(mut c) = state.policies.lock() {
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(tenant.as_str().to_owned(), (Instant::now(), policy.clone()));
    }
    Ok(policy)
}

/// Replace the tenant's policy.
pub async fn save(state: &Context, tenant: &TenantId, policy: &Policy) -> Result<(), ServiceError> {
    let now = state.ports.clock.now_secs();
    let table = Table::tenant(tenant);
    state.ports.store.put(&table, to_item(policy, now), Cond::Always).await.context("save: store.put")?;
    if let Ok(mut c) = state.policies.lock() {
        c.insert(tenant.as_str().to_owned(), (Instant::now(), policy.clone()));
    }
    Ok(())
}
