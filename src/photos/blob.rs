//! Content-addressed blob storage, behind one trait with two homes: files
//! under a directory (the embedded default) and an S3-compatible object
//! store (`s3.rs`, several servers). Bytes are staged in a local temporary
//! file and only then stored under their real name, in one step (a rename;
//! a single or multipart PUT), so a crash never leaves half a photo under a
//! real name; one copy however many records point at the same bytes.
//! Every method blocks: call them off the async executor.

use actix_web::web::Bytes;
use futures_util::stream::BoxStream;
use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A blob's bytes on their way out, in pieces.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A blob opened for serving.
pub enum Opened {
    /// A local file: served in pieces with `Range` by actix-files.
    File(File, PathBuf),
    /// A remote object of this size: served with [`BlobStore::stream`].
    Remote { size: u64 },
}

pub trait BlobStore: Send + Sync {
    /// Stores a complete, fsynced local file under `key`; a no-op when
    /// `key` already exists (content addressing). The file may be moved
    /// (the caller removes it if it is still there).
    fn put_file(&self, key: &str, tmp: &Path) -> io::Result<()>;
    /// The whole blob (a photo to decode, which is decoded whole anyway).
    fn read(&self, key: &str) -> io::Result<Vec<u8>>;
    /// The blob for serving, never read whole into memory.
    fn open(&self, key: &str) -> io::Result<Opened>;
    /// `range` of a blob that [`BlobStore::open`] answered `Remote`.
    fn stream(&self, key: &str, range: Range<u64>) -> io::Result<ByteStream>;
    /// Appends the blob to `out`, in pieces; returns how many bytes.
    fn copy_to(&self, key: &str, out: &mut File) -> io::Result<u64>;
    fn exists(&self, key: &str) -> io::Result<bool>;
    /// Removes every blob whose key starts with `prefix` + `/`.
    fn delete_dir(&self, prefix: &str) -> io::Result<()>;
    /// Removes one blob; one already gone is no error.
    fn delete(&self, key: &str) -> io::Result<()>;
    /// The keys that start with `prefix` + `/`, in no order.
    fn list_dir(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// The names one level below `prefix` (the upload ids under `uploads`):
    /// on S3 one listing by delimiter, not every part of every upload.
    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Removes staged files older than `age` (left by a request or a server
    /// that died mid-way); returns how many went.
    fn sweep_temp(&self, age: std::time::Duration) -> io::Result<u64>;
    /// A new local temporary file to stage bytes in.
    fn temp(&self) -> io::Result<(PathBuf, File)>;
    /// `/readyz`: a probe written, read back and removed.
    fn check(&self) -> io::Result<()>;
    /// For logs: where the blobs are.
    fn describe(&self) -> String;

    /// [`BlobStore::put_file`] of bytes in memory (a no-op when `key`
    /// exists: `put_file` asks, once).
    fn put_bytes(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let (path, mut f) = self.temp()?;
        let r = f
            .write_all(bytes)
            .and_then(|_| f.sync_all())
            .and_then(|_| self.put_file(key, &path));
        let _ = std::fs::remove_file(&path);
        r
    }
}

/// Where blobs live, from `FIELDSYNC_BLOB_URL`: `file://<dir>` (default:
/// `<data dir>/blobs`) or `s3://<bucket>/<prefix>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobTarget {
    Dir(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl BlobTarget {
    pub fn parse(url: Option<&str>, data_dir: &Path) -> Result<BlobTarget, String> {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            return Ok(BlobTarget::Dir(data_dir.join("blobs")));
        };
        if let Some(dir) = url.strip_prefix("file://") {
            return Ok(BlobTarget::Dir(PathBuf::from(dir)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{url}: no bucket"));
            }
            return Ok(BlobTarget::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        Err(format!(
            "{url}: a blob URL is file://<dir> or s3://<bucket>/<prefix>"
        ))
    }
}

/// Checks a key's shape: no empty, `.` or `..` parts (a key names a file
/// under the root, never one outside it).
pub fn checked(key: &str) -> io::Result<&str> {
    if key
        .split('/')
        .any(|p| p.is_empty() || p == ".." || p == ".")
    {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
    }
    Ok(key)
}

/// Removes the files of `dir` last written more than `age` ago; returns
/// how many. A file being written is younger than any sensible `age`.
pub fn sweep_older(dir: &Path, age: std::time::Duration) -> io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        r => r?,
    };
    let mut gone = 0;
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|d| d > age);
        if old && e.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(e.path()).is_ok()
        {
            gone += 1;
        }
    }
    Ok(gone)
}

pub fn original_key(sha: &str) -> String {
    format!("originals/{}/{sha}", &sha[..2.min(sha.len())])
}

/// Whether both variants of `sha` are stored.
pub fn have_variants(store: &dyn BlobStore, sha: &str) -> io::Result<bool> {
    for v in ["thumb", "display"] {
        if !store.exists(&variant_key(sha, v))? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn variant_key(sha: &str, variant: &str) -> String {
    format!("variants/{}/{sha}.{variant}.jpg", &sha[..2.min(sha.len())])
}

/// Blobs as files under a directory.
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub fn new(root: impl Into<PathBuf>) -> io::Result<FsStore> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        // Temporary files of a crashed run are garbage.
        for entry in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(FsStore { root })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(checked(key)?))
    }
}

