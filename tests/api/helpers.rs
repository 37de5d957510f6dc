//! Shared test harness: builds a fresh, isolated backend of either kind. Embedded backends
//! live in a temporary data dir; AWS backends talk to the moto server that `scripts/test`
//! starts (`BULWARK_TEST_AWS_ENDPOINT`), each with its own resource prefix, bucket and KMS
//! key so tests run in parallel without seeing each other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark::ports::clock::ManualClock;
use bulwark::ports::Ports;
use bulwark::runtime::backend::{EmbeddedSettings, Wiring};

pub const MAIL_FROM: &str = "Bulwark <no-reply@bulwark.test>";

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("bulwark-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Aws,
}

pub struct Backend {
    pub kind: Kind,
    pub ports: Ports,
    pub clock: Arc<ManualClock>,
    /// Embedded: the data dir. AWS: scratch space.
    pub dir: TempDir,
    pub aws: Option<AwsEnv>,
}

pub struct AwsEnv {
    pub sdk: aws_config::SdkConfig,
    pub prefix: String,
    pub bucket: String,
}

/// Tests never reach the real push services: pushes go to an unroutable local port unless a
/// test stands up its own provider.
pub fn test_push_settings() -> bulwark::runtime::backend::PushSettings {
    bulwark::runtime::backend::PushSettings {
        fcm_url: "http://127.0.0.1:9".into(),
        apns_url: "http://127.0.0.1:9".into(),
    }
}

pub fn moto_endpoint() -> String {
    std::env::var("BULWARK_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("BULWARK_TEST_AWS_ENDPOINT is not set: run the suite with scripts/test, which starts moto's server")
    })
}

pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    bulwark::runtime::test_support::moto_sdk_config(&moto_endpoint()).await
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Backend {
    pub async fn new(kind: Kind) -> Backend {
        match kind {
            Kind::Embedded => Backend::embedded().await,
            Kind::Aws => Backend::aws().await,
        }
    }

    pub async fn embedded() -> Backend {
        let dir = TempDir::new();
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let ports = Ports::embedded(
            EmbeddedSettings {
                data_dir: dir.path().to_owned(),
                push: test_push_settings(),
                passphrase: Some("correct horse battery staple".to_owned().into()),
                mail_from: MAIL_FROM.into(),
            },
            clock.clone(),
        )
        .expect("embedded backend");
        Backend { kind: Kind::Embedded, ports, clock, dir, aws: None }
    }

    pub async fn aws() -> Backend {
        let sdk = moto_sdk_config().await;
        let prefix = unique("bw");
        let bucket = unique("bulwark-test-");
        let settings =
            bulwark::runtime::test_support::provision_moto(&sdk, &prefix, &bucket, MAIL_FROM, test_push_settings())
                .await
                .expect("provision moto");
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let ports = Ports::aws(settings, &sdk, clock.clone());
        Backend { kind: Kind::Aws, ports, clock, dir: TempDir::new(), aws: Some(AwsEnv { sdk, prefix, bucket }) }
    }

    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }
}

/// Declare tests that run against both backends: `on_both_backends!(Fixture: name, ...)`
/// expects an `async fn name(f: &Fixture)` in scope for each name, where `Fixture` is
/// [`Backend`] (port contracts) or [`TestApp`] (API tests).
#[macro_export]
macro_rules! on_both_backends {
    ($fixture:ident: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{$fixture, Kind};
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    super::$name(&$fixture::new(Kind::Embedded).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn aws() {
                    super::$name(&$fixture::new(Kind::Aws).await).await
                }
            }
        )*
    };
}

/// The platform operator token every test app accepts.
pub const OPERATOR_TOKEN: &str = "local-operator-token";

/// The public base URL of a test app: IdPs redirect the test's browser to it, and the test
/// hands what arrives there to the router.
pub const API_URL: &str = "http://api.bulwark.test";

/// The application settings of a test app: API.md's defaults, with `anon_rate_per_ip`.
pub fn test_settings(anon_rate_per_ip: u32) -> bulwark::runtime::settings::AppSettings {
    bulwark::runtime::settings::AppSettings {
        app_url: "https://app.bulwark.test".into(),
        operator: bulwark::services::context::OperatorAuth::from_token(&OPERATOR_TOKEN.to_owned().into()),
        anon_rate_per_ip,
        mail_rate_per_account: 5,
        hash_concurrency: None,
        sso: bulwark::services::context::SsoSettings { api_url: API_URL.into(), allow_loopback_http: true },
    }
}

/// A response, decoded.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// The whole API over a fresh backend, driven through the router with `oneshot`.
pub struct TestApp {
    pub backend: Backend,
    pub state: bulwark::http::state::AppState,
    sent: bulwark::runtime::test_support::SentMail,
}

impl TestApp {
    pub async fn new(kind: Kind) -> TestApp {
        // Logs go to the test's captured output, shown when it fails.
        let _ = tracing_subscriber::fmt()
            .json()
            .with_test_writer()
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .try_init();
        let backend = Backend::new(kind).await;
        bulwark::runtime::test_support::ensure_platform(&backend.ports).await.unwrap();
        let mut ports = backend.ports.clone();
        let sent = bulwark::runtime::test_support::capture_mail(&mut ports);
        let state = bulwark::runtime::app::application(ports, test_settings(120));
        TestApp { backend, state, sent }
    }

