//! Account lockout: 5 consecutive failures for one (tenant, email) lock it for 15 minutes,
//! whether or not the account exists.
//!
//! Each attempt *claims* a slot with one atomic conditional increment (`failures < 5`), and
//! the password check's outcome counts only if the claim was granted: however many Lambdas
//! race, at most 5 guesses are ever evaluated. (A login hashes while it claims, to hide the
//! claim's write latency; a refused claim discards the hash unseen.) Every factor — password,
//! TOTP or recovery code, security answers, the password re-entered inside a session — takes
//! a slot from this one counter. Only a fully successful login resets it ([`reset_op`]); a
//! factor that was right but is not the end of a login (the password before the second
//! factor, right security answers, an in-session re-authentication) gives its slot back
//! ([`release`]), so it neither counts as a failure nor wipes the failures before it. The
//! failure that fills the fifth slot sets `locked_until`; once that passes, one racing attempt
//! resets the counter (conditioned on the `locked_until` it saw) and the others claim slots
//! again. A counter expires [`COUNTER_TTL_SECS`] after its last claim, so guesses at unknown
//! emails leave nothing behind for good.

use crate::ports::store::{Cond, ItemStore, StoreError, Table, TxOp, Update, EXPIRES_AT};

pub use crate::domain::policy::{
    LOCKOUT_COUNTER_TTL_SECS as COUNTER_TTL_SECS, LOCKOUT_MAX_ATTEMPTS as MAX_ATTEMPTS, LOCKOUT_SECS as LOCK_SECS,
};
const SK: &str = "LOCK";

/// Where one (tenant, email)'s counter lives.
pub struct LockKey {
    pub table: Table,
    pub pk: String,
}

impl LockKey {
    pub fn for_index(table: Table, index: &str) -> LockKey {
        LockKey { table, pk: format!("LOCK#{index}") }
    }
}

pub enum Claim {
    /// The attempt may be evaluated; it is attempt number `n` since the last success.
    Granted {
        n: i64,
    },
    Locked {
        retry_after_secs: u64,
    },
}

