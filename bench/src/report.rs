//! The markdown table printed after a run: each figure next to its baseline, the ratio, the
//! target and whether it was met, then the AWS calls per route.

use serde_json::{json, Value};

use crate::MIB;

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "n/a".into(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "missed"
    }
}

pub fn markdown(r: &Value) -> String {
    let mut s = String::new();
    let m = &r["machine"];
    s.push_str(&format!(
        "Machine: {} ({} cores, {} GiB, {}/{})\n\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gib"],
        m["os"].as_str().unwrap_or("?"),
        m["arch"].as_str().unwrap_or("?")
    ));
    s.push_str("| Measure | Bulwark | Baseline | Ratio | Target | Verdict |\n|---|---|---|---|---|---|\n");
    let c = &r["cold_start"];
    if !c.is_null() {
        let ratio = c["worst_ratio"].as_f64().unwrap_or(f64::MAX);
        s.push_str(&format!(
            "| Cold start, worst function (ms) | {} | {} (hello world) | {}x | <= 1.5x | {} |\n",
            f(&c["worst_ms"]),
            f(&c["hello_world"]["ms"]),
            f(&c["worst_ratio"]),
            verdict(ratio <= 1.5)
        ));
        s.push_str(&format!(
            "| Cold start, median function (ms) | {} | {} | {}x | <= 1.5x | {} |\n",
            f(&c["median_ms"]),
            f(&c["hello_world"]["ms"]),
            f(&c["median_ratio"]),
            verdict(c["median_ratio"].as_f64().unwrap_or(f64::MAX) <= 1.5)
        ));
        let rss = c["worst_peak_rss_mib"].as_f64().unwrap_or(f64::MAX);
        s.push_str(&format!(
            "| Peak RSS at init, worst function (MiB) | {} | {} | | <= 30 MB | {} |\n",
            f(&c["worst_peak_rss_mib"]),
            f(&c["hello_world"]["peak_rss_mib"]),
            verdict(rss <= 30.0 * 1e6 / MIB as f64)
        ));
    }
    if let Some(sz) = r["package_sizes"]["largest_zip_mb"].as_f64() {
        s.push_str(&format!(
            "| Largest function zip (MB, {}) | {} | {} (hello world) | | <= 5 MB | {} |\n",
            r["package_sizes"]["target"].as_str().unwrap_or("?"),
            f(&json!(sz)),
            f(&r["package_sizes"]["hello_zip_mb"]),
            verdict(sz <= 5.0)
        ));
    }
    let l = &r["login"];
    if !l.is_null() {
        s.push_str(&format!(
            "| Logins/s, concurrency 2 | {} | {} (argon2id verify endpoint, same wrk; raw on two threads: {}) | {}x | >= 0.9x | {} |\n",
            f(&l["server"]["rps"]),
            f(&l["baseline_endpoint"]["rps"]),
            f(&l["raw_argon2id_per_s"]),
            f(&l["ratio"]),
            verdict(l["ratio"].as_f64().unwrap_or(0.0) >= 0.9)
        ));
        let sat = &l["saturated"];
        if !sat.is_null() {
            s.push_str(&format!(
                "| Logins/s, concurrency {} (the CPU cost apart from latency) | {} | {} (same endpoint) | {}x | for reference | |\n",
                sat["concurrency"],
                f(&sat["server"]["rps"]),
                f(&sat["baseline_endpoint"]["rps"]),
                f(&sat["ratio"]),
            ));
        }
    }
    // Issue 21's tail target: p99 <= 20 ms and p99.9 <= 50 ms for every messaging scenario
    // at concurrency 16 and 64 (sends also spread over 16 conversations, and with expiry due).
    let m = &r["messaging"];
    let mut cells: Vec<(String, &Value, bool)> = Vec::new();
    for c in ["c1", "c16", "c64"].into_iter().filter(|_| !m.is_null()) {
        let tail = c != "c1";
        cells.push((format!("Message send, concurrency {}", &c[1..]), &m[c]["send"], tail));
        cells.push((format!("Message list, concurrency {}", &c[1..]), &m[c]["list"], tail));
        if !m[c]["send_16_conversations"].is_null() {
            cells.push((
                format!("Message send over 16 conversations, concurrency {}", &c[1..]),
                &m[c]["send_16_conversations"],
                tail,
            ));
        }
        let e = &m["expiry_due"][c];
        if !e.is_null() {
            cells.push((format!("Message send with expiry due, concurrency {}", &c[1..]), &e["send"], tail));
            cells.push((
                format!("Message send over 16 conversations with expiry due, concurrency {}", &c[1..]),
                &e["send_16_conversations"],
                tail,
            ));
        }
    }
    for (label, w, tail) in cells {
        let errors = w["non_2xx"].as_u64().unwrap_or(0) + w["socket_errors"].as_u64().unwrap_or(0);
        let ms = |k: &str| w[k].as_f64().unwrap_or(f64::MAX);
        let (target, ok) = if tail {
            ("p99 <= 20 ms, p99.9 <= 50 ms, 0 errors", ms("p99_ms") <= 20.0 && ms("p999_ms") <= 50.0)
        } else {
            ("0 errors", true)
        };
        s.push_str(&format!(
            "| {label} (req/s; p50/p99/p99.9 ms; errors) | {}; {}/{}/{}; {errors} | | | {target} | {} |\n",
            f(&w["rps"]),
            f(&w["p50_ms"]),
            f(&w["p99_ms"]),
            f(&w["p999_ms"]),
            verdict(ok && errors == 0)
        ));
    }
    if !m["expiry_due"].is_null() {
        let e = &m["expiry_due"];
        s.push_str(&format!(
            "| Expired items due when the expiry-due load began; still due after it | {}; {} | | | swept during the load | {} |\n",
            f(&e["expired_items_seeded"]),
            f(&e["still_due_after_load"]),
            verdict((1.0..e["expired_items_seeded"].as_f64().unwrap_or(0.0)).contains(&e["still_due_after_load"].as_f64().unwrap_or(0.0)))
        ));
    }
    let a = &r["attachments"];
    if !a.is_null() {
        s.push_str(&format!(
            "| Attachment 4 MiB upload+download (MiB/s) | {} | {} (raw cipher) | {}x | >= 0.5x | {} |\n",
            f(&a["server_mib_s"]),
            f(&a["raw_cipher_mib_s"]),
            f(&a["ratio"]),
            verdict(a["ratio"].as_f64().unwrap_or(0.0) >= 0.5)
        ));
        s.push_str(&format!(
            "| Attachment round trip (ms): server; raw cipher; disk write+fsync of 4 MiB | {}; {}; {} | | {}x ceiling (cipher + disk) | | |\n",
            f(&a["round_trip_ms"]),
            f(&a["raw_round_trip_ms"]),
            f(&a["disk_write_fsync_ms"]),
            f(&a["ceiling_ratio"]),
        ));
        s.push_str(&format!(
            "| Attachment throughput vs the durable ceiling (cipher + fsync of the same bytes), median round | {}x | | middle half of the rounds: {}x to {}x | >= 0.9x | {} |\n",
            f(&a["of_ceiling"]),
            f(&a["of_ceiling_quartiles"][0]),
            f(&a["of_ceiling_quartiles"][1]),
            verdict(a["of_ceiling"].as_f64().unwrap_or(0.0) >= 0.9)
        ));
        s.push_str(&format!(
            "| RSS growth, 16 concurrent 4 MiB uploads (MiB) | {} | {} (baseline RSS) | | <= 64 MiB | {} |\n",
            f(&a["rss_growth_mib"]),
            f(&a["rss_baseline_mib"]),
            verdict(a["rss_growth_mib"].as_f64().unwrap_or(f64::MAX) <= 64.0)
        ));
    }
    let st = &r["storage"];
    if !st.is_null() {
        let p99 = |v: &Value| v["p99_ms"].as_f64().unwrap_or(f64::MAX);
        let (small, large) = (&st["list_small"]["list"], &st["list_large"]["list"]);
        let (c10, c5000) = (&st["conversations_10"], &st["conversations_5000"]);
        s.push_str(&format!(
            "| Disk per stored 100-byte message (bytes on disk; {} messages, indexes included; the file's apparent size: {}) | {} | | | <= 400 | {} |\n",
            st["messages"],
            f(&st["apparent_bytes_per_message"]),
            f(&st["bytes_per_message"]),
            verdict(st["bytes_per_message"].as_f64().unwrap_or(f64::MAX) <= 400.0)
        ));
        s.push_str(&format!(
            "| Local server peak RSS after {} messages, logins included (MiB) | {} | | | <= 256 | {} |\n",
            st["messages"],
            f(&st["peak_rss_mib"]),
            verdict(st["peak_rss_mib"].as_f64().unwrap_or(f64::MAX) <= 256.0)
        ));
        let (early, late) = (
            st["checkpoint"]["peak_rss_mib"].as_f64().unwrap_or(f64::MAX),
            st["peak_rss_mib"].as_f64().unwrap_or(f64::MAX),
        );
        s.push_str(&format!(
            "| Peak RSS after {} vs after {} messages (MiB) | {} | {} | {}x | flat (<= 1.2x) | {} |\n",
            st["messages"],
            st["checkpoint"]["messages"],
            f(&json!(late)),
            f(&json!(early)),
            f(&json!(late / early)),
            verdict(late <= 1.2 * early)
        ));
        s.push_str(&format!(
            "| List p50/p99 (ms), c16: {} vs {} messages in the conversation | {}/{} | {}/{} | {}x p99 | same (<= 1.2x) | {} |\n",
            st["list_small"]["messages"],
            st["list_large"]["messages"],
            f(&large["p50_ms"]),
            f(&large["p99_ms"]),
            f(&small["p50_ms"]),
            f(&small["p99_ms"]),
            f(&json!(p99(large) / p99(small))),
            verdict(p99(large) <= 1.2 * p99(small))
        ));
        s.push_str(&format!(
            "| GET /v1/conversations?limit=10 p50/p99 (ms), c16: member of 5,000 vs 10 | {}/{} | {}/{} | {}x p99 | same (<= 1.2x) | {} |\n",
            f(&c5000["p50_ms"]),
            f(&c5000["p99_ms"]),
            f(&c10["p50_ms"]),
            f(&c10["p99_ms"]),
            f(&json!(p99(c5000) / p99(c10))),
            verdict(p99(c5000) <= 1.2 * p99(c10))
        ));
    }
    let e = &r["events"];
    if !e.is_null() {
        s.push_str(&format!(
            "| Event registrations/s, concurrency 16 (embedded, {} attendees) | {} | | | >= 2000/s | {} |\n",
            e["registrations"],
            f(&e["registrations_per_s"]),
            verdict(e["registrations_per_s"].as_f64().unwrap_or(0.0) >= 2000.0)
        ));
        s.push_str(&format!(
            "| Announcement to 5,000 attendees: post (ms); all {} push jobs queued (s) | {}; {} | | | queued < 2 s | {} |\n",
            e["push_jobs_queued"],
            f(&e["announcement_post_ms"]),
            f(&e["announcement_fanout_s"]),
            verdict(e["announcement_fanout_s"].as_f64().unwrap_or(f64::MAX) < 2.0 && e["push_jobs_queued"] == 5000)
        ));
    }
    if let Some(routes) = r["aws_calls"]["routes"].as_array() {
        s.push_str("\nAWS API calls per route (AWS mode against moto; cold = first call in a fresh process):\n\n");
        s.push_str("| Route | Cold | Warm | Warm calls |\n|---|---|---|---|\n");
        for row in routes {
            let detail = |k: &str| -> String {
                row[k]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k} x{v}")).collect::<Vec<_>>().join(", "))
                    .unwrap_or_else(|| "-".into())
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row["route"].as_str().unwrap_or("?"),
                row["cold_calls"],
                if row["warm_calls"].is_null() { "-".into() } else { row["warm_calls"].to_string() },
                if row["warm"].is_null() { detail("cold") } else { detail("warm") },
            ));
        }
    }
    s
}