    /// Run the queued jobs that send mail (account emails go through the maintenance queue),
    /// as the local server's worker or the maintenance-worker Lambda would.
    pub async fn deliver_queued_mail(&self) {
        bulwark::runtime::jobs::drain_maintenance(&self.state).await.unwrap();
    }

    /// The token of the newest email sent to `to` whose subject contains `subject`.
    pub async fn token_mailed_to(&self, to: &str, subject: &str) -> Option<String> {
        self.deliver_queued_mail().await;
        let sent = self.sent.lock().unwrap();
        sent.iter().rev().find(|m| m.to.as_str() == to && m.subject.contains(subject)).map(|m| token_in(&m.text))
    }

    pub async fn mails_to(&self, to: &str) -> usize {
        self.deliver_queued_mail().await;
        self.sent.lock().unwrap().iter().filter(|m| m.to.as_str() == to).count()
    }

    pub fn router(&self) -> axum::Router {
        bulwark::http::app(self.state.clone())
    }

    pub async fn send(&self, req: http::Request<axum::body::Body>) -> Reply {
        send(self.router(), req).await
    }

    /// A JSON request; `token` becomes `Authorization: Bearer <token>`.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<serde_json::Value>) -> Reply {
        self.send(json_request(method, path, token, body)).await
    }

    pub async fn create_tenant(&self, slug: &str, admin_email: &str) -> Reply {
        self.call(
            "POST",
            "/v1/platform/tenants",
            Some(OPERATOR_TOKEN),
            Some(serde_json::json!({"slug": slug, "name": "Acme Health", "admin_email": admin_email})),
        )
        .await
    }

    /// The `.eml` files of the embedded outbox, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.backend.outbox()) else { return Vec::new() };
        let mut paths: Vec<_> =
            rd.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
        paths.sort();
        paths.into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A request with an optional bearer token and optional JSON body.
pub fn json_request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> http::Request<axum::body::Body> {
    let mut b = http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            axum::body::Body::from(v.to_string())
        }
        None => axum::body::Body::empty(),
    };
    b.body(body).unwrap()
}

/// Send all requests at once, each on its own task; their statuses, sorted.
pub async fn statuses_in_parallel(router: axum::Router, requests: Vec<http::Request<axum::body::Body>>) -> Vec<u16> {
    let tasks: Vec<_> = requests.into_iter().map(|req| tokio::spawn(send(router.clone(), req))).collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().status);
    }
    statuses.sort();
    statuses
}

pub async fn send(router: axum::Router, req: http::Request<axum::body::Body>) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json =
        if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
    Reply { status, headers, json }
}

/// The `token=` value of the first link in an email.
pub fn token_in(email: &str) -> String {
    let start = email.find("token=").expect("a token link") + "token=".len();
    email[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect()
}

/// Every byte the backend holds for a tenant, for at-rest scans: the embedded data dir's
/// files, or every item of every DynamoDB table of this test's prefix (as debug text) and
/// every object of its bucket.
pub async fn stored_bytes(b: &Backend) -> Vec<u8> {
    match &b.aws {
        None => {
            let mut out = Vec::new();
            let mut stack = vec![b.dir.path().to_owned()];
            while let Some(p) = stack.pop() {
                if p.ends_with("outbox") {
                    continue; // sent mail is the message itself, not data at rest
                }
                for e in std::fs::read_dir(&p).unwrap() {
                    let path = e.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        out.extend(std::fs::read(&path).unwrap());
                    }
                }
            }
            out
        }
        Some(aws) => {
            let ddb = aws_sdk_dynamodb::Client::new(&aws.sdk);
            let mut out = Vec::new();
            // ListTables answers 100 names a page; the suite makes far more tables than that.
            let mut tables = Vec::new();
            let mut start: Option<String> = None;
            loop {
                let page = ddb.list_tables().set_exclusive_start_table_name(start).send().await.unwrap();
                tables.extend(page.table_names.unwrap_or_default());
                start = page.last_evaluated_table_name;
                if start.is_none() {
                    break;
                }
            }
            for t in tables.into_iter().filter(|t| t.starts_with(&aws.prefix)) {
                let items = ddb.scan().table_name(&t).send().await.unwrap().items.unwrap_or_default();
                out.extend(format!("{items:?}").into_bytes());
                for item in items {
                    for v in item.values() {
                        if let Ok(b) = v.as_b() {
                            out.extend_from_slice(b.as_ref());
                        }
                    }
                }
            }
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&aws.sdk).force_path_style(true).build(),
            );
            let listed = s3.list_objects_v2().bucket(&aws.bucket).send().await.unwrap();
            for obj in listed.contents.unwrap_or_default() {
                let got = s3.get_object().bucket(&aws.bucket).key(obj.key.unwrap()).send().await.unwrap();
                out.extend(got.body.collect().await.unwrap().into_bytes());
            }
            out
        }
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A raw response: status, headers and the body bytes — or the error that cut the body off
/// (a download whose ciphertext fails authentication ends that way).
pub async fn send_raw(
    router: axum::Router,
    req: http::Request<axum::body::Body>,
) -> (u16, http::HeaderMap, Result<bytes::Bytes, String>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.map(|b| b.to_bytes()).map_err(|e| e.to_string());
    (status, headers, body)
}
