//! Content-addressed blob storage. Bytes are written to a temporary file,
//! fsynced and renamed into place, so a crash never leaves a half photo
//! under a real name; one copy however many records point at the same
//! bytes. Behind a trait so an object store can take its place.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub trait BlobStore: Send + Sync {
    /// Moves a complete, fsynced temporary file into place under `key`
    /// (a no-op when `key` already exists: content addressing).
    fn put_file(&self, key: &str, tmp: &Path) -> io::Result<()>;
    fn read(&self, key: &str) -> io::Result<Vec<u8>>;
    /// The blob opened for reading in pieces (served with `Range`, never
    /// read whole into memory), with its path.
    fn open(&self, key: &str) -> io::Result<(File, PathBuf)>;
    fn exists(&self, key: &str) -> bool;
    /// A new temporary file on the same file system.
    fn temp(&self) -> io::Result<(PathBuf, File)>;

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        if self.exists(key) {
            return Ok(());
        }
        let (path, mut f) = self.temp()?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        let r = self.put_file(key, &path);
        let _ = std::fs::remove_file(&path);
        r
    }
}

pub fn original_key(sha: &str) -> String {
    format!("originals/{}/{sha}", &sha[..2.min(sha.len())])
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
        if key
            .split('/')
            .any(|p| p.is_empty() || p == ".." || p == ".")
        {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
        }
        Ok(self.root.join(key))
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

    fn open(&self, key: &str) -> io::Result<(File, PathBuf)> {
        let path = self.path(key)?;
        Ok((File::open(&path)?, path))
    }

    fn exists(&self, key: &str) -> bool {
        self.path(key).map(|p| p.exists()).unwrap_or(false)
    }

    fn temp(&self) -> io::Result<(PathBuf, File)> {
        let path = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let f = File::options().write(true).create_new(true).open(&path)?;
        Ok((path, f))
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
        assert!(!s.exists(&key));
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
