//! The local server binary (`bulwark-server`) on a free loopback port with its own data
//! directory, killed and cleaned up when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::OPERATOR;

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub dir: PathBuf,
}

impl Server {
    /// Stop the server and keep its data directory (to inspect it).
    pub fn stop_keeping_data(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A fresh data directory for `tag` (what [`start_server`] uses; seed it, then
/// [`start_server_at`]).
pub fn data_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bulwark-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The passphrase of the bench servers' keyrings (the bench seeds data directories too).
pub const PASSPHRASE: &str = "bench passphrase, not a secret";

pub async fn start_server(bins: &Path, tag: &str) -> Result<Server> {
    start_server_at(bins, data_dir(tag)).await
}

/// The server on an existing (perhaps seeded) data directory.
pub async fn start_server_at(bins: &Path, dir: PathBuf) -> Result<Server> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new(bins.join("bulwark-server"))
        .env("BULWARK_DATA_DIR", &dir)
        .env("BULWARK_LISTEN", &addr)
        .env("BULWARK_OPERATOR_TOKEN", OPERATOR)
        .env("BULWARK_KEYRING_PASSPHRASE", PASSPHRASE)
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
