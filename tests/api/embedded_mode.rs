//! Embedded-mode specifics: the passphrase-sealed keyring ("protected package") and the
//! expiry sweeper.

use bulwark::adapters::embedded::{Keyring, KeyringError};
use bulwark::ports::Ports;
use bulwark::ports::{Cond, EncryptionContext, Item, KeyService, Table};
use bulwark::runtime::backend::{BackendError, EmbeddedSettings, Wiring};
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
        std::sync::Arc::new(bulwark::ports::clock::SystemClock),
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
    let now = bulwark::ports::clock::Clock::now_secs(&*b.clock);
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

#[tokio::test]
async fn the_sweep_follows_the_expiry_index_in_batches() {
    let b = Backend::embedded().await;
    let t = Table::Tenant("sweep-index".into());
    let store = &b.ports.store;
    store.ensure_table(&t).await.unwrap();
    let now = bulwark::ports::clock::Clock::now_secs(&*b.clock);
    // GIVEN 300 items due in 5 s (more than one sweep batch), written in transactions and puts
    for i in 0..300 {
        store.put(&t, Item::new("DUE", format!("{i:03}")).with("expires_at", now + 5), Cond::Always).await.unwrap();
    }
    // AND one whose expiry was pushed back after it was written, one whose expiry was removed,
    // and one deleted before it was due
    store.put(&t, Item::new("MOVED", "1").with("expires_at", now + 5), Cond::Always).await.unwrap();
    let later = bulwark::ports::Update::default().set("expires_at", now + 500);
    store.update(&t, "MOVED", "1", later, Cond::Always).await.unwrap();
    store.put(&t, Item::new("KEPT", "1").with("expires_at", now + 5), Cond::Always).await.unwrap();
    let keep = bulwark::ports::Update::default().remove("expires_at");
    store.update(&t, "KEPT", "1", keep, Cond::Always).await.unwrap();
    store.put(&t, Item::new("GONE", "1").with("expires_at", now + 5), Cond::Always).await.unwrap();
    store.delete(&t, "GONE", "1", Cond::Always).await.unwrap();
    let sweeper = b.ports.sweeper.clone().unwrap();
    // WHEN the sweep runs after the due time
    b.clock.advance(time::Duration::seconds(6));
    // THEN exactly the 300 due items go, and the others stay
    assert_eq!(sweeper.sweep_expired().await.unwrap(), 300);
    assert_eq!(sweeper.sweep_expired().await.unwrap(), 0, "nothing is left in the index");
    assert!(store.get(&t, "MOVED", "1").await.unwrap().is_some());
    assert!(store.get(&t, "KEPT", "1").await.unwrap().is_some());
    b.clock.advance(time::Duration::seconds(500));
    assert_eq!(sweeper.sweep_expired().await.unwrap(), 1, "the moved one, at its new time");
}

#[tokio::test]
async fn a_store_written_before_the_expiry_index_is_indexed_when_opened() {
    use redb::{Database, ReadableTableMetadata, TableDefinition};
    let dir = TempDir::new();
    let path = dir.path().join("store.redb");
    // GIVEN a store file without the index (as written by an older version)
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("store:tenant-old");
            let mut t = txn.open_table(def).unwrap();
            t.insert(("A", "1"), br#"{"expires_at":{"N":1}}"#.as_slice()).unwrap();
            t.insert(("A", "2"), br#"{}"#.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    // WHEN it is opened and swept
    let db = std::sync::Arc::new(Database::create(&path).unwrap());
    let store = bulwark::adapters::embedded::EmbeddedStore::new(
        db.clone(),
        std::sync::Arc::new(bulwark::ports::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(store.sweep_expired().await.unwrap(), 1);
    drop(store);
    // THEN only the expired item went
    let txn = db.begin_read().unwrap();
    let def: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("store:tenant-old");
    assert_eq!(txn.open_table(def).unwrap().len().unwrap(), 1);
}
