//! Part 3: logins/s on the local server vs raw argon2id verifies/s, both at concurrency 2.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::fixture::{fixture, Mailbox};
use crate::server::start_server;
use crate::wrk::wrk;
use crate::PASSWORD;

pub async fn login_cost(bins: &Path) -> Result<Value> {
    let server = start_server(bins, "login").await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    fixture(&server.addr, &mail).await?;
    let body = json!({"tenant": "bench", "email": "member@bench.test", "password": PASSWORD}).to_string();
    let logins = wrk(&server.addr, "/v1/auth/login", 2, 8, "POST", None, Some(&body))?;
    // The same work without anything around it: argon2id verifies of the stored parameters.
    let hash = bulwark::services::identity::password::hash(PASSWORD.to_owned().into()).await?;
    let raw = tokio::task::spawn_blocking(move || raw_argon2(&hash, 2, Duration::from_secs(5))).await??;
    let ratio = logins["rps"].as_f64().unwrap_or(0.0) / raw;
    Ok(json!({"server": logins, "raw_argon2id_per_s": raw, "ratio": ratio}))
}

fn raw_argon2(hash: &str, threads: usize, dur: Duration) -> Result<f64> {
    use argon2::{PasswordHash, PasswordVerifier};
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let parsed = PasswordHash::new(hash).ok();
                    let mut n = 0u64;
                    while start.elapsed() < dur {
                        if let Some(p) = &parsed {
                            if argon2::Argon2::default().verify_password(PASSWORD.as_bytes(), p).is_ok() {
                                n += 1;
                            }
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
