//! A create retried after a transient failure adopts only what it provably made: a
//! stranger sharing the new person's email or phone is never linked, overwritten or
//! deleted.

use crate::harness::gateway::*;
use contactgraph::{
    clock::ManualClock,
    demo::Demo,
    sim::{SimOptions, ghl::GhlSimConfig, seed::Kind},
};
use serde_json::{Value, json};

const CREATE: &str = r#"mutation($input: ContactInput!, $key: String) {
    createContact(input: $input, idempotencyKey: $key) {
        status writes { system status errorCode message } } }"#;

/// The three ways a create's answer goes missing.
fn transient_faults() -> [(&'static str, Value); 3] {
    [
        ("a 503", json!({"status": 503, "times": 1})),
        (
            "an answer lost after GHL applied it",
            json!({"action": "apply_then_hang", "times": 1}),
        ),
        ("a timeout", json!({"action": "hang", "times": 1})),
    ]
}

async fn demo(allow_duplicates: bool, clock: &ManualClock) -> Demo {
    app()
        .sims(SimOptions {
            people: 60,
            ghl: GhlSimConfig {
                allow_duplicate_contact: allow_duplicates,
                ..GhlSimConfig::default()
            },
            ..SimOptions::default()
        })
        .config(json!({
            "ghl": {"timeout_ms": 400},
            "writes": {"retry_base_ms": 50, "retry_max_ms": 200}
        }))
        .clock(clock)
        .start()
        .await
}

/// A GHL lead that exists before the test, as GHL holds it.
async fn stranger(demo: &Demo) -> Value {
    let id = demo
        .world
        .example(Kind::GhlOnly)
        .and_then(|e| e.ghl_contact_id.clone())
        .expect("a GHL-only contact");
    ghl_contact(demo, &id).await
}

/// New input that shares the stranger's phone, or its email.
fn sharing(stranger: &Value, share_phone: bool, n: usize) -> Value {
    let mut input = json!({"firstName": "Nadia", "lastName": format!("Newcomer{n}")});
    if share_phone {
        input["phone"] = stranger["phone"].clone();
        input["email"] = json!(format!("nadia.newcomer{n}@example.net"));
    } else {
        input["email"] = stranger["email"].clone();
        input["phone"] = json!(format!("+1512555{:04}", 3000 + n));
    }
    input
}

async fn replay(demo: &Demo, input: &Value, key: &str) -> Value {
    let body = graphql(demo, CREATE, json!({"input": input, "key": key})).await;
    body["data"]["createContact"].clone()
}

/// The stranger is as it was: same fields, linked to nobody, not deleted.
async fn untouched(demo: &Demo, before: &Value, case: &str) {
    let id = before["id"].as_str().expect("id");
    let now = ghl_contact(demo, id).await;
    assert_eq!(now, *before, "{case}: the stranger is unchanged");
    let p = graphql(
        demo,
        "query($id: ID!) { contact(id: $id) { linkStatus } }",
        json!({"id": id}),
    )
    .await;
    assert_ne!(p["data"]["contact"]["linkStatus"], "LINKED", "{case}: {p}");
    let s = stats(&demo.sims.ghl.url()).await;
    assert_eq!(
        s.count("DELETE /contacts/{contactId}"),
        0,
        "{case}: nothing deleted"
    );
}

#[tokio::test]
async fn a_retried_create_never_adopts_a_stranger_sharing_its_phone_or_email() {
    for share_phone in [true, false] {
        for (n, (what, fault)) in transient_faults().into_iter().enumerate() {
            let case = format!(
                "{what}, sharing the {}",
                if share_phone { "phone" } else { "email" }
            );
            let clock = manual_clock();
            let demo = demo(false, &clock).await;
            let before = stranger(&demo).await;
            let mut rule = fault;
            rule["route"] = json!("POST /contacts/");
            faults(&demo.sims.ghl.url(), json!({"rules": [rule]})).await;
            let input = sharing(&before, share_phone, n);
            let key = format!("adopt-nothing-{n}-{share_phone}");
            let first = replay(&demo, &input, &key).await;
            assert_eq!(first["status"], "PENDING", "{case}: {first}");
            settle_relay(&demo, &clock).await;
            let last = replay(&demo, &input, &key).await;
            assert_eq!(last["status"], "FAILED", "{case}: {last}");
            let ghl = &last["writes"][0];
            assert_eq!(ghl["status"], "FAILED", "{case}: {last}");
            assert_eq!(ghl["errorCode"], "UPSTREAM_REJECTED", "{case}: {last}");
            let named = before["id"].as_str().expect("id");
            assert!(
                ghl["message"].as_str().is_some_and(|m| m.contains(named)),
                "{case}: the refusal names the existing record: {last}"
            );
            for later in last["writes"].as_array().expect("writes").iter().skip(1) {
                assert_eq!(later["status"], "SKIPPED", "{case}: {last}");
            }
            untouched(&demo, &before, &case).await;
            let clubos = stats(&demo.sims.clubos.url()).await;
            assert_eq!(
                clubos.count("POST /users"),
                0,
                "{case}: no prospect for a refused person"
            );
        }
    }
}

#[tokio::test]
async fn where_duplicates_are_allowed_a_create_applied_unanswered_is_recognised_once() {
    for share_phone in [true, false] {
        let case = format!(
            "sharing the {}",
            if share_phone { "phone" } else { "email" }
        );
        let clock = manual_clock();
        let demo = demo(true, &clock).await;
        let before = stranger(&demo).await;
        faults(
            &demo.sims.ghl.url(),
            json!({"rules": [{"route": "POST /contacts/", "action": "apply_then_hang", "times": 1}]}),
        )
        .await;
        let input = sharing(&before, share_phone, 9);
        let key = format!("recognise-{share_phone}");
        let first = replay(&demo, &input, &key).await;
        assert_eq!(first["status"], "PENDING", "{case}: {first}");
        settle_relay(&demo, &clock).await;
        let last = replay(&demo, &input, &key).await;
        assert_eq!(last["status"], "APPLIED", "{case}: {last}");
        let s = stats(&demo.sims.ghl.url()).await;
        assert_eq!(
            s.count("POST /contacts/"),
            1,
            "{case}: the contact was created once"
        );
        untouched(&demo, &before, &case).await;
    }
}

#[tokio::test]
async fn a_retried_club_os_create_never_adopts_a_household_member_sharing_the_email() {
    let clock = manual_clock();
    let demo = app()
        .people(60)
        .config(json!({
            "clubos": {"timeout_ms": 400},
            "writes": {"retry_base_ms": 50, "retry_max_ms": 200}
        }))
        .clock(&clock)
        .start()
        .await;
    let member = demo
        .world
        .example(Kind::ClubOsOnly)
        .expect("a member")
        .clubos_user_ids[0];
    let before = clubos_user(&demo, member).await;
    faults(
        &demo.sims.clubos.url(),
        json!({"rules": [{"route": "POST /users", "action": "hang", "times": 1}]}),
    )
    .await;
    let input = json!({"firstName": "Kim", "lastName": before["lastName"],
        "email": before["email"], "phone": "+15125554411"});
    let first = replay(&demo, &input, "household-retry").await;
    assert_eq!(first["status"], "PENDING", "{first}");
    settle_relay(&demo, &clock).await;
    let last = replay(&demo, &input, "household-retry").await;
    assert_eq!(last["status"], "FAILED", "{last}");
    let clubos = &last["writes"][1];
    assert_eq!(clubos["errorCode"], "UPSTREAM_REJECTED", "{last}");
    assert!(
        clubos["message"]
            .as_str()
            .is_some_and(|m| m.contains(&member.to_string())),
        "the refusal names the member: {last}"
    );
    assert_eq!(
        clubos_user(&demo, member).await,
        before,
        "the member is unchanged"
    );
    let p = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus } }",
        json!({"id": member.to_string()}),
    )
    .await;
    assert_eq!(p["data"]["contact"]["linkStatus"], "CLUB_OS_ONLY", "{p}");
    let ghl = stats(&demo.sims.ghl.url()).await;
    assert_eq!(ghl.count("POST /contacts/"), 1);
    assert_eq!(
        ghl.count("DELETE /contacts/{contactId}"),
        1,
        "only the contact this operation created is undone"
    );
}

