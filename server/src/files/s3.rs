//! Whole files in an S3-compatible object store (cargo feature `s3`): a
//! province's deployment where the servers share a bucket (AWS S3, MinIO,
//! Ceph, a cloud's S3-compatible service) instead of a local disk.
//!
//! `doorstep serve --files s3://BUCKET/PREFIX` names the bucket; the
//! credentials, region and endpoint come from the standard environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for a server that is not AWS, `AWS_ALLOW_HTTP=true`
//! only for a test endpoint), read by `object_store`. Each file is the
//! object `PREFIX/<sha256>`. Uploads under way stay on the local disk
//! ([`super::Partials`]): only a whole file, already checked against its
//! name, is sent to the bucket, and its local copy is removed once the
//! bucket has confirmed it.
//!
//! The [`FileStore`] trait is blocking (its callers are on tokio's
//! blocking pool) and `object_store` is async: each call here runs its
//! future to the end with [`Handle::block_on`] on the runtime the store was
//! made on, from the blocking thread, so no async worker ever waits. Never
//! call these methods from an async task.
//!
//! TLS: object_store's reqwest gets rustls through the workspace's
//! `rustls-no-provider`; [`S3FileStore::connect`] installs rustls's ring
//! provider as the process default if none is (no aws-lc-rs, no OpenSSL),
//! and the server's certificate is checked against the system's roots.
//! Credentials are never logged: this module's `Debug` shows only the
//! bucket and the prefix.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path as LocalPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use tokio::runtime::Handle;

use super::FileStore;

/// Files up to this size go up in one PUT, read whole into memory; larger
/// ones (up to 20 MiB, `MAX_FILE_BYTES`) in parts of [`PART_BYTES`].
const SINGLE_PUT_BYTES: u64 = 8 * 1024 * 1024;

/// A multipart upload's parts (S3's smallest but for the last).
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Whole files in a bucket, each object named `PREFIX/<sha256>`.
pub struct S3FileStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Option<Path>,
    runtime: Handle,
}

impl std::fmt::Debug for S3FileStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("S3FileStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix.as_ref().map(Path::as_ref))
            .finish_non_exhaustive()
    }
}

/// `s3://BUCKET/PREFIX` as (bucket, prefix); the prefix may be empty.
pub fn parse_url(url: &str) -> io::Result<(String, Option<Path>)> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{url:?} is no S3 location ({why}): write s3://BUCKET or s3://BUCKET/PREFIX"),
        )
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| invalid("it does not start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-_".contains(&byte))
    {
        return Err(invalid(
            "the bucket name is empty or has a character S3 refuses",
        ));
    }
    let prefix = prefix.trim_matches('/');
    let prefix = if prefix.is_empty() {
        None
    } else {
        Some(Path::parse(prefix).map_err(|_| invalid("the prefix is not a plain path"))?)
    };
    Ok((bucket.to_owned(), prefix))
}

impl S3FileStore {
    /// The bucket of `url` (`s3://BUCKET/PREFIX`), configured from the
    /// environment, once a listing of the prefix has answered: a wrong
    /// bucket, endpoint or key fails here, at start, not at the first
    /// photo. Runs its requests on the current runtime, which the store
    /// keeps for its blocking calls.
    pub async fn connect(url: &str) -> io::Result<S3FileStore> {
        S3FileStore::connect_with(url, AmazonS3Builder::from_env()).await
    }

