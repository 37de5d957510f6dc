//! `scripts/bench`'s harness. Everything is measured side by side in one run, each figure
//! next to its baseline, so the ratios hold on a noisy machine:
//!
//! 1. cold start and peak RSS of every function binary vs a hello-world `lambda_runtime`
//!    binary, on a Lambda Runtime API stand-in on loopback;
//! 2. (package sizes are measured by `scripts/bench` itself and passed in);
//! 3. logins/s on the local server vs raw argon2id verifies/s, both at concurrency 2;
//! 4. message send and list latency/throughput under `wrk` at concurrency 1, 16 and 64;
//! 5. attachment upload+download throughput vs the raw attachment cipher, and the RSS growth
//!    of 16 concurrent 4 MiB uploads;
//! 6. AWS API calls per route (AWS mode against moto, counted by the SDK interceptor).
//!
//! Usage: `bulwark-bench <bin-dir> <results.json> [sizes.json]` with `BULWARK_BENCH_AWS_ENDPOINT`
//! pointing at a moto server for part 6.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPERATOR: &str = "bench-operator-token";
const PASSWORD: &str = "Correct-Horse-Battery-9";
const MIB: usize = 1024 * 1024;

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
    let mut results = json!({ "machine": machine(), "package_sizes": sizes });
    // BULWARK_BENCH_ONLY=messaging,login (say) runs just those parts, for profiling one of
    // them; the table then shows only what was measured.
    let only = std::env::var("BULWARK_BENCH_ONLY").ok();
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p.trim() == part));
    if wanted("cold_start") {
        eprintln!("bench: cold starts");
        results["cold_start"] = cold_starts(&bins).await?;
    }
    if wanted("login") {
        eprintln!("bench: login cost");
        results["login"] = login_cost(&bins).await?;
    }
    if wanted("messaging") {
        eprintln!("bench: messaging load");
        results["messaging"] = messaging(&bins).await?;
    }
    if wanted("attachments") {
        eprintln!("bench: attachments");
        results["attachments"] = attachments(&bins).await?;
    }
    if wanted("aws_calls") {
        eprintln!("bench: AWS calls per route");
        results["aws_calls"] = match std::env::var("BULWARK_BENCH_AWS_ENDPOINT") {
            Ok(endpoint) => aws_calls(&endpoint).await.unwrap_or_else(|e| json!({"error": format!("{e:#}")})),
            Err(_) => json!({"skipped": "BULWARK_BENCH_AWS_ENDPOINT not set"}),
        };
    }
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
    println!("{}", markdown(&results));
    Ok(())
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0).round(),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// `VmHWM` / `VmRSS` of a process, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

// --- 1. cold starts -------------------------------------------------------------------------

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

fn functions() -> Vec<String> {
    bulwark::http::functions()
        .into_iter()
        .chain(bulwark::runtime::lambda::WORKERS.iter().map(|w| w.function))
        .map(str::to_owned)
        .collect()
}

const COLD_RUNS: usize = 7;

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

