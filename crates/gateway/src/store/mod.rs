//! The gateway's durable store: what the gateway itself must remember across restarts
//! (the identity graph: links between a GHL contact and a Club OS user, suggestions and
//! dismissals; the change log; the synced read model; idempotency keys of mutations, the outbox of upstream
//! writes still owed, and the GHL app's OAuth tokens).
//!
//! One set of queries serves two backends through sqlx's `Any` driver: embedded SQLite,
//! the default, which needs no server, and PostgreSQL, which several gateway replicas can
//! share. The SQL is therefore kept portable: `$1, $2, ...` placeholders, `TEXT` and
//! `BIGINT` columns, timestamps as epoch milliseconds. Each kind of record gets its own
//! submodule with an `impl Store` block (see `links.rs`); this module owns the pool, the
//! migrations and the few places where the backends must differ.

mod api_keys;
mod audit;
mod changes;
mod cursors;
mod drift;
mod idempotency;
mod links;
mod oauth;
mod outbox;
mod records;
mod suggestions;

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::watch;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

pub use api_keys::StoredKey;
pub use audit::{AuditEntry, AuditFilter, AuditedOperation};
pub use changes::{Change, ChangeFilter, ChangeKind, Origin};
pub use cursors::SyncCursor;
pub use drift::{Drift, DriftReport, REPORTED_IDS};
pub use idempotency::Claim;
pub use links::{Link, LinkSource, NewLink};
pub use oauth::GhlOAuthTokens;
pub use outbox::{Leg, LegState, NewLeg, new_id};
pub use records::{NewRecord, ReadSource, RecordKind, RecordRow, RecordSet};
pub use suggestions::{NewSuggestion, QueuePosition, Suggestion};

/// The schema, embedded in the binary so that a deployed gateway never depends on a
/// `migrations/` directory beside it.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db`, `sqlite::memory:`, or `postgres://user@host/db` (when
    /// several gateways share one store). Prefer the environment for a URL with a password.
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://contactgraph.db".into(),
        }
    }
}

/// Each connection of a SQLite file's main pool maps the first 256 MiB of the file into
/// memory, so a read takes pages from the operating system's cache without copying them
/// through a system call each (a synced page reads a few hundred records).
const SQLITE_READ_PRAGMAS: &str = "PRAGMA mmap_size = 268435456";

/// Connections of a SQLite file's main pool. Each maps the file, and RSS counts a mapped
/// page once per mapping: with sqlx's default of ten, the bench's gateway peaked at
/// 254 MiB against 153 with three, at the same speed (each connection is also a driver
/// thread, and on 2 cores more threads only switch more). Three still let a page's
/// queries run side by side; SQLite writes one transaction at a time whatever the count.
const SQLITE_READERS: u32 = 3;

/// The gateway's durable store. Cloning is cheap and shares the connection pool, so every
/// part of the gateway can hold its own handle.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where read-model writes go: on a SQLite file, connections that commit without
    /// waiting for the disk (`synchronous = NORMAL`); elsewhere `pool` itself.
    read_model_pool: AnyPool,
    backend: Backend,
    /// How many transactions that appended to the change log this process committed:
    /// followers of the log wake on it.
    log_commits: Arc<watch::Sender<u64>>,
}