impl BlobStore for FsStore {
    fn put_file(&self, key: &str, tmp: &Path) -> io::Result<()> {
        let dest = self.path(key)?;
        if dest.exists() {
            return Ok(());
        }
        let dir = dest
            .parent()
            .ok_or_else(|| io::Error::other("blob without a directory"))?;
        std::fs::create_dir_all(dir)?;
        File::open(tmp)?.sync_all()?;
        std::fs::rename(tmp, &dest)?;
        // The rename itself must survive a power cut too.
        File::open(dir)?.sync_all()
    }

    fn read(&self, key: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(key)?)
    }

    fn open(&self, key: &str) -> io::Result<Opened> {
        let path = self.path(key)?;
        Ok(Opened::File(File::open(&path)?, path))
    }

    fn stream(&self, _key: &str, _range: Range<u64>) -> io::Result<ByteStream> {
        Err(io::Error::other("local blobs are served as files"))
    }

    fn copy_to(&self, key: &str, out: &mut File) -> io::Result<u64> {
        io::copy(&mut File::open(self.path(key)?)?, out)
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        self.path(key)?.try_exists()
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    fn delete_dir(&self, prefix: &str) -> io::Result<()> {
        match std::fs::remove_dir_all(self.path(prefix)?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    fn list_dir(&self, prefix: &str) -> io::Result<Vec<String>> {
        fn walk(dir: &Path, key: &str, out: &mut Vec<String>) -> io::Result<()> {
            let entries = match std::fs::read_dir(dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                r => r?,
            };
            for e in entries {
                let e = e?;
                let k = format!("{key}/{}", e.file_name().to_string_lossy());
                if e.file_type()?.is_dir() {
                    walk(&e.path(), &k, out)?;
                } else {
                    out.push(k);
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.path(prefix)?, prefix, &mut out)?;
        Ok(out)
    }

    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.path(prefix)?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r?,
        };
        let mut out = Vec::new();
        for e in entries {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn sweep_temp(&self, age: std::time::Duration) -> io::Result<u64> {
        sweep_older(&self.root.join("tmp"), age)
    }

    fn temp(&self) -> io::Result<(PathBuf, File)> {
        let path = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let f = File::options().write(true).create_new(true).open(&path)?;
        Ok((path, f))
    }

    fn check(&self) -> io::Result<()> {
        let probe = self.root.join("tmp").join(".readyz");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(&probe)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_atomic_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::new(dir.path()).unwrap();
        let key = original_key("abcdef");
        assert!(!s.exists(&key).unwrap());
        s.put_bytes(&key, b"one").unwrap();
        s.put_bytes(&key, b"two").unwrap();
        assert_eq!(s.read(&key).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert!(s.read("../etc/passwd").is_err());
    }
}
