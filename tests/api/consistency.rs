//! The route table (`bulwark::http::ROUTES`), `template.yaml`, `openapi.yaml`, `events/` and
//! `functions/` describe the same API: every route has exactly one function, one SAM
//! resource with that route as its event, one OpenAPI operation and one sample event that,
//! parsed the way Lambda delivers it, reaches its handler. Each function's IAM role allows
//! exactly the AWS services of the ports its route declares.

use std::collections::BTreeSet;
use std::path::Path;

use bulwark::http::{functions, ROUTES};
use bulwark::ports::Port;
use bulwark::runtime::lambda::WORKERS;
use serde_yaml::Value;

use crate::helpers::{Kind, TestApp};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(file: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(file)).unwrap()).unwrap()
}

/// Every function: one per route plus the queue workers.
fn all_functions() -> BTreeSet<String> {
    functions().into_iter().chain(WORKERS.iter().map(|w| w.function)).map(str::to_owned).collect()
}

fn routes_of(function: &str) -> BTreeSet<(String, String)> {
    ROUTES.iter().filter(|r| r.function == function).map(|r| (r.method.to_owned(), r.path.to_owned())).collect()
}

fn camel(function: &str) -> String {
    function.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<String>() + "Function"
}

#[test]
fn template_has_one_least_privilege_function_per_route_function() {
    let t = yaml("template.yaml");
    let resources = t["Resources"].as_mapping().unwrap();
    let mut seen = BTreeSet::new();
    for (name, res) in resources {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let binary =
            res["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_else(|| panic!("{name}: no Binary"));
        assert_eq!(res["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{name}");
        assert_eq!(name, camel(binary), "resource name follows the function name");
        let events: BTreeSet<(String, String)> = res["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .filter(|e| e["Type"].as_str() == Some("Api"))
            .map(|e| {
                (
                    e["Properties"]["Method"].as_str().unwrap().to_uppercase(),
                    e["Properties"]["Path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(events, routes_of(binary), "{name}: API events differ from the route table");
        // Least privilege: every statement names exact actions, never a wildcard action.
        let policies = serde_yaml::to_string(&res["Properties"]["Policies"]).unwrap();
        let stmts: Value = serde_yaml::from_str(&policies).unwrap();
        for p in stmts.as_sequence().unwrap() {
            for s in p["Statement"].as_sequence().unwrap() {
                let actions: Vec<&str> = match &s["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Sequence(v) => v.iter().map(|a| a.as_str().unwrap()).collect(),
                    other => panic!("{name}: odd Action {other:?}"),
                };
                assert!(actions.iter().all(|a| !a.contains('*')), "{name}: wildcard action in {actions:?}");
                assert_ne!(s["Resource"].as_str(), Some("*"), "{name}: wildcard resource");
            }
        }
        assert_eq!(iam_services(name, &stmts), port_services(binary), "{name}: IAM services differ from its ports");
        // A signed-in route authenticates with one BatchGetItem (session and user) on its tenant
        // table: without that action it would fail only once deployed.
        let signed_in = ROUTES
            .iter()
            .any(|r| r.function == binary && matches!(r.access, bulwark::http::access::Access::User { .. }));
        if signed_in {
            let tenant_reads =
                stmts.as_sequence().unwrap().iter().flat_map(|p| p["Statement"].as_sequence().unwrap()).any(|s| {
                    serde_yaml::to_string(&s["Resource"]).unwrap().contains("-tenant-*")
                        && s["Action"]
                            .as_sequence()
                            .is_some_and(|a| a.iter().any(|a| a.as_str() == Some("dynamodb:BatchGetItem")))
                });
            assert!(tenant_reads, "{name}: a signed-in route needs dynamodb:BatchGetItem on the tenant tables");
        }
        seen.insert(binary.to_owned());
    }
    assert_eq!(seen, all_functions(), "template functions differ from the route table");
}

/// The AWS services a function's ports call. Secrets Manager's own use of KMS (a `kms:`
/// statement conditioned on `kms:ViaService` secretsmanager) belongs to the secrets port, S3's
/// (the bucket's SSE-KMS, `kms:ViaService` s3) to the blobs port; push providers are reached
/// over HTTPS with credentials from the secret store, not through IAM.
fn port_services(function: &str) -> BTreeSet<&'static str> {
    let ports = ROUTES
        .iter()
        .find(|r| r.function == function)
        .map(|r| r.ports)
        .or_else(|| WORKERS.iter().find(|w| w.function == function).map(|w| w.ports))
        .unwrap_or_else(|| panic!("{function}: neither a route's function nor a worker"));
    let mut out = BTreeSet::new();
    for port in ports {
        match port {
            Port::Store => out.insert("dynamodb"),
            Port::Blobs => out.insert("s3"),
            Port::Keys => out.insert("kms"),
            Port::Secrets => out.insert("secretsmanager") && out.insert("kms via secretsmanager"),
            Port::Mail => out.insert("ses"),
            Port::Queue => out.insert("sqs"),
            Port::Push | Port::Idp => false,
        };
    }
    out
}

fn iam_services(name: &str, statements: &Value) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for p in statements.as_sequence().unwrap() {
        for s in p["Statement"].as_sequence().unwrap() {
            let actions: Vec<&str> = match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(v) => v.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let condition = serde_yaml::to_string(&s["Condition"]).unwrap();
            let via =
                |service: &str| condition.contains("kms:ViaService") && condition.contains(&format!("{service}."));
            for a in actions {
                out.insert(match a.split(':').next().unwrap() {
                    "kms" if via("secretsmanager") => "kms via secretsmanager",
                    "kms" if via("s3") => "s3",
                    "kms" if condition.contains("kms:ViaService") => panic!("{name}: kms through an unknown service"),
                    "kms" => "kms",
                    "dynamodb" => "dynamodb",
                    "s3" => "s3",
                    "secretsmanager" => "secretsmanager",
                    "ses" => "ses",
                    "sqs" => "sqs",
                    other => panic!("{name}: a statement for {other}, which no port uses"),
                });
            }
        }
    }
    out
}

#[test]
fn function_crates_match_the_route_table() {
    let mut dirs = BTreeSet::new();
    for e in std::fs::read_dir(root().join("functions")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let main = std::fs::read_to_string(path.join("src/main.rs")).unwrap();
        let boot = if WORKERS.iter().any(|w| w.function == name) {
            format!("bulwark::runtime::lambda::work::<{{ bulwark::runtime::lambda::worker(\"{name}\") }}>()")
        } else {
            format!("bulwark::runtime::lambda::serve::<{{ bulwark::http::route(\"{name}\") }}>()")
        };
        assert!(main.contains(&boot), "{name}: main must run its own route, chosen at compile time");
        assert!(main.lines().count() <= 10, "{name}: main.rs should only boot");
        dirs.insert(name);
    }
    assert_eq!(dirs, all_functions());
}

#[test]
fn openapi_documents_exactly_the_routes() {
    let doc = yaml("openapi.yaml");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
            let id = op["operationId"].as_str().unwrap().to_owned();
            ops.insert((id, method, path.as_str().unwrap().to_owned()));
        }
    }
    let want: BTreeSet<_> =
        ROUTES.iter().map(|r| (r.function.to_owned(), r.method.to_owned(), r.path.to_owned())).collect();
    assert_eq!(ops, want);
}

#[tokio::test]
async fn every_sample_event_reaches_its_handler_through_its_function() {
    let app = TestApp::new(Kind::Embedded).await;
    let mut files = BTreeSet::new();
    for e in std::fs::read_dir(root().join("events")).unwrap() {
        files.insert(e.unwrap().path().file_stem().unwrap().to_str().unwrap().to_owned());
    }
    assert_eq!(files, all_functions(), "one event file per function");
    // A worker's sample event is what its trigger delivers; it goes through the worker's own
    // handler, with only the worker's ports.
    for w in WORKERS {
        let text = std::fs::read_to_string(root().join(format!("events/{}.json", w.function))).unwrap();
        let state = app.state.for_function(w.ports);
        let out = (w.run)(state, serde_json::from_str(&text).unwrap()).await.unwrap();
        match w.function {
            "push-worker" => assert_eq!(
                out["batchItemFailures"],
                serde_json::json!([]),
                "a job for an unknown tenant is dropped, not retried: {out}"
            ),
            "maintenance-worker" => {
                assert_eq!(out["attachments_removed"], 0, "the scheduled event runs the retention sweep: {out}")
            }
            other => panic!("{other}: no sample check"),
        }
    }
    // The tenant the create-tenant event makes (the first route) stands in for the sample
    // tenant id of the other operator events.
    let mut created_tenant: Option<String> = None;
    for function in functions() {
        let mut text = std::fs::read_to_string(root().join(format!("events/{function}.json"))).unwrap();
        if let (true, Some(id)) = (function.starts_with("platform-tenant"), &created_tenant) {
            text = text.replace("01a2079572bb71069ebe53575ee58d18", id.as_str());
        }
        let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{function}: {e}"));
        let route = ROUTES.iter().find(|r| r.function == function).unwrap();
        assert_eq!(req.method().as_str(), route.method, "{function}");
        let router = bulwark::runtime::lambda::lambda_app(app.state.clone(), function);
        // Lambda hands the router a lambda_http body; convert as the runtime adapter does.
        let req = req.map(|b| axum::body::Body::from(b.to_vec()));
        let reply = crate::helpers::send(router, req).await;
        assert!(![404, 405].contains(&reply.status), "{function}: event did not reach a handler: {}", reply.json);
        // The function serves nothing else.
        let other = bulwark::runtime::lambda::lambda_app(app.state.clone(), function);
        let stray = http::Request::get("/v1/elsewhere").body(axum::body::Body::empty()).unwrap();
        assert_eq!(crate::helpers::send(other, stray).await.status, 404);
        match function {
            "platform-create-tenant" => {
                assert_eq!(reply.status, 201, "{}", reply.json);
                created_tenant = reply.json["tenant_id"].as_str().map(str::to_owned);
            }
            "platform-tenant-keys-rotate" => assert_eq!(reply.status, 202, "{}", reply.json),
            "platform-tenant-keys-get" => assert_eq!(reply.json["current_version"], 2, "{}", reply.json),
            "policy-get" => assert_eq!(reply.status, 401),
            _ => {}
        }
    }
}

/// What every function must have comes from `Globals.Function` (so a function added later has
/// it too), and no function overrides it: environment encrypted with the master key, X-Ray, a
/// DLQ for asynchronous invocations, and the shared log group, which has a retention and is
/// encrypted.
#[test]
fn every_function_gets_the_operational_settings_from_globals() {
    let t = yaml("template.yaml");
    let globals = &t["Globals"]["Function"];
    let reference = |v: &Value| match v {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    };
    let key_arn = serde_yaml::to_string(&globals["KmsKeyArn"]).unwrap();
    assert!(key_arn.contains("MasterKey"), "Globals: KmsKeyArn is the master key, not {key_arn}");
    assert_eq!(globals["Tracing"].as_str(), Some("Active"));
    assert_eq!(globals["DeadLetterQueue"]["Type"].as_str(), Some("SQS"));
    let group =
        reference(&globals["LoggingConfig"]["LogGroup"]).expect("Globals: LoggingConfig.LogGroup: !Ref <log group>");
    let group = &t["Resources"][group.as_str()];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert!(!group["Properties"]["RetentionInDays"].is_null(), "the function log group needs a retention");
    assert!(!group["Properties"]["KmsKeyId"].is_null(), "the function log group is encrypted with the master key");
    for (name, res) in t["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for key in
            ["KmsKeyArn", "Tracing", "DeadLetterQueue", "LoggingConfig", "VpcConfig", "ReservedConcurrentExecutions"]
        {
            assert!(res["Properties"][key].is_null(), "{name:?}: {key} comes from Globals, not the function");
        }
    }
}
