//! A minimal HTTP/1.1 client (one connection a request, `Connection: close`) and the JSON
//! helpers the benchmarks call the server with.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub async fn http(
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

pub async fn call(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Reply> {
    let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap_or_default()));
    http(addr, method, path, token, body).await
}

pub fn expect(r: Reply, status: u16, what: &str) -> Result<Value> {
    if r.status != status {
        bail!("{what}: expected {status}, got {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    Ok(r.json())
}
