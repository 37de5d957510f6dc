//! Embedded-mode specifics: the passphrase-sealed keyring ("protected package") and the
//! expiry sweeper.

use bulwark::backend::{BackendError, EmbeddedSettings, Ports};
use bulwark::embedded::{Keyring, KeyringError};
use bulwark::ports::{Cond, EncryptionContext, Item, KeyService, Table};
use secrecy::SecretString;

use crate::helpers::{Backend, TempDir};

fn pass(s: &str) -> Option<SecretString> {
    Some(SecretString::from(s.to_owned()))
}

#[tokio::test]
async fn wrong_passphrase_is_refused_and_right_one_reopens_the_same_keys() {
    let dir = TempDir::new();
    let ctx = EncryptionContext::new([("tenant", "t1")]);
    let ring = Keyring::open_or_create(dir.path(), pass("first passphrase")).unwrap();
    let dk = ring.generate_data_key(&ctx).await.unwrap();
    drop(ring);
    // WHEN the keyring is opened with another passphrase THEN it refuses, clearly
    let err = Keyring::open_or_create(dir.path(), pass("not the passphrase")).err().unwrap();
    assert!(matches!(err, KeyringError::WrongPassphrase(_)));
    assert!(err.to_string().contains("passphrase is wrong"), "{err}");
    // AND with no passphrase at all (and no dev passphrase file) it asks for one
    let err = Keyring::open_or_create(dir.path(), None).err().unwrap();
    assert!(err.to_string().contains("BULWARK_KEYRING_PASSPHRASE"), "{err}");
    // AND the right passphrase unwraps keys made before
    let ring = Keyring::open_or_create(dir.path(), pass("first passphrase")).unwrap();
    assert_eq!(*ring.decrypt_data_key(&dk.wrapped, &ctx).await.unwrap(), *dk.plaintext);
    // AND the package file never holds the data key in clear
    let file = std::fs::read(dir.path().join("keyring.json")).unwrap();
    assert!(!crate::helpers::contains(&file, dk.plaintext.as_ref()));
    // AND a whole backend on a wrong passphrase refuses to start
    let err = Ports::embedded(
        EmbeddedSettings {
            data_dir: dir.path().to_owned(),
            push: crate::helpers::test_push_settings(),
            passphrase: pass("wrong"),
            mail_from: "a <a@b.cd>".into(),
        },
        std::sync::Arc::new(bulwark::clock::SystemClock),
    )
    .err()
    .unwrap();
    assert!(matches!(err, BackendError::Keyring(KeyringError::WrongPassphrase(_))));
}

#[tokio::test]
async fn fresh_dev_dir_generates_a_private_passphrase_that_can_be_replaced() {
    let dir = TempDir::new();
    let ctx = EncryptionContext::new([("tenant", "t1")]);
    let ring = Keyring::open_or_create(dir.path(), None).unwrap();
    let dk = ring.generate_data_key(&ctx).await.unwrap();
    let pass_file = dir.path().join("keyring.passphrase");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pass_file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("keyring.json")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Reopens from the generated file.
    assert!(Keyring::open_or_create(dir.path(), None).is_ok());
    // WHEN the operator sets their own passphrase THEN the generated file is gone, the new
    // passphrase opens it, the old does not, and existing keys still unwrap.
    let generated = std::fs::read_to_string(&pass_file).unwrap();
    Keyring::change_passphrase(dir.path(), None, &SecretString::from("operator chosen passphrase".to_owned())).unwrap();
    assert!(!pass_file.exists());
    assert!(matches!(
        Keyring::open_or_create(dir.path(), pass(&generated)).err().unwrap(),
        KeyringError::WrongPassphrase(_)
    ));
    let ring = Keyring::open_or_create(dir.path(), pass("operator chosen passphrase")).unwrap();
    assert_eq!(*ring.decrypt_data_key(&dk.wrapped, &ctx).await.unwrap(), *dk.plaintext);
}

#[tokio::test]
async fn sweeper_deletes_expired_items() {
    let b = Backend::embedded().await;
    let t = Table::Tenant("sweep".into());
    let store = &b.ports.store;
    store.ensure_table(&t).await.unwrap();
    let now = bulwark::clock::Clock::now_secs(&*b.clock);
    store.put(&t, Item::new("A", "1").with("expires_at", now + 5), Cond::Always).await.unwrap();
    store.put(&t, Item::new("A", "2").with("expires_at", now + 500), Cond::Always).await.unwrap();
    store.put(&t, Item::new("A", "3"), Cond::Always).await.unwrap();
    let sweeper = b.ports.sweeper.clone().unwrap();
    assert_eq!(sweeper.sweep_expired().await.unwrap(), 0);
    b.clock.advance(time::Duration::seconds(6));
    assert_eq!(sweeper.sweep_expired().await.unwrap(), 1);
    // Physically gone: even an update (which sees stored attributes) starts afresh.
    let it = store.update(&t, "A", "1", bulwark::ports::Update::default().add("n", 1), Cond::Always).await.unwrap();
    assert_eq!(it.get("expires_at"), None);
}
