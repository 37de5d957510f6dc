//! What every server benchmark starts from: a tenant with an admin and a member, signed in
//! through invitation mail, a conversation between them, and attachment payloads.

use std::path::PathBuf;

use anyhow::{Context, Result};
use bulwark::runtime::test_support::SentMail;
use serde_json::json;

use crate::client::{call, expect};
use crate::{OPERATOR, PASSWORD};

fn token_in(text: &str) -> Option<String> {
    let start = text.find("token=")? + "token=".len();
    Some(text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect())
}

/// Where invitation tokens come from: the embedded outbox, or captured mail (AWS mode).
#[derive(Clone)]
pub enum Mailbox {
    Outbox(PathBuf),
    Captured(SentMail),
}

impl Mailbox {
    pub fn invitation_for(&self, email: &str) -> Result<String> {
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
pub struct Fixture {
    pub admin: String,
    pub member: String,
    pub conversation: String,
}

pub async fn accept(addr: &str, mail: &Mailbox, email: &str) -> Result<String> {
    let token = mail.invitation_for(email)?;
    let body = json!({"token": token, "password": PASSWORD, "display_name": "Bench User"});
    expect(call(addr, "POST", "/v1/invitations/accept", None, Some(body)).await?, 201, "accept")?;
    login(addr, email).await
}

/// A fresh access token for `email` (they last 15 minutes).
pub async fn login(addr: &str, email: &str) -> Result<String> {
    let login = json!({"tenant": "bench", "email": email, "password": PASSWORD});
    let r = expect(call(addr, "POST", "/v1/auth/login", None, Some(login)).await?, 200, "login")?;
    r["access_token"].as_str().map(str::to_owned).context("no access token")
}

pub async fn fixture(addr: &str, mail: &Mailbox) -> Result<Fixture> {
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

/// An attachment payload of `len` bytes.
pub fn file(len: usize) -> Vec<u8> {
    b"Bulwark attachment benchmark payload ".iter().copied().cycle().take(len).collect()
}
