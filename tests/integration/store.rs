//! The durable store: every property runs with the same body on in-memory SQLite,
//! file-backed SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL`; without it those variants say so
//! on stderr and pass. Each PostgreSQL test gets a schema of its own (random name, reached
//! through the connection's `search_path`), dropped at the end even when the test fails, so
//! parallel tests and reruns never see each other's rows.

use contactgraph::store::{Link, LinkSource, NewLink, Store, StoreError};

use crate::harness::*;

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        links_read_back_from_either_side_in_one_batch,
        relinking_a_contact_to_another_user_replaces_the_old_link,
        linking_a_user_linked_elsewhere_moves_the_link,
        storing_the_same_link_again_keeps_one_link,
        removing_by_either_side_reports_whether_a_link_existed,
        lookups_of_1200_ids_return_every_link_once,
        concurrent_writes_keep_links_one_to_one,
    ]
);

on_backends!(
    sqlite_file_reconnect => on_sqlite_file,
    postgres_reconnect => on_postgres;
    [reconnecting_reruns_migrations_and_keeps_links]
);

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// The links as `(contact, user, source)`, sorted, to compare without timestamps.
fn pairs(mut links: Vec<Link>) -> Vec<(String, i64, LinkSource)> {
    links.sort_by(|a, b| a.ghl_contact_id.cmp(&b.ghl_contact_id));
    links
        .into_iter()
        .map(|l| (l.ghl_contact_id, l.clubos_user_id, l.source))
        .collect()
}

fn pair(ghl: &str, user: i64, source: LinkSource) -> (String, i64, LinkSource) {
    (ghl.to_owned(), user, source)
}

