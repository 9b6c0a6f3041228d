//! Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph, moto),
//! through the `object_store` crate: what several servers share.
//!
//! `object_store` is async; the blob store's callers are blocking threads
//! (the blocking pool, photo workers). A small runtime of the store's own
//! runs its requests, so none of them ever waits on the web executor.
//! Bytes stream both ways: a file is stored in one PUT up to
//! [`SINGLE_PUT`] bytes and in a multipart upload of pieces beyond it;
//! serving streams the object (or a range of it) in the pieces it arrives in.

use super::blob::{BlobStore, ByteStream, Opened, checked};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files up to this size go up in one PUT (held in memory for it); larger
/// ones in a multipart upload of pieces this size, two in flight.
const SINGLE_PUT: u64 = 8 << 20;

pub struct S3Store {
    store: Arc<AmazonS3>,
    prefix: String,
    runtime: Runtime,
    staging: PathBuf,
    describe: String,
}

/// The store's runtime. Dropped in the background: the last reference to
/// the store may go away on an executor thread, where a runtime may not
/// block to shut down.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn other(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl S3Store {
    /// `bucket` and `prefix` from the blob URL; credentials and region from
    /// the usual `AWS_*` variables; `endpoint` for an S3-compatible server
    /// (path-style requests, plain HTTP allowed when it says `http://`).
    /// `staging`: a local directory for bytes on their way in.
    pub fn new(
        bucket: &str,
        prefix: &str,
        endpoint: Option<&str>,
        staging: PathBuf,
    ) -> anyhow::Result<S3Store> {
        // A few quick retries, not the crate's ten over three minutes: a
        // request waits on a blocking thread, and a phone retries anyway.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(15),
            ..Default::default()
        };
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry);
        if let Some(e) = endpoint.filter(|e| !e.is_empty()) {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = Arc::new(b.build()?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fieldsync-s3")
            .enable_all()
            .build()?;
        std::fs::create_dir_all(&staging)?;
        for entry in std::fs::read_dir(&staging)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(S3Store {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            runtime: Runtime(Some(runtime)),
            staging,
            describe: format!(
                "s3://{bucket}/{prefix}{}",
                endpoint.map(|e| format!(" at {e}")).unwrap_or_default()
            ),
        })
    }

    fn path(&self, key: &str) -> io::Result<ObjectPath> {
        let key = checked(key)?;
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        })
    }

    fn rt(&self) -> io::Result<&tokio::runtime::Runtime> {
        self.runtime
            .0
            .as_ref()
            .ok_or_else(|| io::Error::other("the object store is shut down"))
    }

    fn block_on<T>(&self, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        self.rt()?.block_on(f)
    }
}

impl BlobStore for S3Store {
    fn put_file(&self, key: &str, tmp: &Path) -> io::Result<()> {
        if self.exists(key)? {
            return Ok(());
        }
        let path = self.path(key)?;
        let mut file = File::open(tmp)?;
        let size = file.metadata()?.len();
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            if size <= SINGLE_PUT {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes)?;
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(other)?;
                return Ok(());
            }
            let upload = store.put_multipart(&path).await.map_err(other)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, SINGLE_PUT as usize);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(2).await.map_err(other)?;
                w.write(&buf[..n]);
            }
            w.finish().await.map_err(other)?;
            Ok(())
        })
    }

    fn read(&self, key: &str) -> io::Result<Vec<u8>> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            let got = store.get(&path).await.map_err(other)?;
            Ok(got.bytes().await.map_err(other)?.to_vec())
        })
    }

    fn open(&self, key: &str) -> io::Result<Opened> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        let meta = self.block_on(async move { store.head(&path).await.map_err(other) })?;
        Ok(Opened::Remote { size: meta.size })
    }

    fn stream(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        // The request runs on the store's runtime; its pieces come to the
        // web executor through a small channel (at most four in memory).
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<actix_web::web::Bytes>>(4);
        self.rt()?.spawn(async move {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..Default::default()
            };
            match store.get_opts(&path, opts).await {
                Ok(got) => {
                    let mut pieces = got.into_stream();
                    while let Some(piece) = pieces.next().await {
                        let failed = piece.is_err();
                        if tx.send(piece.map_err(other)).await.is_err() || failed {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(other(e))).await;
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|piece| (piece, rx))
        })))
    }

    fn copy_to(&self, key: &str, out: &mut File) -> io::Result<u64> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            let mut pieces = store.get(&path).await.map_err(other)?.into_stream();
            let mut n = 0u64;
            while let Some(piece) = pieces.next().await {
                let piece = piece.map_err(other)?;
                out.write_all(&piece)?;
                n += piece.len() as u64;
            }
            Ok(n)
        })
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(other(e)),
            }
        })
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        let path = self.path(key)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(other(e)),
            }
        })
    }

    fn delete_dir(&self, prefix: &str) -> io::Result<()> {
        let path = self.path(prefix)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            let mut listed = store.list(Some(&path));
            while let Some(meta) = listed.next().await {
                match store.delete(&meta.map_err(other)?.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(other(e)),
                }
            }
            Ok(())
        })
    }

    fn list_dir(&self, prefix: &str) -> io::Result<Vec<String>> {
        let path = self.path(prefix)?;
        let store = Arc::clone(&self.store);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        self.block_on(async move {
            let mut out = Vec::new();
            let mut listed = store.list(Some(&path));
            while let Some(meta) = listed.next().await {
                let key = meta.map_err(other)?.location.to_string();
                out.push(key.strip_prefix(&strip).unwrap_or(&key).to_string());
            }
            Ok(out)
        })
    }

    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>> {
        let path = self.path(prefix)?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            let listed = store
                .list_with_delimiter(Some(&path))
                .await
                .map_err(other)?;
            Ok(listed
                .common_prefixes
                .iter()
                .chain(listed.objects.iter().map(|o| &o.location))
                .filter_map(|p| p.filename().map(str::to_string))
                .collect())
        })
    }

    fn sweep_temp(&self, age: std::time::Duration) -> io::Result<u64> {
        super::blob::sweep_older(&self.staging, age)
    }

    fn temp(&self) -> io::Result<(PathBuf, File)> {
        let path = self.staging.join(uuid::Uuid::new_v4().to_string());
        let f = File::options().write(true).create_new(true).open(&path)?;
        Ok((path, f))
    }

    fn check(&self) -> io::Result<()> {
        let path = self.path(&format!("readyz/{}", uuid::Uuid::new_v4()))?;
        let store = Arc::clone(&self.store);
        self.block_on(async move {
            store
                .put(&path, PutPayload::from_static(b"ok"))
                .await
                .map_err(other)?;
            let back = store.get(&path).await.map_err(other)?.bytes().await;
            let _ = store.delete(&path).await;
            if back.map_err(other)?.as_ref() != b"ok" {
                return Err(io::Error::other("the object store gave back other bytes"));
            }
            Ok(())
        })?;
        // Bytes on their way in are staged on the local disk.
        let probe = self.staging.join(".readyz");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(&probe)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
