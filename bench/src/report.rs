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
            "| Logins/s, concurrency 2 | {} | {} (raw argon2id) | {}x | >= 0.9x | {} |\n",
            f(&l["server"]["rps"]),
            f(&l["raw_argon2id_per_s"]),
            f(&l["ratio"]),
            verdict(l["ratio"].as_f64().unwrap_or(0.0) >= 0.9)
        ));
    }
    for c in ["c1", "c16", "c64"].into_iter().filter(|_| !r["messaging"].is_null()) {
        for op in ["send", "list"] {
            let w = &r["messaging"][c][op];
            let errors = w["non_2xx"].as_u64().unwrap_or(0) + w["socket_errors"].as_u64().unwrap_or(0);
            let (target, ok) = if c == "c16" && op == "send" {
                (
                    ">= 5000/s, p99 <= 20 ms",
                    w["rps"].as_f64().unwrap_or(0.0) >= 5000.0 && w["p99_ms"].as_f64().unwrap_or(f64::MAX) <= 20.0,
                )
            } else {
                ("0 errors", true)
            };
            s.push_str(&format!(
                "| Message {op}, concurrency {} (req/s; p50/p99 ms; errors) | {}; {}/{}; {errors} | | | {target} | {} |\n",
                &c[1..],
                f(&w["rps"]),
                f(&w["p50_ms"]),
                f(&w["p99_ms"]),
                verdict(ok && errors == 0)
            ));
        }
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
            "| Disk per stored 100-byte message (bytes; {} messages, indexes included) | {} | | | <= 400 | {} |\n",
            st["messages"],
            f(&st["bytes_per_message"]),
            verdict(st["bytes_per_message"].as_f64().unwrap_or(f64::MAX) <= 400.0)
        ));
        s.push_str(&format!(
            "| Local server peak RSS after {} messages, logins included (MiB) | {} | | | <= 256 | {} |\n",
            st["messages"],
            f(&st["peak_rss_mib"]),
            verdict(st["peak_rss_mib"].as_f64().unwrap_or(f64::MAX) <= 256.0)
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
