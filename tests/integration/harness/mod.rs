//! The store tests' harness: every property runs with the same body on in-memory SQLite,
//! file-backed SQLite and PostgreSQL (from `TEST_POSTGRES_URL`; without it those variants
//! are ignored, in the runner's count), each PostgreSQL test in a schema of its own.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

pub mod gateway;
pub mod oauth;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use contactgraph::store::Store;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

/// A database for one test: its URL and the backend `Store::backend` must report.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
}

impl TestDb {
    pub async fn connect(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to the test {} database: {e}", self.backend));
        assert_eq!(store.backend(), self.backend);
        store
    }
}

/// Runs `body` to its end, then `cleanup`, then fails if `body` did.
pub async fn run_then_clean<F, C>(body: F, cleanup: C)
where
    F: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let outcome = tokio::spawn(body).await;
    cleanup.await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

pub async fn on_sqlite_memory<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    body(TestDb {
        url: "sqlite::memory:".to_owned(),
        backend: "sqlite",
    })
    .await;
}

/// A path under the temp directory that no other test or run uses.
pub fn unique_temp_db() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "contactgraph-store-writes-{}-{:016x}-{}.db",
        std::process::id(),
        rand::random::<u64>(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

pub async fn on_sqlite_file<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let path = unique_temp_db();
    let db = TestDb {
        url: format!("sqlite://{}", path.display()),
        backend: "sqlite",
    };
    run_then_clean(body(db), async {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    })
    .await;
}

pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Without the variable the PostgreSQL tests are compiled as ignored (build.rs), so
    // reaching here without it is a mismatch between build and run, not a skip.
    let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_ENV} was set when the tests were built but is not set now")
    });
    let schema = format!("contactgraph_test_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connect to {POSTGRES_ENV}: {e}"));
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create the test schema");
    let db = TestDb {
        url: with_search_path(&base, &schema),
        backend: "postgres",
    };
    run_then_clean(body(db), async {
        admin
            .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .expect("drop the test schema");
        let _ = admin.close().await;
    })
    .await;
}

/// The base URL with every connection's `search_path` set to `schema`.
pub fn with_search_path(base: &str, schema: &str) -> String {
    let mut url = url::Url::parse(base).expect("the Postgres test URL parses");
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    url.into()
}

/// Declares each listed `async fn(TestDb)` as one test per backend, in modules named after
/// the backend.
#[macro_export]
macro_rules! on_backends {
    ($($backend:ident => $runner:ident),+ ; $tests:tt) => {
        $( on_backends!(@one $backend => $runner; $tests); )+
    };
    (@one $backend:ident => on_postgres; [$($test:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL is not set")]
                async fn $test() {
                    super::on_postgres(super::$test).await;
                }
            )+
        }
    };
    (@one $backend:ident => $runner:ident; [$($test:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$runner(super::$test).await;
                }
            )+
        }
    };
}
