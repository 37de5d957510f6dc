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
    body: Option<(&str, &[u8])>,
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
            &[]
        }
    };
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(payload).await?;
    // The reply's head first, then its body straight into a buffer of the announced size: the
    // attachment part times downloads through this, and every copy made here would count as
    // the server's time.
    let mut raw = Vec::with_capacity(4096);
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if s.read_buf(&mut raw).await? == 0 {
            bail!("no HTTP header end");
        }
    };
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    let announced =
        headers.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|n| n.trim().parse::<usize>().ok());
    let mut body = Vec::with_capacity(announced.unwrap_or(0).max(raw.len() - split - 4));
    body.extend_from_slice(&raw[split + 4..]);
    s.read_to_end(&mut body).await?;
    if headers.contains("transfer-encoding: chunked") {
        dechunk(&mut body)?;
    }
    Ok(Reply { status, body })
}

/// Decode a chunked body where it lies (each chunk's bytes move down over the sizes before it).
fn dechunk(b: &mut Vec<u8>) -> Result<()> {
    let (mut read, mut write) = (0, 0);
    loop {
        let eol = b[read..].windows(2).position(|w| w == b"\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[read..read + eol])?.trim(), 16)?;
        read += eol + 2;
        if size == 0 {
            b.truncate(write);
            return Ok(());
        }
        if read + size + 2 > b.len() {
            bail!("short chunk");
        }
        b.copy_within(read..read + size, write);
        write += size;
        read += size + 2;
    }
}

pub async fn call(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Reply> {
    let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
    http(addr, method, path, token, body.as_deref().map(|b| ("application/json", b))).await
}

pub fn expect(r: Reply, status: u16, what: &str) -> Result<Value> {
    if r.status != status {
        bail!("{what}: expected {status}, got {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    Ok(r.json())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chunked_body_is_decoded_where_it_lies() {
        // GIVEN a chunked body of three chunks (sizes in hex)
        let mut body = b"5\r\nhello\r\nb\r\n, streamed \r\n6\r\nworld!\r\n0\r\n\r\n".to_vec();
        // WHEN it is decoded
        super::dechunk(&mut body).unwrap();
        // THEN only the chunks' bytes remain, in order
        assert_eq!(body, b"hello, streamed world!");
        // and a body cut inside a chunk is refused
        let mut cut = b"a\r\nshort".to_vec();
        assert!(super::dechunk(&mut cut).is_err());
    }
}
