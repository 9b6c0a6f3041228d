//! The database: one writer connection, a pool of readers, embedded
//! migrations. SQLite (the embedded default) or PostgreSQL (several
//! servers), chosen by the URL; what differs between them is in `conn.rs`.
//!
//! Every write goes through the single writer of this process in a write
//! transaction (`conn::begin`: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
//! cluster-wide write lock), so write transactions never interleave.
//!
//! Group commit: the writer is a thread with a queue. Writes that arrive
//! while a commit is in flight share the next transaction, each in a
//! savepoint of its own (one that fails rolls back alone), and the group
//! pays for one fsync. No write is answered before the commit that holds it
//! is durable: each gets its result only after the group's COMMIT.
//!
//! (Over 600 lines with its tests; the code is about 450. The tests of the
//! writer and its migrations sit beside them.)

mod conn;
/// The backend of boxed queries over either database.
pub use conn::MultiBackend;
pub mod schema;

pub use conn::{DbConn, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, Target};

use crate::error::{AppError, AppResult, ErrorCode};
use anyhow::Context;
use conn::{Kind, Manager, Role, Setup, in_transaction};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

pub type Conn = DbConn;

/// Runs a statement on the connection's own backend, not through
/// `MultiConnection`'s translation (which writes the statement's SQL and
/// binds again on every run, cached or not): for the statements a push
/// runs per record. The same Diesel statement, written once.
pub fn execute<Q>(c: &mut DbConn, q: Q) -> QueryResult<usize>
where
    Q: diesel::query_dsl::methods::ExecuteDsl<diesel::SqliteConnection>
        + diesel::query_dsl::methods::ExecuteDsl<diesel::PgConnection>,
{
    use diesel::query_dsl::methods::ExecuteDsl;
    match c {
        DbConn::Sqlite(s) => ExecuteDsl::<diesel::SqliteConnection>::execute(q, s),
        DbConn::Pg(p) => ExecuteDsl::<diesel::PgConnection>::execute(q, p),
    }
}

/// Begins a write transaction on a connection of one's own, as the writer
/// does: it holds the database's write lock until it ends (tools; tests
/// that play another process holding it).
pub fn begin_write(c: &mut DbConn) -> QueryResult<()> {
    conn::begin(c, Kind::Write)
}

/// Most writes one commit takes: a bound on how long the last of them
/// waits for the others.
pub const MAX_GROUP: usize = 64;
/// Writes that may wait for the writer before new ones are refused with
/// 503 (memory stays bounded under any flood).
pub const MAX_QUEUE: i64 = 10_000;

/// What the writer reports to `/metrics`.
#[derive(Clone, Debug)]
pub struct WriterStats {
    /// Writes waiting for the writer.
    pub queued: Gauge,
    /// Writes per commit.
    pub group_size: Histogram,
    /// Commits (groups) made.
    pub commits: Counter,
    /// Seconds a read waited for a pooled connection (a timeout counts
    /// with the time it waited).
    pub pool_wait: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            queued: Gauge::default(),
            group_size: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            commits: Counter::default(),
            pool_wait: Histogram::new(exponential_buckets(0.0001, 4.0, 9)),
        }
    }
}

/// A write for the writer thread. `Grouped` runs inside the group's
/// transaction (in its own savepoint) and answers how it went once the
/// group's fate is known; `Alone` runs outside any transaction (VACUUM).
enum Job {
    Grouped(GroupedJob),
    Alone(AloneJob),
}

type GroupedJob = Box<dyn FnOnce(&mut Conn) -> Ran + Send>;
type AloneJob = Box<dyn FnOnce(&mut Conn) + Send>;
/// Sends a grouped write's answer, given the commit's outcome.
type Finish = Box<dyn FnOnce(Option<&AppError>) + Send>;

/// A grouped write that has run: it sends its answer when told whether the
/// commit held (`None`) or failed (`Some`). `poisoned`: it panicked, the
/// connection can no longer be trusted.
struct Ran {
    finish: Finish,
    poisoned: bool,
}

#[derive(Clone)]
pub struct Db {
    jobs: mpsc::Sender<Job>,
    readers: Pool<Manager>,
    stats: WriterStats,
    target: Target,
}

/// Feeds the read pool's checkout waits to `/metrics`.
#[derive(Debug)]
struct PoolWaits(Histogram);

