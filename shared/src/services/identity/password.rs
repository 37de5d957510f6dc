//! Password policy (API.md, reported rule by rule) and argon2id hashing at OWASP parameters
//! (m=19456 KiB, t=2, p=1). Hashing runs on a blocking thread; the parameters live in the PHC
//! string, so they can be raised later and old hashes are upgraded at the next login.
//!
//! Each computation holds 19 MiB, so at most [`HashPool::size`] run at once (sized to the
//! machine's memory, `BULWARK_HASH_CONCURRENCY` to override); the rest wait their turn in
//! order. A flood of logins then costs queueing time, never the process's memory. Their
//! working memory is reused: each computation borrows a 19 MiB block array kept by the pool
//! (at most one per permit), so the footprint is fixed instead of an allocation, page faults
//! and a release per login.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
#[cfg(test)]
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

pub use crate::domain::policy::{PASSWORD_MAX_LENGTH as MAX_LENGTH, PASSWORD_MIN_LENGTH as MIN_LENGTH};

fn params() -> Params {
    // Constant, valid parameters: construction cannot fail.
    Params::new(19456, 2, 1, None).unwrap_or_default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// The rules a password breaks (empty: acceptable). Rule names are part of the API
/// (`error.details.failed`).
pub fn check_policy(password: &str, context: &[&str]) -> Vec<&'static str> {
    let mut failed = Vec::new();
    let n = password.chars().count();
    if n < MIN_LENGTH {
        failed.push("min_length");
    }
    if n > MAX_LENGTH {
        failed.push("max_length");
    }
    if !password.chars().any(char::is_uppercase) {
        failed.push("require_upper");
    }
    if !password.chars().any(char::is_lowercase) {
        failed.push("require_lower");
    }
    if !password.chars().any(|c| c.is_ascii_digit() || !c.is_alphanumeric()) {
        failed.push("require_digit_or_special");
    }
    // zxcvbn knows the common-password lists, keyboard walks, dates and l33t variants; a score
    // of 0 or 1 means at most 10^6 guesses ("Password1!", "Qwerty123"). Long inputs are not
    // scored (zxcvbn is quadratic), they already fail max_length.
    if n <= MAX_LENGTH && n > 0 && (zxcvbn::zxcvbn(password, context).score() as u8) < 2 {
        failed.push("not_common");
    }
    failed
}

/// Memory one argon2id computation holds.
const HASH_MEMORY: u64 = 19456 * 1024;

static POOL: OnceLock<HashPool> = OnceLock::new();

/// Bounds how many hashes run at once.
pub struct HashPool {
    permits: Arc<Semaphore>,
    size: usize,
    running: Arc<AtomicUsize>,
    peak: AtomicUsize,
    /// Working memory returned by finished computations, for the next ones.
    spare: std::sync::Mutex<Vec<Vec<Block>>>,
}

impl HashPool {
    pub fn new(size: usize) -> Self {
        return_large_blocks_to_the_os();
        let size = size.max(1);
        HashPool {
            permits: Arc::new(Semaphore::new(size)),
            size,
            running: Arc::new(AtomicUsize::new(0)),
            peak: AtomicUsize::new(0),
            spare: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The process's pool: [`HashPool::configure`]d at start-up, else sized to memory.
    pub fn global() -> &'static HashPool {
        POOL.get_or_init(|| {
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            HashPool::new(sized_to(memory_bytes(), cpus))
        })
    }

    /// Size the process's pool (before its first hash; later calls change nothing).
    pub fn configure(size: usize) {
        let _ = POOL.set(HashPool::new(size));
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The most hashes that ever ran at once in this pool.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Run `work` on a blocking thread once a permit is free. The permit goes with the work,
    /// not with the caller: a blocking thread cannot be stopped, so a caller that went away (its
    /// client disconnected) must not free the slot while the hash still runs and holds its
    /// memory, or a stream of abandoned logins would run any number of hashes at once.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let permit =
            Arc::clone(&self.permits).acquire_owned().await.map_err(|_| anyhow::anyhow!("hash pool closed"))?;
        let now = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        let slot = Slot { _permit: permit, running: Arc::clone(&self.running) };
        Ok(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await?)
    }
}

/// A running computation's place in the pool, given back when the computation ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HashPool {
    /// Run `work` with `blocks` argon2 blocks of working memory, reused from earlier
    /// computations when one of that size is spare (a permit holder has at most one).
    pub async fn run_with_memory<T: Send + 'static>(
        &'static self,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.run(move || {
            let reused = self.spare.lock().ok().and_then(|mut s| {
                // The most recently given back: the likeliest to be still in the CPU's cache.
                let i = s.iter().rposition(|m| m.len() == blocks)?;
                // `remove`, not `swap_remove`: the rest stay in the order they came back.
                Some(s.remove(i))
            });
            let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
            let out = work(&mut memory);
            if let Ok(mut spare) = self.spare.lock() {
                if spare.len() < self.size {
                    spare.push(memory);
                }
            }
            out
        })
        .await
    }

    /// Working memory arrays kept for reuse.
    pub fn spare(&self) -> usize {
        self.spare.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// argon2id of `password` with `salt` (a PHC salt) into a PHC string, in `memory`.
fn hash_in(password: &[u8], salt: &SaltString, memory: &mut [Block]) -> anyhow::Result<String> {
    let params = params();
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; 32];
    argon2()
        .hash_password_into_with_memory(password, salt_raw, &mut out, memory)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the parsed PHC hash, computed in `memory` when it fits (a hash
/// at other parameters gets memory of its own).
fn matches(password: &[u8], phc: &PasswordHash<'_>, memory: &mut [Block]) -> bool {
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm) else { return false };
    let Ok(params) = Params::try_from(phc) else { return false };
    let version = phc.version.and_then(|v| Version::try_from(v).ok()).unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    let computed = if memory.len() >= params.block_count() {
        hasher.hash_password_into_with_memory(password, salt_raw, &mut out, &mut memory[..params.block_count()])
    } else {
        hasher.hash_password_into(password, salt_raw, &mut out)
    };
    computed.is_ok() && bool::from(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()))
}

