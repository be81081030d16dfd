//! The write path's durable pieces, idempotency keys and the outbox: every property runs
//! with the same body on in-memory SQLite, file-backed SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL`; without it those variants say so
//! on stderr and pass. Each PostgreSQL test gets a schema of its own (random name, reached
//! through the connection's `search_path`), dropped at the end even when the test fails, so
//! parallel tests and reruns never see each other's rows.
//!
//! Time is passed in (`now_ms`), so leases, backoff and retention are tested by choosing the
//! clock rather than by sleeping.

use std::collections::HashSet;

use contactgraph::store::{Claim, Leg, LegState, NewLeg, Store, StoreError, new_id};

use crate::harness::*;

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        a_claimed_key_is_in_progress_until_completed_then_replays_its_response,
        a_key_sent_with_another_input_is_reused,
        a_dead_holders_key_is_claimable_once_its_lease_has_passed,
        keys_older_than_the_retention_count_as_absent_and_are_purged,
        a_released_key_is_claimable_at_once_but_a_completed_one_keeps_its_response,
        completing_an_unknown_key_is_not_found,
        twenty_concurrent_claims_of_a_new_key_have_exactly_one_winner,
        begin_operation_records_legs_only_for_the_request_that_claims_the_key,
        begin_operation_records_the_claim_and_the_legs_together_or_not_at_all,
        twenty_concurrent_begins_with_one_key_record_one_operation,
        a_key_whose_legs_were_recorded_is_orphaned_past_its_lease_and_kept_past_retention,
        legs_are_not_due_while_the_callers_lease_holds_and_are_once_it_passes,
        every_lapsed_lease_is_counted_and_a_leg_can_be_given_up,
        a_leg_is_not_due_until_every_earlier_leg_of_its_operation_is_done,
        concurrent_leasers_never_get_the_same_leg,
        failed_legs_back_off_then_die_and_late_reports_do_not_undo_them,
        an_admin_retry_revives_only_dead_legs,
        compensated_and_cancelled_are_set_directly_other_states_are_refused,
        legs_list_by_state_oldest_first_and_count_every_state,
    ]
);

on_backends!(
    sqlite_file_reconnect => on_sqlite_file,
    postgres_reconnect => on_postgres;
    [keys_and_legs_survive_a_reconnect]
);

/// An arbitrary clock origin (late 2027), far from zero so that subtracting leases and
/// retentions never goes negative.
const T0: i64 = 1_820_000_000_000;
const LEASE: i64 = 30_000;
const DAY: i64 = 86_400_000;

fn leg(system: &str, kind: &str, payload: &str) -> NewLeg {
    NewLeg {
        system: system.to_owned(),
        kind: kind.to_owned(),
        payload: payload.to_owned(),
    }
}

