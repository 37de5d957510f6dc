//! Part 3: logins/s on the local server vs argon2id verifies/s, both at concurrency 2: the
//! baseline is a bare HTTP endpoint that only verifies the stored hash, driven by the same
//! `wrk` (so both pay the load generator and HTTP on the same two cores), with the raw
//! verify rate on two threads beside it for reference.

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
    drop(server);
    // The same work without anything around it: argon2id verifies of the stored parameters.
    let hash = bulwark::services::identity::password::hash(PASSWORD.to_owned().into()).await?;
    let baseline_addr = verify_endpoint(hash.clone()).await?;
    let baseline = wrk(&baseline_addr, "/verify", 2, 8, "POST", None, Some(&body))?;
    let raw = tokio::task::spawn_blocking(move || raw_argon2(&hash, 2, Duration::from_secs(5))).await??;
    let ratio = logins["rps"].as_f64().unwrap_or(0.0) / baseline["rps"].as_f64().unwrap_or(f64::MAX);
    Ok(json!({"server": logins, "baseline_endpoint": baseline, "raw_argon2id_per_s": raw, "ratio": ratio}))
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
                let ok = tokio::task::spawn_blocking(move || {
                    use argon2::{PasswordHash, PasswordVerifier};
                    PasswordHash::new(&hash)
                        .is_ok_and(|p| argon2::Argon2::default().verify_password(PASSWORD.as_bytes(), &p).is_ok())
                })
                .await
                .unwrap_or(false);
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