/// glibc serves a freed 19 MiB block's successors from its heap and keeps them there (its mmap
/// threshold rises to the largest block freed), so a burst of logins left the server holding
/// ~2 GiB (scripts/soak). A fixed threshold keeps every hash's working memory mapped and
/// handed back when the hash ends.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: libc::c_int = -3;
        // SAFETY: mallopt only adjusts allocator tuning; it is called before any hash runs.
        unsafe {
            libc::mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

/// A quarter of the memory for hashing, at most two per core, at least one.
fn sized_to(memory: Option<u64>, cpus: usize) -> usize {
    let by_memory = memory.map(|m| (m / 4 / HASH_MEMORY) as usize).unwrap_or(cpus);
    by_memory.clamp(1, 2 * cpus.max(1))
}

/// The memory this process may use: the cgroup limit when there is one, else the machine's.
fn memory_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|t| t.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// Hash a password (argon2id, random salt) on a blocking thread.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    HashPool::global()
        .run_with_memory(params().block_count(), move |memory| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            hash_in(password.expose_secret().as_bytes(), &salt, memory)
        })
        .await?
}

/// A hash of a random password at the current parameters, verified against when the account
/// does not exist so that all login failures take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let pw = hex::encode(*crate::domain::crypto::random_32());
        let mut memory = vec![Block::default(); params().block_count()];
        hash_in(pw.as_bytes(), &salt, &mut memory).unwrap_or_default()
    })
}

/// The outcome of a verification.
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses older parameters: rehash the (correct) password.
    pub needs_rehash: bool,
}

