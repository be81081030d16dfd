//! The identity graph in the store, on every backend: the change log's numbering, links
//! keeping when they were first confirmed, the review queue of suggestions with its
//! dismissals, and the sync engine's cursors.

use contactgraph::store::{
    ChangeKind, LinkSource, NewLink, NewSuggestion, Origin, QueuePosition, Store,
};

use crate::harness::*;

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        every_link_change_is_logged_once_in_order,
        a_link_stored_again_keeps_when_it_was_first_confirmed,
        concurrent_changes_get_distinct_gapless_numbers,
        the_queue_pages_likeliest_first_and_skips_linked_and_dismissed_pairs,
        storing_a_link_resolves_the_suggestions_of_either_record,
        a_sync_cursor_moves_on_success_and_keeps_its_place_on_failure,
        a_link_the_sweep_confirmed_never_displaces_or_rewrites_another,
    ]
);

fn suggestion(ghl: &str, user: i64, score: i64) -> NewSuggestion {
    NewSuggestion {
        ghl_contact_id: ghl.to_owned(),
        clubos_user_id: user,
        rule: LinkSource::Email,
        evidence: format!("email shared by {ghl} and {user}"),
        score,
    }
}

async fn kinds(store: &Store) -> Vec<(ChangeKind, Option<String>, Option<i64>)> {
    store
        .changes_after(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.ghl_contact_id, c.clubos_user_id))
        .collect()
}

async fn every_link_change_is_logged_once_in_order(db: TestDb) {
    let store = db.connect().await;
    store
        .put_link(&NewLink::new("g-1", 1, LinkSource::Email))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-1", 1, LinkSource::Manual))
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("g-1", 2, LinkSource::Manual))
        .await
        .unwrap();
    assert!(store.remove_link_by_ghl("g-1").await.unwrap());
    assert!(!store.remove_link_by_ghl("g-1").await.unwrap());

    let g = Some("g-1".to_owned());
    assert_eq!(
        kinds(&store).await,
        [
            (ChangeKind::LinkStored, g.clone(), Some(1)),
            (ChangeKind::LinkRemoved, g.clone(), Some(1)),
            (ChangeKind::LinkStored, g.clone(), Some(2)),
            (ChangeKind::LinkRemoved, g, Some(2)),
        ],
        "storing the same pair again changes nothing the log must tell"
    );
    let log = store.changes_after(0, 1_000).await.unwrap();
    assert_eq!(log.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(store.changes_after(2, 1_000).await.unwrap()[0].seq, 3);
    assert!(
        log.iter()
            .all(|c| c.origin == Origin::Write && c.fields == ["clubOsUserId"])
    );
}

async fn a_link_stored_again_keeps_when_it_was_first_confirmed(db: TestDb) {
    let store = db.connect().await;
    let mut link = NewLink::new("g-1", 7, LinkSource::Email);
    link.confirmed_by = Origin::Sync;
    link.evidence = Some("ann@example.com".into());
    store.put_link(&link).await.unwrap();
    let first = store.all_links().await.unwrap().remove(0);
    assert_eq!(first.confirmed_by, Origin::Sync);
    assert_eq!(first.evidence.as_deref(), Some("ann@example.com"));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    store
        .put_link(&NewLink::new("g-1", 7, LinkSource::Manual))
        .await
        .unwrap();
    let again = store.all_links().await.unwrap().remove(0);
    assert_eq!(again.source, LinkSource::Manual);
    assert_eq!(again.confirmed_by, Origin::Write);
    assert_eq!(again.linked_at_ms, first.linked_at_ms);
    assert!(again.updated_at_ms > first.updated_at_ms);
}

async fn concurrent_changes_get_distinct_gapless_numbers(db: TestDb) {
    const WRITERS: i64 = 24;
    let store = db.connect().await;
    let writes = (0..WRITERS).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_link(&NewLink::new(&format!("g-{n}"), 100 + n, LinkSource::Email))
                .await
        })
    });
    for write in futures_util::future::join_all(writes).await {
        write.unwrap().expect("a racing put_link succeeds");
    }
    let seqs: Vec<i64> = store
        .changes_after(0, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, (1..=WRITERS).collect::<Vec<_>>());
}

