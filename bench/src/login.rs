//! Part 3: logins/s on the local server vs argon2id verifies/s, at concurrency 2 and 4: the
//! baseline is a bare HTTP endpoint that only verifies the stored hash, driven by the same
//! `wrk` (so both pay the load generator and HTTP on the same two cores), with the raw
//! verify rate on two threads beside it for reference.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::fixture::{fixture, Mailbox};
use crate::server::start_server;
use crate::wrk::{all_answered, median_run, wrk};
use crate::PASSWORD;

/// Rounds of logins and of the baseline, 3 s each.
const ROUNDS: usize = 5;
const SECS: u32 = 3;
/// Far longer than any login takes here (p99.9 ~110 ms at concurrency 4 on a slow day).
const DRAIN: Duration = Duration::from_millis(500);

pub async fn login_cost(bins: &Path) -> Result<Value> {
    let server = start_server(bins, "login").await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    fixture(&server.addr, &mail).await?;
    let body = json!({"tenant": "bench", "email": "member@bench.test", "password": PASSWORD}).to_string();
    let hash = bulwark::services::identity::password::hash(PASSWORD.to_owned().into()).await?;
    let baseline_addr = verify_endpoint(hash.clone()).await?;
    let settled_after_s = crate::system::settle(Duration::from_secs(120)).await;
    let at_two = compare(&server.addr, &baseline_addr, &body, 2)?;
    // Two per core (the hash pool's size here): each core has a hash to run while another
    // login waits on its commits or the network, so this shows the CPU cost of a login apart
    // from its latency. Same server, after the sessions of the pass above.
    let saturated = compare(&server.addr, &baseline_addr, &body, 4)?;
    drop(server);
    let raw = tokio::task::spawn_blocking(move || raw_argon2(&hash, 2, Duration::from_secs(5))).await??;
    let mut out = at_two;
    out["raw_argon2id_per_s"] = json!(raw);
    out["saturated"] = saturated;
    out["settled_after_s"] = json!(settled_after_s);
    Ok(out)
}

/// Logins against the baseline at `concurrency`, in rounds taken in turn, so both see the
/// same moments of this machine (each going first every other round); the verdict is the
/// median round's ratio.
fn compare(server: &str, baseline: &str, body: &str, concurrency: u32) -> Result<Value> {
    let (mut servers, mut baselines, mut ratios) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        // wrk stops without waiting for its last answers; those logins still run to their end
        // and hold their lockout slots meanwhile. The next run waits for them: more than five
        // attempts at once on one account are refused (423) by design.
        let drained = |r: Result<Value>| {
            std::thread::sleep(DRAIN);
            r
        };
        let server_login = || drained(wrk(server, "/v1/auth/login", concurrency, SECS, "POST", None, Some(body)));
        let baseline_verify = || drained(wrk(baseline, "/verify", concurrency, SECS, "POST", None, Some(body)));
        let (s, b) = if round % 2 == 0 {
            let s = server_login()?;
            (s, baseline_verify()?)
        } else {
            let b = baseline_verify()?;
            (server_login()?, b)
        };
        all_answered(&s, "logins")?;
        all_answered(&b, "verifies")?;
        ratios.push(s["rps"].as_f64().unwrap_or(0.0) / b["rps"].as_f64().unwrap_or(f64::MAX).max(1e-9));
        servers.push(s);
        baselines.push(b);
    }
    let ratio = crate::median(ratios.clone());
    let rates = |runs: &[Value]| runs.iter().map(|r| r["rps"].clone()).collect::<Vec<_>>();
    Ok(json!({
        "concurrency": concurrency,
        "server": median_run(&servers),
        "baseline_endpoint": median_run(&baselines),
        "ratio": ratio,
        "round_ratios": ratios,
        // Each side's rate round by round: a drift within the run shows which side moved.
        "server_round_rps": rates(&servers),
        "baseline_round_rps": rates(&baselines),
    }))
}

/// A loopback HTTP endpoint that verifies `hash` against the bench password on the blocking
/// pool, and nothing else: the fair ceiling of a login under wrk.
async fn verify_endpoint(hash: String) -> Result<String> {
    let hash = std::sync::Arc::new(hash);
    let app = axum::Router::new().route(
        "/verify",
        axum::routing::post(move || {
            let hash = std::sync::Arc::clone(&hash);
            async move {
                let ok = tokio::task::spawn_blocking(move || raw_verify(&hash)).await.unwrap_or(false);
                if ok {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn raw_argon2(hash: &str, threads: usize, dur: Duration) -> Result<f64> {
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < dur {
                        if raw_verify(hash) {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let total: u64 = counts.iter().sum();
    if total == 0 {
        bail!("raw argon2id verification failed");
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// One argon2id verify of the bench password against `hash`, at the hash's parameters, in
/// working memory this thread reuses (as the server's hash pool does: allocating and
/// faulting in 19 MiB per verify would make the baseline slower than the server).
fn raw_verify(hash: &str) -> bool {
    use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(phc) = PasswordHash::new(hash) else { return false };
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&phc), phc.salt, phc.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(params.block_count(), Block::default());
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        hasher.hash_password_into_with_memory(PASSWORD.as_bytes(), salt, &mut out, &mut memory[..]).is_ok()
            && out == expected.as_bytes()
    })
}
