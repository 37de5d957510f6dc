//! `POST /v1/platform/tenants` and `GET /v1/policy`, black-box through the router.

use std::sync::Arc;

use bulwark::ports::store::Table;

use crate::helpers::{
    contains, json_request, statuses_in_parallel, stored_bytes, token_in, Kind, TestApp, OPERATOR_TOKEN,
};
use crate::on_both_backends;

on_both_backends!(TestApp:
    operator_creates_a_tenant_and_its_admin_is_invited,
    taken_slug_is_a_conflict,
    concurrent_creations_of_one_slug_yield_exactly_one_tenant,
    operator_token_is_required,
    invitation_email_is_stored_only_encrypted,
    bad_input_is_rejected_and_changes_nothing,
    failed_provisioning_releases_the_slug,
    policy_needs_an_authenticated_user,
);

async fn operator_creates_a_tenant_and_its_admin_is_invited(app: &TestApp) {
    // WHEN the operator creates a tenant
    let r = app.create_tenant("acme", "  Admin@Acme.Test ").await;
    // THEN 201 with its id and slug
    assert_eq!(r.status, 201, "{}", r.json);
    let tenant_id = r.json["tenant_id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["slug"], "acme");
    assert!(r.headers.contains_key("x-request-id"));
    // AND the tenant's own table holds its policy, data key and a pending admin invitation
    let table = Table::Tenant(tenant_id.clone());
    let store = &app.backend.ports.store;
    assert!(store.get(&table, "TENANT", "POLICY").await.unwrap().is_some());
    assert!(store.get(&table, "KEYRING", "DEK#00000001").await.unwrap().is_some());
    let meta = store.get(&Table::Platform, &format!("TENANT#{tenant_id}"), "META").await.unwrap().unwrap();
    assert_eq!(meta.s("status"), Some("active"));
    // AND the audit log records the creation and the invitation
    let audit = store
        .query(bulwark::ports::QueryRequest {
            table: table.clone(),
            pk: "AUDIT".into(),
            range: bulwark::ports::SkRange::Prefix("EVT#".into()),
            direction: bulwark::ports::Direction::Backward,
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.items.iter().map(|i| i.s("action").unwrap().to_owned()).collect();
    assert_eq!(actions, vec!["invitation.create", "tenant.create"]);
    if app.backend.kind == Kind::Embedded {
        // AND the invitation email is in the outbox, its link carrying a token for this tenant
        let mails = app.outbox();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("To: admin@acme.test"));
        assert!(mails[0].contains("https://app.bulwark.test/invite?token="));
        let token = token_in(&mails[0]);
        assert!(token.starts_with(&format!("{tenant_id}.")) && token.len() > 70, "{token}");
        // AND the stored invitation is found by the token's hash and holds the email only
        // encrypted, bound to that item
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        let (pk, sk) = (format!("INVITE#{hash}"), "INVITE");
        let invite = store.get(&table, &pk, sk).await.unwrap().expect("invitation stored under the token hash");
        assert_eq!((invite.s("role"), invite.s("state")), (Some("admin"), Some("pending")));
        let tenant = bulwark::domain::types::TenantId::parse(&tenant_id).unwrap();
        let keys = &app.state.tenant_keys;
        let at = bulwark::services::tenancy::keys::Field { pk: &pk, sk, name: "email" };
        let email = keys.open_field(&app.backend.ports, &tenant, &at, invite.b("email_enc").unwrap()).await.unwrap();
        assert_eq!(email.as_slice(), b"admin@acme.test");
        let elsewhere = bulwark::services::tenancy::keys::Field { pk: &pk, sk, name: "display_name" };
        assert!(keys
            .open_field(&app.backend.ports, &tenant, &elsewhere, invite.b("email_enc").unwrap())
            .await
            .is_err());
    } else {
        // AND on AWS the tenant table has point-in-time recovery and TTL on expires_at
        let aws = app.backend.aws.as_ref().unwrap();
        let ddb = aws_sdk_dynamodb::Client::new(&aws.sdk);
        let name = format!("{}-tenant-{tenant_id}", aws.prefix);
        let pitr = ddb.describe_continuous_backups().table_name(&name).send().await.unwrap();
        let status = pitr.continuous_backups_description.unwrap().point_in_time_recovery_description.unwrap();
        assert_eq!(status.point_in_time_recovery_status.unwrap().as_str(), "ENABLED");
        let ttl = ddb.describe_time_to_live().table_name(&name).send().await.unwrap();
        assert_eq!(ttl.time_to_live_description.unwrap().attribute_name.as_deref(), Some("expires_at"));
        // AND it is encrypted with the master key, protected from deletion and tagged for the
        // backup plan (template.yaml BackupSelection)
        let table = ddb.describe_table().table_name(&name).send().await.unwrap().table.unwrap();
        let sse = table.sse_description.expect("encrypted at rest");
        assert_eq!(sse.sse_type.map(|t| t.as_str().to_owned()).as_deref(), Some("KMS"));
        assert!(sse.kms_master_key_arn.is_some());
        assert_eq!(table.deletion_protection_enabled, Some(true));
        let tags = ddb.list_tags_of_resource().resource_arn(table.table_arn.unwrap()).send().await.unwrap();
        let tags: Vec<_> = tags.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect();
        assert!(tags.contains(&("bulwark:backup".to_owned(), "true".to_owned())), "{tags:?}");
    }
}

async fn taken_slug_is_a_conflict(app: &TestApp) {
    assert_eq!(app.create_tenant("acme", "a@acme.test").await.status, 201);
    let r = app.create_tenant("acme", "other@acme.test").await;
    assert_eq!((r.status, r.code()), (409, "conflict"));
    assert_eq!(app.create_tenant("acme-two", "a@acme.test").await.status, 201);
    if app.backend.kind == Kind::Embedded {
        assert_eq!(app.outbox().len(), 2, "the refused creation sent no mail");
    }
}

async fn concurrent_creations_of_one_slug_yield_exactly_one_tenant(app: &TestApp) {
    let requests = (0..6)
        .map(|i| {
            let body = serde_json::json!({"slug": "race", "name": "Race", "admin_email": format!("a{i}@race.test")});
            json_request("POST", "/v1/platform/tenants", Some(OPERATOR_TOKEN), Some(body))
        })
        .collect();
    let statuses = statuses_in_parallel(app.router(), requests).await;
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409]);
}

