//! The read model's rows in the store, on every backend: records stored, found by id, by
//! owner and by match key, paged newest first; unchanged records logged once, changes
//! logged with their fields, deletions as tombstones; collections replaced whole; stale
//! marks; an older upstream version never overwriting a newer one; and the owners of
//! records that take place within a time window.

use contactgraph::store::{
    ChangeFilter, ChangeKind, LinkSource, NewLink, NewRecord, ReadSource, RecordKind, Store,
};
use serde_json::json;

use crate::harness::*;

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        records_are_found_by_id_and_key_and_logged_only_when_they_change,
        a_collection_is_replaced_whole_and_what_left_it_is_a_tombstone,
        pages_run_newest_first_and_continue_after_a_position,
        a_stale_mark_and_an_older_version_are_told_apart,
        owners_of_records_in_a_time_window_are_found,
        the_change_log_pages_by_kind_and_person_up_to_a_head,
        a_record_that_moves_to_another_owner_is_logged_for_both,
    ]
);

fn contact(id: &str, email: &str, updated: &str, sort_ms: i64) -> NewRecord {
    NewRecord {
        id: id.to_owned(),
        owner: None,
        body: json!({"id": id, "email": email, "dateUpdated": updated}),
        upstream_updated: Some(updated.to_owned()),
        sort_ms,
        keys: vec![format!("email:{email}")],
        ghl_contact_id: Some(id.to_owned()),
        clubos_user_id: None,
        starts_ms: None,
    }
}

fn note(id: &str, owner: &str, body: &str) -> NewRecord {
    NewRecord {
        id: id.to_owned(),
        owner: Some(owner.to_owned()),
        body: json!({"id": id, "body": body}),
        upstream_updated: None,
        sort_ms: 0,
        keys: Vec::new(),
        ghl_contact_id: Some(owner.to_owned()),
        clubos_user_id: None,
        starts_ms: None,
    }
}

async fn log(store: &Store) -> Vec<(ChangeKind, String, Vec<String>)> {
    store
        .changes_after(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| Some((c.kind, c.record?.1, c.fields)))
        .collect()
}

const T1: &str = "2026-12-01T10:00:00.000Z";
const T2: &str = "2026-12-01T11:00:00.000Z";

async fn records_are_found_by_id_and_key_and_logged_only_when_they_change(db: TestDb) {
    let store = db.connect().await;
    let kind = RecordKind::GhlContact;
    let first = [
        contact("a", "x@example.org", T1, 1),
        contact("b", "x@example.org", T1, 2),
    ];
    assert_eq!(
        store
            .put_records(kind, &first, ReadSource::Backfill)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .put_records(kind, &first, ReadSource::Webhook)
            .await
            .unwrap(),
        0,
        "unchanged records are not logged again"
    );
    let moved = [contact("a", "y@example.org", T2, 1)];
    assert_eq!(
        store
            .put_records(kind, &moved, ReadSource::Webhook)
            .await
            .unwrap(),
        1
    );

    let found = store
        .records(kind, &["a".into(), "zz".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].body.contains("y@example.org"));
    let holders = store
        .records_by_key(
            kind,
            &["email:x@example.org".into(), "email:y@example.org".into()],
        )
        .await
        .unwrap();
    let mut pairs: Vec<(String, String)> = holders.into_iter().map(|(k, r)| (k, r.id)).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("email:x@example.org".to_owned(), "b".to_owned()),
            ("email:y@example.org".to_owned(), "a".to_owned()),
        ],
        "a record is found by its current keys only"
    );
    assert_eq!(store.record_count(kind).await.unwrap(), 2);
    assert_eq!(store.record_counts().await.unwrap(), [(kind, 2)]);
    let logged = log(&store).await;
    assert_eq!(logged.len(), 3);
    assert_eq!(
        store.last_change_seq().await.unwrap(),
        3,
        "numbered from 1, no gaps"
    );
    assert_eq!(logged[2].0, ChangeKind::RecordChanged);
    assert_eq!(logged[2].2, ["dateUpdated", "email"]);
    assert!(!store.has_stale_records(kind).await.unwrap());
}

