//! GHL's "not now" is respected without freezing anyone: a long `Retry-After` fails
//! reads fast with `UPSTREAM_RATE_LIMITED` and `retryAfter`, sends nothing more while it
//! lasts, and leaves writes pending; a Club OS outage keeps strongly linked people linked.

use crate::harness::gateway::*;
use contactgraph::sim::seed::Kind;
use serde_json::{Value, json};

const PERSON: &str =
    "query($id: ID!) { contact(id: $id) { linkStatus linkedBy name clubOs { userId } } }";

#[tokio::test]
async fn a_long_retry_after_fails_reads_fast_and_leaves_writes_pending() {
    let demo = start(60, json!({"retry": {"deadline_ms": 3000}})).await;
    let ids: Vec<String> = demo
        .world
        .ghl
        .contacts
        .iter()
        .take(3)
        .map(|c| c.id.clone())
        .collect();
    let warm = graphql(&demo, PERSON, json!({"id": ids[0]})).await;
    assert!(warm["errors"].is_null(), "{warm}");
    let ready = reqwest::get(format!("{}/readyz", demo.url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    faults(
        &demo.sims.ghl.url(),
        json!({"rules": [{"status": 429, "retry_after_secs": 3600, "times": 1}]}),
    )
    .await;
    let before = stats(&demo.sims.ghl.url()).await.total;
    let cold = graphql(&demo, PERSON, json!({"id": ids[1]})).await;
    assert_eq!(error_code(&cold), Some("UPSTREAM_RATE_LIMITED"), "{cold}");
    let wait = cold["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    assert!((3500..=3600).contains(&wait), "{cold}");
    let after_first = stats(&demo.sims.ghl.url()).await.total;
    assert_eq!(after_first - before, 1, "the 429 is not retried");
    let health: Value = reqwest::get(format!("{}/healthz", demo.url()))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["ghl"]["status"], "paused", "{health}");
    let left = health["checks"]["ghl"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    assert!((3500..=3600).contains(&left), "{health}");
    assert_eq!(health["checks"]["store"]["status"], "ok", "{health}");
    let ready = reqwest::get(format!("{}/readyz", demo.url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["status"], "not_ready", "{ready}");
    assert_eq!(ready["checks"]["ghl"]["status"], "paused", "{ready}");

    // While GHL's pause lasts, nothing more is sent: another read fails at once.
    let other = graphql(&demo, PERSON, json!({"id": ids[2]})).await;
    assert_eq!(error_code(&other), Some("UPSTREAM_RATE_LIMITED"), "{other}");
    assert!(
        other["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some(),
        "{other}"
    );
    // A cached person still reads.
    let cached = graphql(&demo, PERSON, json!({"id": ids[0]})).await;
    assert_eq!(
        cached["data"]["contact"]["name"], warm["data"]["contact"]["name"],
        "{cached}"
    );
    // A write waits in the outbox instead of hanging or failing.
    let tag = graphql(
        &demo,
        r#"mutation($id: ID!) { addTags(id: $id, tags: ["later"]) { status } }"#,
        json!({"id": ids[0]}),
    )
    .await;
    assert_eq!(tag["data"]["addTags"]["status"], "PENDING", "{tag}");
    assert_eq!(
        stats(&demo.sims.ghl.url()).await.total,
        after_first,
        "nothing sent during the pause"
    );
}

#[tokio::test]
async fn a_club_os_outage_keeps_a_strongly_linked_person_linked() {
    let demo = start(60, json!({"retry": {"max_attempts": 1}})).await;
    let p = demo
        .world
        .example(Kind::StoredLink)
        .expect("a link-field person");
    let id = p.ghl_contact_id.clone().expect("ghl id");
    faults(&demo.sims.clubos.url(), json!({"outage": true})).await;
    let body = graphql(&demo, PERSON, json!({"id": id})).await;
    let c = &body["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED", "{body}");
    assert_eq!(c["linkedBy"], "CUSTOM_FIELD", "{body}");
    assert_eq!(
        error_code(&body),
        Some("UPSTREAM_UNAVAILABLE"),
        "the Club OS fields carry the error: {body}"
    );
    let update = graphql(
        &demo,
        r#"mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Half"}) { status } }"#,
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        error_code(&update),
        Some("UPSTREAM_UNAVAILABLE"),
        "no GHL-only half write: {update}"
    );
}

const BUDGET: &str = "{ ghlBudget { windowAllowed backgroundWindowAllowed dailyAllowed
  backgroundDailyAllowed interactiveUsed backgroundUsed bySource { source used } }
  syncStatus { source budgetUsed } }";

#[tokio::test]
async fn background_work_stops_at_its_daily_share_and_reads_go_on() {
    // 2,000 requests a day, of which background work may take 2 (0.1 %).
    let demo = app()
        .people(40)
        .config(json!({
            "read_model": {"enabled": true, "backfill_on_start": false},
            "ghl": {"rate_limit": {"daily": 2000, "headroom": 1.0,
                                   "background_daily_share": 0.001}},
        }))
        .start()
        .await;
    let ghl = demo.sims.ghl.url();
    let before = stats(&ghl).await.total;
    let filled = graphql(&demo, "mutation { backfill { ghlContacts } }", json!({})).await;
    assert!(filled["errors"].is_null(), "{filled}");
    let backfill_calls = stats(&ghl).await.total - before;
    assert_eq!(backfill_calls, 1, "one search page of 40 contacts");

    let id = demo.world.ghl.contacts[0].id.clone();
    let before = stats(&ghl).await.total;
    let read = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { id tasks { id } } }",
        json!({"id": id}),
    )
    .await;
    assert!(read["errors"].is_null(), "{read}");
    let read_calls = stats(&ghl).await.total - before;

    let budget = graphql(&demo, BUDGET, json!({})).await;
    let b = &budget["data"]["ghlBudget"];
    assert_eq!(b["dailyAllowed"], 2000, "{budget}");
    assert_eq!(b["backgroundDailyAllowed"], 2, "{budget}");
    assert_eq!(b["windowAllowed"], 100, "{budget}");
    assert_eq!(b["backgroundWindowAllowed"], 50, "{budget}");
    assert_eq!(b["backgroundUsed"], backfill_calls, "{budget}");
    assert_eq!(
        b["bySource"],
        json!([{"source": "backfill:ghl_contact", "used": backfill_calls}]),
        "{budget}"
    );
    let status = &budget["data"]["syncStatus"];
    let row = status
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["source"] == "backfill:ghl_contact"))
        .expect("backfill row");
    assert_eq!(row["budgetUsed"], backfill_calls, "{budget}");
    assert!(
        b["interactiveUsed"].as_u64().unwrap() >= read_calls,
        "every interactive call is counted: {budget}"
    );

    // Reconcile reads every contact again: one more page, then its share is spent.
    let reconcile = graphql(&demo, "mutation { reconcile { kind } }", json!({})).await;
    assert!(reconcile["errors"].is_null(), "{reconcile}");
    let before = stats(&ghl).await.total;
    let refused = graphql(&demo, "mutation { reconcile { kind } }", json!({})).await;
    assert_eq!(
        error_code(&refused),
        Some("UPSTREAM_RATE_LIMITED"),
        "{refused}"
    );
    assert_eq!(
        stats(&ghl).await.total - before,
        0,
        "nothing is sent past the share"
    );
    // Interactive work keeps the rest of the day.
    let other = demo.world.ghl.contacts[1].id.clone();
    let read = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { id tasks { id } } }",
        json!({"id": other}),
    )
    .await;
    assert!(read["errors"].is_null(), "{read}");
}
