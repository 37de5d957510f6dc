//! The event app under load (embedded mode, the application in this process behind a real
//! loopback HTTP listener): registrations/s at concurrency 16, and the time from posting an
//! announcement to the last of its push jobs queued for 5,000 registered attendees (one
//! device each), the fan-out worker included.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::client::{call, expect};
use crate::OPERATOR;

const ATTENDEES: usize = 5000;
const CONCURRENCY: usize = 16;

pub async fn events() -> Result<Value> {
    use bulwark::runtime::backend::{EmbeddedSettings, PushSettings, Wiring};
    let dir = std::env::temp_dir().join(format!("bulwark-bench-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = EmbeddedSettings {
        data_dir: dir.clone(),
        push: PushSettings::default(),
        passphrase: Some("bench keyring passphrase".to_owned().into()),
        mail_from: "Bulwark <no-reply@bench.test>".into(),
    };
    let ports = <bulwark::ports::Ports as Wiring>::embedded(settings, Arc::new(bulwark::ports::clock::SystemClock))?;
    bulwark::runtime::test_support::ensure_platform(&ports).await?;
    let state = bulwark::runtime::app::application(
        ports,
        bulwark::runtime::settings::AppSettings {
            app_url: "https://app.bench.test".into(),
            operator: bulwark::services::context::OperatorAuth::from_token(&OPERATOR.to_owned().into()),
            anon_rate_per_ip: 120,
            mail_rate_per_account: 5,
            hash_concurrency: None,
            sso: bulwark::runtime::settings::sso_settings(),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let app = bulwark::http::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let tenant = json!({"slug": "bench", "name": "Bench Congress", "admin_email": "admin@bench.test"});
    expect(call(&addr, "POST", "/v1/platform/tenants", Some(OPERATOR), Some(tenant)).await?, 201, "tenant")?;
    use bulwark::domain::types::Role;
    let seed = bulwark::runtime::test_support::seed_users;
    let org = seed(&state, "bench", "organizer", 1, Role::Organizer).await?.remove(0).1;
    let people = seed(&state, "bench", "attendee", ATTENDEES, Role::Member).await.context("seed attendees")?;
    let addr = addr.as_str();
    let each = |reqs: Vec<(String, &'static str, String, Option<Value>)>| async move {
        let results: Vec<Result<u16>> = stream::iter(reqs)
            .map(|(token, method, path, body)| async move {
                Ok(call(addr, method, &path, Some(&token), body).await?.status)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<u16>>>()
    };
    let devices = people
        .iter()
        .enumerate()
        .map(|(i, (_, t))| {
            (
                t.clone(),
                "POST",
                "/v1/me/devices".to_owned(),
                Some(json!({"platform": "fcm", "token": format!("fcm-bench-{i}")})),
            )
        })
        .collect();
    anyhow::ensure!(each(devices).await?.iter().all(|s| *s == 201), "device registration failed");
    let body = json!({"title": "Congress", "starts_at": "2027-05-01T08:00:00Z", "ends_at": "2027-05-03T18:00:00Z", "timezone": "Europe/Vienna"});
    let eid = expect(call(addr, "POST", "/v1/events", Some(&org), Some(body)).await?, 201, "event")?["event_id"]
        .as_str()
        .context("event id")?
        .to_owned();
    expect(call(addr, "POST", &format!("/v1/events/{eid}/publish"), Some(&org), None).await?, 200, "publish")?;

    // Registrations: every attendee once, sixteen at a time.
    let path = format!("/v1/events/{eid}/registration");
    let regs = people.iter().map(|(_, t)| (t.clone(), "POST", path.clone(), None)).collect();
    let started = Instant::now();
    let statuses = each(regs).await?;
    let reg_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(statuses.iter().all(|s| *s == 201), "a registration failed");

    // The announcement: posted, then fanned out by the maintenance worker until every push job
    // is queued (the local server's worker runs the same drain every second).
    let started = Instant::now();
    let ann = json!({"title": "Welcome", "body": "Badges are at the north entrance."});
    expect(
        call(addr, "POST", &format!("/v1/events/{eid}/announcements"), Some(&org), Some(ann)).await?,
        201,
        "announce",
    )?;
    let posted_ms = started.elapsed().as_secs_f64() * 1000.0;
    bulwark::runtime::jobs::drain_maintenance(&state).await?;
    let fanout_secs = started.elapsed().as_secs_f64();
    let mut queued = 0;
    loop {
        let batch = state.ports.queue.receive(&bulwark::services::push::queue(), 10).await?;
        if batch.is_empty() {
            break;
        }
        queued += batch.len();
        for d in batch {
            state.ports.queue.ack(&bulwark::services::push::queue(), &d.receipt).await?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "registrations": ATTENDEES,
        "concurrency": CONCURRENCY,
        "registrations_per_s": ATTENDEES as f64 / reg_secs,
        "announcement_post_ms": posted_ms,
        "announcement_fanout_s": fanout_secs,
        "push_jobs_queued": queued,
    }))
}