/// Three legs of a typical fan-out: GHL, then Club OS, then GHL again.
fn three_legs() -> Vec<NewLeg> {
    vec![
        leg("ghl", "update_contact", r#"{"contactId":"g-1"}"#),
        leg("clubos", "update_user", r#"{"userId":7}"#),
        leg("ghl", "add_note", r#"{"body":"synced"}"#),
    ]
}

/// Records an operation without a key and returns its legs.
async fn begin(store: &Store, operation_id: &str, legs: &[NewLeg], now_ms: i64) -> Vec<Leg> {
    let (claim, recorded) = store
        .begin_operation(operation_id, legs, now_ms, LEASE, None)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    recorded
}

fn ids_of(legs: &[Leg]) -> Vec<String> {
    legs.iter().map(|l| l.id.clone()).collect()
}

async fn state_of(store: &Store, id: &str) -> LegState {
    store.leg(id).await.unwrap().expect("the leg exists").state
}

async fn a_claimed_key_is_in_progress_until_completed_then_replays_its_response(db: TestDb) {
    let store = db.connect().await;
    let claim = |now| store.claim_key("caller/updateContact", "k-1", "fp-a", now, LEASE, DAY);

    assert_eq!(claim(T0).await.unwrap(), Claim::Claimed);
    assert_eq!(claim(T0 + 1).await.unwrap(), Claim::InProgress);
    assert_eq!(claim(T0 + LEASE - 1).await.unwrap(), Claim::InProgress);

    store
        .complete_key("caller/updateContact", "k-1", r#"{"ok":true}"#, T0 + 10)
        .await
        .unwrap();
    for now in [T0 + 11, T0 + LEASE + 1, T0 + DAY] {
        assert_eq!(
            claim(now).await.unwrap(),
            Claim::Replay(r#"{"ok":true}"#.to_owned())
        );
    }

    // Completing again replaces the answer (pending first, completed once the relay is done).
    store
        .complete_key("caller/updateContact", "k-1", r#"{"ok":"later"}"#, T0 + 20)
        .await
        .unwrap();
    assert_eq!(
        claim(T0 + 21).await.unwrap(),
        Claim::Replay(r#"{"ok":"later"}"#.to_owned())
    );

    // Scopes keep keys apart: the same key of another caller is new.
    assert_eq!(
        store
            .claim_key("other/updateContact", "k-1", "fp-a", T0 + 30, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

async fn a_key_sent_with_another_input_is_reused(db: TestDb) {
    let store = db.connect().await;
    let claim = |fp, now| store.claim_key("s", "k", fp, now, LEASE, DAY);
    assert_eq!(claim("fp-a", T0).await.unwrap(), Claim::Claimed);
    assert_eq!(claim("fp-b", T0 + 1).await.unwrap(), Claim::Reused);
    store.complete_key("s", "k", "{}", T0 + 2).await.unwrap();
    assert_eq!(claim("fp-b", T0 + 3).await.unwrap(), Claim::Reused);
    assert_eq!(
        claim("fp-a", T0 + 4).await.unwrap(),
        Claim::Replay("{}".to_owned())
    );
}

async fn a_dead_holders_key_is_claimable_once_its_lease_has_passed(db: TestDb) {
    let store = db.connect().await;
    let claim = |fp, now| store.claim_key("s", "k", fp, now, LEASE, DAY);
    assert_eq!(claim("fp-a", T0).await.unwrap(), Claim::Claimed);
    // The holder dies without completing or releasing.
    assert_eq!(
        claim("fp-a", T0 + LEASE - 1).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(claim("fp-a", T0 + LEASE).await.unwrap(), Claim::Claimed);
    // The new holder has a lease of its own.
    assert_eq!(
        claim("fp-a", T0 + LEASE + 1).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        claim("fp-a", T0 + 2 * LEASE - 1).await.unwrap(),
        Claim::InProgress
    );
    // A lapsed claim that wrote nothing counts as absent, whatever the input.
    assert_eq!(claim("fp-b", T0 + 2 * LEASE).await.unwrap(), Claim::Claimed);
    store
        .complete_key("s", "k", "\"b\"", T0 + 2 * LEASE + 1)
        .await
        .unwrap();
    assert_eq!(
        claim("fp-b", T0 + 10 * LEASE).await.unwrap(),
        Claim::Replay("\"b\"".to_owned())
    );
}

async fn keys_older_than_the_retention_count_as_absent_and_are_purged(db: TestDb) {
    let store = db.connect().await;
    let claim = |key, fp, now| store.claim_key("s", key, fp, now, LEASE, DAY);
    assert_eq!(claim("old", "fp", T0).await.unwrap(), Claim::Claimed);
    store.complete_key("s", "old", "1", T0).await.unwrap();
    assert_eq!(claim("mid", "fp", T0 + 1000).await.unwrap(), Claim::Claimed);
    store
        .complete_key("s", "mid", "2", T0 + 1000)
        .await
        .unwrap();
    assert_eq!(claim("new", "fp", T0 + DAY).await.unwrap(), Claim::Claimed);

    // Exactly at the retention the key still counts; one millisecond past it, it is absent.
    assert_eq!(
        claim("old", "fp", T0 + DAY).await.unwrap(),
        Claim::Replay("1".to_owned())
    );
    assert_eq!(
        claim("old", "other-fp", T0 + DAY + 1).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        claim("old", "other-fp", T0 + DAY + 2).await.unwrap(),
        Claim::InProgress
    );

    // Purging at T0 + DAY + 1001 removes `mid` only: `old` was claimed again at T0 + DAY + 1
    // and `new` at T0 + DAY.
    assert_eq!(store.purge_keys(T0 + DAY + 1000, DAY).await.unwrap(), 0);
    assert_eq!(store.purge_keys(T0 + DAY + 1001, DAY).await.unwrap(), 1);
    assert_eq!(
        claim("mid", "fp", T0 + DAY + 1002).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(store.purge_keys(T0 + 3 * DAY, DAY).await.unwrap(), 3);
    assert_eq!(store.purge_keys(T0 + 3 * DAY, DAY).await.unwrap(), 0);
    assert_eq!(
        claim("new", "fp", T0 + 3 * DAY).await.unwrap(),
        Claim::Claimed
    );
}

async fn a_released_key_is_claimable_at_once_but_a_completed_one_keeps_its_response(db: TestDb) {
    let store = db.connect().await;
    let claim = |fp, now| store.claim_key("s", "k", fp, now, LEASE, DAY);
    assert_eq!(claim("fp-a", T0).await.unwrap(), Claim::Claimed);
    store.release_key("s", "k").await.unwrap();
    // Released: claimable at once, even with another input (nothing was written).
    assert_eq!(claim("fp-b", T0 + 1).await.unwrap(), Claim::Claimed);
    store
        .complete_key("s", "k", "\"done\"", T0 + 2)
        .await
        .unwrap();
    store.release_key("s", "k").await.unwrap();
    assert_eq!(
        claim("fp-b", T0 + 3).await.unwrap(),
        Claim::Replay("\"done\"".to_owned())
    );
    // Releasing a key that never existed is harmless.
    store.release_key("s", "never").await.unwrap();
}

async fn completing_an_unknown_key_is_not_found(db: TestDb) {
    let store = db.connect().await;
    let error = store
        .complete_key("s", "never-claimed", "{}", T0)
        .await
        .expect_err("there is no such key");
    assert!(
        matches!(&error, StoreError::NotFound { what: "idempotency key", id } if id == "s/never-claimed"),
        "{error:?}"
    );
}

async fn twenty_concurrent_claims_of_a_new_key_have_exactly_one_winner(db: TestDb) {
    let store = db.connect().await;
    let claims = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_key("s", "contended", "fp", T0, LEASE, DAY)
                .await
        })
    });
    let claims: Vec<Claim> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|c| c.unwrap().expect("a racing claim succeeds"))
        .collect();
    let won = claims.iter().filter(|c| **c == Claim::Claimed).count();
    let waiting = claims.iter().filter(|c| **c == Claim::InProgress).count();
    assert_eq!((won, waiting), (1, 19), "{claims:?}");

    // The same race on a lapsed claim: again exactly one takes it over.
    let later = T0 + LEASE;
    let claims = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_key("s", "contended", "fp", later, LEASE, DAY)
                .await
        })
    });
    let claims: Vec<Claim> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|c| c.unwrap().expect("a racing claim succeeds"))
        .collect();
    let won = claims.iter().filter(|c| **c == Claim::Claimed).count();
    assert_eq!(won, 1, "{claims:?}");
}

async fn begin_operation_records_legs_only_for_the_request_that_claims_the_key(db: TestDb) {
    let store = db.connect().await;
    let key = Some(("caller/sync", "k-1", "fp-a", DAY));
    let (claim, legs) = store
        .begin_operation("op-1", &three_legs(), T0, LEASE, key)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    assert_eq!(legs.len(), 3);
    for (n, (leg, new)) in legs.iter().zip(three_legs()).enumerate() {
        assert_eq!(leg.seq, i32::try_from(n).unwrap());
        assert_eq!(leg.operation_id, "op-1");
        assert_eq!(
            (leg.system.as_str(), leg.kind.as_str(), leg.payload.as_str()),
            (new.system.as_str(), new.kind.as_str(), new.payload.as_str())
        );
        assert_eq!(leg.state, LegState::InFlight);
        assert_eq!(leg.attempts, 0);
        assert_eq!(leg.next_attempt_at_ms, T0 + LEASE);
        assert_eq!((leg.created_at_ms, leg.updated_at_ms), (T0, T0));
        assert_eq!(
            (leg.last_error_code.as_deref(), leg.result.as_deref()),
            (None, None)
        );
        assert_eq!(leg.id.len(), 26);
    }
    assert_eq!(store.operation_legs("op-1").await.unwrap(), legs);
    assert_eq!(
        store
            .key_operation("caller/sync", "k-1")
            .await
            .unwrap()
            .as_deref(),
        Some("op-1")
    );

    // A second request with the same key records nothing, whatever it finds.
    let (claim, legs2) = store
        .begin_operation("op-2", &three_legs(), T0 + 1, LEASE, key)
        .await
        .unwrap();
    assert_eq!((claim, legs2.len()), (Claim::InProgress, 0));
    let (claim, _) = store
        .begin_operation(
            "op-3",
            &three_legs(),
            T0 + 2,
            LEASE,
            Some(("caller/sync", "k-1", "fp-b", DAY)),
        )
        .await
        .unwrap();
    assert_eq!(claim, Claim::Reused);
    store
        .complete_key("caller/sync", "k-1", r#"{"operationId":"op-1"}"#, T0 + 3)
        .await
        .unwrap();
    let (claim, legs4) = store
        .begin_operation("op-4", &three_legs(), T0 + 4, LEASE, key)
        .await
        .unwrap();
    assert_eq!(
        (claim, legs4.len()),
        (Claim::Replay(r#"{"operationId":"op-1"}"#.to_owned()), 0)
    );
    for op in ["op-2", "op-3", "op-4"] {
        assert!(store.operation_legs(op).await.unwrap().is_empty(), "{op}");
    }
    assert_eq!(
        store
            .legs_in_state(LegState::InFlight, 100)
            .await
            .unwrap()
            .len(),
        3
    );

    // Without a key, legs are always recorded.
    let legs = begin(&store, "op-5", &three_legs()[..1], T0 + 5).await;
    assert_eq!(legs.len(), 1);
    assert_eq!(
        store.key_operation("caller/sync", "never").await.unwrap(),
        None
    );
}

async fn begin_operation_records_the_claim_and_the_legs_together_or_not_at_all(db: TestDb) {
    let store = db.connect().await;
    begin(&store, "op-1", &three_legs(), T0).await;

    // Reusing an operation id makes the leg inserts fail after the key was claimed in the
    // same transaction: the claim must be rolled back with them.
    let error = store
        .begin_operation(
            "op-1",
            &three_legs(),
            T0 + 1,
            LEASE,
            Some(("s", "k", "fp", DAY)),
        )
        .await
        .expect_err("operation ids are unique");
    assert!(
        matches!(
            error,
            StoreError::Query {
                operation: "begin_operation",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(store.operation_legs("op-1").await.unwrap().len(), 3);
    assert_eq!(store.key_operation("s", "k").await.unwrap(), None);
    assert_eq!(
        store
            .claim_key("s", "k", "fp", T0 + 2, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Claimed,
        "the failed begin left no claim behind"
    );
}

async fn twenty_concurrent_begins_with_one_key_record_one_operation(db: TestDb) {
    let store = db.connect().await;
    let begins = (0..20).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let operation_id = format!("op-{n}");
            store
                .begin_operation(
                    &operation_id,
                    &three_legs(),
                    T0,
                    LEASE,
                    Some(("s", "k", "fp", DAY)),
                )
                .await
        })
    });
    let outcomes: Vec<(Claim, Vec<Leg>)> = futures_util::future::join_all(begins)
        .await
        .into_iter()
        .map(|b| b.unwrap().expect("a racing begin succeeds"))
        .collect();
    let winners: Vec<&Vec<Leg>> = outcomes
        .iter()
        .filter(|(claim, _)| *claim == Claim::Claimed)
        .map(|(_, legs)| legs)
        .collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].len(), 3);
    assert!(
        outcomes
            .iter()
            .all(|(claim, legs)| *claim == Claim::Claimed || legs.is_empty())
    );
    let counts = store.leg_counts().await.unwrap();
    assert!(counts.contains(&(LegState::InFlight, 3)), "{counts:?}");
    assert_eq!(
        store.key_operation("s", "k").await.unwrap().as_deref(),
        Some(winners[0][0].operation_id.as_str())
    );
}

async fn a_key_whose_legs_were_recorded_is_orphaned_past_its_lease_and_kept_past_retention(
    db: TestDb,
) {
    let store = db.connect().await;
    let key = Some(("s", "k", "fp", DAY));
    let (claim, legs) = store
        .begin_operation("op-1", &three_legs()[..2], T0, LEASE, key)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);

    // While the request's lease holds, a retry waits for it.
    assert_eq!(
        store
            .claim_key("s", "k", "fp", T0 + LEASE - 1, LEASE, DAY)
            .await
            .unwrap(),
        Claim::InProgress
    );
    // The request died after recording its legs: the relay owns the work now, so a retry
    // with the key must not start it again, nor wait for a request that will not answer.
    assert_eq!(
        store
            .claim_key("s", "k", "fp", T0 + 10 * LEASE, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Orphaned("op-1".into())
    );
    // Past the retention too, as long as a leg is still owed; purging keeps it as well.
    assert_eq!(store.purge_keys(T0 + 2 * DAY, DAY).await.unwrap(), 0);
    assert_eq!(
        store
            .claim_key("s", "k", "fp", T0 + 2 * DAY, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Orphaned("op-1".into())
    );
    assert_eq!(
        store.key_operation("s", "k").await.unwrap().as_deref(),
        Some("op-1")
    );

    // Once no leg is pending or in flight, retention applies again.
    store
        .leg_done(&legs[0].id, None, T0 + 3 * DAY)
        .await
        .unwrap();
    store
        .leg_failed(&legs[1].id, "UPSTREAM_REJECTED", 0, true, T0 + 3 * DAY)
        .await
        .unwrap();
    assert_eq!(store.purge_keys(T0 + 3 * DAY, DAY).await.unwrap(), 1);
    assert_eq!(
        store
            .claim_key("s", "k", "fp", T0 + 3 * DAY, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

async fn every_lapsed_lease_is_counted_and_a_leg_can_be_given_up(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs()[..1], T0).await;
    assert_eq!(legs[0].lapses, 0);

    // Each runner takes the leg and dies with it: every takeover counts one lapse.
    for n in 1..=3 {
        let leased = store.lease_due(T0 + n * LEASE, LEASE, 10).await.unwrap();
        assert_eq!(ids_of(&leased), vec![legs[0].id.clone()]);
        assert_eq!(i64::from(leased[0].lapses), n);
        assert_eq!(leased[0].attempts, 0);
    }
    // A runner that finished its attempt (failed, retried later) lapsed nothing.
    store
        .leg_failed(
            &legs[0].id,
            "UPSTREAM_UNAVAILABLE",
            T0 + 4 * LEASE,
            false,
            T0 + 3 * LEASE,
        )
        .await
        .unwrap();
    let leased = store.lease_due(T0 + 4 * LEASE, LEASE, 10).await.unwrap();
    assert_eq!((leased[0].attempts, leased[0].lapses), (1, 3));

    assert!(
        store
            .leg_give_up(&legs[0].id, "INTERNAL", "stopped 3 times", T0 + 4 * LEASE)
            .await
            .unwrap()
    );
    let dead = store.leg(&legs[0].id).await.unwrap().unwrap();
    assert_eq!(dead.state, LegState::Dead);
    assert_eq!(dead.last_error_code.as_deref(), Some("INTERNAL"));
    assert_eq!(dead.last_error_message.as_deref(), Some("stopped 3 times"));
    assert!(
        store
            .lease_due(T0 + DAY, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "a dead leg is leased to nobody"
    );
    assert!(
        !store
            .leg_give_up(&legs[0].id, "INTERNAL", "again", T0 + DAY)
            .await
            .unwrap(),
        "only a leg in flight is given up"
    );
    // An admin's retry starts the count again.
    assert!(store.retry_leg(&legs[0].id, T0 + DAY).await.unwrap());
    let revived = store.leg(&legs[0].id).await.unwrap().unwrap();
    assert_eq!((revived.attempts, revived.lapses), (0, 0));
}

async fn legs_are_not_due_while_the_callers_lease_holds_and_are_once_it_passes(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs(), T0).await;

    assert!(store.lease_due(T0, LEASE, 10).await.unwrap().is_empty());
    assert!(
        store
            .lease_due(T0 + LEASE - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The caller died: once its lease has passed, the relay gets the first leg only.
    let relay_at = T0 + LEASE;
    let leased = store.lease_due(relay_at, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[0].id.clone()]);
    assert_eq!(leased[0].state, LegState::InFlight);
    assert_eq!(leased[0].next_attempt_at_ms, relay_at + LEASE);
    assert_eq!(leased[0].updated_at_ms, relay_at);
    assert_eq!(leased[0].attempts, 0, "leasing counts no attempt");
    assert_eq!(leased[0].lapses, 1, "the dead caller's lease is counted");
    assert_eq!(store.leg(&legs[0].id).await.unwrap().unwrap(), leased[0]);

    // Leased again to the relay: not due to anyone else until that lease passes too.
    assert!(
        store
            .lease_due(relay_at + 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.lease_due(0, LEASE, 10).await.unwrap().is_empty());
    assert!(
        store
            .lease_due(relay_at, LEASE, 0)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .leg_done(&legs[0].id, Some(r#"{"id":"g-1"}"#), relay_at + 5)
        .await
        .unwrap();
    let done = store.leg(&legs[0].id).await.unwrap().unwrap();
    assert_eq!(done.state, LegState::Done);
    assert_eq!(done.result.as_deref(), Some(r#"{"id":"g-1"}"#));
    assert_eq!(done.updated_at_ms, relay_at + 5);

    // Leg 1 was leased to the dead caller too, and its lease has passed: due now.
    let leased = store.lease_due(relay_at + 6, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[1].id.clone()]);
    store
        .leg_done(&legs[1].id, None, relay_at + 7)
        .await
        .unwrap();
    let leased = store.lease_due(relay_at + 8, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[2].id.clone()]);
    store
        .leg_done(&legs[2].id, None, relay_at + 9)
        .await
        .unwrap();
    assert!(
        store
            .lease_due(T0 + DAY, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let error = store.leg_done("no-such-leg", None, T0).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert_eq!(store.leg("no-such-leg").await.unwrap(), None);
}

async fn a_leg_is_not_due_until_every_earlier_leg_of_its_operation_is_done(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs(), T0).await;

    // The request ran leg 0, hit a transient failure, and handed the later legs to the relay.
    let failed = store
        .leg_failed(
            &legs[0].id,
            "UPSTREAM_UNAVAILABLE",
            T0 + 5000,
            false,
            T0 + 10,
        )
        .await
        .unwrap();
    assert_eq!(failed.state, LegState::Pending);
    assert!(store.leg_release(&legs[1].id, T0 + 10).await.unwrap());
    assert!(store.leg_release(&legs[2].id, T0 + 10).await.unwrap());
    assert!(
        !store.leg_release(&legs[2].id, T0 + 11).await.unwrap(),
        "already released"
    );
    assert_eq!(state_of(&store, &legs[1].id).await, LegState::Pending);

    // Legs 1 and 2 are due by the clock but wait for leg 0.
    assert!(
        store
            .lease_due(T0 + 4999, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let leased = store.lease_due(T0 + 5000, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[0].id.clone()]);
    store.leg_done(&legs[0].id, None, T0 + 5001).await.unwrap();

    let leased = store.lease_due(T0 + 5002, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[1].id.clone()]);

    // A dead leg stops its operation: leg 2 never becomes due.
    store
        .leg_failed(&legs[1].id, "UPSTREAM_REJECTED", 0, true, T0 + 5003)
        .await
        .unwrap();
    assert!(
        store
            .lease_due(T0 + 10 * DAY, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(state_of(&store, &legs[2].id).await, LegState::Pending);

    // Another operation is not held up by this one.
    let other = begin(&store, "op-2", &three_legs()[..1], T0).await;
    let leased = store.lease_due(T0 + 10 * DAY, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), ids_of(&other));
}

async fn concurrent_leasers_never_get_the_same_leg(db: TestDb) {
    let store = db.connect().await;
    // 30 single-leg operations and 10 three-leg ones, all leased to callers that died.
    let mut first_legs = HashSet::new();
    for n in 0..30 {
        let legs = begin(&store, &format!("single-{n}"), &three_legs()[..1], T0 + n).await;
        first_legs.insert(legs[0].id.clone());
    }
    for n in 0..10 {
        let legs = begin(&store, &format!("triple-{n}"), &three_legs(), T0 + n).await;
        first_legs.insert(legs[0].id.clone());
    }
    let relay_at = T0 + LEASE + 100;

    for round in 0..2 {
        let leasers = (0..4).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.lease_due(relay_at + round, LEASE, 15).await })
        });
        let batches: Vec<Vec<Leg>> = futures_util::future::join_all(leasers)
            .await
            .into_iter()
            .map(|b| b.unwrap().expect("a racing lease succeeds"))
            .collect();
        let mut seen = HashSet::new();
        for leg in batches.iter().flatten() {
            assert!(seen.insert(leg.id.clone()), "leg {} leased twice", leg.id);
            assert_eq!(leg.seq, 0, "only first legs are due");
        }
        if round == 0 {
            // 60 slots for 40 due legs: every due leg leased exactly once.
            assert_eq!(
                seen,
                first_legs,
                "batches: {:?}",
                batches.iter().map(Vec::len).collect::<Vec<_>>()
            );
        } else {
            assert!(seen.is_empty(), "every due leg is leased already");
        }
    }
    let counts = store.leg_counts().await.unwrap();
    // 40 leased now, plus the 20 later legs of the triples, still under their dead lease.
    assert!(counts.contains(&(LegState::InFlight, 60)), "{counts:?}");
}

async fn failed_legs_back_off_then_die_and_late_reports_do_not_undo_them(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs()[..1], T0).await;
    let id = &legs[0].id;

    let first = store
        .leg_failed(id, "UPSTREAM_RATE_LIMITED", T0 + 2000, false, T0 + 100)
        .await
        .unwrap();
    assert_eq!(first.state, LegState::Pending);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.next_attempt_at_ms, T0 + 2000);
    assert_eq!(
        first.last_error_code.as_deref(),
        Some("UPSTREAM_RATE_LIMITED")
    );
    assert_eq!(first.updated_at_ms, T0 + 100);

    assert!(
        store
            .lease_due(T0 + 1999, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let leased = store.lease_due(T0 + 2000, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![id.clone()]);
    assert_eq!(leased[0].attempts, 1);

    let second = store
        .leg_failed(id, "UPSTREAM_UNAVAILABLE", T0 + 10_000, false, T0 + 2100)
        .await
        .unwrap();
    assert_eq!((second.state, second.attempts), (LegState::Pending, 2));
    assert_eq!(
        second.last_error_code.as_deref(),
        Some("UPSTREAM_UNAVAILABLE")
    );

    let dead = store
        .leg_failed(id, "UPSTREAM_REJECTED", T0 + 20_000, true, T0 + 2200)
        .await
        .unwrap();
    assert_eq!((dead.state, dead.attempts), (LegState::Dead, 3));
    assert_eq!(dead.last_error_code.as_deref(), Some("UPSTREAM_REJECTED"));
    assert!(
        store
            .lease_due(T0 + 10 * DAY, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A late failure report leaves a finished leg as it is.
    let unchanged = store
        .leg_failed(id, "TIMEOUT", T0 + 30_000, false, T0 + 2300)
        .await
        .unwrap();
    assert_eq!(unchanged, dead);
    let done = begin(&store, "op-2", &three_legs()[..1], T0).await;
    store
        .leg_done(&done[0].id, Some("{}"), T0 + 1)
        .await
        .unwrap();
    let still_done = store
        .leg_failed(&done[0].id, "TIMEOUT", T0 + 5, false, T0 + 2)
        .await
        .unwrap();
    assert_eq!((still_done.state, still_done.attempts), (LegState::Done, 0));

    let error = store
        .leg_failed("no-such-leg", "TIMEOUT", T0, false, T0)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::NotFound { what: "outbox leg", id } if id == "no-such-leg"),
        "{error:?}"
    );
}

async fn an_admin_retry_revives_only_dead_legs(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs()[..2], T0).await;
    for _ in 0..3 {
        store
            .leg_failed(&legs[0].id, "UPSTREAM_UNAVAILABLE", T0, false, T0)
            .await
            .unwrap();
    }
    store
        .leg_failed(&legs[0].id, "UPSTREAM_AUTH_FAILED", T0, true, T0 + 1)
        .await
        .unwrap();

    assert!(
        !store.retry_leg(&legs[1].id, T0 + 2).await.unwrap(),
        "in flight, not dead"
    );
    assert!(!store.retry_leg("no-such-leg", T0 + 2).await.unwrap());
    assert!(store.retry_leg(&legs[0].id, T0 + DAY).await.unwrap());
    let revived = store.leg(&legs[0].id).await.unwrap().unwrap();
    assert_eq!(revived.state, LegState::Pending);
    assert_eq!(revived.attempts, 0);
    assert_eq!(revived.next_attempt_at_ms, T0 + DAY);
    assert_eq!(revived.updated_at_ms, T0 + DAY);
    assert_eq!(
        revived.last_error_code.as_deref(),
        Some("UPSTREAM_AUTH_FAILED")
    );
    assert!(
        !store.retry_leg(&legs[0].id, T0 + DAY).await.unwrap(),
        "not dead any more"
    );

    assert!(
        store
            .lease_due(T0 + DAY - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let leased = store.lease_due(T0 + DAY, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[0].id.clone()]);
}

async fn compensated_and_cancelled_are_set_directly_other_states_are_refused(db: TestDb) {
    let store = db.connect().await;
    let legs = begin(&store, "op-1", &three_legs(), T0).await;
    store
        .leg_done(&legs[0].id, Some("{}"), T0 + 1)
        .await
        .unwrap();
    store
        .leg_set_state(&legs[0].id, LegState::Compensated, T0 + 2)
        .await
        .unwrap();
    store
        .leg_set_state(&legs[1].id, LegState::Cancelled, T0 + 2)
        .await
        .unwrap();
    let compensated = store.leg(&legs[0].id).await.unwrap().unwrap();
    assert_eq!(
        (compensated.state, compensated.updated_at_ms),
        (LegState::Compensated, T0 + 2)
    );
    assert_eq!(
        compensated.result.as_deref(),
        Some("{}"),
        "the result is kept"
    );
    assert_eq!(state_of(&store, &legs[1].id).await, LegState::Cancelled);

    for state in [
        LegState::Pending,
        LegState::InFlight,
        LegState::Done,
        LegState::Dead,
    ] {
        let error = store
            .leg_set_state(&legs[2].id, state, T0 + 3)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::InvalidArgument {
                    operation: "leg_set_state",
                    ..
                }
            ),
            "{state}: {error:?}"
        );
    }
    assert_eq!(state_of(&store, &legs[2].id).await, LegState::InFlight);
    let error = store
        .leg_set_state("no-such-leg", LegState::Cancelled, T0)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");

    // Neither state is ever due.
    assert!(
        store
            .lease_due(T0 + DAY, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn legs_list_by_state_oldest_first_and_count_every_state(db: TestDb) {
    let store = db.connect().await;
    let empty = store.leg_counts().await.unwrap();
    assert_eq!(
        empty,
        LegState::ALL.iter().map(|&s| (s, 0)).collect::<Vec<_>>()
    );

    // Created newest first, so "oldest first" is not insertion order.
    let mut dead = Vec::new();
    for n in (0..4).rev() {
        let legs = begin(
            &store,
            &format!("op-{n}"),
            &three_legs()[..1],
            T0 + n * 1000,
        )
        .await;
        store
            .leg_failed(&legs[0].id, "UPSTREAM_REJECTED", 0, true, T0 + DAY)
            .await
            .unwrap();
        dead.push(legs[0].id.clone());
    }
    dead.reverse();
    let listed = store.legs_in_state(LegState::Dead, 10).await.unwrap();
    assert_eq!(ids_of(&listed), dead);
    let listed = store.legs_in_state(LegState::Dead, 2).await.unwrap();
    assert_eq!(ids_of(&listed), dead[..2]);
    assert!(
        store
            .legs_in_state(LegState::Dead, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .legs_in_state(LegState::Compensated, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let legs = begin(&store, "op-mixed", &three_legs(), T0).await;
    store.leg_done(&legs[0].id, None, T0 + 1).await.unwrap();
    store
        .leg_failed(&legs[1].id, "TIMEOUT", T0 + 10, false, T0 + 2)
        .await
        .unwrap();
    store
        .leg_set_state(&legs[2].id, LegState::Cancelled, T0 + 3)
        .await
        .unwrap();
    let extra = begin(&store, "op-extra", &three_legs()[..2], T0).await;
    store
        .leg_set_state(&extra[0].id, LegState::Compensated, T0 + 4)
        .await
        .unwrap();

    assert_eq!(
        store.leg_counts().await.unwrap(),
        vec![
            (LegState::Pending, 1),
            (LegState::InFlight, 1),
            (LegState::Done, 1),
            (LegState::Dead, 4),
            (LegState::Compensated, 1),
            (LegState::Cancelled, 1),
        ]
    );
}

async fn keys_and_legs_survive_a_reconnect(db: TestDb) {
    let first = db.connect().await;
    let (claim, legs) = first
        .begin_operation(
            "op-1",
            &three_legs(),
            T0,
            LEASE,
            Some(("s", "k", "fp", DAY)),
        )
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    first
        .leg_done(&legs[0].id, Some("{\"id\":1}"), T0 + 1)
        .await
        .unwrap();
    first
        .complete_key("s", "k", "\"answer\"", T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        first
            .claim_key("s", "other", "fp", T0, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Claimed
    );
    drop(first);

    // The second connect finds the schema already migrated and every row in place.
    let second = db.connect().await;
    assert_eq!(
        second
            .claim_key("s", "k", "fp", T0 + 3, LEASE, DAY)
            .await
            .unwrap(),
        Claim::Replay("\"answer\"".to_owned())
    );
    assert_eq!(
        second
            .claim_key("s", "other", "fp", T0 + 3, LEASE, DAY)
            .await
            .unwrap(),
        Claim::InProgress
    );
    let stored = second.operation_legs("op-1").await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].state, LegState::Done);
    assert_eq!(stored[0].result.as_deref(), Some("{\"id\":1}"));
    assert_eq!(stored[1..], legs[1..]);

    // The relay of a restarted gateway picks up what the dead request had leased.
    let leased = second.lease_due(T0 + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&leased), vec![legs[1].id.clone()]);

    // A store open at the same time sees the lease.
    let third = db.connect().await;
    assert!(
        third
            .lease_due(T0 + LEASE + 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        third
            .leg(&legs[1].id)
            .await
            .unwrap()
            .unwrap()
            .next_attempt_at_ms,
        T0 + 2 * LEASE
    );
}

#[test]
fn new_ids_are_26_lowercase_base36_chars_sorting_by_creation() {
    let mut previous = new_id();
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        let id = new_id();
        assert_eq!(id.len(), 26);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
            "{id}"
        );
        assert!(previous < id, "{previous} !< {id}");
        previous = id;
    }
    let many: HashSet<String> = (0..10_000).map(|_| new_id()).collect();
    assert_eq!(many.len(), 10_000);
}