    /// [`S3FileStore::connect`] configured by `settings` rather than the
    /// environment (tests; the bucket is always that of `url`).
    pub async fn connect_with(url: &str, settings: AmazonS3Builder) -> io::Result<S3FileStore> {
        let (bucket, prefix) = parse_url(url)?;
        let runtime = Handle::current();
        // Blocking threads drive requests with `Handle::block_on`, which on
        // a current-thread runtime would wait for a driver nobody runs.
        if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
            return Err(io::Error::other(
                "the S3 store needs a multi-threaded tokio runtime",
            ));
        }
        // reqwest has no provider of its own here (see the module's doc);
        // an error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = settings
            .with_bucket_name(&bucket)
            // A request that fails is retried a few times, for at most
            // 30 s: a device's upload waits on it.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|error| {
                io::Error::other(format!(
                    "could not configure the S3 bucket {bucket}: {error} (the credentials, region and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL)"
                ))
            })?;
        let store = S3FileStore {
            store: Arc::new(store),
            bucket,
            prefix,
            runtime,
        };
        store
            .store
            .list_with_delimiter(store.prefix.as_ref())
            .await
            .map_err(|error| {
                io::Error::other(format!(
                    "could not reach the S3 bucket {}: {error} (is the bucket there, and do AWS_ENDPOINT_URL and the credentials in the environment point to it?)",
                    store.bucket
                ))
            })?;
        tracing::info!(bucket = %store.bucket, prefix = ?store.prefix.as_ref().map(Path::as_ref), "files are kept in an S3 bucket");
        Ok(store)
    }

    /// Where file `sha256` is kept in the bucket.
    pub fn object(&self, sha256: &str) -> Path {
        match &self.prefix {
            Some(prefix) => prefix.clone().join(sha256),
            None => Path::from(sha256),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Runs `future` to its end from a blocking thread.
    fn wait<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Sends a local file in parts of [`PART_BYTES`], reading one part at
    /// a time; the upload is aborted if anything fails.
    async fn put_in_parts(&self, object: &Path, mut file: File) -> io::Result<()> {
        let upload = self.store.put_multipart(object).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buffer = vec![0u8; 256 * 1024];
        let sent: io::Result<()> = async {
            loop {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    return Ok(());
                }
                writer.write(&buffer[..read]);
            }
        }
        .await;
        match sent {
            Ok(()) => {
                writer.finish().await?;
                Ok(())
            }
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }
}

impl FileStore for S3FileStore {
    fn size(&self, sha256: &str) -> io::Result<Option<u64>> {
        match self.wait(self.store.head(&self.object(sha256))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn keep(&self, sha256: &str, verified: &LocalPath) -> io::Result<()> {
        let object = self.object(sha256);
        let mut file = File::open(verified)?;
        let size = file.metadata()?.len();
        if size <= SINGLE_PUT_BYTES {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes)?;
            // The same bytes from another upload may be there already:
            // the PUT replaces them with identical ones.
            self.wait(self.store.put(&object, PutPayload::from(bytes)))?;
        } else {
            self.wait(self.put_in_parts(&object, file))?;
        }
        // The bucket has confirmed the object: the local copy can go.
        std::fs::remove_file(verified)
    }

    fn open(&self, sha256: &str, size: u64) -> io::Result<Box<dyn Read + Send>> {
        let found = self.wait(self.store.get(&self.object(sha256)))?;
        if found.meta.size != size {
            return Err(io::Error::other(format!(
                "file {sha256} holds {} bytes in the bucket, not the {size} recorded",
                found.meta.size
            )));
        }
        Ok(Box::new(ObjectReader {
            stream: found.into_stream(),
            piece: Bytes::new(),
            runtime: self.runtime.clone(),
        }))
    }
}

/// An object's bytes as they arrive, read from a blocking thread: never
/// the whole file in memory.
struct ObjectReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    piece: Bytes,
    runtime: Handle,
}

impl Read for ObjectReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.piece.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(next) => self.piece = next?,
            }
        }
        let count = buffer.len().min(self.piece.len());
        buffer[..count].copy_from_slice(&self.piece.split_to(count));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_bucket_and_a_prefix() {
        let (bucket, prefix) = parse_url("s3://photos").expect("bucket");
        assert_eq!((bucket.as_str(), prefix), ("photos", None));
        let (bucket, prefix) = parse_url("s3://photos/yunnan/zhaotong/").expect("prefix");
        assert_eq!(bucket, "photos");
        assert_eq!(prefix.as_ref().map(Path::as_ref), Some("yunnan/zhaotong"));
        for wrong in [
            "photos",
            "s3://",
            "s3:///x",
            "s3://a b/x",
            "s3://b/a//c",
            "s3://b/../x",
        ] {
            assert!(parse_url(wrong).is_err(), "{wrong}");
        }
    }
}
