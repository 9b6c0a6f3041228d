//! The two backends behind one connection type: which one a URL names, how
//! each connection is set up, how each kind of transaction begins, and the
//! migrations of each. Everything that differs between SQLite and
//! PostgreSQL is here or in `db/mod.rs`.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::{Path, PathBuf};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written with Diesel's DSL run on
/// both; code that needs one dialect matches on it (in `db/` only).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The database a URL names: `postgres://…` / `postgresql://…` or a libpq
/// key/value string (`host=db dbname=fieldsync`) is PostgreSQL; a path or
/// `sqlite://path` is a SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Never prints a PostgreSQL password (a `Setup` or a `Target` in a log).
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Target::Postgres(_) => f.debug_tuple("Postgres").field(&self.describe()).finish(),
        }
    }
}

/// libpq's connection keywords: a string of `keyword=value` pairs that
/// starts with one of them is a PostgreSQL conninfo, never a file name.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "service",
    "sslmode",
    "application_name",
    "connect_timeout",
    "options",
    "target_session_attrs",
];

fn is_conninfo(s: &str) -> bool {
    let s = s.trim_start();
    s.split_once('=')
        .is_some_and(|(k, _)| LIBPQ_KEYWORDS.contains(&k.trim()))
}

impl Target {
    pub fn parse(url: Option<&str>, data_dir: &Path) -> Target {
        match url {
            Some(u)
                if u.starts_with("postgres://")
                    || u.starts_with("postgresql://")
                    || is_conninfo(u) =>
            {
                Target::Postgres(u.to_string())
            }
            Some(u) => Target::Sqlite(PathBuf::from(u.strip_prefix("sqlite://").unwrap_or(u))),
            None => Target::Sqlite(data_dir.join("fieldsync.db")),
        }
    }

    /// For logs and messages: a PostgreSQL password is never shown.
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(p) => p.display().to_string(),
            Target::Postgres(u) => redact(u),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Target::Postgres(_))
    }
}

/// Hides every password a PostgreSQL connection string can carry: the
/// URL's `user:secret@`, its `?password=` (or `&password=`) parameter, and
/// a key/value string's `password=secret` or `password = 'se cret'`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (rest, None),
        };
        let main = match main.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => main.to_string(),
            },
            None => main.to_string(),
        };
        let query = query.map(|q| {
            q.split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&")
        });
        return match query {
            Some(q) => format!("{scheme}://{main}?{q}"),
            None => format!("{scheme}://{main}"),
        };
    }
    redact_conninfo(url)
}

/// `host=db password='a b' user=x` → `host=db password=*** user=x`
/// (libpq's syntax: spaces around `=`, single quotes, backslash escapes).
fn redact_conninfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        // Whitespace between pairs.
        while let Some(c) = chars.peek().copied().filter(|c| c.is_whitespace()) {
            out.push(c);
            chars.next();
        }
        let mut key = String::new();
        while let Some(c) = chars
            .peek()
            .copied()
            .filter(|c| *c != '=' && !c.is_whitespace())
        {
            key.push(c);
            chars.next();
        }
        out.push_str(&key);
        while let Some(c) = chars.peek().copied().filter(|c| c.is_whitespace()) {
            out.push(c);
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            continue;
        }
        out.push('=');
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
            value = format!("'{value}'");
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| !c.is_whitespace()) {
                value.push(c);
                chars.next();
            }
        }
        if key.eq_ignore_ascii_case("password") {
            out.push_str("***");
        } else {
            out.push_str(&value);
        }
    }
    out
}

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Writer,
    Reader,
}

/// Settings of a connection, applied when it is opened.
#[derive(Clone, Debug)]
pub struct Setup {
    pub target: Target,
    pub busy_timeout_ms: u32,
}

impl Setup {
    pub fn connect(&self, role: Role) -> ConnectionResult<DbConn> {
        let mut conn = match &self.target {
            Target::Sqlite(path) => {
                let url = path.to_str().ok_or_else(|| {
                    ConnectionError::InvalidConnectionUrl(format!(
                        "database path {} is not UTF-8",
                        path.display()
                    ))
                })?;
                DbConn::Sqlite(diesel::SqliteConnection::establish(url)?)
            }
            Target::Postgres(url) => DbConn::Pg(diesel::PgConnection::establish(url)?),
        };
        self.configure(&mut conn, role)
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    }

    fn configure(&self, conn: &mut DbConn, role: Role) -> QueryResult<()> {
        let read_only = role == Role::Reader;
        match conn {
            // The busy timeout first: another process (a backup, `user
            // create`, a server still shutting down) may hold a lock for a
            // moment. A page cache of 64 MiB for the writer (8 MiB per
            // reader) keeps hot index pages in memory as the database
            // grows, with a bounded footprint (no mmap: its resident pages
            // would grow with the file). `synchronous = FULL` makes an
            // answered write survive a power cut.
            DbConn::Sqlite(c) => c.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
                 PRAGMA query_only = {}; PRAGMA cache_size = {}; PRAGMA temp_store = MEMORY;",
                self.busy_timeout_ms,
                if read_only { "ON" } else { "OFF" },
                if read_only { -8192 } else { -65536 },
            )),
            // Times are stored without a zone and meant as UTC; a lock
            // waited on longer than the busy timeout fails the statement
            // (answered 503, retried by the phone) instead of hanging.
            DbConn::Pg(c) => c.batch_execute(&format!(
                "SET TIME ZONE 'UTC'; SET lock_timeout = {}; \
                 SET default_transaction_read_only = {};",
                self.busy_timeout_ms.max(1),
                if read_only { "on" } else { "off" },
            )),
        }
    }

    /// Brings the schema up to date. On PostgreSQL several servers may
    /// start at once: a session lock lets one migrate while the others wait.
    pub fn migrate(&self, conn: &mut DbConn) -> anyhow::Result<()> {
        let describe = self.target.describe();
        let err = |e: Box<dyn std::error::Error + Send + Sync>| {
            anyhow::anyhow!("migrating {describe} failed: {e}")
        };
        match conn {
            DbConn::Sqlite(c) => {
                c.batch_execute("PRAGMA journal_mode = WAL;")?;
                c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(err)?;
            }
            DbConn::Pg(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK});"))?;
                let r = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop);
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK});"))?;
                r.map_err(err)?;
            }
        }
        Ok(())
    }
}