async fn a_collection_is_replaced_whole_and_what_left_it_is_a_tombstone(db: TestDb) {
    let store = db.connect().await;
    let kind = RecordKind::GhlNote;
    let both = [note("n1", "c", "one"), note("n2", "c", "two")];
    store
        .put_record_set(kind, "c", &both, ReadSource::ReadThrough)
        .await
        .unwrap();
    let sets = store
        .record_sets(kind, &["c".into(), "d".into()])
        .await
        .unwrap();
    assert_eq!(sets.len(), 1, "only what was read whole is known");
    assert!(!sets[0].stale);

    let one = [note("n2", "c", "two")];
    assert_eq!(
        store
            .put_record_set(kind, "c", &one, ReadSource::Webhook)
            .await
            .unwrap(),
        1,
        "n1 left the collection"
    );
    let left = store.records_by_owner(kind, &["c".into()]).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["n2"]
    );
    let logged = log(&store).await;
    assert_eq!(logged.last().unwrap().0, ChangeKind::RecordDeleted);
    assert_eq!(logged.last().unwrap().1, "n1");

    store.mark_sets_stale(kind, None).await.unwrap();
    let sets = store.record_sets(kind, &["c".into()]).await.unwrap();
    assert!(sets[0].stale);
    assert!(
        store
            .remove_record(kind, "n2", ReadSource::Reconcile)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_record(kind, "n2", ReadSource::Reconcile)
            .await
            .unwrap()
    );
}

async fn pages_run_newest_first_and_continue_after_a_position(db: TestDb) {
    let store = db.connect().await;
    let kind = RecordKind::GhlContact;
    let rows: Vec<NewRecord> = [("a", 10), ("b", 30), ("c", 20), ("d", 30)]
        .into_iter()
        .map(|(id, at)| contact(id, &format!("{id}@example.org"), T1, at))
        .collect();
    store
        .put_records(kind, &rows, ReadSource::Backfill)
        .await
        .unwrap();
    let first = store.record_page(kind, None, 2).await.unwrap();
    let ids = |rows: &[contactgraph::store::RecordRow]| -> Vec<String> {
        rows.iter().map(|r| r.id.clone()).collect()
    };
    assert_eq!(ids(&first), ["d", "b"], "ties by id, descending");
    let last = first.last().unwrap();
    let next = store
        .record_page(kind, Some((last.sort_ms, &last.id)), 5)
        .await
        .unwrap();
    assert_eq!(ids(&next), ["c", "a"]);
}

async fn a_stale_mark_and_an_older_version_are_told_apart(db: TestDb) {
    let store = db.connect().await;
    let kind = RecordKind::GhlContact;
    store
        .put_records(
            kind,
            &[contact("a", "new@example.org", T2, 1)],
            ReadSource::Webhook,
        )
        .await
        .unwrap();
    // A backfill page read before the webhook's re-read, stored after it.
    let older = [contact("a", "old@example.org", T1, 1)];
    assert_eq!(
        store
            .put_records(kind, &older, ReadSource::Backfill)
            .await
            .unwrap(),
        0
    );
    let kept = store.records(kind, &["a".into()]).await.unwrap();
    assert!(kept[0].body.contains("new@example.org"));

    store.mark_record_stale(kind, "a").await.unwrap();
    assert!(store.has_stale_records(kind).await.unwrap());
    assert!(store.records(kind, &["a".into()]).await.unwrap()[0].stale);
    store
        .put_records(
            kind,
            &[contact("a", "new@example.org", T2, 1)],
            ReadSource::ReadThrough,
        )
        .await
        .unwrap();
    assert!(
        !store.has_stale_records(kind).await.unwrap(),
        "reading it again clears the mark"
    );
}

fn event(owner: &str, id: i64, starts_ms: i64) -> NewRecord {
    NewRecord {
        id: format!("{owner}:{id}"),
        owner: Some(owner.to_owned()),
        body: json!({"eventId": id}),
        upstream_updated: None,
        sort_ms: 0,
        keys: Vec::new(),
        ghl_contact_id: None,
        clubos_user_id: owner.parse().ok(),
        starts_ms: Some(starts_ms),
    }
}