async fn cold_starts(bins: &Path) -> Result<Value> {
    let (api, mut rx) = runtime_api().await?;
    let hello_bin = bins.join("hello-lambda");
    // Each function run is paired with a hello-world run just before it, so both see the same
    // moment of this shared VM's noise; hello world's figure is the median of all its runs.
    let (mut hello_times, mut hello_peak) = (Vec::new(), 0u64);
    let mut per_function = BTreeMap::new();
    for f in functions() {
        let (mut times, mut peak) = (Vec::new(), 0u64);
        for _ in 0..COLD_RUNS {
            let (ms, hwm) = cold_start_once(&hello_bin, "hello-lambda", &api, &mut rx).await?;
            hello_times.push(ms);
            hello_peak = hello_peak.max(hwm);
            let (ms, hwm) = cold_start_once(&bins.join(&f), &f, &api, &mut rx).await?;
            times.push(ms);
            peak = peak.max(hwm);
        }
        per_function.insert(f, json!({"ms": median(times), "peak_rss_mib": peak as f64 / 1024.0}));
    }
    let hello = json!({"ms": median(hello_times), "peak_rss_mib": hello_peak as f64 / 1024.0});
    let hello_ms = hello["ms"].as_f64().unwrap_or(1.0).max(0.001);
    let worst = per_function.values().map(|v| v["ms"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let worst_rss = per_function.values().map(|v| v["peak_rss_mib"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let med = median(per_function.values().map(|v| v["ms"].as_f64().unwrap_or(0.0)).collect());
    Ok(json!({
        "runs_per_binary": COLD_RUNS,
        "hello_world": hello,
        "functions": per_function,
        "median_ms": med,
        "worst_ms": worst,
        "worst_ratio": worst / hello_ms,
        "median_ratio": med / hello_ms,
        "worst_peak_rss_mib": worst_rss,
    }))
}

// --- the local server and a minimal HTTP/1.1 client ------------------------------------------

struct Server {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_server(bins: &Path, tag: &str) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("bulwark-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new(bins.join("bulwark-server"))
        .env("BULWARK_DATA_DIR", &dir)
        .env("BULWARK_LISTEN", &addr)
        .env("BULWARK_OPERATOR_TOKEN", OPERATOR)
        .env("BULWARK_KEYRING_PASSPHRASE", "bench passphrase, not a secret")
        // The load comes from one loopback address; the per-IP abuse limit would refuse it.
        .env("BULWARK_ANON_RATE_PER_IP", "100000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start bulwark-server")?;
    let server = Server { child, addr, dir };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&server.addr).await.is_ok() {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("bulwark-server did not start")
}

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Result<Reply> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let payload = match body {
        Some((ctype, bytes)) => {
            head.push_str(&format!("Content-Type: {ctype}\r\nContent-Length: {}\r\n", bytes.len()));
            bytes
        }
        None => {
            head.push_str("Content-Length: 0\r\n");
            Vec::new()
        }
    };
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(&payload).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no HTTP header end")?;
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    let mut body = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok(Reply { status, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol])?.trim(), 16)?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).context("short chunk")?);
        b = b.get(size + 2..).context("short chunk")?;
    }
}

async fn call(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Reply> {
    let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap_or_default()));
    http(addr, method, path, token, body).await
}

