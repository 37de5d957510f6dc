//! The real `bulwark-server` binary, end to end: it starts on a data dir, serves the API over
//! TCP, stops cleanly on SIGTERM, keeps its data across restarts, and refuses to start on a
//! wrong keyring passphrase.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TempDir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &TempDir, port: u16, passphrase: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bulwark-server"))
        .env("BULWARK_LISTEN", format!("127.0.0.1:{port}"))
        .env("BULWARK_DATA_DIR", dir.path())
        .env("BULWARK_OPERATOR_TOKEN", "server-test-token")
        .env("BULWARK_KEYRING_PASSPHRASE", passphrase)
        .env("BULWARK_BACKEND", "embedded")
        .env("BULWARK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 exchange (no client library needed): returns status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer server-test-token\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn stop(mut child: Child) -> String {
    let ok = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "server exited with {status}: {err}");
    err
}

#[test]
fn serves_the_api_stops_cleanly_and_keeps_its_data() {
    let dir = TempDir::new();
    let port = free_port();
    let server = start(&dir, port, "server test passphrase");
    wait_ready(port);
    let tenant = r#"{"slug":"clinic","name":"Small Clinic","admin_email":"boss@clinic.test"}"#;
    let (status, body) = http(port, "POST", "/v1/platform/tenants", tenant);
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"slug\":\"clinic\""));
    let err = stop(server);
    assert!(err.contains("stopped"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path().join("outbox")).unwrap().count(), 1);
    // Restarted on the same data dir, it remembers the tenant.
    let port = free_port();
    let server = start(&dir, port, "server test passphrase");
    wait_ready(port);
    assert_eq!(http(port, "POST", "/v1/platform/tenants", tenant).0, 409);
    stop(server);
}

#[test]
fn refuses_to_start_with_a_wrong_keyring_passphrase() {
    let dir = TempDir::new();
    let port = free_port();
    let server = start(&dir, port, "the right passphrase");
    wait_ready(port);
    stop(server);
    let out = start(&dir, free_port(), "a wrong passphrase").wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keyring passphrase is wrong"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