/// Why the store could not do what was asked. Messages never contain the database URL or
/// its password, so they can go to logs and `/readyz` as they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a database this store cannot run on; fixing it is a configuration
    /// change, so it is told apart from a database that is merely down.
    #[error("unsupported database URL scheme `{scheme}` (expected `sqlite:` or `postgres://`)")]
    UnsupportedUrl {
        /// The URL's scheme; the rest of the URL is withheld as it may hold a password.
        scheme: String,
    },
    /// The database could not be opened or reached. The driver's reason is kept as text with
    /// any trace of the URL's password removed, so that it is safe to log.
    #[error("cannot connect to the {backend} database: {reason}")]
    Connect {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// The driver's reason, redacted.
        reason: String,
    },
    /// The schema could not be brought up to date; the gateway must not serve on a schema it
    /// does not know.
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// What sqlx's migrator reported.
        #[source]
        source: MigrateError,
    },
    /// A statement failed; `operation` names the store method, so logs say which data was
    /// affected without quoting the SQL.
    #[error("{backend} store operation `{operation}` failed: {source}")]
    Query {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// The [`Store`] method that failed.
        operation: &'static str,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// A stored row holds a value this version of the gateway does not know (written by a
    /// newer replica, or by hand); it is reported rather than guessed at.
    #[error("the store holds an unknown {field} `{value}`")]
    UnknownValue {
        /// Which column, e.g. `link source`.
        field: &'static str,
        /// The stored text.
        value: String,
    },
    /// The record a write names does not exist (never stored, or already purged), so there
    /// was nothing to update.
    #[error("the store holds no {what} `{id}`")]
    NotFound {
        /// What kind of record, e.g. `outbox leg`.
        what: &'static str,
        /// Its id as the caller gave it.
        id: String,
    },
    /// The call asked for something the store refuses to do whatever the data, e.g. setting
    /// a leg to a state that has a method of its own; a bug in the caller, not an outage.
    #[error("store operation `{operation}` refused: {reason}")]
    InvalidArgument {
        /// The [`Store`] method that refused.
        operation: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Which database a [`Store`] runs on; the few backend-specific choices hang off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connection URL as the store will use it, with what had to be learnt from it.
struct Target {
    backend: Backend,
    /// The URL handed to sqlx (for SQLite files, with `mode=rwc` added when no mode is set).
    url: String,
    /// A private in-memory SQLite database: it lives only as long as its one connection.
    in_memory: bool,
}

impl Target {
    fn parse(url: &str) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(url).map_err(|error| StoreError::Connect {
            backend: "unknown",
            reason: format!("the database URL is not valid: {error}"),
        })?;
        match parsed.scheme() {
            "postgres" | "postgresql" => Ok(Self {
                backend: Backend::Postgres,
                url: url.to_owned(),
                in_memory: false,
            }),
            "sqlite" => Self::sqlite(url),
            other => Err(StoreError::UnsupportedUrl {
                scheme: other.to_owned(),
            }),
        }
    }

    fn sqlite(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
        let mode = url::form_urlencoded::parse(params.as_bytes())
            .find(|(key, _)| key == "mode")
            .map(|(_, value)| value.into_owned());
        let in_memory = database == ":memory:" || mode.as_deref() == Some("memory");
        if !in_memory && database.is_empty() {
            return Err(StoreError::Connect {
                backend: Backend::Sqlite.name(),
                reason: "the sqlite URL names no database file \
                         (use `sqlite::memory:` for a private in-memory database)"
                    .to_owned(),
            });
        }
        let url = if in_memory || mode.is_some() {
            url.to_owned()
        } else {
            let separator = if params.is_empty() && !url.ends_with('?') {
                "?"
            } else if url.ends_with('?') || url.ends_with('&') {
                ""
            } else {
                "&"
            };
            format!("{url}{separator}mode=rwc")
        };
        Ok(Self {
            backend: Backend::Sqlite,
            url,
            in_memory,
        })
    }
}

/// How many ids go into one `IN (...)` list: far below SQLite's and PostgreSQL's limits on
/// bind parameters, and small enough to keep each statement cheap to plan.
const MAX_IDS_PER_QUERY: usize = 500;

/// `count` numbered placeholders from `$from`, comma-separated, for an `IN (...)` list.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Wall-clock milliseconds since the Unix epoch, as the store's timestamps hold them: the
/// store is shared by replicas, so it keeps real time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens the store and brings its schema up to date, so that a gateway that starts is a
    /// gateway that can serve.
    ///
    /// - `sqlite::memory:` is a private in-memory database (demo and tests). sqlx's `Any`
    ///   driver opens each connection as a new in-memory database, so the pool holds exactly
    ///   one connection, never recycled: the data lives as long as the `Store`.
    /// - `sqlite://path/to.db` (or `sqlite:path/to.db`) is a file, created if missing.
    /// - `postgres://...` is a shared server. Its query parameters are sqlx's, e.g.
    ///   `?options=-c%20search_path%3Dmyschema` to keep the tables in one schema.
    ///
    /// Except for in-memory SQLite, one connection is opened first on its own, so that an
    /// unreachable database fails at once with the driver's reason instead of after the
    /// pool's acquire timeout.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        let backend = target.backend;
        let connect_error = |error: sqlx::Error| StoreError::Connect {
            backend: backend.name(),
            reason: redact(&error.to_string(), url),
        };
        let options = AnyConnectOptions::from_str(&target.url).map_err(connect_error)?;

        if !target.in_memory {
            let mut probe = AnyConnection::connect_with(&options)
                .await
                .map_err(connect_error)?;
            if backend == Backend::Sqlite {
                // WAL lets readers run while a write commits. It is a property of the file,
                // so setting it once here covers every later connection.
                probe
                    .execute("PRAGMA journal_mode = WAL")
                    .await
                    .map_err(connect_error)?;
            }
            probe.close().await.map_err(connect_error)?;
        }

        let pool_options = if target.in_memory {
            AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else if backend == Backend::Sqlite {
            AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(SQLITE_READ_PRAGMAS).await?;
                        Ok(())
                    })
                })
        } else {
            AnyPoolOptions::new()
        };
        let pool = pool_options
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        // The read model is a copy of the upstreams: in WAL mode `synchronous = NORMAL`
        // keeps every commit through a crash of the process and may lose the last ones
        // (copies and their change-log entries) only to a power cut; a lost copy is read
        // again when next due. Its writes then stop waiting for an fsync each, which a
        // page read through would otherwise queue on. The outbox, keys, links, audit and
        // cursors keep SQLite's default, `FULL`. SQLite has one writer at a time, so the
        // pool holds one connection: the copies of one request queue for it in order,
        // where two connections would make the second wait out SQLite's busy sleeps
        // (1, 2, 5, 10 ms...).
        let read_model_pool = if backend == Backend::Sqlite && !target.in_memory {
            AnyPoolOptions::new()
                .max_connections(1)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await
                .map_err(connect_error)?
        } else {
            pool.clone()
        };

        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: backend.name(),
                source,
            })?;
        Ok(Self {
            pool,
            read_model_pool,
            backend,
            log_commits: Arc::new(watch::Sender::new(0)),
        })
    }

    /// Which backend this store runs on, `"sqlite"` or `"postgres"`, so that `/readyz` and
    /// logs can say what the gateway depends on without showing the URL.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether the store answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.query_error("ping", e))
    }

    /// Starts a transaction that will write. SQLite takes its write lock up front
    /// (`BEGIN IMMEDIATE`), so that two writers queue on the busy timeout instead of one
    /// failing when it upgrades from reading; PostgreSQL locks rows as it goes.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        Self::begin_on(&self.pool, self.backend).await
    }

    /// [`Store::begin_write`] for the read model's copies of upstream records.
    async fn begin_read_model_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        Self::begin_on(&self.read_model_pool, self.backend).await
    }

    async fn begin_on(
        pool: &AnyPool,
        backend: Backend,
    ) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        }
    }

    /// Commits a transaction that appended to the change log, then tells this process's
    /// followers of the log (see [`Store::log_commits`]).
    async fn commit_logged(&self, tx: Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.log_commits.send_modify(|n| *n += 1);
        Ok(())
    }

    /// How many transactions that appended to the change log this process has committed,
    /// and a way to wait for the next: a follower that has read the log after seeing the
    /// count `n` holds every change those `n` commits made.
    pub fn log_commits(&self) -> watch::Receiver<u64> {
        self.log_commits.subscribe()
    }

    /// The count [`Store::log_commits`] gives, now.
    pub fn logged_commits(&self) -> u64 {
        *self.log_commits.borrow()
    }

    /// Wraps a driver error with the operation that hit it.
    fn query_error(&self, operation: &'static str, source: sqlx::Error) -> StoreError {
        StoreError::Query {
            backend: self.backend.name(),
            operation,
            source,
        }
    }
}

