//! The audit trail in the store, on every backend: an entry is recorded with its legs or
//! not at all, is found by either of a person's records and by operation, pages newest
//! first, and is purged past its retention only once its legs are finished.

use contactgraph::store::{AuditEntry, AuditFilter, Claim, LegState, NewLeg, Store, new_id};

use crate::harness::*;

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        an_entry_is_recorded_with_its_legs_and_found_by_person_and_operation,
        a_replayed_key_records_no_second_entry,
        entries_page_newest_first,
        purging_keeps_entries_whose_legs_are_not_finished,
    ]
);

const T0: i64 = 1_820_000_000_000;
const LEASE: i64 = 30_000;

fn entry(at_ms: i64, operation: &str, ghl: Option<&str>, user: Option<i64>) -> AuditEntry {
    AuditEntry {
        operation_id: new_id(),
        at_ms,
        operation: operation.to_owned(),
        actor: "caller:key-1".to_owned(),
        reason: format!("the {operation} mutation"),
        ghl_contact_id: ghl.map(str::to_owned),
        clubos_user_id: user,
    }
}

fn legs() -> Vec<NewLeg> {
    vec![
        NewLeg {
            system: "ghl".into(),
            kind: "update_contact".into(),
            payload: r#"{"contactId":"g-1","email":"a@example.com"}"#.into(),
        },
        NewLeg {
            system: "clubos".into(),
            kind: "update_user".into(),
            payload: r#"{"userId":7}"#.into(),
        },
    ]
}

async fn record(store: &Store, e: &AuditEntry) {
    let (claim, _) = store
        .begin_audited_operation(&legs(), e.at_ms, LEASE, None, e)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
}

async fn ops(store: &Store, filter: AuditFilter) -> Vec<String> {
    store
        .audit_trail(&filter, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.entry.operation)
        .collect()
}

async fn an_entry_is_recorded_with_its_legs_and_found_by_person_and_operation(db: TestDb) {
    let store = db.connect().await;
    let both = entry(T0, "updateContact", Some("g-1"), Some(7));
    let ghl_only = entry(T0 + 1, "addTags", Some("g-1"), None);
    let clubos_only = entry(T0 + 2, "propagateToClubOs", None, Some(7));
    let other = entry(T0 + 3, "updateContact", Some("g-2"), Some(8));
    for e in [&both, &ghl_only, &clubos_only, &other] {
        record(&store, e).await;
    }
    let found = store
        .audit_trail(
            &AuditFilter {
                ghl_contact_id: Some("g-1".into()),
                clubos_user_id: Some(7),
                operation: None,
            },
            None,
            100,
        )
        .await
        .unwrap();
    let names: Vec<&str> = found.iter().map(|o| o.entry.operation.as_str()).collect();
    assert_eq!(names, ["propagateToClubOs", "addTags", "updateContact"]);
    let first = found.last().unwrap();
    assert_eq!(first.entry, both);
    let kinds: Vec<&str> = first.legs.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["update_contact", "update_user"]);
    assert!(first.legs[0].payload.contains("a@example.com"));

    let by_ghl = AuditFilter {
        ghl_contact_id: Some("g-1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(ops(&store, by_ghl).await, ["addTags", "updateContact"]);
    let by_operation = AuditFilter {
        operation: Some("updateContact".into()),
        ..AuditFilter::default()
    };
    assert_eq!(ops(&store, by_operation).await.len(), 2);
    assert_eq!(ops(&store, AuditFilter::default()).await.len(), 4);

    store
        .audit_about(&clubos_only.operation_id, Some("g-1"), Some(99))
        .await
        .unwrap();
    let learned = store
        .audit_trail(
            &AuditFilter {
                operation: Some("propagateToClubOs".into()),
                ..AuditFilter::default()
            },
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(learned[0].entry.ghl_contact_id.as_deref(), Some("g-1"));
    assert_eq!(
        learned[0].entry.clubos_user_id,
        Some(7),
        "what was known stays"
    );
}

async fn a_replayed_key_records_no_second_entry(db: TestDb) {
    let store = db.connect().await;
    let key = Some(("caller:key-1:updateContact", "k-1", "fp", 86_400_000));
    let first = entry(T0, "updateContact", Some("g-1"), None);
    let (claim, _) = store
        .begin_audited_operation(&legs(), T0, LEASE, key, &first)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    let again = entry(T0 + 5, "updateContact", Some("g-1"), None);
    let (claim, recorded) = store
        .begin_audited_operation(&legs(), T0 + 5, LEASE, key, &again)
        .await
        .unwrap();
    assert_eq!(claim, Claim::InProgress);
    assert!(recorded.is_empty());
    assert_eq!(ops(&store, AuditFilter::default()).await.len(), 1);
}

async fn entries_page_newest_first(db: TestDb) {
    let store = db.connect().await;
    for i in 0..5 {
        record(&store, &entry(T0 + i, &format!("op{i}"), Some("g-1"), None)).await;
    }
    let filter = AuditFilter::default();
    let page = store.audit_trail(&filter, None, 2).await.unwrap();
    let names: Vec<&str> = page.iter().map(|o| o.entry.operation.as_str()).collect();
    assert_eq!(names, ["op4", "op3"]);
    let last = &page[1].entry;
    let rest = store
        .audit_trail(&filter, Some((last.at_ms, last.operation_id.clone())), 10)
        .await
        .unwrap();
    let names: Vec<&str> = rest.iter().map(|o| o.entry.operation.as_str()).collect();
    assert_eq!(names, ["op2", "op1", "op0"]);
}

async fn purging_keeps_entries_whose_legs_are_not_finished(db: TestDb) {
    let store = db.connect().await;
    let done = entry(T0, "updateContact", Some("g-1"), None);
    let owed = entry(T0 + 1, "addTags", Some("g-1"), None);
    let recent = entry(T0 + 10_000, "addNote", Some("g-1"), None);
    for e in [&done, &owed, &recent] {
        record(&store, e).await;
    }
    for leg in store.operation_legs(&done.operation_id).await.unwrap() {
        store.leg_done(&leg.id, None, T0 + 100).await.unwrap();
    }
    let owed_legs = store.operation_legs(&owed.operation_id).await.unwrap();
    store
        .leg_done(&owed_legs[0].id, None, T0 + 100)
        .await
        .unwrap();
    assert_eq!(store.purge_audit(T0 + 5_000).await.unwrap(), 1);
    assert_eq!(
        ops(&store, AuditFilter::default()).await,
        ["addNote", "addTags"]
    );
    assert!(
        store
            .operation_legs(&done.operation_id)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store.operation_legs(&owed.operation_id).await.unwrap();
    assert_eq!(kept.len(), 2, "no leg of an unfinished operation is purged");
    assert_eq!(kept[0].state, LegState::Done);
}
