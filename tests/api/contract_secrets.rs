//! SecretStore contract: sealed redb secrets and Secrets Manager.

use std::sync::Arc;

use bulwark::ports::secrets::*;
use secrecy::ExposeSecret;

use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(Backend: create_get_and_never_overwrite, concurrent_get_or_create_agrees);

async fn create_get_and_never_overwrite(b: &Backend) {
    let s = &b.ports.secrets;
    let name = SecretName::parse("signing/jwt-current").unwrap();
    assert!(matches!(s.get(&name).await.unwrap_err(), SecretError::NotFound));
    s.create(&name, b"\x00\x01secret-bytes").await.unwrap();
    assert_eq!(s.get(&name).await.unwrap().expose_secret(), b"\x00\x01secret-bytes");
    assert!(matches!(s.create(&name, b"other").await.unwrap_err(), SecretError::AlreadyExists));
    assert_eq!(s.get(&name).await.unwrap().expose_secret(), b"\x00\x01secret-bytes");
    for bad in ["", "UPPER", "a//b", "sp ace"] {
        assert!(SecretName::parse(bad).is_err(), "{bad:?}");
    }
}

async fn concurrent_get_or_create_agrees(b: &Backend) {
    let name = SecretName::parse("index/hmac").unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (s, n) = (Arc::clone(&b.ports.secrets), name.clone());
            tokio::spawn(async move { get_or_create(&*s, &n, 32).await.unwrap().expose_secret().to_vec() })
        })
        .collect();
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap());
    }
    assert_eq!(values[0].len(), 32);
    assert!(values.iter().all(|v| v == &values[0]));
}
