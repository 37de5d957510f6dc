//! Load generation with `wrk`: one run against a route (or several paths in turn) at a given
//! concurrency, parsed into requests/s, p50/p99/p99.9 latency and error counts.

use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The median of each latency and rate over `runs` of one wrk measure, and their summed
/// request and error counts.
pub fn median_run(runs: &[Value]) -> Value {
    let m = |k: &str| crate::median(runs.iter().filter_map(|r| r[k].as_f64()).collect());
    let sum = |k: &str| runs.iter().filter_map(|r| r[k].as_u64()).sum::<u64>();
    json!({
        "p50_ms": m("p50_ms"),
        "p99_ms": m("p99_ms"),
        "p999_ms": m("p999_ms"),
        "rps": m("rps"),
        "requests": sum("requests"),
        "non_2xx": sum("non_2xx"),
        "socket_errors": sum("socket_errors"),
        "rounds": runs.len(),
    })
}

/// `r`, a [`wrk`] result, if every request got a 2xx answer; else why not, naming `what`.
pub fn all_answered<'a>(r: &'a Value, what: &str) -> Result<&'a Value> {
    anyhow::ensure!(r["non_2xx"] == 0 && r["socket_errors"] == 0, "{what} failed: {r}");
    Ok(r)
}

pub fn wrk(
    addr: &str,
    path: &str,
    concurrency: u32,
    secs: u32,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Value> {
    wrk_paths(addr, &[path], concurrency, secs, method, token, body)
}

/// [`wrk`] with the requests spread over `paths`, each connection taking them in turn.
pub fn wrk_paths(
    addr: &str,
    paths: &[&str],
    concurrency: u32,
    secs: u32,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Value> {
    let path = paths.first().context("no path")?;
    let script = std::env::temp_dir().join(format!("bulwark-bench-{}.lua", std::process::id()));
    let mut lua = format!("wrk.method = \"{method}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
    if let Some(t) = token {
        lua.push_str(&format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"));
    }
    if let Some(b) = body {
        lua.push_str(&format!("wrk.body = '{b}'\n"));
    }
    if paths.len() > 1 {
        let list: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
        lua.push_str(&format!(
            "local paths = {{{}}}\nlocal i = math.random(#paths)\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n",
            list.join(", ")
        ));
    }
    // wrk prints p99 at most; the tail beyond it comes from its latency histogram (µs).
    lua.push_str("done = function(summary, latency, requests)\n  io.write(string.format(\"P99.9 %d\\n\", latency:percentile(99.9)))\nend\n");
    std::fs::write(&script, lua)?;
    let threads = concurrency.min(2);
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &concurrency.to_string(), "-d", &format!("{secs}s"), "--latency"])
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("wrk is required (Debian package wrk; scripts/bench installs it)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

fn parse_wrk(text: &str) -> Result<Value> {
    let ms = |v: &str| -> Option<f64> {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let mut r = json!({"non_2xx": 0, "socket_errors": 0});
    for line in text.lines().map(str::trim) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["50%", v] => r["p50_ms"] = json!(ms(v)),
            ["99%", v] => r["p99_ms"] = json!(ms(v)),
            ["P99.9", us] => r["p999_ms"] = json!(us.parse::<f64>()? / 1000.0),
            ["Requests/sec:", v] => r["rps"] = json!(v.parse::<f64>()?),
            ["Non-2xx", "or", "3xx", "responses:", n] => r["non_2xx"] = json!(n.parse::<u64>()?),
            [n, "requests", "in", ..] => r["requests"] = json!(n.parse::<u64>()?),
            ["Socket", "errors:", rest @ ..] => {
                let errs: u64 = rest.iter().filter_map(|t| t.trim_end_matches(',').parse::<u64>().ok()).sum();
                r["socket_errors"] = json!(errs);
            }
            _ => {}
        }
    }
    if r.get("rps").is_none() {
        bail!("no Requests/sec line");
    }
    Ok(r)
}
