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

pub async fn start_server(bins: &Path, tag: &str) -> Result<Server> {
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
