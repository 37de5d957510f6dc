//! Routing errors are JSON too: unknown routes 404, wrong methods 405; every response carries
//! a request id and security headers.

use crate::helpers::{Kind, TestApp};

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let app = TestApp::new(Kind::Embedded).await;
    for (method, path, status, code) in [
        ("GET", "/", 404, "not_found"),
        ("GET", "/v2/policy", 404, "not_found"),
        ("POST", "/v1/platform/tenants/extra", 404, "not_found"),
        ("PUT", "/v1/platform/tenants", 405, "method_not_allowed"),
        ("DELETE", "/v1/policy", 405, "method_not_allowed"),
    ] {
        let r = app.call(method, path, None, None).await;
        assert_eq!((r.status, r.code()), (status, code), "{method} {path}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_eq!(r.headers["x-request-id"].len(), 32);
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
    }
    let a = app.call("GET", "/", None, None).await;
    let b = app.call("GET", "/", None, None).await;
    assert_ne!(a.headers["x-request-id"], b.headers["x-request-id"]);
}
