//! Storage and scale (issue 21): the local server fills one conversation with 100-byte
//! messages (BULWARK_BENCH_MESSAGES, default 100,000) through its API, and the bench reports
//! the data directory's bytes on disk per message and the server's peak RSS (logins included
//! in the load) after 100,000 messages and at the end (flatness). Then, side by side in
//! alternating rounds: list latency (the newest page) at concurrency 16 in a conversation of
//! 1,000 messages and in the full one, and `GET /v1/conversations` (a page of 10) for a member
//! of 10 and a member of 5,000 conversations.

use std::path::Path;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::client::{call, expect};
use crate::fixture::{accept, fixture, login, Mailbox};
use crate::server::start_server;
use crate::system::proc_kib;
use crate::wrk::{self, wrk};

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

/// Send until `target` messages are stored: wrk at concurrency 16, in rounds of at most 20 s
/// sized from the rate of the round before, then the last second's worth one by one (16 at a
/// time), so a checkpoint lands on its count; the count sent.
async fn fill(addr: &str, path: &str, token: &str, have: u64, target: u64) -> Result<u64> {
    // The first round lasts a second, to learn the rate.
    let (mut sent, mut rate) = (have, None::<u64>);
    while target.saturating_sub(sent) > rate.unwrap_or(20_000) {
        let secs = rate.map_or(1, |r| ((target - sent) / r.max(1)).clamp(1, 20));
        let r = wrk(addr, path, 16, secs as u32, "POST", Some(token), Some(BODY))?;
        crate::wrk::all_answered(&r, "sends")?;
        let requests = r["requests"].as_u64().context("wrk request count")?;
        sent += requests;
        rate = Some(requests / secs);
    }
    let body: Value = serde_json::from_str(BODY)?;
    let statuses: Vec<Result<u16>> = stream::iter(sent..target)
        .map(|_| {
            let body = body.clone();
            async move { Ok(call(addr, "POST", path, Some(token), Some(body)).await?.status) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    anyhow::ensure!(statuses.into_iter().all(|s| s.is_ok_and(|s| s == 201)), "sends failed");
    Ok(sent.max(target))
}

/// Rounds of the side-by-side comparisons at the end: each measure runs once per round, in
/// turn with the one it is compared with, so both see the same moments of this machine.
const ROUNDS: usize = 3;

pub async fn storage(bins: &Path) -> Result<Value> {
    let target: u64 = std::env::var("BULWARK_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let server = start_server(bins, "storage").await?;
    let addr = server.addr.clone();
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    let f = fixture(&addr, &mail).await?;
    let member_me = expect(call(&addr, "GET", "/v1/me", Some(&f.member), None).await?, 200, "member me")?;
    // Conversations of `user_id`, `n` of them, made by the admin.
    let create = |n: usize, user_id: Value, admin: &str| {
        let (addr, admin) = (addr.clone(), admin.to_owned());
        async move {
            let ids: Vec<Result<String>> = stream::iter(0..n)
                .map(|i| {
                    let body = json!({"title": format!("Ward {i}"), "member_ids": [user_id]});
                    let (addr, admin) = (addr.clone(), admin.clone());
                    async move {
                        let r = expect(
                            call(&addr, "POST", "/v1/conversations", Some(&admin), Some(body)).await?,
                            201,
                            "conversation",
                        )?;
                        r["conversation_id"].as_str().map(str::to_owned).context("no conversation id")
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            ids.into_iter().collect::<Result<Vec<String>>>()
        }
    };
    // The small conversation: 1,000 messages, listed beside the large one at the end.
    let small = create(1, member_me["user_id"].clone(), &f.admin).await?.pop().context("no conversation")?;
    let small_path = format!("/v1/conversations/{small}/messages");
    let before = dir_bytes(&server.dir);
    let small_messages = fill(&addr, &small_path, &f.admin, 0, 1_000).await?;
    // A second member in 10 conversations, whose list is compared with a member of 5,000.
    let invite = json!({"email": "few@bench.test", "role": "member"});
    expect(call(&addr, "POST", "/v1/admin/invitations", Some(&f.admin), Some(invite)).await?, 201, "invite")?;
    let few = accept(&addr, &mail, "few@bench.test").await?;
    let few_me = expect(call(&addr, "GET", "/v1/me", Some(&few), None).await?, 200, "few me")?;
    create(10, few_me["user_id"].clone(), &f.admin).await?;

    let path = format!("/v1/conversations/{}/messages", f.conversation);
    // Logins too, so argon2's working memory is part of the peak.
    let login_body = json!({"tenant": "bench", "email": "member@bench.test", "password": crate::PASSWORD}).to_string();
    // Four at a time: one account takes at most 5 attempts in flight (the lockout's slots).
    let logins = || -> Result<Value> {
        let r = wrk(&addr, "/v1/auth/login", 4, 5, "POST", None, Some(&login_body))?;
        anyhow::ensure!(r["non_2xx"] == 0, "logins failed: {r}");
        Ok(r)
    };
    let pid = server.child.id();
    // Memory flatness: the peak after 100,000 messages (and logins) against the peak at the end.
    let checkpoint = target.min(100_000);
    let sent = fill(&addr, &path, &f.admin, 0, checkpoint).await?;
    logins()?;
    let checkpoint_peak =
        json!({"messages": small_messages + sent, "peak_rss_mib": proc_kib(pid, "VmHWM") as f64 / 1024.0});
    // Access tokens last 15 minutes: fresh ones for each long step.
    let admin = login(&addr, "admin@bench.test").await?;
    let sent = fill(&addr, &path, &admin, sent, target).await?;
    let logins = logins()?;
    // The writer's last group commit is durable before its answer; the file size is final.
    let (on_disk, apparent) = dir_bytes(&server.dir);
    let stored = small_messages + sent;
    let (bytes, apparent) = (on_disk.saturating_sub(before.0), apparent.saturating_sub(before.1));
    let peak_rss_mib = proc_kib(pid, "VmHWM") as f64 / 1024.0;

    // The original member: in the fixture's conversation, the small one and 4,998 more.
    let admin = login(&addr, "admin@bench.test").await?;
    create(4_998, member_me["user_id"].clone(), &admin).await?;
    let (member, few) = (login(&addr, "member@bench.test").await?, login(&addr, "few@bench.test").await?);
    let list = |path: &str| -> Result<Value> {
        let r = wrk(&addr, &format!("{path}?limit=50"), 16, 5, "GET", Some(&member), None)?;
        anyhow::ensure!(r["non_2xx"] == 0, "list failed: {r}");
        Ok(r)
    };
    let convs = |token: &str| -> Result<Value> {
        let r = wrk(&addr, "/v1/conversations?limit=10", 16, 5, "GET", Some(token), None)?;
        anyhow::ensure!(r["non_2xx"] == 0, "conversations failed: {r}");
        Ok(r)
    };
    let (mut lists_small, mut lists_large, mut convs_10, mut convs_5000) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        lists_small.push(list(&small_path)?);
        lists_large.push(list(&path)?);
        convs_10.push(convs(&few)?);
        convs_5000.push(convs(&member)?);
    }
    // BULWARK_BENCH_KEEP_DATA=1 keeps the data directory to inspect what fills it.
    if std::env::var_os("BULWARK_BENCH_KEEP_DATA").is_some() {
        eprintln!("bench: storage data directory kept at {}", server.stop_keeping_data().display());
    }
    Ok(json!({
        "messages": stored,
        "data_dir_bytes": bytes,
        "bytes_per_message": bytes as f64 / stored as f64,
        "data_dir_apparent_bytes": apparent,
        "apparent_bytes_per_message": apparent as f64 / stored as f64,
        "peak_rss_mib": peak_rss_mib,
        "checkpoint": checkpoint_peak,
        "logins": logins,
        "list_small": {"messages": small_messages, "list": wrk::median_run(&lists_small)},
        "list_large": {"messages": sent, "list": wrk::median_run(&lists_large)},
        "conversations_10": wrk::median_run(&convs_10),
        "conversations_5000": wrk::median_run(&convs_5000),
    }))
}
