//! `bulwark-server ops …`: the operator's command line. Backups and restores work on the data
//! directory (asking a running server to snapshot itself by `SIGUSR1`, since only the process
//! that holds the store may copy it); tenants and data keys go through the running server's
//! operator API (`BULWARK_URL`, default `http://127.0.0.1:8080`, with `BULWARK_OPERATOR_TOKEN`),
//! so the same command drives a local server or, with the API's URL, a deployed stack.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use crate::runtime::backup::{self, Kind};
use crate::runtime::settings as config;

const DEFAULT_DATA_DIR: &str = "./.bulwark";
const PID_FILE: &str = "server.pid";

const HELP: &str = "bulwark-server ops <command>

  backup                       a snapshot now (the running server takes it; else this command)
  backups                      the snapshots in BULWARK_BACKUP_DIR
  restore <snapshot> <dir>     copy a snapshot into an empty dir and read everything back
  tenants list                 the tenants (slug, id, name, status)
  tenants create <slug> <name> <admin-email>
  tenants disable <tenant_id>  refuse every sign-in and token of the tenant
  tenants enable <tenant_id>
  keys rotate <tenant_id>      a new data-key version; re-encryption runs in the background
  keys status <tenant_id>      data-key versions and re-encryption progress

Environment: BULWARK_DATA_DIR, BULWARK_BACKUP_DIR, BULWARK_KEYRING_PASSPHRASE (restore),
BULWARK_URL and BULWARK_OPERATOR_TOKEN (tenants, keys).";

/// Record the server's pid, so `ops backup` can ask it for a snapshot.
pub fn write_pid(data_dir: &Path) {
    let _ = std::fs::write(data_dir.join(PID_FILE), std::process::id().to_string());
}

fn running_server(data_dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(data_dir.join(PID_FILE)).ok()?.trim().parse().ok()?;
    // Signal 0 checks the process exists and may be signalled.
    (pid > 0 && unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

fn backup_root() -> anyhow::Result<PathBuf> {
    std::env::var_os("BULWARK_BACKUP_DIR").map(PathBuf::from).context("set BULWARK_BACKUP_DIR")
}

pub async fn run(args: &[&str]) -> anyhow::Result<()> {
    match args {
        ["backup"] => backup_now().await,
        ["backups"] => {
            let root = backup_root()?;
            for kind in [Kind::Hourly, Kind::Nightly] {
                for (_, path) in backup::list(&root, kind) {
                    println!("{}", path.display());
                }
            }
            Ok(())
        }
        ["restore", snapshot, target] => {
            let passphrase = std::env::var("BULWARK_KEYRING_PASSPHRASE").ok().map(secrecy::SecretString::from);
            let report = backup::restore(Path::new(snapshot), Path::new(target), passphrase).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!("bulwark: restored into {target} and verified; start the server with BULWARK_DATA_DIR={target}");
            Ok(())
        }
        ["tenants", "list"] => print(api("GET", "/v1/platform/tenants?limit=100", None).await?),
        ["tenants", "create", slug, name, email] => {
            let body = json!({"slug": slug, "name": name, "admin_email": email});
            print(api("POST", "/v1/platform/tenants", Some(body)).await?)
        }
        ["tenants", action @ ("disable" | "enable"), id] => {
            print(api("POST", &format!("/v1/platform/tenants/{id}/{action}"), None).await?)
        }
        ["keys", "rotate", id] => print(api("POST", &format!("/v1/platform/tenants/{id}/keys/rotate"), None).await?),
        ["keys", "status", id] => print(api("GET", &format!("/v1/platform/tenants/{id}/keys"), None).await?),
        [] | ["help"] => {
            println!("{HELP}");
            Ok(())
        }
        _ => bail!("unknown ops command\n\n{HELP}"),
    }
}

fn print(v: Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

async fn backup_now() -> anyhow::Result<()> {
    let root = backup_root()?;
    let data_dir = config::data_dir(DEFAULT_DATA_DIR);
    if let Some(pid) = running_server(&data_dir) {
        let before = backup::list(&root, Kind::Hourly).last().map(|(at, _)| *at);
        // SAFETY: a plain kill(2) to a pid read from the server's own pid file.
        if unsafe { libc::kill(pid, libc::SIGUSR1) } != 0 {
            bail!("could not signal the server (pid {pid})");
        }
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some((at, path)) = backup::list(&root, Kind::Hourly).last() {
                if Some(*at) != before {
                    println!("{}", path.display());
                    return Ok(());
                }
            }
        }
        bail!("the server did not complete a snapshot within two minutes; see its log");
    }
    // No server: open the data directory here.
    use crate::runtime::backend::Wiring;
    let ports = crate::ports::Ports::embedded(
        config::embedded_settings(DEFAULT_DATA_DIR),
        std::sync::Arc::new(crate::ports::clock::SystemClock),
    )?;
    let (path, report) = backup::take(&ports, &root, Kind::Hourly).await?;
    println!("{}", path.display());
    eprintln!("bulwark: {} files, {} bytes ({} linked)", report.files, report.bytes, report.linked);
    Ok(())
}

/// One call to the operator API.
async fn api(method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    use http_body_util::{BodyExt, Full};
    let base = std::env::var("BULWARK_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("BULWARK_OPERATOR_TOKEN").context("set BULWARK_OPERATOR_TOKEN")?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", base.trim_end_matches('/')))
        .header("authorization", format!("Bearer {token}"));
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(&b)?
        }
        None => Vec::new(),
    };
    let req = req.body(Full::new(bytes::Bytes::from(bytes)))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .context("the server did not answer within 30 s")?
        .with_context(|| format!("cannot reach {base}"))?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let v: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).unwrap_or(json!({})) };
    if !status.is_success() {
        bail!("{method} {path}: {status}: {}", v["error"]["message"].as_str().unwrap_or(""));
    }
    Ok(v)
}