async fn links_read_back_from_either_side_in_one_batch(db: TestDb) {
    let store = db.connect().await;
    let before_ms = now_ms();
    store
        .put_link(&NewLink::new("g-1", 101, LinkSource::Email))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-2", 102, LinkSource::Phone))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-3", 103, LinkSource::CustomField))
        .await
        .unwrap();

    let by_ghl = store
        .links_by_ghl(&ids(&["g-1", "unknown", "g-3", "g-2", "also-unknown"]))
        .await
        .unwrap();
    assert!(
        by_ghl
            .iter()
            .all(|l| l.updated_at_ms >= before_ms && l.updated_at_ms <= now_ms())
    );
    assert_eq!(
        pairs(by_ghl),
        vec![
            pair("g-1", 101, LinkSource::Email),
            pair("g-2", 102, LinkSource::Phone),
            pair("g-3", 103, LinkSource::CustomField),
        ]
    );

    let by_clubos = store.links_by_clubos(&[103, 999, 101]).await.unwrap();
    assert_eq!(
        pairs(by_clubos),
        vec![
            pair("g-1", 101, LinkSource::Email),
            pair("g-3", 103, LinkSource::CustomField),
        ]
    );

    assert!(store.links_by_ghl(&[]).await.unwrap().is_empty());
    assert!(store.links_by_clubos(&[]).await.unwrap().is_empty());
    assert!(
        store
            .links_by_ghl(&ids(&["nobody"]))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn relinking_a_contact_to_another_user_replaces_the_old_link(db: TestDb) {
    let store = db.connect().await;
    store
        .put_link(&NewLink::new("g-1", 1, LinkSource::Email))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-1", 2, LinkSource::Manual))
        .await
        .unwrap();

    assert_eq!(
        pairs(store.links_by_ghl(&ids(&["g-1"])).await.unwrap()),
        vec![pair("g-1", 2, LinkSource::Manual)]
    );
    assert!(store.links_by_clubos(&[1]).await.unwrap().is_empty());
    assert_eq!(
        pairs(store.links_by_clubos(&[1, 2]).await.unwrap()),
        vec![pair("g-1", 2, LinkSource::Manual)]
    );
}

async fn linking_a_user_linked_elsewhere_moves_the_link(db: TestDb) {
    let store = db.connect().await;
    store
        .put_link(&NewLink::new("g-old", 7, LinkSource::Phone))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-other", 8, LinkSource::Email))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-new", 7, LinkSource::Manual))
        .await
        .unwrap();

    assert!(
        store
            .links_by_ghl(&ids(&["g-old"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        pairs(store.links_by_clubos(&[7, 8]).await.unwrap()),
        vec![
            pair("g-new", 7, LinkSource::Manual),
            pair("g-other", 8, LinkSource::Email),
        ]
    );

    // Both sides at once: g-new (linked to 7) takes 8 (linked to g-other); both old links go.
    store
        .put_link(&NewLink::new("g-new", 8, LinkSource::Created))
        .await
        .unwrap();
    assert_eq!(
        pairs(
            store
                .links_by_ghl(&ids(&["g-old", "g-other", "g-new"]))
                .await
                .unwrap()
        ),
        vec![pair("g-new", 8, LinkSource::Created)]
    );
    assert!(store.links_by_clubos(&[7]).await.unwrap().is_empty());
}

async fn storing_the_same_link_again_keeps_one_link(db: TestDb) {
    let store = db.connect().await;
    for _ in 0..3 {
        store
            .put_link(&NewLink::new("g-1", 5, LinkSource::Email))
            .await
            .unwrap();
    }
    assert_eq!(
        pairs(store.links_by_ghl(&ids(&["g-1"])).await.unwrap()),
        vec![pair("g-1", 5, LinkSource::Email)]
    );
    assert_eq!(store.links_by_clubos(&[5]).await.unwrap().len(), 1);

    // Storing it again with another source keeps the pair and records the new reason.
    store
        .put_link(&NewLink::new("g-1", 5, LinkSource::Manual))
        .await
        .unwrap();
    assert_eq!(
        pairs(store.links_by_clubos(&[5]).await.unwrap()),
        vec![pair("g-1", 5, LinkSource::Manual)]
    );
}

async fn removing_by_either_side_reports_whether_a_link_existed(db: TestDb) {
    let store = db.connect().await;
    store
        .put_link(&NewLink::new("g-1", 1, LinkSource::Email))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-2", 2, LinkSource::Phone))
        .await
        .unwrap();

    assert!(store.remove_link_by_ghl("g-1").await.unwrap());
    assert!(!store.remove_link_by_ghl("g-1").await.unwrap());
    assert!(store.links_by_clubos(&[1]).await.unwrap().is_empty());

    assert!(store.remove_link_by_clubos(2).await.unwrap());
    assert!(!store.remove_link_by_clubos(2).await.unwrap());
    assert!(store.links_by_ghl(&ids(&["g-2"])).await.unwrap().is_empty());

    assert!(!store.remove_link_by_ghl("never-linked").await.unwrap());
    assert!(!store.remove_link_by_clubos(404).await.unwrap());
}

async fn lookups_of_1200_ids_return_every_link_once(db: TestDb) {
    let store = db.connect().await;
    // Links on both sides of each 500-id chunk boundary.
    let linked = [0, 1, 498, 499, 500, 501, 999, 1000, 1001, 1199];
    for n in linked {
        store
            .put_link(&NewLink::new(
                &format!("g-{n}"),
                10_000 + n,
                LinkSource::Email,
            ))
            .await
            .unwrap();
    }

    let mut ghl_ids: Vec<String> = (0..1200).map(|n| format!("g-{n}")).collect();
    ghl_ids.extend(ids(&["g-0", "g-1199"])); // repeats in a later chunk
    let mut by_ghl: Vec<i64> = store
        .links_by_ghl(&ghl_ids)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.clubos_user_id - 10_000)
        .collect();
    by_ghl.sort_unstable();
    assert_eq!(by_ghl, linked);

    let mut user_ids: Vec<i64> = (10_000..11_200).collect();
    user_ids.push(10_000);
    let mut by_clubos: Vec<i64> = store
        .links_by_clubos(&user_ids)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.clubos_user_id - 10_000)
        .collect();
    by_clubos.sort_unstable();
    assert_eq!(by_clubos, linked);
}