async fn operator_token_is_required(app: &TestApp) {
    let body = serde_json::json!({"slug": "acme", "name": "Acme", "admin_email": "a@acme.test"});
    for token in [None, Some("wrong-token"), Some("")] {
        let r = app.call("POST", "/v1/platform/tenants", token, Some(body.clone())).await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{token:?}");
        assert_eq!(r.headers["www-authenticate"], "Bearer error=\"invalid_token\"");
    }
    // Nothing was created: the slug is still free.
    assert_eq!(app.create_tenant("acme", "a@acme.test").await.status, 201);
}

async fn invitation_email_is_stored_only_encrypted(app: &TestApp) {
    assert_eq!(app.create_tenant("acme", "secret.person@acme.test").await.status, 201);
    let bytes = stored_bytes(&app.backend).await;
    assert!(bytes.len() > 100, "the scan saw the store");
    assert!(contains(&bytes, b"acme"), "the scan sees plaintext fields (slug)");
    assert!(!contains(&bytes, b"secret.person"), "an email address is stored in plaintext");
}

async fn bad_input_is_rejected_and_changes_nothing(app: &TestApp) {
    use axum::body::Body;
    let req = |ct: Option<&str>, body: Body| {
        let mut b =
            http::Request::post("/v1/platform/tenants").header("authorization", format!("Bearer {OPERATOR_TOKEN}"));
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(body).unwrap()
    };
    let json = Some("application/json");
    let ok = |slug: &str, name: &str, email: &str| {
        serde_json::json!({"slug": slug, "name": name, "admin_email": email}).to_string()
    };
    let cases: Vec<(http::Request<Body>, u16, &str)> = vec![
        (req(None, Body::from(ok("acme", "Acme", "a@acme.test"))), 415, "unsupported_media_type"),
        (req(Some("text/plain"), Body::from(ok("acme", "Acme", "a@acme.test"))), 415, "unsupported_media_type"),
        (req(json, Body::from("{not json")), 400, "invalid_request"),
        (req(json, Body::from("")), 400, "invalid_request"),
        (req(json, Body::from(vec![0xff, 0xfe, 0x7b])), 400, "invalid_request"),
        (req(json, Body::from(r#"{"slug":"acme","name":"Acme"}"#)), 400, "invalid_request"),
        (req(json, Body::from(r#"{"slug":7,"name":"Acme","admin_email":"a@acme.test"}"#)), 400, "invalid_request"),
        (req(json, Body::from("[]")), 400, "invalid_request"),
        (req(json, Body::from(ok("Acme", "Acme", "a@acme.test"))), 422, "validation_failed"),
        (req(json, Body::from(ok("ab", "Acme", "a@acme.test"))), 422, "validation_failed"),
        (req(json, Body::from(ok("-acme", "Acme", "a@acme.test"))), 422, "validation_failed"),
        (req(json, Body::from(ok("acme", "   ", "a@acme.test"))), 422, "validation_failed"),
        (req(json, Body::from(ok("acme", &"x".repeat(201), "a@acme.test"))), 422, "validation_failed"),
        (req(json, Body::from(ok("acme", "Acme", "not-an-email"))), 422, "validation_failed"),
        (
            req(
                json,
                Body::from(format!(
                    r#"{{"slug":"acme","name":"Acme","admin_email":"a@acme.test","pad":"{}"}}"#,
                    "x".repeat(1 << 20)
                )),
            ),
            413,
            "payload_too_large",
        ),
    ];
    for (i, (r, status, code)) in cases.into_iter().enumerate() {
        let reply = app.send(r).await;
        assert_eq!((reply.status, reply.code()), (status, code), "case {i}: {}", reply.json);
        assert!(reply.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A wrongly typed secret-looking value is never echoed back.
    let r = app.send(req(json, Body::from(r#"{"slug":"acme","name":"Acme","admin_email":["hunter2"]}"#))).await;
    assert!(!r.json.to_string().contains("hunter2"));
    // Nothing was written by any of them.
    assert_eq!(app.create_tenant("acme", "a@acme.test").await.status, 201);
    if app.backend.kind == Kind::Embedded {
        assert_eq!(app.outbox().len(), 1);
    }
}

/// A mailer that always fails, to prove a failed provisioning leaves no trace.
struct BrokenMailer;

#[async_trait::async_trait]
impl bulwark::ports::Mailer for BrokenMailer {
    async fn send(&self, _: &bulwark::ports::OutgoingEmail) -> Result<(), bulwark::ports::MailError> {
        Err(bulwark::ports::MailError::Backend(anyhow::anyhow!("smtp relay refused: 554 (contains admin@acme.test)")))
    }
}

async fn failed_provisioning_releases_the_slug(app: &TestApp) {
    let mut broken = app.state.clone();
    broken.ctx.ports.mailer = Arc::new(BrokenMailer);
    let req = http::Request::post("/v1/platform/tenants")
        .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::json!({"slug": "acme", "name": "Acme", "admin_email": "admin@acme.test"}).to_string(),
        ))
        .unwrap();
    let r = crate::helpers::send(bulwark::http::app(broken), req).await;
    // An opaque 500: the cause stays in the logs.
    assert_eq!((r.status, r.code()), (500, "internal"));
    assert!(!r.json.to_string().contains("smtp") && !r.json.to_string().contains("admin@"));
    // The slug was released, so the operator can retry.
    assert_eq!(app.create_tenant("acme", "admin@acme.test").await.status, 201);
}

async fn policy_needs_an_authenticated_user(app: &TestApp) {
    for token in [None, Some("garbage"), Some(OPERATOR_TOKEN)] {
        let r = app.call("GET", "/v1/policy", token, None).await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{token:?}");
        assert_eq!(r.headers["www-authenticate"], "Bearer error=\"invalid_token\"");
    }
}