impl diesel::r2d2::HandleEvent for PoolWaits {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        self.0.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: diesel::r2d2::event::TimeoutEvent) {
        self.0.observe(event.timeout().as_secs_f64());
    }
}

fn panic_text(cause: &(dyn std::any::Any + Send)) -> String {
    cause
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The writer thread: takes what is queued (up to `MAX_GROUP`), runs it in
/// one transaction, commits once, then answers each.
fn writer_loop(mut conn: DbConn, rx: mpsc::Receiver<Job>, setup: Setup, stats: WriterStats) {
    while let Ok(first) = rx.recv() {
        stats.queued.dec();
        let mut group: Vec<GroupedJob> = Vec::new();
        let mut alone: Option<AloneJob> = None;
        match first {
            Job::Grouped(f) => group.push(f),
            Job::Alone(f) => alone = Some(f),
        }
        while alone.is_none() && group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Job::Grouped(f)) => {
                    stats.queued.dec();
                    group.push(f);
                }
                Ok(Job::Alone(f)) => {
                    stats.queued.dec();
                    alone = Some(f);
                }
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            stats.group_size.observe(group.len() as f64);
            let mut ran: Vec<Finish> = Vec::new();
            let mut poisoned = false;
            let outcome = in_transaction(&mut conn, Kind::Write, |c| {
                for f in group {
                    let r = f(c);
                    ran.push(r.finish);
                    if r.poisoned {
                        poisoned = true;
                        return Err(AppError::internal("a write in this group panicked"));
                    }
                }
                Ok(())
            });
            stats.commits.inc();
            if poisoned {
                // Diesel does not unwind its transaction state after a panic:
                // closing the connection rolls back, a fresh one takes over.
                // The others of the group were rolled back with it and are
                // told to retry.
                match setup.connect(Role::Writer) {
                    Ok(fresh) => conn = fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reopen the writer");
                        let _ = conn.batch_execute("ROLLBACK;");
                    }
                }
                let retry = AppError::unavailable(
                    "the write was rolled back with another that failed; retry",
                );
                for finish in ran {
                    finish(Some(&retry));
                }
            } else {
                let failed = outcome.err();
                for finish in ran {
                    finish(failed.as_ref());
                }
                if failed.is_some() && conn.batch_execute("SELECT 1;").is_err() {
                    // The connection itself is gone (PostgreSQL restarted,
                    // a network cut): a new one takes over, and the writes
                    // that failed with it are retried by their phones.
                    match setup.connect(Role::Writer) {
                        Ok(fresh) => conn = fresh,
                        Err(e) => tracing::error!(error = %e, "cannot reopen the writer"),
                    }
                }
            }
        }
        if let Some(f) = alone {
            f(&mut conn);
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database, switches a SQLite file to
    /// WAL and runs the embedded migrations of its backend.
    pub fn open(target: &Target, read_pool: u32, busy_timeout_ms: u32) -> anyhow::Result<Db> {
        if let Target::Sqlite(path) = target
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let setup = Setup {
            target: target.clone(),
            busy_timeout_ms,
        };
        let describe = target.describe();
        let mut writer = setup
            .connect(Role::Writer)
            .with_context(|| format!("cannot open database {describe}"))?;
        setup.migrate(&mut writer)?;

        let stats = WriterStats::default();
        let readers = Pool::builder()
            .max_size(read_pool.max(1))
            .connection_timeout(Duration::from_secs(10))
            .event_handler(Box::new(PoolWaits(stats.pool_wait.clone())))
            .build(Manager {
                setup: setup.clone(),
                role: Role::Reader,
            })
            .context("cannot open the read pool")?;
        let (tx, rx) = mpsc::channel();
        let s = stats.clone();
        std::thread::Builder::new()
            .name("fieldsync-writer".into())
            .spawn(move || writer_loop(writer, rx, setup, s))
            .context("cannot start the writer thread")?;
        Ok(Db {
            jobs: tx,
            readers,
            stats,
            target: target.clone(),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether other servers may be using this database (PostgreSQL) or it
    /// is this server's alone (a SQLite file).
    pub fn shared(&self) -> bool {
        self.target.is_postgres()
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
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
        // The request's span goes along, so what is logged there carries
        // its request id.
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _in = span.enter();
            let started = std::time::Instant::now();
            let r = db.read_blocking(f);
            tracing::debug!(
                ms = started.elapsed().as_secs_f64() * 1000.0,
                ok = r.is_ok(),
                "database read"
            );
            r
        })
        .await?
    }

    /// Runs `f` on the writer, in a savepoint of the next commit, and
    /// answers once that commit is durable. An error rolls back `f`'s
    /// writes only.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.unwrap_or_else(|_| {
            Err(AppError::unavailable(
                "the database could not take the write (busy or stopping); retry",
            ))
        })
    }

    pub fn read_blocking<T>(&self, f: impl FnOnce(&mut Conn) -> AppResult<T>) -> AppResult<T> {
        let mut conn = self.readers.get()?;
        in_transaction(&mut conn, Kind::Read, f)
    }

    /// [`Db::write`] for a thread that may block (start-up, the CLI, jobs).
    pub fn write_blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().unwrap_or_else(|_| {
            Err(AppError::unavailable(
                "the database could not take the write (busy or stopping); retry",
            ))
        })
    }

    fn submit<T, F>(&self, f: F, reply: impl FnOnce(AppResult<T>) + Send + 'static) -> AppResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    {
        if self.stats.queued.get() >= MAX_QUEUE {
            return Err(AppError::unavailable(
                "too many writes are waiting; retry shortly",
            ));
        }
        let span = tracing::Span::current();
        let queued_at = std::time::Instant::now();
        let job = Job::Grouped(Box::new(move |c: &mut Conn| {
            let _in = span.enter();
            let started = std::time::Instant::now();
            // Its own savepoint: an error here rolls back this write only.
            let result = panic::catch_unwind(AssertUnwindSafe(|| c.transaction(f)));
            tracing::debug!(
                waited_ms = (started - queued_at).as_secs_f64() * 1000.0,
                ms = started.elapsed().as_secs_f64() * 1000.0,
                ok = matches!(result, Ok(Ok(_))),
                "database write"
            );
            match result {
                Ok(r) => Ran {
                    finish: Box::new(move |commit: Option<&AppError>| {
                        reply(match (r, commit) {
                            (Ok(v), None) => Ok(v),
                            (Ok(_), Some(e)) => Err(e.clone()),
                            (Err(e), _) => Err(e),
                        })
                    }),
                    poisoned: false,
                },
                Err(cause) => {
                    let what = panic_text(&*cause);
                    tracing::error!(panic = %what, "a write transaction panicked; rolled back");
                    Ran {
                        finish: Box::new(move |_| {
                            reply(Err(AppError::internal(format!("a write failed: {what}"))))
                        }),
                        poisoned: true,
                    }
                }
            }
        }));
        self.stats.queued.inc();
        self.jobs.send(job).map_err(|_| {
            self.stats.queued.dec();
            AppError::unavailable("the writer stopped; retry")
        })
    }

    /// Runs `f` on the writer outside any transaction, alone.
    fn alone<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.stats.queued.inc();
        self.jobs
            .send(Job::Alone(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .map_err(|_| {
                self.stats.queued.dec();
                AppError::unavailable("the writer stopped; retry")
            })?;
        rx.recv()
            .unwrap_or_else(|_| Err(AppError::unavailable("the writer stopped; retry")))
    }

    /// `/readyz`: both kinds of connection answer.
    pub fn check(&self) -> AppResult<()> {
        self.read_blocking(|c| {
            c.batch_execute("SELECT 1;")?;
            Ok(())
        })?;
        self.alone(|w| w.batch_execute("SELECT 1;").map_err(AppError::from))
    }
}