impl fmt::Debug for Store {
    /// Shows the backend and pool size only: the pool's options hold the URL, password
    /// included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// How often a write that loses a race with another writer (see [`is_write_race`]) runs
/// again. Each lost round means some other writer committed, so a handful is plenty.
const RACE_ATTEMPTS: u32 = 8;

impl Store {
    /// Runs the transaction `attempt` makes until it does not lose a race with another
    /// writer (at most [`RACE_ATTEMPTS`] times); other errors end it at once, named by
    /// `operation`. Boxed: the store's futures are awaited deep inside GraphQL resolvers,
    /// and a concrete type here would make theirs deeper still.
    fn retrying_races<'a, T, F, Fut>(
        &'a self,
        operation: &'static str,
        mut attempt: F,
    ) -> futures_util::future::BoxFuture<'a, Result<T, StoreError>>
    where
        T: Send + 'a,
        F: FnMut() -> Fut + Send + 'a,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'a,
    {
        Box::pin(async move {
            let mut round = 1;
            loop {
                match attempt().await {
                    Ok(done) => return Ok(done),
                    Err(error) if round < RACE_ATTEMPTS && is_write_race(&error) => round += 1,
                    Err(error) => return Err(self.query_error(operation, error)),
                }
            }
        })
    }
}

/// Whether a failed write lost a race with a concurrent writer and is worth running again:
/// a unique violation (another transaction inserted the same contact or user between our
/// delete and our insert), a deadlock or a serialization failure.
fn is_write_race(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
        }
        _ => false,
    }
}

