//! Embedded secrets: each secret is sealed under the keyring's master key (bound to its name)
//! and kept in the redb database, so the database file never holds a secret in plaintext.

use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition, TableError};
use secrecy::SecretSlice;

use super::{blocking, Keyring};
use crate::ports::secrets::*;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");

pub struct EmbeddedSecrets {
    db: Arc<Database>,
    keyring: Arc<Keyring>,
}

impl EmbeddedSecrets {
    pub fn new(db: Arc<Database>, keyring: Arc<Keyring>) -> Self {
        EmbeddedSecrets { db, keyring }
    }
}

fn be(e: impl std::fmt::Display) -> SecretError {
    SecretError::Backend(anyhow::anyhow!("redb: {e}"))
}

fn aad(name: &SecretName) -> Vec<u8> {
    format!("bulwark-secret:{}", name.as_str()).into_bytes()
}

#[async_trait]
impl SecretStore for EmbeddedSecrets {
    async fn get(&self, name: &SecretName) -> Result<SecretSlice<u8>, SecretError> {
        let (db, key) = (Arc::clone(&self.db), name.as_str().to_owned());
        let sealed = blocking(move || -> Result<Option<Vec<u8>>, SecretError> {
            let r = db.begin_read().map_err(be)?;
            let t = match r.open_table(TABLE) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(be(e)),
            };
            let v = t.get(key.as_str()).map_err(be)?;
            Ok(v.map(|g| g.value().to_vec()))
        })
        .await
        .map_err(SecretError::Backend)??;
        let sealed = sealed.ok_or(SecretError::NotFound)?;
        let plain = self
            .keyring
            .open_sealed(&aad(name), &sealed)
            .map_err(|_| SecretError::Backend(anyhow::anyhow!("sealed secret failed authentication")))?;
        Ok(SecretSlice::from(plain.to_vec()))
    }

    async fn create(&self, name: &SecretName, value: &[u8]) -> Result<(), SecretError> {
        let sealed = self.keyring.seal(&aad(name), value);
        let (db, key) = (Arc::clone(&self.db), name.as_str().to_owned());
        blocking(move || {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(TABLE).map_err(be)?;
                if t.get(key.as_str()).map_err(be)?.is_some() {
                    return Err(SecretError::AlreadyExists);
                }
                t.insert(key.as_str(), sealed.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
        .map_err(SecretError::Backend)?
    }
}