/// PostgreSQL advisory lock keys (any two numbers no other program on the
/// database uses). `WRITE_LOCK`: held by every write transaction of every
/// server from its start to its end.
const WRITE_LOCK: i64 = 0x6669_656c_6473;
const MIGRATION_LOCK: i64 = 0x6669_656c_646d;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One snapshot for everything read, whatever commits meanwhile.
    Read,
    /// The only kind that writes; one at a time on the whole database.
    Write,
}

/// Begins a transaction of `kind`.
///
/// Writes: SQLite's `BEGIN IMMEDIATE` takes the write lock up front, so a
/// transaction never has to upgrade from read to write (the upgrade is
/// what deadlocks and answers SQLITE_BUSY at once). On PostgreSQL every
/// write transaction first takes one advisory lock, held to its end: write
/// transactions of all servers run one after another, like SQLite's, so
/// (a) the change log's sequence numbers are handed out in commit order and
/// a pull never skips a change committed late under a lower number, and
/// (b) the read-merge-write of a record sees the latest committed version
/// at READ COMMITTED, as it does on SQLite. See docs/DECISIONS.md.
///
/// Reads: SQLite in WAL mode fixes the snapshot at the first read; on
/// PostgreSQL a REPEATABLE READ transaction does.
pub fn begin(conn: &mut DbConn, kind: Kind) -> QueryResult<()> {
    match (conn, kind) {
        (DbConn::Sqlite(c), Kind::Write) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        (DbConn::Sqlite(c), Kind::Read) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")
        }
        (DbConn::Pg(c), Kind::Write) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN READ WRITE")?;
            let locked = c.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK});"));
            if locked.is_err() {
                // Not taken in time (`lock_timeout`): the transaction is
                // over before it began.
                let _ = AnsiTransactionManager::rollback_transaction(c);
            }
            locked
        }
        (DbConn::Pg(c), Kind::Read) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ),
    }
}

/// Runs `f` in a transaction of `kind`: committed if it returns `Ok`,
/// rolled back if it returns `Err` (or the commit fails).
pub fn in_transaction<T, E>(
    conn: &mut DbConn,
    kind: Kind,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    begin(conn, kind)?;
    match f(conn) {
        Ok(v) => match <DbConn as TransactionManager<DbConn>>::commit_transaction(conn) {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// The pool's connections, made by [`Setup::connect`].
#[derive(Debug)]
pub struct Manager {
    pub setup: Setup,
    pub role: Role,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        self.setup
            .connect(self.role)
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend_and_passwords_are_not_shown() {
        let dir = Path::new("/data");
        assert_eq!(
            Target::parse(None, dir),
            Target::Sqlite("/data/fieldsync.db".into())
        );
        assert_eq!(
            Target::parse(Some("sqlite:///x/y.db"), dir),
            Target::Sqlite("/x/y.db".into())
        );
        assert_eq!(
            Target::parse(Some("rel.db"), dir),
            Target::Sqlite("rel.db".into())
        );
        let pg = Target::parse(Some("postgres://fs:s3cret@db:5432/fieldsync"), dir);
        assert!(pg.is_postgres());
        assert_eq!(pg.describe(), "postgres://fs:***@db:5432/fieldsync");
        assert!(Target::parse(Some("postgresql://db/fieldsync"), dir).is_postgres());
        // A password in the query or in a key/value string is hidden too,
        // and a key/value string is never a SQLite file name.
        let q = Target::parse(
            Some("postgres://db/fs?user=fs&password=s3cret&sslmode=require"),
            dir,
        );
        assert_eq!(
            q.describe(),
            "postgres://db/fs?user=fs&password=***&sslmode=require"
        );
        let kv = Target::parse(Some("host=db dbname=fs user=fs password=s3cret"), dir);
        assert!(kv.is_postgres());
        assert_eq!(kv.describe(), "host=db dbname=fs user=fs password=***");
        let quoted = Target::parse(Some("password = 'se cr\\'et' host=db"), dir);
        assert!(quoted.is_postgres());
        assert_eq!(quoted.describe(), "password =*** host=db");
        assert!(!format!("{quoted:?}").contains("cr"));
        assert!(!format!("{kv:?}").contains("s3cret"));
        assert_eq!(
            Target::parse(Some("postgresql://db/fieldsync"), dir).describe(),
            "postgresql://db/fieldsync"
        );
    }
}