/// Removes the URL and its password (raw and percent-decoded) from a driver message.
fn redact(message: &str, url: &str) -> String {
    let mut out = message.replace(url, "<database url>");
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password()
        && !password.is_empty()
    {
        out = out.replace(password, "***");
        let decoded = percent_decode(password);
        if !decoded.is_empty() {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

/// Decodes `%XX` escapes; anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_raw_and_decoded_passwords() {
        let url = "postgres://u:p%40ss@h/db";
        assert_eq!(redact("x p%40ss y p@ss z", url), "x *** y *** z");
        assert_eq!(redact(&format!("at {url}"), url), "at <database url>");
    }

    #[test]
    fn sqlite_files_are_created_when_missing_and_memory_is_recognised() {
        let file = Target::sqlite("sqlite://data/cg.db").unwrap();
        assert_eq!(file.url, "sqlite://data/cg.db?mode=rwc");
        assert!(!file.in_memory);
        let with_param = Target::sqlite("sqlite:cg.db?cache=private").unwrap();
        assert_eq!(with_param.url, "sqlite:cg.db?cache=private&mode=rwc");
        let read_only = Target::sqlite("sqlite:cg.db?mode=ro").unwrap();
        assert_eq!(read_only.url, "sqlite:cg.db?mode=ro");
        assert!(Target::sqlite("sqlite::memory:").unwrap().in_memory);
        assert!(Target::sqlite("sqlite://?mode=memory").unwrap().in_memory);
        assert!(Target::sqlite("sqlite://").is_err());
    }

    #[tokio::test]
    async fn on_a_sqlite_file_only_the_read_model_commits_without_waiting_for_the_disk() {
        let dir =
            std::env::temp_dir().join(format!("contactgraph-sync-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.join("cg.db").display()))
            .await
            .unwrap();
        let synchronous = |pool: &AnyPool| {
            let pool = pool.clone();
            async move {
                let row = sqlx::query("PRAGMA synchronous")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
            }
        };
        assert_eq!(
            synchronous(&store.pool).await,
            2,
            "FULL for the outbox and links"
        );
        assert_eq!(
            synchronous(&store.read_model_pool).await,
            1,
            "NORMAL for copies"
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