#[tokio::test]
async fn a_write_answered_2xx_with_an_unreadable_body_is_applied_and_never_sent_again() {
    let clock = manual_clock();
    let demo = demo(false, &clock).await;
    let ids: Vec<String> = demo
        .world
        .ghl
        .contacts
        .iter()
        .take(3)
        .map(|c| c.id.clone())
        .collect();
    faults(
        &demo.sims.ghl.url(),
        json!({"rules": [
            {"route": "POST /contacts/bulk/tags/update/{type}", "action": "apply_then_malformed"},
            {"route": "POST /contacts/", "action": "apply_then_malformed"}
        ]}),
    )
    .await;
    let bulk = graphql(
        &demo,
        r#"mutation($ids: [ID!]!) { bulkUpdateTags(ids: $ids, tags: ["vip"], action: ADD) { status } }"#,
        json!({"ids": ids}),
    )
    .await;
    assert_eq!(
        bulk["data"]["bulkUpdateTags"]["status"], "APPLIED",
        "{bulk}"
    );
    let created = replay(
        &demo,
        &json!({"firstName": "Una", "lastName": "Readable", "email": "una.readable@example.net"}),
        "unreadable-create",
    )
    .await;
    assert_eq!(created["status"], "APPLIED", "{created}");
    settle_relay(&demo, &clock).await;
    let s = stats(&demo.sims.ghl.url()).await;
    assert_eq!(
        s.count("POST /contacts/bulk/tags/update/{type}"),
        1,
        "sent once"
    );
    assert_eq!(s.count("POST /contacts/"), 1, "created once");
    for id in &ids {
        let c = ghl_contact(&demo, id).await;
        assert!(c["tags"].to_string().contains("vip"), "{c}");
    }
    let p = graphql(
        &demo,
        r#"{ contactByEmail(email: "una.readable@example.net") { linkStatus linkedBy } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        p["data"]["contactByEmail"]["linkStatus"], "LINKED",
        "settled by the look-up: {p}"
    );
}