async fn the_queue_pages_likeliest_first_and_skips_linked_and_dismissed_pairs(db: TestDb) {
    let store = db.connect().await;
    store
        .put_link(&NewLink::new("g-linked", 9, LinkSource::Manual))
        .await
        .unwrap();
    let found = [
        suggestion("g-a", 1, 60),
        suggestion("g-a", 2, 85),
        suggestion("g-b", 1, 60),
        suggestion("g-linked", 3, 99),
        suggestion("g-c", 9, 99),
    ];
    assert_eq!(store.replace_suggestions(&found).await.unwrap(), 3);
    assert_eq!(store.suggestion_count().await.unwrap(), 3);

    let first = store.suggestions(None, 2).await.unwrap();
    let pairs = |v: &[contactgraph::store::Suggestion]| {
        v.iter()
            .map(|s| (s.ghl_contact_id.clone(), s.clubos_user_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&first), [("g-a".into(), 2), ("g-a".into(), 1)]);
    let last = &first[1];
    let after = QueuePosition {
        score: last.score,
        ghl_contact_id: last.ghl_contact_id.clone(),
        clubos_user_id: last.clubos_user_id,
    };
    let rest = store.suggestions(Some(&after), 2).await.unwrap();
    assert_eq!(pairs(&rest), [("g-b".into(), 1)]);

    assert!(store.dismiss_suggestion("g-a", 1).await.unwrap());
    assert!(
        store.dismiss_suggestion("g-a", 1).await.unwrap(),
        "again is harmless"
    );
    assert!(!store.dismiss_suggestion("g-x", 1).await.unwrap());
    // The next sweep finds the same pairs, and one fewer: `g-b` no longer shares.
    assert_eq!(store.replace_suggestions(&found[..2]).await.unwrap(), 1);
    let held = store.suggestions(None, 10).await.unwrap();
    assert_eq!(pairs(&held), [("g-a".into(), 2)]);
    assert_eq!(held[0].score, 85);

    let log = kinds(&store).await;
    let count = |k| log.iter().filter(|(kind, ..)| *kind == k).count();
    assert_eq!(count(ChangeKind::SuggestionAdded), 3);
    assert_eq!(count(ChangeKind::SuggestionDismissed), 1);
}

async fn storing_a_link_resolves_the_suggestions_of_either_record(db: TestDb) {
    let store = db.connect().await;
    let found = [
        suggestion("g-a", 1, 70),
        suggestion("g-a", 2, 70),
        suggestion("g-b", 2, 70),
        suggestion("g-c", 3, 70),
    ];
    store.replace_suggestions(&found).await.unwrap();
    store
        .put_link(&NewLink::new("g-a", 2, LinkSource::Manual))
        .await
        .unwrap();
    let held = store.suggestions(None, 10).await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].ghl_contact_id, "g-c");
}

async fn a_sync_cursor_moves_on_success_and_keeps_its_place_on_failure(db: TestDb) {
    let store = db.connect().await;
    assert!(store.sync_cursor("clubos_users").await.unwrap().is_none());
    store
        .sync_failed("clubos_users", "UPSTREAM_UNAVAILABLE")
        .await
        .unwrap();
    let failed = store.sync_cursor("clubos_users").await.unwrap().unwrap();
    assert_eq!(
        failed.position, "",
        "a failure before any success has no position"
    );
    assert_eq!(failed.last_error.as_deref(), Some("UPSTREAM_UNAVAILABLE"));

    store
        .advance_sync_cursor("clubos_users", "2026-12-01T10:00:00.000Z")
        .await
        .unwrap();
    let ok = store.sync_cursor("clubos_users").await.unwrap().unwrap();
    assert_eq!(ok.position, "2026-12-01T10:00:00.000Z");
    assert!(ok.last_success_ms.is_some());
    assert_eq!(ok.last_error, None, "a success clears the error");

    store
        .sync_failed("clubos_users", "STORE_UNAVAILABLE")
        .await
        .unwrap();
    let again = store.sync_cursor("clubos_users").await.unwrap().unwrap();
    assert_eq!(again.position, "2026-12-01T10:00:00.000Z");
    assert_eq!(again.last_success_ms, ok.last_success_ms);
    assert_eq!(again.last_error.as_deref(), Some("STORE_UNAVAILABLE"));
    assert!(store.sync_cursor("ghl_contacts").await.unwrap().is_none());
    assert_eq!(
        store.sync_cursors().await.unwrap(),
        [("clubos_users".to_owned(), again)],
        "every stored cursor, listed"
    );
}

async fn a_link_the_sweep_confirmed_never_displaces_or_rewrites_another(db: TestDb) {
    let store = db.connect().await;
    let sync = |ghl: &str, user: i64| NewLink {
        confirmed_by: Origin::Sync,
        evidence: Some("shared@example.com".into()),
        ..NewLink::new(ghl, user, LinkSource::Email)
    };
    assert!(
        store
            .put_link(&NewLink::new("g-1", 1, LinkSource::Manual))
            .await
            .unwrap()
    );
    let before = store.all_links().await.unwrap();

    assert!(
        !store.put_link(&sync("g-1", 2)).await.unwrap(),
        "the contact is staff's"
    );
    assert!(
        !store.put_link(&sync("g-2", 1)).await.unwrap(),
        "the user is staff's"
    );
    assert!(
        store.put_link(&sync("g-1", 1)).await.unwrap(),
        "the same pair"
    );
    assert_eq!(
        store.all_links().await.unwrap(),
        before,
        "a manual link stays manual"
    );

    assert!(store.put_link(&sync("g-3", 3)).await.unwrap());
    assert!(
        store
            .put_link(&NewLink::new("g-1", 3, LinkSource::Manual))
            .await
            .unwrap(),
        "a write still moves a link"
    );
    let pairs: Vec<(String, i64, Origin)> = store
        .all_links()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.ghl_contact_id, l.clubos_user_id, l.confirmed_by))
        .collect();
    assert_eq!(pairs, [("g-1".to_owned(), 3, Origin::Write)]);
}
