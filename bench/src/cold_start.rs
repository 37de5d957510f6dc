//! Part 1: cold start and peak RSS of every function binary vs a hello-world `lambda_runtime`
//! binary, each asking a Lambda Runtime API stand-in on loopback for its first invocation.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::median;
use crate::system::proc_kib;

/// A Lambda Runtime API stand-in: reports when a function first asks for work, and never
/// answers (the process is measured, then killed).
async fn runtime_api() -> Result<(String, tokio::sync::mpsc::UnboundedReceiver<Instant>)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        axum::routing::get(move || {
            let _ = tx.send(Instant::now());
            std::future::pending::<&'static str>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, rx))
}

/// Every function, or those `BULWARK_BENCH_FUNCTIONS` names (space separated: the release
/// profile's measurement builds only some).
fn functions() -> Vec<String> {
    let all =
        bulwark::http::functions().into_iter().chain(bulwark::runtime::lambda::WORKERS.iter().map(|w| w.function));
    match std::env::var("BULWARK_BENCH_FUNCTIONS") {
        Ok(only) => all.filter(|f| only.split_whitespace().any(|o| o == *f)).map(str::to_owned).collect(),
        Err(_) => all.map(str::to_owned).collect(),
    }
}

const COLD_RUNS: usize = 31;

/// One exec of `path`: milliseconds until it asks the runtime API for work, and its peak RSS
/// (KiB) at that moment.
async fn cold_start_once(
    path: &Path,
    name: &str,
    api: &str,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Instant>,
) -> Result<(f64, u64)> {
    let start = Instant::now();
    let mut child = Command::new(path)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("BULWARK_BUCKET", "bench-bucket")
        .env("BULWARK_KMS_KEY_ID", "alias/bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", path.display()))?;
    let asked = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    let hwm = proc_kib(child.id(), "VmHWM");
    let _ = child.kill();
    let _ = child.wait();
    match asked {
        Ok(Some(at)) => Ok((at.duration_since(start).as_secs_f64() * 1000.0, hwm)),
        _ => bail!("{name} never asked the runtime API for work"),
    }
}

pub async fn cold_starts(bins: &Path) -> Result<Value> {
    let (api, mut rx) = runtime_api().await?;
    let hello_bin = bins.join("hello-lambda");
    let functions = functions();
    // After the builds (the release profile's run) the disk and the kernel have work left.
    let settled_after_s = crate::system::settle(Duration::from_secs(120)).await;
    // Each function run is paired with a hello-world run just before it, so both see the same
    // moment of this shared VM's noise; hello world's figure is the median of all its runs.
    // The runs go round the functions rather than through each function's in a row, so a
    // burst of that noise lands on one run each of many functions, not on most of one's.
    let (mut hello_times, mut hello_peak) = (Vec::new(), 0u64);
    let mut runs: BTreeMap<&str, (Vec<f64>, u64)> = BTreeMap::new();
    for _ in 0..COLD_RUNS {
        for f in &functions {
            let (ms, hwm) = cold_start_once(&hello_bin, "hello-lambda", &api, &mut rx).await?;
            hello_times.push(ms);
            hello_peak = hello_peak.max(hwm);
            let (ms, hwm) = cold_start_once(&bins.join(f), f, &api, &mut rx).await?;
            let (times, peak) = runs.entry(f).or_default();
            times.push(ms);
            *peak = (*peak).max(hwm);
        }
    }
    let per_function: BTreeMap<&str, Value> = runs
        .into_iter()
        .map(|(f, (times, peak))| (f, json!({"ms": median(times), "peak_rss_mib": peak as f64 / 1024.0})))
        .collect();
    let hello = json!({"ms": median(hello_times), "peak_rss_mib": hello_peak as f64 / 1024.0});
    let hello_ms = hello["ms"].as_f64().unwrap_or(1.0).max(0.001);
    let worst = per_function.values().map(|v| v["ms"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let worst_rss = per_function.values().map(|v| v["peak_rss_mib"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let med = median(per_function.values().map(|v| v["ms"].as_f64().unwrap_or(0.0)).collect());
    Ok(json!({
        "runs_per_binary": COLD_RUNS,
        "settled_after_s": settled_after_s,
        "hello_world": hello,
        "functions": per_function,
        "median_ms": med,
        "worst_ms": worst,
        "worst_ratio": worst / hello_ms,
        "median_ratio": med / hello_ms,
        "worst_peak_rss_mib": worst_rss,
    }))
}