impl Db {
    /// A consistent copy of the live database (`VACUUM INTO`), safe while
    /// the server writes.
    pub fn backup(&self, to: &Path) -> AppResult<()> {
        if to.exists() {
            return Err(AppError::conflict(
                ErrorCode::Exists,
                format!("{} already exists", to.display()),
            ));
        }
        let path = to
            .to_str()
            .ok_or_else(|| AppError::invalid("to", "path is not UTF-8"))?
            .replace('\'', "''");
        self.alone(move |w| match w {
            DbConn::Sqlite(w) => Ok(w.batch_execute(&format!("VACUUM INTO '{path}';"))?),
            DbConn::Pg(_) => Err(AppError::invalid(
                "to",
                "the database is PostgreSQL: back it up with pg_dump",
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_go_down_and_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Db::open(&Target::Sqlite(path.clone()), 1, 1000).unwrap());
        let mut w = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        // The writer thread of the dropped Db closes its connection soon.
        w.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
        use diesel_migrations::MigrationHarness;
        w.revert_all_migrations(conn::SQLITE_MIGRATIONS).unwrap();
        assert!(
            !w.run_pending_migrations(conn::SQLITE_MIGRATIONS)
                .unwrap()
                .is_empty()
        );
        let mode: Vec<String> = diesel::sql_query("PRAGMA journal_mode")
            .load::<JournalMode>(&mut w)
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
        let db = Db::open(&Target::Sqlite(dir.path().join("t.db")), 1, 1000).unwrap();
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

    fn count(db: &Db) -> Vec<i64> {
        db.read_blocking(|c| {
            Ok(diesel::sql_query("SELECT y AS v FROM x ORDER BY y")
                .load::<V>(c)?
                .into_iter()
                .map(|r| r.v)
                .collect())
        })
        .unwrap()
    }

    /// A write that holds the writer for `ms` (inserting `y`), once it has
    /// begun: what others queue behind.
    fn hold_writer(db: &Db, ms: u64, y: i64) -> std::thread::JoinHandle<AppResult<()>> {
        let (started_tx, started_rx) = mpsc::channel();
        let db = db.clone();
        let slow = std::thread::spawn(move || {
            db.write_blocking(move |c| {
                started_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(ms));
                Ok(c.batch_execute(&format!("INSERT INTO x VALUES ({y});"))?)
            })
        });
        started_rx.recv().unwrap();
        slow
    }

    /// Writes that arrive while one is in flight share the next commit;
    /// one that fails rolls back alone; one that panics takes its group
    /// down (told to retry) and the writer goes on.
    #[test]
    fn concurrent_writes_share_a_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Target::Sqlite(dir.path().join("t.db")), 1, 1000).unwrap();
        db.write_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?))
            .unwrap();
        let before = db.stats().commits.get();
        // A slow write holds the writer while twenty queue up behind it.
        let slow = hold_writer(&db, 300, 0);
        let writers: Vec<_> = (1..=20)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    db.write_blocking(move |c| {
                        c.batch_execute(&format!("INSERT INTO x VALUES ({i});"))?;
                        if i == 7 {
                            return Err(AppError::invalid("y", "seven is refused"));
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        // Let them all queue before the slow one commits.
        while db.stats().queued.get() < 20 {
            std::thread::sleep(Duration::from_millis(5));
        }
        slow.join().unwrap().unwrap();
        let results: Vec<AppResult<()>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(results[6].is_err());
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 19);
        assert_eq!(
            db.stats().commits.get() - before,
            2,
            "the twenty shared one commit"
        );
        let mut want: Vec<i64> = (0..=20).filter(|i| *i != 7).collect();
        assert_eq!(count(&db), want);

        // A panic: its group is rolled back and told to retry.
        let slow = hold_writer(&db, 200, 100);
        let ok = {
            let db = db.clone();
            std::thread::spawn(move || {
                db.write_blocking(|c| Ok(c.batch_execute("INSERT INTO x VALUES (101);")?))
            })
        };
        while db.stats().queued.get() < 1 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let bad = {
            let db = db.clone();
            std::thread::spawn(move || {
                db.write_blocking(|c| -> AppResult<()> {
                    c.batch_execute("INSERT INTO x VALUES (102);")?;
                    panic!("a bug");
                })
            })
        };
        while db.stats().queued.get() < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        slow.join().unwrap().unwrap();
        let ok = ok.join().unwrap();
        let bad = bad.join().unwrap();
        assert_eq!(bad.unwrap_err().status.as_u16(), 500);
        assert_eq!(
            ok.unwrap_err().status.as_u16(),
            503,
            "rolled back with the panic: retry"
        );
        want.push(100);
        assert_eq!(count(&db), want);
        db.write_blocking(|c| Ok(c.batch_execute("INSERT INTO x VALUES (103);")?))
            .unwrap();
        want.push(103);
        assert_eq!(count(&db), want, "the writer goes on");
    }

    #[test]
    fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Target::Sqlite(dir.path().join("t.db")), 1, 1000).unwrap();
        let r = db.read_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?));
        assert!(r.is_err());
        db.write_blocking(|c| Ok(c.batch_execute("CREATE TABLE x (y INTEGER);")?))
            .unwrap();
    }
}
