//! The database: one writer connection, a pool of readers, embedded
//! migrations, and the only place that knows it is SQLite.
//!
//! Every write goes through the single writer in a `BEGIN IMMEDIATE`
//! transaction: SQLite allows one writer at a time anyway, and taking the
//! write lock up front means a transaction never has to upgrade from read to
//! write (the upgrade is what deadlocks and answers SQLITE_BUSY at once).
//! `synchronous = FULL` makes an answered write survive a power cut.

pub mod schema;

use crate::error::{AppError, AppResult};
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Conn = SqliteConnection;

#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<SqliteConnection>>,
    readers: Pool<ConnectionManager<SqliteConnection>>,
    url: Arc<str>,
    busy_timeout_ms: u32,
}

#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u32,
    read_only: bool,
}

impl Pragmas {
    fn apply(&self, conn: &mut SqliteConnection) -> QueryResult<()> {
        // A page cache of 64 MiB for the writer (8 MiB per reader) keeps hot
        // index pages in memory as the database grows, with a bounded
        // footprint (no mmap: its resident pages would grow with the file).
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
             PRAGMA query_only = {}; PRAGMA cache_size = {}; PRAGMA temp_store = MEMORY;",
            self.busy_timeout_ms,
            if self.read_only { "ON" } else { "OFF" },
            if self.read_only { -8192 } else { -65536 },
        ))
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Db {
    /// Opens (creating if needed) the database file, switches it to WAL and
    /// runs the embedded migrations.
    pub fn open(path: &Path, read_pool: u32, busy_timeout_ms: u32) -> anyhow::Result<Db> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let url = path
            .to_str()
            .with_context(|| format!("database path {} is not UTF-8", path.display()))?
            .to_string();
        let mut writer = open_writer(&url, busy_timeout_ms)?;
        writer
            .batch_execute("PRAGMA journal_mode = WAL;")
            .with_context(|| format!("cannot switch {url} to WAL"))?;
        writer
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating {url} failed: {e}"))?;

        let readers = Pool::builder()
            .max_size(read_pool.max(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas {
                busy_timeout_ms,
                read_only: true,
            }))
            .build(ConnectionManager::<SqliteConnection>::new(url.clone()))
            .context("cannot open the read pool")?;
        Ok(Db {
            writer: Arc::new(Mutex::new(writer)),
            readers,
            url: url.into(),
            busy_timeout_ms,
        })
    }

    /// Runs `f` in one read transaction, off the async executor: all it
    /// reads comes from one snapshot of the database, whatever commits
    /// meanwhile.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.read_blocking(f)).await?
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer, off the
    /// async executor. An error rolls everything back.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.write_blocking(f)).await?
    }

    pub fn read_blocking<T>(&self, f: impl FnOnce(&mut Conn) -> AppResult<T>) -> AppResult<T> {
        let mut conn = self.readers.get()?;
        // In WAL mode the first read of a transaction fixes its snapshot.
        let conn: &mut Conn = &mut conn;
        conn.transaction(f)
    }

    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut Conn) -> AppResult<T>) -> AppResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match panic::catch_unwind(AssertUnwindSafe(|| conn.immediate_transaction(f))) {
            Ok(r) => r,
            Err(cause) => {
                // Diesel does not roll back when the closure unwinds: the
                // connection is left inside the transaction. Closing it
                // rolls the transaction back; a fresh one takes its place.
                let what = cause
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| cause.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "a write transaction panicked; rolled back");
                match open_writer(&self.url, self.busy_timeout_ms) {
                    Ok(fresh) => *conn = fresh,
                    Err(e) => {
                        // Keep the old connection but leave its transaction.
                        tracing::error!(error = %e, "cannot reopen the writer");
                        let _ = conn.batch_execute("ROLLBACK;");
                    }
                }
                Err(AppError::internal(format!("a write failed: {what}")))
            }
        }
    }

    /// `/readyz`: both kinds of connection answer.
    pub fn check(&self) -> AppResult<()> {
        self.read_blocking(|c| {
            c.batch_execute("SELECT 1;")?;
            Ok(())
        })?;
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.batch_execute("SELECT 1;").map_err(AppError::from)
    }
}

/// The writer connection, configured. The busy timeout first: another
/// process (a backup, `user create`, a server still shutting down) may
/// hold a lock for a moment.
fn open_writer(url: &str, busy_timeout_ms: u32) -> anyhow::Result<SqliteConnection> {
    let mut writer =
        SqliteConnection::establish(url).with_context(|| format!("cannot open database {url}"))?;
    Pragmas {
        busy_timeout_ms,
        read_only: false,
    }
    .apply(&mut writer)
    .with_context(|| format!("cannot configure {url}"))?;
    Ok(writer)
}

impl Db {
    /// A consistent copy of the live database (`VACUUM INTO`), safe while
    /// the server writes.
    pub fn backup(&self, to: &Path) -> AppResult<()> {
        if to.exists() {
            return Err(AppError::conflict(
                "exists",
                format!("{} already exists", to.display()),
            ));
        }
        let path = to
            .to_str()
            .ok_or_else(|| AppError::invalid("to", "path is not UTF-8"))?
            .replace('\'', "''");
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.batch_execute(&format!("VACUUM INTO '{path}';"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_go_down_and_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 1, 1000).unwrap();
        let mut w = db.writer.lock().unwrap();
        w.revert_all_migrations(MIGRATIONS).unwrap();
        assert!(!w.run_pending_migrations(MIGRATIONS).unwrap().is_empty());
        let mode: Vec<String> = diesel::sql_query("PRAGMA journal_mode")
            .load::<JournalMode>(&mut *w)
            .unwrap()
            .into_iter()
            .map(|m| m.journal_mode)
            .collect();
        assert_eq!(mode, vec!["wal".to_string()]);
    }

    #[derive(QueryableByName)]
    struct JournalMode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }

    #[test]
    fn a_panic_inside_a_write_rolls_back_and_the_writer_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 1, 1000).unwrap();
        db.write_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?))
            .unwrap();
        let r: AppResult<()> = db.write_blocking(|c| {
            c.batch_execute("INSERT INTO x VALUES (1);")?;
            panic!("a bug in the middle of a write");
        });
        assert!(r.is_err());
        db.write_blocking(|c| Ok(c.batch_execute("INSERT INTO x VALUES (2);")?))
            .unwrap();
        let rows: Vec<i64> = db
            .read_blocking(|c| {
                Ok(diesel::sql_query("SELECT y AS v FROM x")
                    .load::<V>(c)?
                    .into_iter()
                    .map(|r| r.v)
                    .collect())
            })
            .unwrap();
        assert_eq!(rows, vec![2], "the panicked write left nothing behind");
    }

    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        v: i64,
    }

    #[test]
    fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 1, 1000).unwrap();
        let r = db.read_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?));
        assert!(r.is_err());
        db.write_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?))
            .unwrap();
    }
}
