//! The local server: the whole API on one port, embedded mode by default (`BULWARK_BACKEND=aws`
//! runs the same server on the AWS adapters, e.g. against moto). Also hosts the keyring
//! maintenance command.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::http::state::AppState;
use crate::ports::clock::SystemClock;
use crate::ports::Ports;
use crate::ports::SecretName;
use crate::runtime::backend::{BackendError, Wiring};
use crate::runtime::settings::AppSettings;
use crate::runtime::settings::{self as config, BackendKind};
use crate::services::context::OperatorAuth;

const DEFAULT_DATA_DIR: &str = "./.bulwark";
const OPERATOR_HASH_FILE: &str = "operator-token.sha256";

/// Entry point of `bulwark-server`.
pub fn main() -> ExitCode {
    crate::runtime::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bulwark: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => rt.block_on(serve()),
        ["keyring", "change-passphrase"] => change_passphrase(),
        ["ops", rest @ ..] => rt.block_on(crate::runtime::ops::run(rest)),
        _ => {
            eprintln!(
                "usage: bulwark-server [serve]\n       bulwark-server keyring change-passphrase\n\
                 \x20      bulwark-server ops <command> (bulwark-server ops help)\n\
                 (configuration is read from BULWARK_* environment variables; see README)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bulwark: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn change_passphrase() -> anyhow::Result<()> {
    let dir = config::data_dir(DEFAULT_DATA_DIR);
    let old = std::env::var("BULWARK_KEYRING_PASSPHRASE").ok().map(SecretString::from);
    let new = std::env::var("BULWARK_KEYRING_NEW_PASSPHRASE")
        .ok()
        .filter(|p| p.len() >= 12)
        .map(SecretString::from)
        .ok_or_else(|| anyhow::anyhow!("set BULWARK_KEYRING_NEW_PASSPHRASE (at least 12 characters)"))?;
    crate::adapters::embedded::Keyring::change_passphrase(&dir, old, &new)?;
    println!("keyring passphrase changed; start the server with the new BULWARK_KEYRING_PASSPHRASE");
    Ok(())
}

/// Build the state for the server process (both modes).
pub async fn build_state() -> anyhow::Result<AppState> {
    let kind = config::backend_kind(BackendKind::Embedded)?;
    let clock = Arc::new(SystemClock);
    let (ports, operator) = match kind {
        BackendKind::Embedded => {
            let settings = config::embedded_settings(DEFAULT_DATA_DIR);
            let dir = settings.data_dir.clone();
            let ports = Ports::embedded(settings, clock)?;
            (ports, embedded_operator(&dir)?)
        }
        BackendKind::Aws => {
            let sdk = crate::adapters::aws::sdk_config().await;
            let ports = Ports::aws(config::aws_settings()?, &sdk, clock);
            let operator = match config::operator_token_env() {
                Some(t) => OperatorAuth::from_token(&t),
                None => OperatorAuth::Secret(SecretName::parse("operator-token").map_err(|e| anyhow::anyhow!("{e}"))?),
            };
            (ports, operator)
        }
    };
    // The server owns its platform directory and push queue (the Lambdas get theirs from the
    // template).
    crate::runtime::app::ensure_platform(&ports).await?;
    Ok(crate::runtime::app::application(ports, AppSettings::from_env(operator)))
}

/// Local operator token: `BULWARK_OPERATOR_TOKEN` if set; otherwise one is generated on the
/// first start, printed once, and only its SHA-256 is kept in the data dir.
fn embedded_operator(dir: &Path) -> Result<OperatorAuth, BackendError> {
    if let Some(t) = config::operator_token_env() {
        return Ok(OperatorAuth::from_token(&t));
    }
    let path = dir.join(OPERATOR_HASH_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(bytes) = hex::decode(text.trim()) {
            if let Ok(d) = <[u8; 32]>::try_from(bytes.as_slice()) {
                eprintln!("bulwark: operator token: the one printed when {} was created (set BULWARK_OPERATOR_TOKEN to use another)", dir.display());
                return Ok(OperatorAuth::Digest(d));
            }
        }
    }
    let token = SecretString::from(format!("bwop_{}", hex::encode(*crate::domain::crypto::random_32())));
    let digest: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
    crate::adapters::embedded::write_atomic(&path, hex::encode(digest).as_bytes(), Some(0o600))
        .map_err(|e| BackendError::DataDir(path.clone(), e))?;
    eprintln!(
        "\nbulwark: generated the platform operator token (shown only this once; keep it):\n\n    {}\n",
        token.expose_secret()
    );
    Ok(OperatorAuth::Digest(digest))
}

async fn serve() -> anyhow::Result<()> {
    let listen: SocketAddr = std::env::var("BULWARK_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| anyhow::anyhow!("BULWARK_LISTEN is not an address:port: {e}"))?;
    let state = build_state().await?;
    spawn_background_work(&state);
    if state.ports.snapshots.is_some() {
        let data_dir = config::data_dir(DEFAULT_DATA_DIR);
        crate::runtime::ops::write_pid(&data_dir);
        match std::env::var_os("BULWARK_BACKUP_DIR") {
            Some(root) => {
                eprintln!("bulwark: backups: hourly (kept 14 days) and nightly (kept 30 days) into {}", PathBuf::from(&root).display());
                crate::runtime::backup::spawn_schedule(state.ports.clone(), PathBuf::from(root));
            }
            None => eprintln!(
                "bulwark: backups are off: set BULWARK_BACKUP_DIR to a directory on other storage (README \"Backups, embedded mode\")"
            ),
        }
    }
    let stop = shutdown();
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(listen = %listen, "bulwark listening");
    eprintln!("bulwark: serving the API on http://{listen}");
    // The peer address is the client IP of the anonymous routes' rate limits.
    let web_dir = config::web_dir();
    if let Some(dir) = &web_dir {
        eprintln!("bulwark: serving the web app from {} at http://{listen}/", dir.display());
    }
    let app = crate::runtime::web::with_app(crate::http::app(state), web_dir)
        .into_make_service_with_connect_info::<SocketAddr>();
    // Responses that leave in two writes (a streamed download) must not wait for the client's
    // delayed ACK (~40 ms per download on a kept-alive connection, measured by scripts/soak).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    // Requests whose clients left still run to their end (see http::middleware); so they do
    // at shutdown too, within a bound.
    if !crate::http::requests_ended(std::time::Duration::from_secs(10)).await {
        eprintln!("bulwark: requests still running after 10 s were stopped");
    }
    eprintln!("bulwark: stopped");
    Ok(())
}

/// What runs beside the API in one process (on AWS: worker Lambdas and DynamoDB's TTL):
/// queued pushes and maintenance jobs every second; expiry and retention sweeps every minute.
fn spawn_background_work(state: &AppState) {
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = crate::runtime::jobs::drain_push(&s).await {
                tracing::warn!(error = format!("{e:#}"), "push queue drain failed");
            }
            if let Err(e) = crate::runtime::jobs::drain_maintenance(&s).await {
                tracing::warn!(error = format!("{e:#}"), "maintenance queue drain failed");
            }
        }
    });
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = crate::services::messaging::attachments::sweep_expired(&s).await {
                tracing::warn!(error = format!("{e:#}"), "attachment retention sweep failed");
            }
            if let Some(store) = &s.ports.sweeper {
                if let Err(e) = store.sweep_expired().await {
                    tracing::warn!(error = format!("{e:#}"), "expiry sweep failed");
                }
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called, not when
/// the future is first polled: called before the listener is bound, a SIGTERM that arrives as
/// soon as the port answers still stops the server cleanly instead of killing it.
fn shutdown() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let (term, int) = signals;
            tokio::select! { _ = wait(term) => {}, _ = wait(int) => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
