//! The event app and its CMS (API.md "Events"), on both backends: the role × route privilege
//! matrix, drafts hidden from members, validation, the registration race (100 attendees for
//! 10 seats) and waitlist promotion, announcements sealed at rest and fanned out by push jobs
//! (ids only), and Agora RTC tokens checked against Agora's own implementation.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{json, Value};

use crate::flows::{admin_of, join, Account};
use crate::helpers::{contains, json_request, statuses_in_parallel, stored_bytes, Reply, TestApp};
use crate::on_both_backends;

const APP_ID: &str = "970ca35de60c44645bbae8a215061b33";
const CERT: &str = "5cfd2fd1755d40ecb72977518be15d3b";

fn event_body(capacity: Option<i64>) -> Value {
    let mut b = json!({"title": "Cardiology update", "description": "Two days\nof talks", "starts_at": "2027-03-01T08:00:00Z",
        "ends_at": "2027-03-02T17:00:00Z", "timezone": "Europe/Berlin", "location": "Hall A"});
    if let Some(c) = capacity {
        b["capacity"] = json!(c);
    }
    b
}

async fn new_event(app: &TestApp, who: &Account, capacity: Option<i64>, publish: bool) -> String {
    let r = app.call("POST", "/v1/events", Some(&who.access), Some(event_body(capacity))).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let eid = r.json["event_id"].as_str().unwrap().to_owned();
    if publish {
        let r = app.call("POST", &format!("/v1/events/{eid}/publish"), Some(&who.access), None).await;
        assert_eq!((r.status, r.json["status"].as_str()), (200, Some("published")), "{}", r.json);
    }
    eid
}

