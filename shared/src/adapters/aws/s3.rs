//! S3 blob store. Uploads stream: bodies are cut into 8 MiB parts and sent as a multipart
//! upload (a body that fits one part is a single PutObject), so memory stays bounded by one
//! part whatever the object size; a failed body aborts the upload, leaving nothing. Objects
//! are also server-side encrypted on top of Bulwark's own encryption: by the bucket's default
//! (SSE-KMS with the master key and a bucket key, `template.yaml`), which the bucket policy
//! enforces, so requests name no encryption of their own.

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::describe;
use crate::ports::blob::*;

const PART: usize = 8 * 1024 * 1024;

pub struct S3Blobs {
    client: super::Lazy<Client>,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: super::Lazy<Client>, bucket: String) -> Self {
        S3Blobs { client, bucket }
    }

    /// Fill up to one part from the body.
    async fn next_part(body: &mut ByteStream, carry: &mut BytesMut) -> Result<Option<Bytes>, BlobError> {
        while carry.len() < PART {
            match body.next().await {
                Some(chunk) => carry.extend_from_slice(&chunk.map_err(BlobError::Body)?),
                None => break,
            }
        }
        if carry.is_empty() {
            return Ok(None);
        }
        let n = carry.len().min(PART);
        Ok(Some(carry.split_to(n).freeze()))
    }

    async fn multipart(
        &self,
        key: &str,
        first: Bytes,
        mut body: ByteStream,
        mut carry: BytesMut,
    ) -> Result<u64, BlobError> {
        let up = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BlobError::Backend(describe(e)))?;
        let id = up.upload_id().ok_or_else(|| BlobError::Backend(anyhow::anyhow!("no upload id")))?.to_owned();
        let result: Result<u64, BlobError> = async {
            let mut parts = Vec::new();
            let mut total = 0u64;
            let mut next = Some(first);
            let mut n = 1;
            while let Some(part) = next {
                total += part.len() as u64;
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(SdkStream::from(part))
                    .send()
                    .await
                    .map_err(|e| BlobError::Backend(describe(e)))?;
                parts.push(CompletedPart::builder().set_e_tag(out.e_tag).part_number(n).build());
                n += 1;
                next = Self::next_part(&mut body, &mut carry).await?;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| BlobError::Backend(describe(e)))?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            let _ = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&id).send().await;
        }
        result
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &BlobKey, mut body: ByteStream) -> Result<u64, BlobError> {
        let mut carry = BytesMut::new();
        let first = Self::next_part(&mut body, &mut carry).await?.unwrap_or_default();
        if first.len() < PART {
            let n = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .body(SdkStream::from(first))
                .send()
                .await
                .map_err(|e| BlobError::Backend(describe(e)))?;
            return Ok(n);
        }
        self.multipart(key.as_str(), first, body, carry).await
    }

    async fn get(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        let out = self.client.get_object().bucket(&self.bucket).key(key.as_str()).send().await.map_err(|e| match e
            .as_service_error()
            .and_then(|s| s.code())
        {
            Some("NoSuchKey" | "NotFound") => BlobError::NotFound,
            _ => BlobError::Backend(describe(e)),
        })?;
        let stream = futures::stream::unfold(out.body, |mut b| async move {
            b.next().await.map(|r| (r.map_err(std::io::Error::other), b))
        });
        Ok(Box::pin(stream))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| BlobError::Backend(describe(e)))?;
        Ok(())
    }
}
