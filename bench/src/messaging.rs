//! Part 4: message send and list latency/throughput under `wrk` at concurrency 1, 16 and 64.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use crate::fixture::{fixture, Mailbox};
use crate::server::start_server;
use crate::wrk::wrk;

pub async fn messaging(bins: &Path) -> Result<Value> {
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
