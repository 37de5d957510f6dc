//! `scripts/bench`'s harness. Everything is measured side by side in one run, each figure
//! next to its baseline, so the ratios hold on a noisy machine:
//!
//! 1. cold start and peak RSS of every function binary vs a hello-world `lambda_runtime`
//!    binary, on a Lambda Runtime API stand-in on loopback;
//! 2. (package sizes are measured by `scripts/bench` itself and passed in);
//! 3. logins/s on the local server vs an argon2id verify endpoint, at concurrency 2 and 4;
//! 4. message send and list latency/throughput under `wrk` at concurrency 1, 16 and 64;
//! 5. attachment upload+download throughput vs the raw attachment cipher, and the RSS growth
//!    of 16 concurrent 4 MiB uploads (before the storage part: right after its millions of
//!    messages this machine stayed slower for minutes, BENCHMARKS.md, round 5);
//! 6. AWS API calls per route (AWS mode against moto, counted by the SDK interceptor);
//! 7. the event app: registrations/s at concurrency 16, announcement fan-out to 5,000 attendees.
//!
//! Usage: `bulwark-bench <bin-dir> <results.json> [sizes.json]` with `BULWARK_BENCH_AWS_ENDPOINT`
//! pointing at a moto server for part 6.

mod attachments;
mod aws_calls;
mod client;
mod cold_start;
mod events;
mod fixture;
mod login;
mod messaging;
mod report;
mod server;
mod storage;
mod system;
mod wrk;

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::{json, Value};

const OPERATOR: &str = "bench-operator-token";
const PASSWORD: &str = "Correct-Horse-Battery-9";
const MIB: usize = 1024 * 1024;

/// The middle of `v` (the mean of the middle two of an even count): what a typical run saw,
/// whatever one stall of this shared machine did to another.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The settings of the applications the bench runs in its own process.
fn app_settings() -> bulwark::runtime::settings::AppSettings {
    bulwark::runtime::settings::AppSettings {
        app_url: "https://app.bench.test".into(),
        operator: bulwark::services::context::OperatorAuth::from_token(&OPERATOR.to_owned().into()),
        anon_rate_per_ip: 120,
        mail_rate_per_account: 5,
        hash_concurrency: None,
        sso: bulwark::runtime::settings::sso_settings(),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: bulwark-bench <bin-dir> <results.json> [sizes.json]");
    }
    let bins = PathBuf::from(&args[1]);
    let out = PathBuf::from(&args[2]);
    let sizes: Value = match args.get(3) {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => json!({}),
    };
    let mut results = json!({ "machine": system::machine(), "package_sizes": sizes });
    // BULWARK_BENCH_ONLY=messaging,login (say) runs just those parts, for profiling one of
    // them; the table then shows only what was measured.
    let only = std::env::var("BULWARK_BENCH_ONLY").ok();
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p.trim() == part));
    if wanted("cold_start") {
        eprintln!("bench: cold starts");
        results["cold_start"] = cold_start::cold_starts(&bins).await?;
    }
    if wanted("login") {
        eprintln!("bench: login cost");
        results["login"] = login::login_cost(&bins).await?;
    }
    if wanted("messaging") {
        eprintln!("bench: messaging load");
        results["messaging"] = messaging::messaging(&bins).await?;
    }
    if wanted("attachments") {
        eprintln!("bench: attachments");
        results["attachments"] = attachments::attachments(&bins).await?;
    }
    if wanted("storage") {
        eprintln!("bench: storage and scale");
        results["storage"] = storage::storage(&bins).await?;
    }
    if wanted("events") {
        eprintln!("bench: events");
        results["events"] = events::events().await?;
    }
    if wanted("aws_calls") {
        eprintln!("bench: AWS calls per route");
        results["aws_calls"] = match std::env::var("BULWARK_BENCH_AWS_ENDPOINT") {
            Ok(endpoint) => {
                aws_calls::aws_calls(&endpoint).await.unwrap_or_else(|e| json!({"error": format!("{e:#}")}))
            }
            Err(_) => json!({"skipped": "BULWARK_BENCH_AWS_ENDPOINT not set"}),
        };
    }
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
    println!("{}", report::markdown(&results));
    Ok(())
}