async fn concurrent_writes_keep_links_one_to_one(db: TestDb) {
    let store = db.connect().await;
    const WRITERS: i64 = 6;

    // Many users for one contact, then many contacts for one user, each batch at once.
    let writes = (0..WRITERS).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_link(&NewLink::new("g-race", 100 + n, LinkSource::Email))
                .await
        })
    });
    for write in futures_util::future::join_all(writes).await {
        write.unwrap().expect("a racing put_link succeeds");
    }
    let users: Vec<i64> = (100..100 + WRITERS).collect();
    let links = store.links_by_clubos(&users).await.unwrap();
    assert_eq!(links.len(), 1, "one contact keeps one user: {links:?}");
    assert_eq!(links[0].ghl_contact_id, "g-race");

    let writes = (0..WRITERS).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_link(&NewLink::new(
                    &format!("g-race-{n}"),
                    500,
                    LinkSource::Phone,
                ))
                .await
        })
    });
    for write in futures_util::future::join_all(writes).await {
        write.unwrap().expect("a racing put_link succeeds");
    }
    let contacts: Vec<String> = (0..WRITERS).map(|n| format!("g-race-{n}")).collect();
    let links = store.links_by_ghl(&contacts).await.unwrap();
    assert_eq!(links.len(), 1, "one user keeps one contact: {links:?}");
    assert_eq!(links[0].clubos_user_id, 500);
}

async fn reconnecting_reruns_migrations_and_keeps_links(db: TestDb) {
    let first = db.connect().await;
    first
        .put_link(&NewLink::new("g-1", 1, LinkSource::Manual))
        .await
        .unwrap();
    drop(first);

    // The second connect finds the schema already migrated.
    let second = db.connect().await;
    assert_eq!(
        pairs(second.links_by_ghl(&ids(&["g-1"])).await.unwrap()),
        vec![pair("g-1", 1, LinkSource::Manual)]
    );
    second
        .put_link(&NewLink::new("g-2", 2, LinkSource::Email))
        .await
        .unwrap();

    // A store open at the same time sees the same rows.
    let third = db.connect().await;
    assert_eq!(third.links_by_clubos(&[1, 2]).await.unwrap().len(), 2);
}

#[tokio::test]
async fn connect_errors_never_show_the_password() {
    let url = "postgres://user:s3cr3t-pw@127.0.0.1:1/db";
    let error = Store::connect(url)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        matches!(
            error,
            StoreError::Connect {
                backend: "postgres",
                ..
            }
        ),
        "{error:?}"
    );
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        texts.push(cause.to_string());
        texts.push(format!("{cause:?}"));
        source = cause.source();
    }
    for text in texts {
        assert!(!text.contains("s3cr3t-pw"), "password shown in {text:?}");
        assert!(!text.contains(url), "URL shown in {text:?}");
    }
}

#[tokio::test]
async fn store_debug_never_shows_the_password() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(format!("{store:?}").contains("sqlite"));
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL is not set")]
async fn postgres_store_debug_never_shows_the_password() {
    // With trust authentication the server ignores the password, so it can be made up.
    on_postgres(|db| async move {
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_password(Some("s3cr3t-pw")).unwrap();
        let store = Store::connect(url.as_str()).await.unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("postgres"), "{debug}");
        assert!(!debug.contains("s3cr3t-pw"), "password shown in {debug}");
    })
    .await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_scheme() {
    let error = Store::connect("mysql://root:s3cr3t-pw@127.0.0.1/db")
        .await
        .expect_err("mysql is not a store backend");
    assert!(
        matches!(&error, StoreError::UnsupportedUrl { scheme } if scheme == "mysql"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("s3cr3t-pw"));

    let missing_dir = std::env::temp_dir()
        .join(format!(
            "contactgraph-missing-{:016x}",
            rand::random::<u64>()
        ))
        .join("store.db");
    let error = Store::connect(&format!("sqlite://{}", missing_dir.display()))
        .await
        .expect_err("the directory does not exist");
    assert!(
        matches!(
            error,
            StoreError::Connect {
                backend: "sqlite",
                ..
            }
        ),
        "{error:?}"
    );
}

fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(elapsed.as_millis()).unwrap()
}
