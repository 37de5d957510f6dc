//! KMS key service: `GenerateDataKey` (AES-256) and `Decrypt`, both carrying the encryption
//! context, which KMS binds to the ciphertext — a different context fails to decrypt.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use zeroize::Zeroizing;

use super::describe;
use crate::ports::keys::*;

pub struct KmsKeys {
    client: super::Lazy<Client>,
    key_id: String,
}

impl KmsKeys {
    pub fn new(client: super::Lazy<Client>, key_id: String) -> Self {
        KmsKeys { client, key_id }
    }
}

fn ctx_map(ctx: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ctx.0.is_empty()).then(|| ctx.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn key32(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let arr: [u8; 32] =
        bytes.try_into().map_err(|_| KeyError::Backend(anyhow::anyhow!("KMS returned a key of the wrong length")))?;
    Ok(Zeroizing::new(arr))
}

#[async_trait]
impl KeyService for KmsKeys {
    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KeyError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(ctx_map(ctx))
            .send()
            .await
            .map_err(|e| KeyError::Backend(describe(e)))?;
        let plaintext = out.plaintext.ok_or_else(|| KeyError::Backend(anyhow::anyhow!("KMS returned no plaintext")))?;
        let wrapped =
            out.ciphertext_blob.ok_or_else(|| KeyError::Backend(anyhow::anyhow!("KMS returned no ciphertext")))?;
        Ok(DataKey { plaintext: key32(plaintext.as_ref())?, wrapped: wrapped.into_inner() })
    }

    async fn decrypt_data_key(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(ctx_map(ctx))
            .send()
            .await
            .map_err(|e| match e.as_service_error().and_then(|s| s.code()) {
                Some("InvalidCiphertextException" | "IncorrectKeyException") => KeyError::InvalidCiphertext,
                _ => KeyError::Backend(describe(e)),
            })?;
        let plaintext = out.plaintext.ok_or_else(|| KeyError::Backend(anyhow::anyhow!("KMS returned no plaintext")))?;
        key32(plaintext.as_ref())
    }
}
