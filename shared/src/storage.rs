//! S3 (any compatible store: Garage here, AWS in production): inputs, previews and
//! results, addressed by the keys in [`stylize_core::job::keys`].

use crate::config::S3Settings;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} {key}: {message}")]
pub struct StorageError {
    pub operation: &'static str,
    pub key: String,
    pub message: String,
}

/// An object being read from the store.
pub struct Object {
    key: String,
    /// Its size, as the store declared it.
    pub length: Option<u64>,
    body: ByteStream,
}

impl Object {
    /// All of it.
    pub async fn bytes(self) -> Result<Vec<u8>, StorageError> {
        let body = self
            .body
            .collect()
            .await
            .map_err(|e| failure("get", &self.key, e))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Its chunks as they arrive, never more than one in memory.
    pub fn chunks(self) -> BoxStream<'static, Result<Bytes, StorageError>> {
        let Object { key, body, .. } = self;
        futures_util::stream::try_unfold(body, move |mut body| {
            let key = key.clone();
            async move {
                match body.try_next().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, body))),
                    Ok(None) => Ok(None),
                    Err(error) => Err(failure("get", &key, error)),
                }
            }
        })
        .boxed()
    }
}

#[derive(Clone)]
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn failure(operation: &'static str, key: &str, error: impl std::error::Error) -> StorageError {
    StorageError {
        operation,
        key: key.to_owned(),
        message: crate::error_chain(&error),
    }
}

impl Storage {
    pub fn new(settings: &S3Settings) -> Self {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&settings.endpoint)
            .region(Region::new(settings.region.clone()))
            .credentials_provider(Credentials::new(
                &settings.access_key,
                settings.secret_key.expose(),
                None,
                None,
                "stylize-settings",
            ))
            // Garage and MinIO serve buckets by path, not by subdomain.
            .force_path_style(true)
            // Without these a store that stops answering holds a request forever.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(settings.connect_timeout_seconds))
                    .operation_timeout(Duration::from_secs(settings.operation_timeout_seconds))
                    .build(),
            )
            .build();
        Storage {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: settings.bucket.clone(),
        }
    }

    #[tracing::instrument(name = "S3 PutObject", skip_all, fields(
        otel.kind = "client", rpc.system = "aws-api", rpc.service = "S3", rpc.method = "PutObject",
        aws.s3.bucket = %self.bucket, aws.s3.key = %key,
    ))]
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            // The body's SHA-256 in the signature would cost a pass over it here and
            // another in the store; its integrity is kept by the CRC32 checksum the
            // SDK sends with it (and by TLS, where the endpoint is https).
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| failure("put", key, e))?;
        Ok(())
    }

    /// The object's bytes, or `None` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self.open(key).await? {
            Some(object) => object.bytes().await.map(Some),
            None => Ok(None),
        }
    }

    /// The object, to be read as it arrives, or `None` when there is no such key.
    #[tracing::instrument(name = "S3 GetObject", skip_all, fields(
        otel.kind = "client", rpc.system = "aws-api", rpc.service = "S3", rpc.method = "GetObject",
        aws.s3.bucket = %self.bucket, aws.s3.key = %key,
    ))]
    pub async fn open(&self, key: &str) -> Result<Option<Object>, StorageError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => Ok(Some(Object {
                key: key.to_owned(),
                length: response
                    .content_length
                    .and_then(|length| u64::try_from(length).ok()),
                body: response.body,
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(failure("get", key, error)),
        }
    }

    #[tracing::instrument(name = "S3 DeleteObject", skip_all, fields(
        otel.kind = "client", rpc.system = "aws-api", rpc.service = "S3", rpc.method = "DeleteObject",
        aws.s3.bucket = %self.bucket, aws.s3.key = %key,
    ))]
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failure("delete", key, e))?;
        Ok(())
    }

    /// Every key under `prefix`.
    #[cfg(feature = "test-support")]
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure("list", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    /// Whether the bucket answers (readiness).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| failure("head-bucket", &self.bucket, e))?;
        Ok(())
    }
}