async fn owners_of_records_in_a_time_window_are_found(db: TestDb) {
    let store = db.connect().await;
    let kind = RecordKind::ClubOsEvent;
    for (owner, events) in [
        ("1", vec![event("1", 10, 1_000), event("1", 11, 5_000)]),
        ("2", vec![event("2", 20, 2_000)]),
        ("3", vec![event("3", 30, 3_000)]),
    ] {
        store
            .put_record_set(kind, owner, &events, ReadSource::ReadThrough)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .owners_starting_within(kind, 2_000, 5_000)
            .await
            .unwrap(),
        vec!["2".to_owned(), "3".to_owned()],
        "from inclusive, until exclusive"
    );
    assert_eq!(
        store.owners_starting_within(kind, 0, 10_000).await.unwrap(),
        vec!["1".to_owned(), "2".to_owned(), "3".to_owned()],
        "each owner once"
    );
    assert!(
        store
            .owners_starting_within(RecordKind::GhlNote, 0, 10_000)
            .await
            .unwrap()
            .is_empty(),
        "by kind"
    );
}

async fn the_change_log_pages_by_kind_and_person_up_to_a_head(db: TestDb) {
    let store = db.connect().await;
    store
        .put_records(
            RecordKind::GhlContact,
            &[
                contact("a", "a@example.org", T1, 1),
                contact("b", "b@example.org", T1, 2),
            ],
            ReadSource::Backfill,
        )
        .await
        .unwrap();
    store
        .put_records(
            RecordKind::GhlNote,
            &[note("n1", "a", "hello")],
            ReadSource::Webhook,
        )
        .await
        .unwrap();
    store
        .put_link(&NewLink::new("b", 7, LinkSource::Email))
        .await
        .unwrap();
    let head = store.last_change_seq().await.unwrap();
    assert_eq!(head, 4, "two contacts, a note, a link");
    let page = |after, upto, filter: ChangeFilter, limit| {
        let store = store.clone();
        async move {
            store
                .changes_page(after, upto, &filter, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.seq, c.kind, c.ghl_contact_id, c.clubos_user_id))
                .collect::<Vec<_>>()
        }
    };
    let everything = page(0, head, ChangeFilter::default(), 100).await;
    assert_eq!(
        everything.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    // A page ends at the head it is given and continues after its cursor.
    assert_eq!(page(0, 2, ChangeFilter::default(), 100).await.len(), 2);
    assert_eq!(
        page(2, head, ChangeFilter::default(), 1).await,
        vec![everything[2].clone()]
    );
    // About "a": its contact and its note, not "b" nor the link.
    let about_a = ChangeFilter {
        ghl_contact_ids: vec!["a".into()],
        ..ChangeFilter::default()
    };
    assert_eq!(
        page(0, head, about_a, 100)
            .await
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    // About Club OS user 7: only the link, which names both sides.
    let about_7 = ChangeFilter {
        clubos_user_ids: vec![7],
        ..ChangeFilter::default()
    };
    assert_eq!(
        page(0, head, about_7, 100).await,
        vec![(4, ChangeKind::LinkStored, Some("b".into()), Some(7))]
    );
    // By kind, and by kind and person together.
    let links = ChangeFilter {
        kinds: vec![ChangeKind::LinkStored, ChangeKind::LinkRemoved],
        ..ChangeFilter::default()
    };
    assert_eq!(page(0, head, links, 100).await.len(), 1);
    let records_of_b = ChangeFilter {
        kinds: vec![ChangeKind::RecordChanged],
        ghl_contact_ids: vec!["b".into()],
        clubos_user_ids: vec![7],
    };
    assert_eq!(
        page(0, head, records_of_b, 100)
            .await
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
        vec![2]
    );
}

async fn a_record_that_moves_to_another_owner_is_logged_for_both(db: TestDb) {
    let store = db.connect().await;
    store
        .put_records(
            RecordKind::GhlNote,
            &[note("n1", "c1", "hi")],
            ReadSource::Webhook,
        )
        .await
        .unwrap();
    let head = store.last_change_seq().await.unwrap();
    let changed = store
        .put_records(
            RecordKind::GhlNote,
            &[note("n1", "c2", "hi")],
            ReadSource::Webhook,
        )
        .await
        .unwrap();
    assert_eq!(changed, 1, "one record changed");
    let mut owners: Vec<Option<String>> = store
        .changes_after(head, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.ghl_contact_id)
        .collect();
    owners.sort();
    assert_eq!(owners, [Some("c1".to_owned()), Some("c2".to_owned())]);
}