fn expect(r: Reply, status: u16, what: &str) -> Result<Value> {
    if r.status != status {
        bail!("{what}: expected {status}, got {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    Ok(r.json())
}

fn token_in(text: &str) -> Option<String> {
    let start = text.find("token=")? + "token=".len();
    Some(text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect())
}

/// Where invitation tokens come from: the embedded outbox, or captured mail (AWS mode).
#[derive(Clone)]
enum Mailbox {
    Outbox(PathBuf),
    Captured(Arc<Mutex<Vec<bulwark::ports::OutgoingEmail>>>),
}

impl Mailbox {
    fn invitation_for(&self, email: &str) -> Result<String> {
        let texts: Vec<String> = match self {
            Mailbox::Outbox(dir) => {
                let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                files.sort();
                files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).filter(|t| t.contains(email)).collect()
            }
            Mailbox::Captured(sent) => sent
                .lock()
                .map_err(|_| anyhow::anyhow!("mail lock"))?
                .iter()
                .filter(|m| m.to.as_str() == email)
                .map(|m| m.text.clone())
                .collect(),
        };
        texts.iter().rev().find_map(|t| token_in(t)).context("no invitation mailed")
    }
}

/// A tenant with an admin and a member, both signed in, and a conversation between them.
struct Fixture {
    admin: String,
    member: String,
    conversation: String,
}

async fn accept(addr: &str, mail: &Mailbox, email: &str) -> Result<String> {
    let token = mail.invitation_for(email)?;
    let body = json!({"token": token, "password": PASSWORD, "display_name": "Bench User"});
    expect(call(addr, "POST", "/v1/invitations/accept", None, Some(body)).await?, 201, "accept")?;
    let login = json!({"tenant": "bench", "email": email, "password": PASSWORD});
    let r = expect(call(addr, "POST", "/v1/auth/login", None, Some(login)).await?, 200, "login")?;
    r["access_token"].as_str().map(str::to_owned).context("no access token")
}

async fn fixture(addr: &str, mail: &Mailbox) -> Result<Fixture> {
    let tenant = json!({"slug": "bench", "name": "Bench Clinic", "admin_email": "admin@bench.test"});
    expect(call(addr, "POST", "/v1/platform/tenants", Some(OPERATOR), Some(tenant)).await?, 201, "create tenant")?;
    let admin = accept(addr, mail, "admin@bench.test").await?;
    let invite = json!({"email": "member@bench.test", "role": "member"});
    expect(call(addr, "POST", "/v1/admin/invitations", Some(&admin), Some(invite)).await?, 201, "invite")?;
    let member = accept(addr, mail, "member@bench.test").await?;
    let me = expect(call(addr, "GET", "/v1/me", Some(&member), None).await?, 200, "me")?;
    let conv = json!({"title": "Bench ward", "member_ids": [me["user_id"]]});
    let r = expect(call(addr, "POST", "/v1/conversations", Some(&admin), Some(conv)).await?, 201, "conversation")?;
    let conversation = r["conversation_id"].as_str().context("no conversation id")?.to_owned();
    Ok(Fixture { admin, member, conversation })
}

// --- wrk ------------------------------------------------------------------------------------

fn wrk(
    addr: &str,
    path: &str,
    concurrency: u32,
    secs: u32,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Value> {
    let script = std::env::temp_dir().join(format!("bulwark-bench-{}.lua", std::process::id()));
    let mut lua = format!("wrk.method = \"{method}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
    if let Some(t) = token {
        lua.push_str(&format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"));
    }
    if let Some(b) = body {
        lua.push_str(&format!("wrk.body = '{b}'\n"));
    }
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

// --- 3. login cost --------------------------------------------------------------------------

async fn login_cost(bins: &Path) -> Result<Value> {
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

// --- 4. messaging ---------------------------------------------------------------------------

async fn messaging(bins: &Path) -> Result<Value> {
    let server = start_server(bins, "messaging").await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    let f = fixture(&server.addr, &mail).await?;
    let path = format!("/v1/conversations/{}/messages", f.conversation);
    let mut out = json!({});
    for c in [1u32, 16, 64] {
        let send = wrk(&server.addr, &path, c, 5, "POST", Some(&f.admin), Some(r#"{"body":"bench message"}"#))?;
        let list = wrk(&server.addr, &format!("{path}?limit=50"), c, 5, "GET", Some(&f.member), None)?;
        out[format!("c{c}")] = json!({"send": send, "list": list});
    }
    Ok(out)
}

// --- 5. attachments -------------------------------------------------------------------------

fn file(len: usize) -> Vec<u8> {
    b"Bulwark attachment benchmark payload ".iter().copied().cycle().take(len).collect()
}

async fn attachments(bins: &Path) -> Result<Value> {
    const ROUNDS: usize = 8;
    let data = file(4 * MIB);
    // Raw: the same streaming cipher, in memory, both directions.
    let raw_start = Instant::now();
    for _ in 0..ROUNDS {
        raw_round_trip(&data).await?;
    }
    let raw_mib_s = (2 * ROUNDS * 4) as f64 / raw_start.elapsed().as_secs_f64();

    let server = start_server(bins, "attachments").await?;
    let mail = Mailbox::Outbox(server.dir.join("outbox"));
    let f = fixture(&server.addr, &mail).await?;
    let addr = server.addr.clone();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let up =
            http(&addr, "POST", "/v1/attachments", Some(&f.admin), Some(("application/octet-stream", data.clone())))
                .await?;
        let id = expect(up, 201, "upload")?["attachment_id"].as_str().context("no id")?.to_owned();
        let down = http(&addr, "GET", &format!("/v1/attachments/{id}"), Some(&f.admin), None).await?;
        if down.status != 200 || down.body != data {
            bail!("download did not return the upload ({})", down.status);
        }
    }
    let server_mib_s = (2 * ROUNDS * 4) as f64 / start.elapsed().as_secs_f64();
    // The physical floor of a durable upload: writing the same bytes to a file in the data
    // directory, fsync, rename, fsync the directory (what the blob store must do anyway).
    let disk_start = Instant::now();
    for _ in 0..ROUNDS {
        bulwark::adapters::embedded::write_atomic(&server.dir.join("bench-disk-floor"), &data, None)?;
    }
    let disk_ms = disk_start.elapsed().as_secs_f64() * 1000.0 / ROUNDS as f64;
    let raw_ms = 8.0 * 1000.0 / raw_mib_s;

    // Peak memory of 16 concurrent uploads, from a settled baseline.
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = proc_kib(pid, "VmRSS");
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("cannot reset the peak RSS")?;
    let uploads = (0..16).map(|_| {
        let (addr, token, body) = (addr.clone(), f.admin.clone(), data.clone());
        tokio::spawn(async move {
            http(&addr, "POST", "/v1/attachments", Some(&token), Some(("application/octet-stream", body))).await
        })
    });
    for u in futures::future::join_all(uploads).await {
        expect(u??, 201, "concurrent upload")?;
    }
    let peak = proc_kib(pid, "VmHWM");
    Ok(json!({
        "file_mib": 4,
        "rounds": ROUNDS,
        "server_mib_s": server_mib_s,
        "raw_cipher_mib_s": raw_mib_s,
        "ratio": server_mib_s / raw_mib_s,
        "round_trip_ms": 8.0 * 1000.0 / server_mib_s,
        "raw_round_trip_ms": raw_ms,
        "disk_write_fsync_ms": disk_ms,
        // The best ratio any durable server could reach here: the cipher's time plus the disk's.
        "ceiling_ratio": raw_ms / (raw_ms + disk_ms),
        "concurrent_uploads": 16,
        "rss_baseline_mib": baseline as f64 / 1024.0,
        "rss_growth_mib": peak.saturating_sub(baseline) as f64 / 1024.0,
    }))
}

async fn raw_round_trip(data: &[u8]) -> Result<()> {
    use futures::StreamExt;
    let key = [7u8; 32];
    let chunks: Vec<std::io::Result<bytes::Bytes>> =
        data.chunks(64 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let (sealed, _) = bulwark::services::messaging::stream_cipher::seal(
        Box::pin(futures::stream::iter(chunks)),
        &key,
        b"bench",
        8 * MIB as u64,
    );
    let ciphertext: Vec<std::io::Result<bytes::Bytes>> = sealed.collect().await;
    let opened = bulwark::services::messaging::stream_cipher::open(
        Box::pin(futures::stream::iter(ciphertext)),
        zeroize::Zeroizing::new(key),
        b"bench",
    );
    let plain: Vec<std::io::Result<bytes::Bytes>> = opened.collect().await;
    let len: usize = plain.into_iter().map(|c| c.map(|b| b.len())).sum::<std::io::Result<usize>>()?;
    if len != data.len() {
        bail!("raw cipher round trip lost bytes");
    }
    Ok(())
}

// --- 6. AWS calls per route -----------------------------------------------------------------

struct CapturingMailer {
    inner: Arc<dyn bulwark::ports::Mailer>,
    sent: Arc<Mutex<Vec<bulwark::ports::OutgoingEmail>>>,
}

#[async_trait::async_trait]
impl bulwark::ports::Mailer for CapturingMailer {
    async fn send(&self, email: &bulwark::ports::OutgoingEmail) -> Result<(), bulwark::ports::MailError> {
        self.inner.send(email).await?;
        if let Ok(mut s) = self.sent.lock() {
            s.push(email.clone());
        }
        Ok(())
    }
}

async fn aws_calls(endpoint: &str) -> Result<Value> {
    use aws_sdk_kms::config::{Credentials, Region};
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bulwark-bench"))
        .http_client(bulwark::adapters::aws::LazyHttpClient::default())
        .load()
        .await;
    // What the SAM template would create.
    let suffix = &format!("{:x}", std::process::id())[..];
    let (prefix, bucket) = (format!("bench{suffix}"), format!("bulwark-bench-{suffix}"));
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(&bucket).send().await?;
    let key = aws_sdk_kms::Client::new(&sdk).create_key().send().await?;
    let key_id = key.key_metadata.context("no key metadata")?.key_id;
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity("bench.test").send().await?;
    let settings = bulwark::runtime::backend::AwsSettings {
        push: bulwark::runtime::backend::PushSettings::default(),
        prefix,
        bucket,
        kms_key_id: key_id,
        mail_from: "Bulwark <no-reply@bench.test>".into(),
    };
    let mut ports = <bulwark::ports::Ports as bulwark::runtime::backend::Wiring>::aws(
        settings,
        &sdk,
        Arc::new(bulwark::ports::clock::SystemClock),
    );
    ports.store.ensure_table(&bulwark::ports::Table::Platform).await?;
    ports.queue.ensure_queue(&bulwark::services::push::queue(), bulwark::services::push::MAX_RECEIVES).await?;
    ports
        .queue
        .ensure_queue(&bulwark::services::maintenance::queue(), bulwark::services::maintenance::MAX_RECEIVES)
        .await?;
    let sent = Arc::new(Mutex::new(Vec::new()));
    ports.mailer = Arc::new(CapturingMailer { inner: ports.mailer.clone(), sent: sent.clone() });
    let state = bulwark::runtime::app::application(
        ports,
        bulwark::runtime::settings::AppSettings {
            app_url: "https://app.bench.test".into(),
            operator: bulwark::services::context::OperatorAuth::from_token(&OPERATOR.to_owned().into()),
            anon_rate_per_ip: 120,
            mail_rate_per_account: 5,
            hash_concurrency: None,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, bulwark::http::app(state)).await });
    let mail = Mailbox::Captured(sent);

    // Each step: its route and the calls it made, the first time (cold caches) and again (warm).
    let mut rows: Vec<Value> = Vec::new();
    let mut record = |route: &str, cold: BTreeMap<String, u64>, warm: Option<BTreeMap<String, u64>>| {
        let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        rows.push(json!({
            "route": route,
            "cold_calls": total(&cold),
            "cold": cold,
            "warm_calls": warm.as_ref().map(total),
            "warm": warm,
        }));
    };
    use bulwark::adapters::aws::calls::{since, snapshot};
    let t = snapshot();
    let tenant = json!({"slug": "bench", "name": "Bench Clinic", "admin_email": "admin@bench.test"});
    expect(call(&addr, "POST", "/v1/platform/tenants", Some(OPERATOR), Some(tenant)).await?, 201, "create tenant")?;
    record("POST /v1/platform/tenants", since(&t), None);
    let t = snapshot();
    let token = mail.invitation_for("admin@bench.test")?;
    let body = json!({"token": token, "password": PASSWORD, "display_name": "Bench Admin"});
    expect(call(&addr, "POST", "/v1/invitations/accept", None, Some(body)).await?, 201, "accept")?;
    record("POST /v1/invitations/accept", since(&t), None);
    let login = json!({"tenant": "bench", "email": "admin@bench.test", "password": PASSWORD});
    let twice = |method: &'static str, path: String, token: Option<String>, body: Option<Value>, status: u16| {
        let addr = addr.clone();
        async move {
            let mut out = Vec::new();
            let mut last = Value::Null;
            for _ in 0..2 {
                let t = snapshot();
                last = expect(call(&addr, method, &path, token.as_deref(), body.clone()).await?, status, &path)?;
                out.push(since(&t));
            }
            let warm = out.pop();
            Ok::<_, anyhow::Error>((out.pop().unwrap_or_default(), warm, last))
        }
    };
    let (cold, warm, r) = twice("POST", "/v1/auth/login".into(), None, Some(login), 200).await?;
    record("POST /v1/auth/login", cold, warm);
    let admin = r["access_token"].as_str().context("no token")?.to_owned();
    let refresh = r["refresh_token"].as_str().context("no refresh")?.to_owned();
    let t = snapshot();
    let r = expect(
        call(&addr, "POST", "/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await?,
        200,
        "refresh",
    )?;
    record("POST /v1/auth/refresh", since(&t), None);
    let admin = r["access_token"].as_str().map(str::to_owned).unwrap_or(admin);
    let (cold, warm, me) = twice("GET", "/v1/me".into(), Some(admin.clone()), None, 200).await?;
    record("GET /v1/me", cold, warm);
    let invite = json!({"email": "member@bench.test", "role": "member"});
    let t = snapshot();
    expect(call(&addr, "POST", "/v1/admin/invitations", Some(&admin), Some(invite)).await?, 201, "invite")?;
    record("POST /v1/admin/invitations", since(&t), None);
    let member = accept(&addr, &mail, "member@bench.test").await?;
    let member_me = expect(call(&addr, "GET", "/v1/me", Some(&member), None).await?, 200, "me")?;
    let conv = json!({"title": "Bench ward", "member_ids": [member_me["user_id"]]});
    let (cold, warm, r) = twice("POST", "/v1/conversations".into(), Some(admin.clone()), Some(conv), 201).await?;
    record("POST /v1/conversations", cold, warm);
    let cid = r["conversation_id"].as_str().context("no conversation")?.to_owned();
    let msgs = format!("/v1/conversations/{cid}/messages");
    let (cold, warm, r) = twice("POST", msgs.clone(), Some(admin.clone()), Some(json!({"body": "hello"})), 201).await?;
    record("POST /v1/conversations/{id}/messages", cold, warm);
    let mid = r["message_id"].as_str().context("no message id")?.to_owned();
    let (cold, warm, _) = twice("GET", msgs.clone(), Some(member.clone()), None, 200).await?;
    record("GET /v1/conversations/{id}/messages", cold, warm);
    let (cold, warm, _) = twice("GET", "/v1/conversations".into(), Some(member.clone()), None, 200).await?;
    record("GET /v1/conversations", cold, warm);
    let read = json!({"message_id": mid});
    let (cold, warm, _) =
        twice("POST", format!("/v1/conversations/{cid}/read"), Some(member.clone()), Some(read), 204).await?;
    record("POST /v1/conversations/{id}/read", cold, warm);
    let data = file(MIB);
    let t = snapshot();
    let up = http(&addr, "POST", "/v1/attachments", Some(&admin), Some(("application/octet-stream", data))).await?;
    let aid = expect(up, 201, "upload")?["attachment_id"].as_str().context("no id")?.to_owned();
    record("POST /v1/attachments (1 MiB)", since(&t), None);
    let (cold, warm, _) = twice("GET", "/v1/policy".into(), Some(admin.clone()), None, 200).await?;
    record("GET /v1/policy", cold, warm);
    let t = snapshot();
    let down = http(&addr, "GET", &format!("/v1/attachments/{aid}"), Some(&admin), None).await?;
    if down.status != 200 {
        bail!("download: {}", down.status);
    }
    record("GET /v1/attachments/{id} (1 MiB)", since(&t), None);
    let _ = me;
    Ok(json!({ "routes": rows }))
}

// --- the report -----------------------------------------------------------------------------

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

fn markdown(r: &Value) -> String {
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