async fn new_session(app: &TestApp, who: &Account, eid: &str, speakers: &[&str], live: bool) -> String {
    let body = json!({"title": "Keynote", "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T10:00:00Z",
        "room": "Hall A", "speaker_ids": speakers, "live": live});
    let r = app.call("POST", &format!("/v1/events/{eid}/sessions"), Some(&who.access), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["session_id"].as_str().unwrap().to_owned()
}

async fn get(app: &TestApp, who: &Account, path: &str) -> Reply {
    app.call("GET", path, Some(&who.access), None).await
}

/// Every push job waiting on the push queue (taken off it).
async fn queued_pushes(app: &TestApp) -> Vec<bulwark::services::push::PushJob> {
    bulwark::runtime::jobs::drain_maintenance(&app.state).await.unwrap();
    let mut out = Vec::new();
    loop {
        let batch = app.state.ports.queue.receive(&bulwark::services::push::queue(), 10).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for d in batch {
            assert!(!String::from_utf8_lossy(&d.body).contains("Hall"), "a push job carries content");
            out.push(serde_json::from_slice(&d.body).unwrap());
            app.state.ports.queue.ack(&bulwark::services::push::queue(), &d.receipt).await.unwrap();
        }
    }
}

async fn add_device(app: &TestApp, who: &Account, token: &str) {
    let r =
        app.call("POST", "/v1/me/devices", Some(&who.access), Some(json!({"platform": "fcm", "token": token}))).await;
    assert_eq!(r.status, 201, "{}", r.json);
}

on_both_backends!(TestApp: every_route_answers_each_role_as_the_privilege_table_says);

async fn every_route_answers_each_role_as_the_privilege_table_says(app: &TestApp) {
    // GIVEN an admin, an organizer, a member and an auditor, a published event with a live
    // session, a draft, and the tenant's Agora credentials
    let admin = admin_of(app, "acme").await;
    let org = join(app, &admin, "org@acme.test", "organizer").await;
    let member = join(app, &admin, "member@acme.test", "member").await;
    let auditor = join(app, &admin, "auditor@acme.test", "auditor").await;
    let agora = json!({"app_id": APP_ID, "app_certificate": CERT});
    for (who, want) in [(&org, 403), (&member, 403), (&auditor, 403), (&admin, 204)] {
        let r = app.call("PUT", "/v1/admin/integrations/agora", Some(&who.access), Some(agora.clone())).await;
        assert_eq!(r.status, want, "agora config by {}: {}", who.user_id, r.json);
    }
    let me = get(app, &org, "/v1/me").await;
    let privileges: Vec<&str> = me.json["privileges"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(me.json["role"], "organizer");
    assert!(
        privileges.contains(&"events.manage")
            && privileges.contains(&"app.use")
            && !privileges.contains(&"users.manage")
    );
    let admin_privs = get(app, &admin, "/v1/me").await.json["privileges"].to_string();
    assert!(admin_privs.contains("events.manage") && admin_privs.contains("integrations.manage"));
    let eid = new_event(app, &org, Some(50), true).await;
    let draft = new_event(app, &org, None, false).await;
    let sid = new_session(app, &org, &eid, &[&member.user_id], true).await;
    let spare = new_session(app, &org, &eid, &[], false).await;
    let to_cancel = new_event(app, &admin, None, true).await;

    // WHEN each role calls each route THEN it gets what its privileges allow (403 for a
    // missing privilege, 404 for what it may not see)
    let e = format!("/v1/events/{eid}");
    let session = json!({"title": "Panel", "starts_at": "2027-03-01T11:00:00Z", "ends_at": "2027-03-01T12:00:00Z", "live": false});
    let announcement = json!({"title": "Welcome", "body": "Badges at the north entrance"});
    #[rustfmt::skip]
    let table: Vec<(&str, String, Option<Value>, [u16; 3])> = vec![
        // (method, path, body, [organizer, member, auditor])
        ("GET", "/v1/events".into(), None, [200, 200, 403]),
        ("GET", e.clone(), None, [200, 200, 403]),
        ("GET", format!("/v1/events/{draft}"), None, [200, 404, 403]),
        ("GET", format!("{e}/sessions"), None, [200, 200, 403]),
        ("GET", format!("/v1/events/{draft}/sessions"), None, [200, 404, 403]),
        ("PATCH", e.clone(), Some(json!({"location": "Hall C"})), [200, 403, 403]),
        ("POST", "/v1/events".into(), Some(event_body(None)), [201, 403, 403]),
        ("POST", format!("{e}/sessions"), Some(session), [201, 403, 403]),
        ("PATCH", format!("{e}/sessions/{sid}"), Some(json!({"room": "Hall B"})), [200, 403, 403]),
        ("DELETE", format!("{e}/sessions/{spare}"), None, [204, 403, 403]),
        ("GET", format!("{e}/registrations"), None, [200, 403, 403]),
        ("POST", format!("{e}/announcements"), Some(announcement), [201, 403, 403]),
        ("GET", format!("{e}/announcements"), None, [200, 404, 403]),
        ("POST", format!("{e}/sessions/{sid}/rtc-token"), None, [200, 200, 403]),
        ("POST", format!("/v1/events/{draft}/publish"), None, [200, 403, 403]),
        ("POST", format!("/v1/events/{to_cancel}/cancel"), None, [200, 403, 403]),
        ("POST", format!("{e}/registration"), None, [201, 201, 403]),
        ("DELETE", format!("{e}/registration"), None, [204, 204, 403]),
        ("PUT", "/v1/admin/integrations/agora".into(), Some(json!({"app_id": APP_ID, "app_certificate": CERT})), [403, 403, 403]),
    ];
    for (method, path, body, want) in table {
        // The member and auditor first, so a write the organizer makes cannot change their answer.
        for (i, who) in [(1, &member), (2, &auditor), (0, &org)] {
            let r = app.call(method, &path, Some(&who.access), body.clone()).await;
            assert_eq!(r.status, want[i], "{method} {path} as role #{i}: {}", r.json);
            if r.status == 403 {
                assert_eq!(r.code(), "forbidden");
            }
        }
    }
    // A registered member reads the announcements; anyone outside the tenant sees nothing.
    assert_eq!(app.call("POST", &format!("{e}/registration"), Some(&member.access), None).await.status, 201);
    let anns = get(app, &member, &format!("{e}/announcements")).await;
    assert_eq!(anns.json["announcements"][0]["body"], "Badges at the north entrance");
    let other = admin_of(app, "other").await;
    for path in [e.clone(), format!("{e}/sessions"), format!("{e}/announcements"), format!("{e}/registrations")] {
        assert_eq!(get(app, &other, &path).await.status, 404, "{path} across tenants");
    }
    // AND every CMS action is in the audit log
    let audit = get(app, &admin, "/v1/admin/audit?limit=100").await;
    let actions: Vec<&str> =
        audit.json["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in [
        "event.create",
        "event.update",
        "event.publish",
        "event.cancel",
        "event.session.create",
        "event.session.update",
        "event.session.delete",
        "event.announcement.create",
        "integration.agora.set",
    ] {
        assert!(actions.contains(&action), "{action} not audited: {actions:?}");
    }
}

on_both_backends!(TestApp: events_validate_their_times_zones_capacity_and_agenda);

async fn events_validate_their_times_zones_capacity_and_agenda(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let org = join(app, &admin, "org@acme.test", "organizer").await;
    let member = join(app, &admin, "member@acme.test", "member").await;
    let call = |m: &'static str, p: String, b: Option<Value>| {
        let token = org.access.clone();
        async move { app.call(m, &p, Some(&token), b).await }
    };
    // Times, zones, sizes.
    for (patch, code) in [
        (json!({"ends_at": "2027-03-01T08:00:00Z"}), "validation_failed"),
        (json!({"timezone": "Mars/Olympus_Mons"}), "validation_failed"),
        (json!({"starts_at": "next tuesday"}), "validation_failed"),
        (json!({"capacity": 0}), "validation_failed"),
        (json!({"title": "  "}), "validation_failed"),
        (json!({"capacity": "ten"}), "invalid_request"),
        (json!({"title": null}), "invalid_request"),
    ] {
        let mut body = event_body(None);
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let r = call("POST", "/v1/events".into(), Some(body.clone())).await;
        assert_eq!(r.code(), code, "{body}");
    }
    assert_eq!(call("POST", "/v1/events".into(), Some(json!({"title": "No times"}))).await.status, 400);
    // Drafts take no registrations; members do not even see them.
    let eid = new_event(app, &org, Some(2), false).await;
    assert_eq!(
        app.call("POST", &format!("/v1/events/{eid}/registration"), Some(&member.access), None).await.status,
        404
    );
    assert_eq!(call("POST", format!("/v1/events/{eid}/registration"), None).await.code(), "validation_failed");
    // Sessions inside the event, speakers of the tenant.
    let s = |start: &str, end: &str, speakers: Value| json!({"title": "Talk", "starts_at": start, "ends_at": end, "speaker_ids": speakers, "live": false});
    let path = format!("/v1/events/{eid}/sessions");
    for body in [
        s("2027-02-28T09:00:00Z", "2027-03-01T09:30:00Z", json!([])),
        s("2027-03-02T16:00:00Z", "2027-03-02T18:00:00Z", json!([])),
        s("2027-03-01T10:00:00Z", "2027-03-01T09:00:00Z", json!([])),
        s("2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z", json!(["0".repeat(32)])),
        s("2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z", json!(["not-an-id"])),
    ] {
        assert_eq!(call("POST", path.clone(), Some(body.clone())).await.code(), "validation_failed", "{body}");
    }
    let late =
        call("POST", path.clone(), Some(s("2027-03-02T15:00:00Z", "2027-03-02T16:00:00Z", json!([member.user_id]))))
            .await;
    assert_eq!(late.status, 201);
    call("POST", path.clone(), Some(s("2027-03-01T08:00:00Z", "2027-03-01T08:30:00Z", json!([])))).await;
    // The agenda comes ordered by start, paged.
    let first = call("GET", format!("{path}?limit=1"), None).await;
    assert_eq!(first.json["sessions"][0]["starts_at"], "2027-03-01T08:00:00Z");
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = call("GET", format!("{path}?limit=1&cursor={cursor}"), None).await;
    assert_eq!(second.json["sessions"][0]["speaker_ids"][0], member.user_id);
    assert_eq!(call("GET", format!("{path}?limit=0"), None).await.status, 400);
    // The event's times cannot leave a session outside.
    let shorter = call("PATCH", format!("/v1/events/{eid}"), Some(json!({"ends_at": "2027-03-02T12:00:00Z"}))).await;
    assert_eq!(shorter.code(), "validation_failed");
    let later = call(
        "PATCH",
        format!("/v1/events/{eid}"),
        Some(json!({"ends_at": "2027-03-03T12:00:00Z", "timezone": "America/New_York"})),
    )
    .await;
    assert_eq!((later.status, later.json["timezone"].as_str()), (200, Some("America/New_York")), "{}", later.json);
    // Capacity never below the registrations.
    call("POST", format!("/v1/events/{eid}/publish"), None).await;
    assert_eq!(call("POST", format!("/v1/events/{eid}/publish"), None).await.code(), "conflict");
    assert_eq!(call("POST", format!("/v1/events/{eid}/registration"), None).await.json["status"], "registered");
    assert_eq!(call("POST", format!("/v1/events/{eid}/registration"), None).await.code(), "conflict");
    assert_eq!(
        app.call("POST", &format!("/v1/events/{eid}/registration"), Some(&member.access), None).await.json["status"],
        "registered"
    );
    assert_eq!(
        call("PATCH", format!("/v1/events/{eid}"), Some(json!({"capacity": 1}))).await.code(),
        "validation_failed"
    );
    // Events list soonest first; members see published and cancelled, never drafts.
    let soon = call(
        "POST",
        "/v1/events".into(),
        Some(json!({"title": "Earlier", "starts_at": "2027-01-10T08:00:00Z",
        "ends_at": "2027-01-10T12:00:00Z", "timezone": "UTC"})),
    )
    .await;
    let soon = soon.json["event_id"].as_str().unwrap().to_owned();
    let listed = |who: &Account| {
        let who = who.clone();
        async move {
            let r = get(app, &who, "/v1/events?limit=100").await;
            r.json["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&org).await, vec![soon.clone(), eid.clone()]);
    assert_eq!(listed(&member).await, vec![eid.clone()]);
    let me = get(app, &member, &format!("/v1/events/{eid}")).await;
    assert_eq!((me.json["registration"].as_str(), me.json["registered_count"].as_i64()), (Some("registered"), Some(2)));
    assert_eq!(call("POST", format!("/v1/events/{eid}/cancel"), None).await.json["status"], "cancelled");
    assert_eq!(call("POST", format!("/v1/events/{eid}/cancel"), None).await.code(), "conflict");
    assert_eq!(listed(&member).await, vec![eid.clone()], "a cancelled event stays listed");
    assert_eq!(call("PATCH", format!("/v1/events/{eid}"), Some(json!({"title": "x"}))).await.code(), "conflict");
    assert_eq!(
        app.call("POST", &format!("/v1/events/{eid}/registration"), Some(&admin.access), None).await.code(),
        "validation_failed"
    );
}

/// The event's counters and what its registrations say, as the organizer reads them.
async fn tally(app: &TestApp, org: &Account, eid: &str) -> (i64, i64, BTreeMap<String, usize>) {
    let ev = get(app, org, &format!("/v1/events/{eid}")).await;
    let mut statuses = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = get(app, org, &format!("/v1/events/{eid}/registrations?limit=37{q}")).await;
        assert_eq!(page.status, 200, "{}", page.json);
        for r in page.json["registrations"].as_array().unwrap() {
            *statuses.entry(r["status"].as_str().unwrap().to_owned()).or_default() += 1;
            assert_eq!(r["display_name"], "Seeded Attendee");
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    (ev.json["registered_count"].as_i64().unwrap(), ev.json["waitlist_count"].as_i64().unwrap(), statuses)
}

on_both_backends!(TestApp: a_hundred_registrations_for_ten_seats_fill_exactly_ten_and_cancellations_promote);

async fn a_hundred_registrations_for_ten_seats_fill_exactly_ten_and_cancellations_promote(app: &TestApp) {
    // GIVEN a published event with 10 seats and 100 attendees
    let admin = admin_of(app, "acme").await;
    let eid = new_event(app, &admin, Some(10), true).await;
    let people = bulwark::runtime::test_support::seed_users(
        &app.state,
        "acme",
        "att",
        100,
        bulwark::domain::types::Role::Member,
    )
    .await
    .unwrap();
    let path = format!("/v1/events/{eid}/registration");
    // WHEN all of them register at the same moment
    let tasks: Vec<_> = people
        .iter()
        .map(|(_, token)| {
            tokio::spawn(crate::helpers::send(app.router(), json_request("POST", &path, Some(token), None)))
        })
        .collect();
    let mut got = BTreeMap::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.json);
        *got.entry(r.json["status"].as_str().unwrap().to_owned()).or_insert(0usize) += 1;
    }
    // THEN exactly ten hold a seat, ninety wait, and the counters agree with the records
    assert_eq!(got, BTreeMap::from([("registered".to_owned(), 10), ("waitlisted".to_owned(), 90)]));
    let (registered, waiting, statuses) = tally(app, &admin, &eid).await;
    assert_eq!((registered, waiting), (10, 90));
    assert_eq!(statuses, BTreeMap::from([("registered".to_owned(), 10), ("waitlisted".to_owned(), 90)]));
    // WHEN five seat holders cancel at once
    let mut holders = Vec::new();
    for (uid, token) in &people {
        let r = app.send(json_request("GET", &format!("/v1/events/{eid}"), Some(token), None)).await;
        if r.json["registration"] == "registered" {
            holders.push((uid.clone(), token.clone()));
        }
    }
    let cancels: Vec<_> = holders[..5].iter().map(|(_, t)| json_request("DELETE", &path, Some(t), None)).collect();
    assert_eq!(statuses_in_parallel(app.router(), cancels).await, vec![204; 5]);
    // THEN exactly five waitlisted attendees are promoted into the freed seats
    let (registered, waiting, statuses) = tally(app, &admin, &eid).await;
    assert_eq!((registered, waiting), (10, 85));
    assert_eq!(statuses, BTreeMap::from([("registered".to_owned(), 10), ("waitlisted".to_owned(), 85)]));
    // A waitlisted attendee who leaves frees no seat; a second leave is 404.
    let waiting_one = people.iter().find(|(u, _)| !holders.iter().any(|(h, _)| h == u)).unwrap();
    let mut left = false;
    for (_, token) in people.iter().filter(|(u, _)| !holders.iter().any(|(h, _)| h == u)) {
        let r = app.send(json_request("GET", &format!("/v1/events/{eid}"), Some(token), None)).await;
        if r.json["registration"] == "waitlisted" {
            assert_eq!(app.send(json_request("DELETE", &path, Some(token), None)).await.status, 204);
            assert_eq!(app.send(json_request("DELETE", &path, Some(token), None)).await.status, 404);
            left = true;
            break;
        }
    }
    assert!(left, "someone was still waiting ({})", waiting_one.0);
    let (registered, waiting, _) = tally(app, &admin, &eid).await;
    assert_eq!((registered, waiting), (10, 84));
    // Raising the capacity moves the first waitlisted attendees into the new seats.
    let r = app.call("PATCH", &format!("/v1/events/{eid}"), Some(&admin.access), Some(json!({"capacity": 13}))).await;
    assert_eq!(
        (r.json["registered_count"].as_i64(), r.json["waitlist_count"].as_i64()),
        (Some(13), Some(81)),
        "{}",
        r.json
    );
}

on_both_backends!(TestApp: announcements_are_sealed_at_rest_and_pushed_to_registered_devices_only);

async fn announcements_are_sealed_at_rest_and_pushed_to_registered_devices_only(app: &TestApp) {
    // GIVEN an event with one seat: a registered attendee with two devices, a waitlisted one
    let admin = admin_of(app, "acme").await;
    let org = join(app, &admin, "org@acme.test", "organizer").await;
    let seated = join(app, &admin, "seated@acme.test", "member").await;
    let waiting = join(app, &admin, "waiting@acme.test", "member").await;
    let eid = new_event(app, &org, Some(1), true).await;
    for (who, token) in
        [(&seated, "fcm-seated-1"), (&seated, "fcm-seated-2"), (&waiting, "fcm-waiting"), (&org, "fcm-org")]
    {
        add_device(app, who, token).await;
    }
    let reg = format!("/v1/events/{eid}/registration");
    assert_eq!(app.call("POST", &reg, Some(&seated.access), None).await.json["status"], "registered");
    assert_eq!(app.call("POST", &reg, Some(&waiting.access), None).await.json["status"], "waitlisted");
    assert!(queued_pushes(app).await.is_empty());
    // WHEN the organizer posts an announcement
    let secret_title = "Oncology ward tour moved";
    let secret_body = "Meet Dr. Quill at the west lobby";
    let body = json!({"title": secret_title, "body": secret_body});
    let r = app.call("POST", &format!("/v1/events/{eid}/announcements"), Some(&org.access), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let aid = r.json["announcement_id"].as_str().unwrap().to_owned();
    // THEN one push job per device of each registered attendee, carrying ids only
    let jobs = queued_pushes(app).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for j in &jobs {
        assert_eq!(j.user_id, seated.user_id);
        let n = j.event.as_ref().unwrap();
        assert_eq!((n.event_id.as_str(), n.announcement_id.as_deref()), (eid.as_str(), Some(aid.as_str())));
    }
    // AND its text is readable through the API but stored only sealed
    let list = get(app, &seated, &format!("/v1/events/{eid}/announcements")).await;
    assert_eq!(
        (list.json["announcements"][0]["title"].as_str(), list.json["announcements"][0]["body"].as_str()),
        (Some(secret_title), Some(secret_body))
    );
    assert_eq!(get(app, &waiting, &format!("/v1/events/{eid}/announcements")).await.status, 404);
    let at_rest = stored_bytes(&app.backend).await;
    for needle in [secret_title, secret_body, "seated@acme.test", CERT] {
        assert!(!contains(&at_rest, needle.as_bytes()), "{needle} stored in plaintext");
    }
    // WHEN the seated attendee leaves THEN the waitlisted one is promoted and told
    assert_eq!(app.call("DELETE", &reg, Some(&seated.access), None).await.status, 204);
    let jobs = queued_pushes(app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].user_id.as_str(), jobs[0].event.as_ref().unwrap().kind),
        (waiting.user_id.as_str(), bulwark::services::push::EventNoticeKind::RegistrationPromoted)
    );
    // WHEN the event is cancelled THEN its registered attendees' devices are told
    assert_eq!(app.call("POST", &format!("/v1/events/{eid}/cancel"), Some(&org.access), None).await.status, 200);
    let jobs = queued_pushes(app).await;
    assert_eq!(jobs.iter().map(|j| j.user_id.as_str()).collect::<Vec<_>>(), vec![waiting.user_id.as_str()]);
    assert_eq!(jobs[0].event.as_ref().unwrap().kind, bulwark::services::push::EventNoticeKind::EventCancelled);
    // AND announcements of a cancelled event are refused
    let again = json!({"title": "x", "body": "y"});
    assert_eq!(
        app.call("POST", &format!("/v1/events/{eid}/announcements"), Some(&org.access), Some(again)).await.code(),
        "validation_failed"
    );
}

/// Agora's own implementation (npm `agora-token`, pinned in tests/agora), installed on first use.
fn agora(args: &[&str]) -> Value {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agora");
    {
        let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if !dir.join("node_modules/agora-token").exists() {
            let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
            assert!(ok.is_ok_and(|s| s.success()), "npm ci in tests/agora failed");
        }
    }
    let out = Command::new("node").arg("check.js").args(args).current_dir(&dir).output().expect("node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

on_both_backends!(TestApp: rtc_tokens_are_accepted_by_agoras_own_implementation);

async fn rtc_tokens_are_accepted_by_agoras_own_implementation(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let speaker = join(app, &admin, "speaker@acme.test", "member").await;
    let attendee = join(app, &admin, "attendee@acme.test", "member").await;
    let stranger = join(app, &admin, "stranger@acme.test", "member").await;
    let eid = new_event(app, &admin, None, true).await;
    let live = new_session(app, &admin, &eid, &[&speaker.user_id], true).await;
    let recorded = new_session(app, &admin, &eid, &[], false).await;
    let token_path = |sid: &str| format!("/v1/events/{eid}/sessions/{sid}/rtc-token");
    // Not configured yet.
    assert_eq!(app.call("POST", &token_path(&live), Some(&admin.access), None).await.code(), "not_configured");
    let bad = json!({"app_id": "xyz", "app_certificate": CERT});
    assert_eq!(
        app.call("PUT", "/v1/admin/integrations/agora", Some(&admin.access), Some(bad)).await.code(),
        "validation_failed"
    );
    let cfg = json!({"app_id": APP_ID, "app_certificate": CERT});
    assert_eq!(app.call("PUT", "/v1/admin/integrations/agora", Some(&admin.access), Some(cfg)).await.status, 204);
    assert_eq!(
        app.call("POST", &format!("/v1/events/{eid}/registration"), Some(&attendee.access), None).await.status,
        201
    );
    // Who gets what.
    assert_eq!(app.call("POST", &token_path(&live), Some(&stranger.access), None).await.status, 404);
    assert_eq!(
        app.call("POST", &token_path(&recorded), Some(&attendee.access), None).await.code(),
        "validation_failed"
    );
    for (who, role, publish) in
        [(&speaker, "publisher", true), (&attendee, "subscriber", false), (&admin, "publisher", true)]
    {
        let r = app.call("POST", &token_path(&live), Some(&who.access), None).await;
        assert_eq!((r.status, r.json["role"].as_str()), (200, Some(role)), "{}", r.json);
        let token = r.json["token"].as_str().unwrap();
        assert!(token.starts_with("007"));
        assert_eq!(
            (r.json["app_id"].as_str(), r.json["channel"].as_str(), r.json["uid"].as_str()),
            (Some(APP_ID), Some(live.as_str()), Some(who.user_id.as_str()))
        );
        // Agora's implementation parses it and finds the signature good with the certificate...
        let checked = agora(&["verify", token, CERT]);
        assert_eq!(
            (checked["parsed"].as_bool(), checked["signature_ok"].as_bool()),
            (Some(true), Some(true)),
            "{checked}"
        );
        assert_eq!(checked["app_id"], APP_ID);
        assert!(checked["expire"].as_u64().unwrap() <= 3600);
        let rtc = &checked["rtc"][0];
        assert_eq!((rtc["channel"].as_str(), rtc["uid"].as_str()), (Some(live.as_str()), Some(who.user_id.as_str())));
        let privileges: Vec<&String> = rtc["privileges"].as_object().unwrap().keys().collect();
        assert_eq!(privileges, if publish { vec!["1", "2", "3", "4"] } else { vec!["1"] }, "{rtc}");
        // ...and with no other certificate.
        assert_eq!(agora(&["verify", token, &"a".repeat(32)])["signature_ok"], false);
    }
    // Both implementations produce identical token content for the same inputs (fixed salt
    // and timestamp), and each verifies the other's token.
    for publisher in ["0", "1"] {
        let theirs = agora(&["build", APP_ID, CERT, &live, &attendee.user_id, "1795392000", "4242", "3600", publisher]);
        let mut privileges = vec![(bulwark::domain::agora::JOIN_CHANNEL, 3600)];
        if publisher == "1" {
            privileges.extend([2, 3, 4].map(|p| (p, 3600)));
        }
        let header = bulwark::domain::agora::TokenHeader {
            app_id: APP_ID.into(),
            issue_ts: 1_795_392_000,
            expire: 3600,
            salt: 4242,
        };
        let grant =
            bulwark::domain::agora::RtcGrant { channel: live.clone(), account: attendee.user_id.clone(), privileges };
        let ours = bulwark::domain::agora::content(CERT, &header, &grant).unwrap();
        assert_eq!(hex::encode(&ours), theirs["content"].as_str().unwrap());
        let (h, g) = bulwark::domain::agora::verify(theirs["token"].as_str().unwrap(), CERT).unwrap();
        assert_eq!((h, g), (header.clone(), grant.clone()));
        let built = bulwark::domain::agora::build(CERT, &header, &grant).unwrap();
        assert_eq!(agora(&["verify", &built, CERT])["signature_ok"], true);
    }
}
