//! Part 4: message send and list latency/throughput under `wrk` at concurrency 1, 16 and 64;
//! sends spread over 16 conversations at 16 and 64; and the same sends while expiry work is
//! due (the data directory seeded with expired items before the server starts, so its sweep
//! deletes them during the load).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bulwark::ports::store::EXPIRES_AT;
use bulwark::ports::{Cond, Item, Table, TxOp};
use serde_json::{json, Value};

use crate::client::{call, expect};
use crate::fixture::{fixture, Fixture, Mailbox};
use crate::server::{data_dir, start_server, start_server_at, PASSPHRASE};
use crate::wrk::{wrk, wrk_paths};

const SEND: &str = r#"{"body":"bench message"}"#;

pub async fn messaging(bins: &Path) -> Result<Value> {
    let server = start_server(bins, "messaging").await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    let f = fixture(&server.addr, &mail).await?;
    let path = format!("/v1/conversations/{}/messages", f.conversation);
    let settled_after_s = crate::system::settle(std::time::Duration::from_secs(120)).await;
    let mut out = json!({ "settled_after_s": settled_after_s });
    for c in [1u32, 16, 64] {
        let send = wrk(&server.addr, &path, c, 5, "POST", Some(&f.admin), Some(SEND))?;
        let list = wrk(&server.addr, &format!("{path}?limit=50"), c, 5, "GET", Some(&f.member), None)?;
        out[format!("c{c}")] = json!({"send": send, "list": list});
    }
    let paths = conversations(&server.addr, &f, 16).await?;
    for c in [16u32, 64] {
        out[format!("c{c}")]["send_16_conversations"] = spread(&server.addr, &paths, c, &f)?;
    }
    drop(server);
    out["expiry_due"] = expiry_due(bins).await?;
    Ok(out)
}

/// The message paths of `n` conversations between the fixture's admin and member (the
/// fixture's own first).
async fn conversations(addr: &str, f: &Fixture, n: usize) -> Result<Vec<String>> {
    let me = expect(call(addr, "GET", "/v1/me", Some(&f.member), None).await?, 200, "me")?;
    let mut paths = vec![format!("/v1/conversations/{}/messages", f.conversation)];
    while paths.len() < n {
        let conv = json!({"title": format!("Bench ward {}", paths.len()), "member_ids": [me["user_id"]]});
        let r =
            expect(call(addr, "POST", "/v1/conversations", Some(&f.admin), Some(conv)).await?, 201, "conversation")?;
        paths.push(format!("/v1/conversations/{}/messages", r["conversation_id"].as_str().context("no id")?));
    }
    Ok(paths)
}

fn spread(addr: &str, paths: &[String], c: u32, f: &Fixture) -> Result<Value> {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    wrk_paths(addr, &paths, c, 5, "POST", Some(&f.admin), Some(SEND))
}

/// Sends while the expiry sweep has a backlog: `BULWARK_BENCH_EXPIRED` (default 2,000,000)
/// expired items are written into the data directory first; the server's first sweep starts
/// as it boots. Reports how many were still due after the load, so a reader can see the sweep
/// ran through it rather than before it.
async fn expiry_due(bins: &Path) -> Result<Value> {
    let seeded: usize = std::env::var("BULWARK_BENCH_EXPIRED").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let dir = data_dir("expiry");
    let started = std::time::Instant::now();
    seed_expired(&dir, seeded).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    let server = start_server_at(bins, dir).await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    let f = fixture(&server.addr, &mail).await?;
    let paths = conversations(&server.addr, &f, 16).await?;
    let mut out = json!({"expired_items_seeded": seeded, "seed_secs": seed_secs});
    for c in [16u32, 64] {
        out[format!("c{c}")] = json!({
            "send": wrk(&server.addr, &paths[0], c, 5, "POST", Some(&f.admin), Some(SEND))?,
            "send_16_conversations": spread(&server.addr, &paths, c, &f)?,
        });
    }
    let dir = server.stop_keeping_data();
    out["still_due_after_load"] = json!(sweep(&dir).await?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

fn ports_at(dir: &Path) -> Result<bulwark::ports::Ports> {
    use bulwark::runtime::backend::{EmbeddedSettings, PushSettings, Wiring};
    let settings = EmbeddedSettings {
        data_dir: dir.to_owned(),
        push: PushSettings { fcm_url: "http://127.0.0.1:9".into(), apns_url: "http://127.0.0.1:9".into() },
        passphrase: Some(PASSPHRASE.to_owned().into()),
        mail_from: "Bulwark <no-reply@bench.test>".into(),
    };
    Ok(bulwark::ports::Ports::embedded(settings, Arc::new(bulwark::ports::clock::SystemClock))?)
}

/// `n` items of the platform table that expired a minute ago (as sessions, login codes and
/// retained messages do once their time is up), 100 to a transaction, 32 transactions at a
/// time (the store's group commit takes them together).
async fn seed_expired(dir: &Path, n: usize) -> Result<()> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let ports = ports_at(dir)?;
    ports.store.ensure_table(&Table::Platform).await?;
    let past = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64 - 60;
    let store = &ports.store;
    stream::iter((0..n).step_by(100))
        .map(|start| async move {
            let ops = (start..(start + 100).min(n))
                .map(|i| TxOp::Put {
                    table: Table::Platform,
                    item: Item::new(format!("BENCHEXPIRED#{}", i % 1000), format!("{i:08}"))
                        .with(EXPIRES_AT, past)
                        .with("padding", "an item of about the size of a session record, expired"),
                    cond: Cond::Always,
                })
                .collect();
            store.transact(ops).await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// What the expiry sweep still finds due in `dir` (it deletes them, counting).
async fn sweep(dir: &Path) -> Result<usize> {
    let ports = ports_at(dir)?;
    let sweeper = ports.sweeper.context("the embedded store has a sweeper")?;
    Ok(sweeper.sweep_expired().await?)
}
