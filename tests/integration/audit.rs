//! The audit trail over HTTP: every upstream write (a mutation, a propagation, a link the
//! sweep stored) is listed per person and per operation with who or which rule asked,
//! what was sent and what each system answered; it needs the admin role.

use contactgraph::{auth::Role, sim::seed::Kind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::gateway::*;

const AUDIT: &str = r#"query($person: ID, $operation: String, $first: Int = 20, $after: String) {
  writeAudit(person: $person, operation: $operation, first: $first, after: $after) {
    entries { operationId at operation actor reason ghlContactId clubOsUserId
      writes { system operation state sent answer errorCode attempts } }
    endCursor hasNextPage } }"#;

async fn audit(demo: &contactgraph::demo::Demo, variables: Value) -> Value {
    let body = graphql(demo, AUDIT, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["writeAudit"].clone()
}

#[tokio::test]
async fn every_write_is_listed_per_person_with_who_asked_what_was_sent_and_the_answers() {
    let demo = app()
        .people(80)
        .unthrottled()
        .config(json!({"sync": {"propagate": true}}))
        .start()
        .await;
    let swept = graphql(&demo, "mutation { syncLinks { linked } }", json!({})).await;
    assert!(swept["errors"].is_null(), "{swept}");
    let person = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Linked)
        .unwrap();
    let (g, u) = (
        person.ghl_contact_id.clone().unwrap(),
        person.clubos_user_ids[0],
    );
    let polled = graphql(&demo, "mutation { pollClubOs { seen } }", json!({})).await;
    assert!(polled["errors"].is_null(), "{polled}");
    let changed = clubos_api(
        &demo,
        Method::PUT,
        &format!("/users/{u}"),
        Some(json!({"email": "audited@example.org"})),
    )
    .await;
    assert_eq!(changed["userId"], u);
    let polled = graphql(&demo, "mutation { pollClubOs { propagated } }", json!({})).await;
    assert_eq!(polled["data"]["pollClubOs"]["propagated"], 1, "{polled}");
    let tagged = graphql(
        &demo,
        r#"mutation($id: ID!) { addTags(id: $id, tags: ["vip"]) { status } }"#,
        json!({"id": g}),
    )
    .await;
    assert!(tagged["errors"].is_null(), "{tagged}");

    // By either of the person's ids: the same three, newest first.
    let by_user = audit(&demo, json!({"person": u.to_string()})).await;
    let by_contact = audit(&demo, json!({"person": g})).await;
    assert_eq!(by_user, by_contact);
    let entries = by_user["entries"].as_array().unwrap();
    let operations: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        ["addTags", "propagateToGhl", "storeLink"],
        "{by_user}"
    );

    let mutation = &entries[0];
    let actor = mutation["actor"].as_str().unwrap();
    assert!(actor.starts_with("caller:"), "{mutation}");
    assert!(!actor.contains(&demo.api_key), "never the key itself");
    assert_eq!(mutation["writes"][0]["system"], "GHL", "{mutation}");
    assert_eq!(mutation["writes"][0]["state"], "DONE", "{mutation}");
    assert!(mutation["writes"][0]["sent"].to_string().contains("vip"));

    let propagation = &entries[1];
    assert_eq!(propagation["actor"], "sync:clubos_users", "{propagation}");
    let reason = propagation["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Club OS change, by [sync.fields]:")
            && reason.contains("email (newest)"),
        "{reason}"
    );
    assert_eq!(propagation["ghlContactId"], g.as_str());
    assert_eq!(propagation["clubOsUserId"], u);
    let sent = propagation["writes"][0]["sent"].to_string();
    assert!(sent.contains("audited@example.org"), "{sent}");
    assert_eq!(propagation["writes"][0]["state"], "DONE");

    assert_eq!(entries[2]["actor"], "sync:links", "{by_user}");
    let text = by_user.to_string();
    assert!(!text.contains("Bearer") && !text.contains(&demo.api_key));

    // By operation, paged.
    let first = audit(&demo, json!({"operation": "storeLink", "first": 2})).await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    assert_eq!(first["hasNextPage"], true);
    let next = audit(
        &demo,
        json!({"operation": "storeLink", "first": 2, "after": first["endCursor"]}),
    )
    .await;
    let seen: Vec<&Value> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(next["entries"].as_array().unwrap())
        .map(|e| &e["operationId"])
        .collect();
    let distinct: std::collections::HashSet<String> = seen.iter().map(|v| v.to_string()).collect();
    assert_eq!(distinct.len(), seen.len(), "pages never repeat");

    // Staff below admin cannot read it.
    let staff = key(&demo, Role::Write).await;
    let (_, refused) = post(
        &demo,
        Some(&staff),
        json!({"query": AUDIT, "variables": {"person": g}}),
    )
    .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
}
