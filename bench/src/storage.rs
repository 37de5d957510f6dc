//! Storage and scale (issue 21): the local server fills one conversation with 100-byte
//! messages (BULWARK_BENCH_MESSAGES, default 100,000) through its API, and the bench reports
//! the data directory's bytes on disk per message, the server's peak RSS (logins included in the
//! load) after 100,000 messages and at the end (flatness), and list latency (the newest page) at concurrency 16 after a first short round (at
//! least 1,000 messages) and with all of them; then
//! `GET /v1/conversations` (a page of 10) for a member of 10 and of 5,000 conversations.

use std::path::Path;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::client::{call, expect};
use crate::fixture::{fixture, Mailbox};
use crate::server::start_server;
use crate::system::proc_kib;
use crate::wrk::wrk;

/// A 100-byte message body.
const BODY: &str =
    r#"{"body":"Ward 4: patient in bed 12 needs a follow-up on the new medication before noon, please."}"#;

/// The data directory's bytes on disk (blocks the file system allocated, as `du` counts)
/// and its files' apparent sizes. They differ because redb grows its file ahead of use, by
/// doubling up to 4 GiB, and the tail it has not written yet is a hole that takes no disk.
fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => (m.blocks() * 512, m.len()),
            Err(_) => (0, 0),
        })
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

/// Send until at least `target` messages are stored (wrk at concurrency 16, in rounds of at
/// most 20 s; a round overshoots by what it sends past the target); the count sent.
fn fill(addr: &str, path: &str, token: &str, have: u64, target: u64) -> Result<u64> {
    let mut sent = have;
    while sent < target {
        // Rounds of at most 20 s, sized from the rate of the first.
        let r = wrk(addr, path, 16, 20.min(((target - sent) / 2500).max(1)) as u32, "POST", Some(token), Some(BODY))?;
        anyhow::ensure!(r["non_2xx"] == 0 && r["socket_errors"] == 0, "sends failed: {r}");
        sent += r["requests"].as_u64().context("wrk request count")?;
    }
    Ok(sent)
}

pub async fn storage(bins: &Path) -> Result<Value> {
    let target: u64 = std::env::var("BULWARK_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let server = start_server(bins, "storage").await?;
    let addr = server.addr.clone();
    let f = fixture(&addr, &Mailbox::Outbox(server.dir.join("outbox"))).await?;
    let path = format!("/v1/conversations/{}/messages", f.conversation);
    let list = |label: &str| -> Result<Value> {
        let r = wrk(&addr, &format!("{path}?limit=50"), 16, 5, "GET", Some(&f.member), None)?;
        anyhow::ensure!(r["non_2xx"] == 0, "{label}: list failed: {r}");
        Ok(r)
    };
    let before = dir_bytes(&server.dir);
    let sent = fill(&addr, &path, &f.admin, 0, 1_000)?;
    let list_small = json!({"messages": sent, "list": list("small")?});
    // Logins too, so argon2's working memory is part of the peak.
    let login = json!({"tenant": "bench", "email": "member@bench.test", "password": crate::PASSWORD}).to_string();
    // Four at a time: one account takes at most 5 attempts in flight (the lockout's slots).
    let logins = || -> Result<Value> {
        let r = wrk(&addr, "/v1/auth/login", 4, 5, "POST", None, Some(&login))?;
        anyhow::ensure!(r["non_2xx"] == 0, "logins failed: {r}");
        Ok(r)
    };
    let pid = server.child.id();
    // Memory flatness: the peak after 100,000 messages (and logins) against the peak at the end.
    let checkpoint = target.min(100_000);
    let sent = fill(&addr, &path, &f.admin, sent, checkpoint)?;
    logins()?;
    let checkpoint_peak = json!({"messages": sent, "peak_rss_mib": proc_kib(pid, "VmHWM") as f64 / 1024.0});
    let sent = fill(&addr, &path, &f.admin, sent, target)?;
    let list_large = json!({"messages": sent, "list": list("large")?});
    let logins = logins()?;
    // The writer's last group commit is durable before its answer; the file size is final.
    let (on_disk, apparent) = dir_bytes(&server.dir);
    let (bytes, apparent) = (on_disk.saturating_sub(before.0), apparent.saturating_sub(before.1));
    let peak_rss_mib = proc_kib(pid, "VmHWM") as f64 / 1024.0;

    // Conversations of a member: 10, then 5,000.
    let member_me = expect(call(&addr, "GET", "/v1/me", Some(&f.member), None).await?, 200, "member me")?;
    let create = |n: usize| {
        let (addr, admin, uid) = (addr.clone(), f.admin.clone(), member_me["user_id"].clone());
        async move {
            let statuses: Vec<Result<u16>> = stream::iter(0..n)
                .map(|i| {
                    let body = json!({"title": format!("Ward {i}"), "member_ids": [uid]});
                    let (addr, admin) = (addr.clone(), admin.clone());
                    async move { Ok(call(&addr, "POST", "/v1/conversations", Some(&admin), Some(body)).await?.status) }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            anyhow::ensure!(statuses.into_iter().all(|s| s.is_ok_and(|s| s == 201)), "conversation create failed");
            Ok(())
        }
    };
    create(9).await?;
    let convs = |label: &'static str| {
        let r = wrk(&addr, "/v1/conversations?limit=10", 16, 5, "GET", Some(&f.member), None)?;
        anyhow::ensure!(r["non_2xx"] == 0, "{label}: conversations failed: {r}");
        Ok::<Value, anyhow::Error>(r)
    };
    let convs_10 = convs("10")?;
    create(4_990).await?;
    let convs_5000 = convs("5000")?;
    // BULWARK_BENCH_KEEP_DATA=1 keeps the data directory to inspect what fills it.
    if std::env::var_os("BULWARK_BENCH_KEEP_DATA").is_some() {
        eprintln!("bench: storage data directory kept at {}", server.stop_keeping_data().display());
    }
    Ok(json!({
        "messages": sent,
        "data_dir_bytes": bytes,
        "bytes_per_message": bytes as f64 / sent as f64,
        "data_dir_apparent_bytes": apparent,
        "apparent_bytes_per_message": apparent as f64 / sent as f64,
        "peak_rss_mib": peak_rss_mib,
        "checkpoint": checkpoint_peak,
        "logins": logins,
        "list_small": list_small,
        "list_large": list_large,
        "conversations_10": convs_10,
        "conversations_5000": convs_5000,
    }))
}