pub async fn claim(store: &dyn ItemStore, key: &LockKey, now: i64) -> Result<Claim, StoreError> {
    // A counter past its expiry no longer counts, even before the sweeper (or DynamoDB's
    // TTL, which may take days) deletes it: such a claim fails and the item is cleared below.
    let live = Cond::Or(vec![Cond::Missing(EXPIRES_AT.into()), Cond::gt(EXPIRES_AT, now)]);
    // While locked, nothing is granted, even if slots were given back meanwhile.
    let open = Cond::And(vec![
        Cond::Missing("locked_until".into()),
        Cond::Or(vec![Cond::Missing("failures".into()), Cond::And(vec![Cond::lt("failures", MAX_ATTEMPTS), live])]),
    ]);
    for _ in 0..4 {
        let slot = Update::default().add("failures", 1).set(EXPIRES_AT, now + COUNTER_TTL_SECS);
        match store.update(&key.table, &key.pk, SK, slot, open.clone()).await {
            Ok(item) => return Ok(Claim::Granted { n: item.n("failures").unwrap_or(1) }),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        let item = store.get(&key.table, &key.pk, SK).await?;
        match item.as_ref().and_then(|i| i.n("locked_until")) {
            Some(until) if until <= now => {
                // The lock has run out: exactly one racer resets it, then everyone retries.
                let reset = Update::default().set("failures", 0i64).remove("locked_until");
                match store.update(&key.table, &key.pk, SK, reset, Cond::eq("locked_until", until)).await {
                    Ok(_) | Err(StoreError::ConditionFailed) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(until) => return Ok(Claim::Locked { retry_after_secs: (until - now) as u64 }),
            // All five slots are taken by attempts still being evaluated.
            None if item.is_some() => return Ok(Claim::Locked { retry_after_secs: LOCK_SECS as u64 }),
            // Gone, or expired but not yet deleted (DynamoDB's TTL takes up to days, and a
            // condition still sees the old count): remove what expired, then claim afresh.
            None => match store.delete(&key.table, &key.pk, SK, Cond::le(EXPIRES_AT, now)).await {
                Ok(()) | Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Ok(Claim::Locked { retry_after_secs: LOCK_SECS as u64 })
}

/// A claimed attempt failed. Returns true when this failure locked the account.
pub async fn failed(store: &dyn ItemStore, key: &LockKey, n: i64, now: i64) -> Result<bool, StoreError> {
    if n < MAX_ATTEMPTS {
        return Ok(false);
    }
    let lock =
        Update::default().set("locked_until", now + LOCK_SECS).set(EXPIRES_AT, now + LOCK_SECS + COUNTER_TTL_SECS);
    match store.update(&key.table, &key.pk, SK, lock, Cond::Missing("locked_until".into())).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A claimed factor was right but did not finish a login: give its slot back. The failures
/// counted before it stay (only [`reset_op`], a complete login, clears them).
pub async fn release(store: &dyn ItemStore, key: &LockKey) -> Result<(), StoreError> {
    let back = Update::default().add("failures", -1);
    // A lock set meanwhile stands: giving slots back must not reopen it.
    let cond = Cond::And(vec![Cond::ge("failures", 1), Cond::Missing("locked_until".into())]);
    match store.update(&key.table, &key.pk, SK, back, cond).await {
        // Reset meanwhile (a lock ran out, an admin unlocked): nothing to give back.
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A login succeeded with every factor, or an admin unlocked, or the password was reset.
pub async fn reset(store: &dyn ItemStore, key: &LockKey) -> Result<(), StoreError> {
    store.delete(&key.table, &key.pk, SK, Cond::Always).await
}

/// [`reset`] as part of a transaction (a login commits it with its session).
pub fn reset_op(key: &LockKey) -> TxOp {
    TxOp::Delete { table: key.table.clone(), pk: key.pk.clone(), sk: SK.into(), cond: Cond::Always }
}

/// Whether the counter is locked now (for the admin user list).
pub async fn is_locked(store: &dyn ItemStore, key: &LockKey, now: i64) -> Result<bool, StoreError> {
    let item = store.get(&key.table, &key.pk, SK).await?;
    Ok(item.and_then(|i| i.n("locked_until")).is_some_and(|t| t > now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::Fixture;

    async fn given_a_counter() -> (Fixture, LockKey) {
        let f = Fixture::new().await;
        let key = LockKey::for_index(Table::tenant(&f.tenant), "index-of-nurse");
        (f, key)
    }

    async fn fail(f: &Fixture, key: &LockKey) -> Claim {
        let now = f.ctx.ports.clock.now_secs();
        let claim = super::claim(&*f.ctx.ports.store, key, now).await.unwrap();
        if let Claim::Granted { n } = claim {
            failed(&*f.ctx.ports.store, key, n, now).await.unwrap();
        }
        claim
    }

    #[tokio::test]
    async fn five_failures_lock_for_fifteen_minutes() {
        // GIVEN an account with no failures
        let (f, key) = given_a_counter().await;
        // WHEN five attempts fail
        for i in 1..=5 {
            assert!(matches!(fail(&f, &key).await, Claim::Granted { n } if n == i));
        }
        // THEN the sixth is refused for the rest of the 15 minutes, and the one after them is evaluated
        assert!(matches!(fail(&f, &key).await, Claim::Locked { retry_after_secs: 900 }));
        f.advance(LOCK_SECS - 1);
        assert!(matches!(fail(&f, &key).await, Claim::Locked { retry_after_secs: 1 }));
        f.advance(1);
        assert!(matches!(fail(&f, &key).await, Claim::Granted { n: 1 }));
    }

    #[tokio::test]
    async fn a_right_factor_gives_its_slot_back_but_clears_nothing() {
        // GIVEN four failures
        let (f, key) = given_a_counter().await;
        for _ in 0..4 {
            fail(&f, &key).await;
        }
        // WHEN a factor is right but the login is not complete (a password before its code)
        let now = f.ctx.ports.clock.now_secs();
        assert!(matches!(claim(&*f.ctx.ports.store, &key, now).await.unwrap(), Claim::Granted { n: 5 }));
        release(&*f.ctx.ports.store, &key).await.unwrap();
        // THEN the next failure is still the fifth, and locks
        assert!(matches!(fail(&f, &key).await, Claim::Granted { n: 5 }));
        assert!(is_locked(&*f.ctx.ports.store, &key, f.ctx.ports.clock.now_secs()).await.unwrap());
    }

    #[tokio::test]
    async fn slots_given_back_during_a_lock_do_not_reopen_it() {
        // GIVEN four right passwords still being checked and a fifth attempt that fails
        let (f, key) = given_a_counter().await;
        let now = f.ctx.ports.clock.now_secs();
        for _ in 0..4 {
            assert!(matches!(claim(&*f.ctx.ports.store, &key, now).await.unwrap(), Claim::Granted { .. }));
        }
        assert!(matches!(fail(&f, &key).await, Claim::Granted { n: 5 }));
        // WHEN the four give their slots back
        for _ in 0..4 {
            release(&*f.ctx.ports.store, &key).await.unwrap();
        }
        // THEN the account stays locked: no guess is evaluated until the lock runs out
        assert!(matches!(fail(&f, &key).await, Claim::Locked { .. }));
    }

    #[tokio::test]
    async fn a_counter_expires_a_day_after_its_last_failure() {
        // GIVEN three failures
        let (f, key) = given_a_counter().await;
        for _ in 0..3 {
            fail(&f, &key).await;
        }
        // WHEN a day passes without another attempt
        f.advance(COUNTER_TTL_SECS + 1);
        // THEN the count starts afresh
        assert!(matches!(fail(&f, &key).await, Claim::Granted { n: 1 }));
    }
}