/// Verify `password` against a PHC hash, or against the dummy hash when `stored` is `None`
/// (always false, same cost). Runs on a blocking thread.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<Verified> {
    HashPool::global()
        .run_with_memory(params().block_count(), move |memory| {
            let real = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let parsed =
                PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored password hash is invalid: {e}"))?;
            let ok = matches(password.expose_secret().as_bytes(), &parsed, memory) && real;
            let current = params();
            let same_cost = Params::try_from(&parsed).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost()) == (current.m_cost(), current.t_cost(), current.p_cost())
            });
            let needs_rehash = ok && (parsed.algorithm != argon2::ARGON2ID_IDENT || !same_cost);
            Ok(Verified { ok, needs_rehash })
        })
        .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strength_check_still_sees_dates_years_and_repeats() {
        // zxcvbn's regular expressions are built without the Unicode tables they do not use
        // (vendor/zxcvbn/PATCH.md): each still compiles and matches as before, `\s` in a
        // date included for every Unicode space.
        use zxcvbn::matching::patterns::MatchPattern;
        let found = |password: &str, wanted: fn(&MatchPattern) -> bool| {
            zxcvbn::zxcvbn(password, &[]).sequence().iter().any(|m| wanted(&m.pattern))
        };
        // GIVEN dates with ASCII and non-ASCII spaces, a recent year, a repetition
        // WHEN scored THEN each is found for what it is
        assert!(found("13 07 1985", |p| matches!(p, MatchPattern::Date(d) if d.separator == " ")));
        assert!(found("13\u{3000}07\u{3000}1985", |p| matches!(p, MatchPattern::Date(d) if d.separator == "\u{3000}")));
        assert!(found("qx2024", |p| matches!(p, MatchPattern::Regex(_))));
        assert!(found("kv9!kv9!kv9!kv9!", |p| matches!(p, MatchPattern::Repeat(_))));
    }

    #[test]
    fn policy_reports_every_broken_rule() {
        assert_eq!(check_policy("Tr0ub4dor&3-horse-Staple", &[]), Vec::<&str>::new());
        assert_eq!(check_policy("Ab1", &[]), vec!["min_length", "not_common"]);
        assert_eq!(check_policy("alllowercase-but-long-enough-xq", &[]), vec!["require_upper"]);
        assert_eq!(check_policy("ALLUPPER-BUT-LONG-ENOUGH-XQ", &[]), vec!["require_lower"]);
        assert_eq!(check_policy("NoDigitsOrSpecialsHereAtAllQx", &[]), vec!["require_digit_or_special"]);
        assert_eq!(check_policy("Password1!", &[]), vec!["not_common"]);
        let long = format!("Aa1{}", "x".repeat(130));
        assert_eq!(check_policy(&long, &[]), vec!["max_length"]);
        // Unicode letters count as upper/lower case.
        assert!(check_policy("Ünïcødé-Pässwörd-2026", &[]).is_empty());
    }

    #[test]
    fn pool_is_sized_to_memory_and_cores() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(sized_to(Some(256 * 1024 * 1024), 2), 3, "a 256 MB Lambda: a quarter of it");
        assert_eq!(sized_to(Some(24 * gib), 2), 4, "at most two per core");
        assert_eq!(sized_to(Some(10 * 1024 * 1024), 8), 1, "at least one");
        assert_eq!(sized_to(None, 2), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pool_bounds_concurrent_hashes() {
        // GIVEN a pool of two WHEN 12 verifications arrive at once
        let pool = std::sync::Arc::new(HashPool::new(2));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.run(|| argon2().hash_password(b"x", &SaltString::generate(&mut rand::rngs::OsRng)).is_ok())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        // THEN every one ran, never more than two at a time
        assert_eq!(pool.peak(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_computation_keeps_its_slot_after_its_caller_goes_away() {
        use std::sync::atomic::AtomicBool;
        // GIVEN a pool of one, whose computation outlives its caller (a client that went away)
        let pool = Arc::new(HashPool::new(1));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first_done = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&first_done);
        let abandoned = pool.run(move || {
            let _ = held.recv();
            done.store(true, Ordering::SeqCst);
        });
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), abandoned).await.is_err());
        // WHEN another computation asks for the slot
        let second = tokio::spawn({
            let (pool, first_done) = (Arc::clone(&pool), Arc::clone(&first_done));
            async move { pool.run(move || first_done.load(Ordering::SeqCst)).await.unwrap() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // THEN it waits until the first has ended, not only its caller
        assert!(!second.is_finished(), "the abandoned computation's slot was given away while it ran");
        release.send(()).unwrap();
        assert!(second.await.unwrap(), "the second ran before the first ended");
        assert_eq!(pool.peak(), 1);
    }

    #[test]
    fn pooled_memory_hashes_exactly_like_the_crate() {
        // GIVEN a salt WHEN hashed in pooled memory and by argon2's own PasswordHasher
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut memory = vec![Block::default(); params().block_count()];
        let ours = hash_in(b"Tr0ub4dor&3-horse", &salt, &mut memory).unwrap();
        let theirs = argon2().hash_password(b"Tr0ub4dor&3-horse", &salt).unwrap().to_string();
        // THEN the PHC strings are identical, and each side verifies the other's
        assert_eq!(ours, theirs);
        assert!(argon2().verify_password(b"Tr0ub4dor&3-horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        assert!(matches(b"Tr0ub4dor&3-horse", &PasswordHash::new(&theirs).unwrap(), &mut memory));
        assert!(!matches(b"tr0ub4dor&3-horse", &PasswordHash::new(&theirs).unwrap(), &mut memory));
    }

    #[tokio::test]
    async fn hash_verify_and_dummy() {
        let h = hash(SecretString::from("Tr0ub4dor&3-horse".to_owned())).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let good = verify(SecretString::from("Tr0ub4dor&3-horse".to_owned()), Some(h.clone())).await.unwrap();
        assert!(good.ok && !good.needs_rehash);
        assert!(!verify(SecretString::from("wrong".to_owned()), Some(h)).await.unwrap().ok);
        assert!(!verify(SecretString::from("anything".to_owned()), None).await.unwrap().ok);
        // A hash at weaker (older) parameters verifies and asks to be upgraded.
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let old = weak
            .hash_password(b"Tr0ub4dor&3-horse", &SaltString::generate(&mut rand::rngs::OsRng))
            .unwrap()
            .to_string();
        let v = verify(SecretString::from("Tr0ub4dor&3-horse".to_owned()), Some(old)).await.unwrap();
        assert!(v.ok && v.needs_rehash);
        // The working memory went back to the pool for the next computation.
        assert!((1..=HashPool::global().size()).contains(&HashPool::global().spare()));
    }
}
