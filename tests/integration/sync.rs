//! Two-way sync, Club OS to GHL: a poll finds what changed in Club OS since its cursor and
//! carries it to the linked GHL contact per the field mapping; the echo (GHL's webhook
//! of that write, the next poll seeing the user again) writes nothing; the dry run shows
//! what propagation would write without writing it. Writes are counted at the simulators.

use contactgraph::{
    demo::Demo,
    sim::{SimOptions, ghl::GhlSimConfig, seed::Kind},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::gateway::*;

const POLL: &str =
    "mutation { pollClubOs { seen propagated unchanged unlinked created failed cursor } }";

async fn demo(people: usize, sync: Value) -> Demo {
    app()
        .people(people)
        .unthrottled()
        .config(json!({"sync": sync}))
        .start()
        .await
}

async fn run(demo: &Demo, doc: &str, field: &str) -> Value {
    let body = graphql(demo, doc, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"][field].clone()
}

async fn poll(demo: &Demo) -> Value {
    run(demo, POLL, "pollClubOs").await
}

/// A seeded person linked by email, after the link sweep stored the link.
async fn linked_person(demo: &Demo) -> (String, i64) {
    let swept = run(demo, "mutation { syncLinks { linked } }", "syncLinks").await;
    assert!(swept["linked"].as_u64().unwrap() > 0, "{swept}");
    let p = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Linked)
        .unwrap();
    (p.ghl_contact_id.clone().unwrap(), p.clubos_user_ids[0])
}

async fn change_member(demo: &Demo, user: i64, body: Value) {
    let changed = clubos_api(demo, Method::PUT, &format!("/users/{user}"), Some(body)).await;
    assert_eq!(changed["userId"], user, "{changed}");
}

/// A GHL contact's tags.
fn tags_of(contact: &Value) -> Vec<&str> {
    contact["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn route(stats: &contactgraph::sim::admin::StatsSnapshot, name: &str) -> u64 {
    stats.count(name)
}

#[tokio::test]
async fn a_club_os_change_reaches_ghl_at_the_next_poll_and_its_echo_writes_nothing() {
    let demo = demo(120, json!({"propagate": true})).await;
    let (g, u) = linked_person(&demo).await;
    let first = poll(&demo).await;
    assert_eq!(
        first["seen"], 0,
        "the first poll only records where it starts: {first}"
    );

    change_member(
        &demo,
        u,
        json!({"email": "new.address@example.org", "lastName": "Okafor-Reyes"}),
    )
    .await;
    let (ghl_before, clubos_before) = both_stats(&demo).await;
    let second = poll(&demo).await;
    assert_eq!(second["propagated"], 1, "{second}");
    assert_eq!(second["failed"], 0);
    assert!(second["cursor"].as_str().unwrap() > first["cursor"].as_str().unwrap());

    let contact = ghl_contact(&demo, &g).await;
    assert_eq!(contact["email"], "new.address@example.org", "{contact}");
    assert_eq!(contact["lastName"], "Okafor-Reyes");
    let member = clubos_user(&demo, u).await;
    let tags = tags_of(&contact);
    let status = member["membershipStatus"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace(' ', "-");
    assert!(
        tags.contains(&format!("clubos-status-{status}").as_str()),
        "membership carried as a tag: {tags:?}"
    );
    let (ghl_after, _) = both_stats(&demo).await;
    assert_eq!(
        route(&ghl_after, "PUT /contacts/{contactId}")
            - route(&ghl_before, "PUT /contacts/{contactId}"),
        1,
        "one contact write"
    );

    // The echo: GHL's webhook of that write reached the gateway, and the next poll sees
    // the user again (the cursor is inclusive). Neither writes anything anywhere.
    let third = poll(&demo).await;
    assert_eq!(third["propagated"], 0, "{third}");
    let (ghl_echo, clubos_echo) = both_stats(&demo).await;
    assert_eq!(writes(&ghl_echo), writes(&ghl_after), "no second GHL write");
    assert_eq!(
        writes(&clubos_echo),
        writes(&clubos_before),
        "nothing written back to Club OS"
    );

    // The gateway reads the person the same from both sides.
    const PERSON: &str = "query($id: ID!) { contact(id: $id) { email lastName ghl { email } } }";
    for id in [g.clone(), u.to_string()] {
        let body = graphql(&demo, PERSON, json!({"id": id})).await;
        assert_eq!(
            body["data"]["contact"]["ghl"]["email"], "new.address@example.org",
            "{body}"
        );
        assert_eq!(body["data"]["contact"]["lastName"], "Okafor-Reyes");
    }
}

#[tokio::test]
async fn without_propagation_a_poll_writes_nothing_and_the_plan_shows_what_it_would() {
    let demo = demo(120, json!({})).await;
    let (g, u) = linked_person(&demo).await;
    poll(&demo).await;
    change_member(&demo, u, json!({"email": "plan.only@example.org"})).await;
    let (ghl_before, _) = both_stats(&demo).await;
    let polled = poll(&demo).await;
    assert!(polled["seen"].as_u64().unwrap() >= 1, "{polled}");
    assert_eq!(polled["propagated"], 0);

    let mut planned = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = graphql(
            &demo,
            "query($after: String) { syncPlan(first: 100, after: $after) {
                compared writes { ghlContactId clubOsUserId changes { field from to } }
                pageInfo { hasNextPage endCursor } } }",
            json!({"after": after}),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &body["data"]["syncPlan"];
        planned.extend(page["writes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mine = planned
        .iter()
        .find(|w| w["ghlContactId"] == g.as_str())
        .unwrap_or_else(|| panic!("{g} is planned: {planned:?}"));
    assert_eq!(mine["clubOsUserId"], u.to_string());
    let email = mine["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "email")
        .expect("an email change");
    assert_eq!(email["to"], "plan.only@example.org");
    assert_ne!(email["from"], "plan.only@example.org");
    let surname = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::ChangedSurname)
        .unwrap();
    let theirs = planned
        .iter()
        .find(|w| w["ghlContactId"] == surname.ghl_contact_id.as_deref().unwrap())
        .expect("the person whose surname differs is planned");
    assert!(
        theirs["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "last_name")
    );

    let (ghl_after, _) = both_stats(&demo).await;
    assert_eq!(
        writes(&ghl_after),
        writes(&ghl_before),
        "neither the poll nor the plan wrote"
    );

    let status = run(
        &demo,
        "{ syncStatus { source scheduled propagates cursor lastSuccessAt lastError } }",
        "syncStatus",
    )
    .await;
    assert_eq!(status[0]["source"], "clubos_users");
    assert_eq!(status[0]["propagates"], false);
    assert_eq!(status[0]["cursor"], polled["cursor"]);
    assert!(status[0]["lastSuccessAt"].is_string());
    assert!(status[0]["lastError"].is_null());
}

#[tokio::test]
async fn a_ghl_edit_reaches_club_os_through_its_webhook_and_the_next_poll_writes_nothing_back() {
    let demo = demo(120, json!({"propagate": true})).await;
    let ghl = demo.sims.ghl.url();
    let (g, u) = linked_person(&demo).await;
    // The sweep's link-field mirrors came back as webhooks: the gateway's own writes, so
    // they carried nothing to Club OS.
    let sent = deliveries(&ghl).await.sent;
    settled(&ghl, sent).await;
    let (_, clubos_swept) = both_stats(&demo).await;
    assert_eq!(
        writes(&clubos_swept),
        0,
        "the gateway's own GHL writes are not a change"
    );
    poll(&demo).await;

    let edited = ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{g}"),
        Some(json!({"email": "from.the.crm@example.org", "lastName": "Renamed-In-Ghl"})),
    )
    .await;
    assert_eq!(
        edited["contact"]["email"], "from.the.crm@example.org",
        "{edited}"
    );
    settled(&ghl, sent + 1).await;

    let member = clubos_user(&demo, u).await;
    assert_eq!(
        member["email"], "from.the.crm@example.org",
        "the newest email wins: {member}"
    );
    assert_ne!(
        member["lastName"], "Renamed-In-Ghl",
        "Club OS is the surname's authority"
    );
    let (ghl_before, clubos_before) = both_stats(&demo).await;
    assert_eq!(writes(&clubos_before), 1, "one Club OS write");

    // The echo: the poll sees the user the gateway just wrote. The email agrees; the
    // surname is Club OS's, so GHL gets Club OS's back, and nothing goes to Club OS again.
    let polled = poll(&demo).await;
    assert_eq!(polled["propagated"], 1, "{polled}");
    let contact = ghl_contact(&demo, &g).await;
    assert_eq!(contact["lastName"], member["lastName"], "{contact}");
    assert_eq!(contact["email"], "from.the.crm@example.org");
    settled(&ghl, deliveries(&ghl).await.sent).await;
    let (ghl_after, clubos_after) = both_stats(&demo).await;
    assert_eq!(
        writes(&clubos_after),
        writes(&clubos_before),
        "no write back to Club OS"
    );
    assert_eq!(
        route(&ghl_after, "PUT /contacts/{contactId}")
            - route(&ghl_before, "PUT /contacts/{contactId}"),
        1,
        "the surname, once"
    );
    let again = poll(&demo).await;
    assert_eq!(again["propagated"], 0, "{again}");
}

#[tokio::test]
async fn readiness_watches_the_scheduled_club_os_poll() {
    let demo = demo(60, json!({"clubos_poll": true, "interval_minutes": 15})).await;
    let ready = reqwest::get(format!("{}/readyz", demo.url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["checks"]["clubosPoll"]["status"], "ok", "{body}");
    let health = get_json(format!("{}/healthz", demo.url())).await;
    assert!(
        health["checks"]["clubosPoll"].is_null(),
        "healthz stays liveness: {health}"
    );
}

#[tokio::test]
async fn with_webhooks_lost_the_ghl_poll_catches_a_change_stores_it_and_carries_it() {
    let demo = app()
        .people(120)
        .unthrottled()
        .config(json!({
            "sync": {"propagate": true},
            "read_model": {"enabled": true, "backfill_on_start": false},
        }))
        .start()
        .await;
    let (g, u) = linked_person(&demo).await;
    const GHL_POLL: &str =
        "mutation { pollGhl { seen propagated unchanged unlinked failed cursor } }";
    let first = run(&demo, GHL_POLL, "pollGhl").await;
    assert_eq!(first["seen"], 0, "the first poll records where it starts");

    // GHL's webhook for this change never arrives.
    demo.sims.ghl_state.set_webhook_url(None);
    let changed = ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{g}"),
        Some(json!({"email": "polled.change@example.org"})),
    )
    .await;
    assert_eq!(
        changed["contact"]["email"], "polled.change@example.org",
        "{changed}"
    );
    let (_, clubos_before) = both_stats(&demo).await;
    let second = run(&demo, GHL_POLL, "pollGhl").await;
    assert!(second["seen"].as_u64().unwrap() >= 1, "{second}");
    assert_eq!(second["propagated"], 1, "{second}");
    assert_eq!(
        clubos_user(&demo, u).await["email"],
        "polled.change@example.org"
    );
    let (_, clubos_after) = both_stats(&demo).await;
    assert_eq!(
        writes(&clubos_after) - writes(&clubos_before),
        1,
        "one Club OS write"
    );

    // The read model holds the change: with the caches empty the contact is served
    // from it, without reading GHL.
    demo.gateway.readers.caches.invalidate_everything();
    let gets = stats(demo.sims.ghl.url())
        .await
        .count("GET /contacts/{contactId}");
    let body = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { ghl { email } } }",
        json!({"id": g}),
    )
    .await;
    assert_eq!(
        body["data"]["contact"]["ghl"]["email"], "polled.change@example.org",
        "{body}"
    );
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("GET /contacts/{contactId}"),
        gets
    );

    // The next poll sees the contact again (the range is inclusive) and writes nothing.
    let third = run(&demo, GHL_POLL, "pollGhl").await;
    assert_eq!(third["propagated"], 0, "{third}");
    assert_eq!(writes(&both_stats(&demo).await.1), writes(&clubos_after));
}

#[tokio::test]
async fn a_members_home_club_and_join_date_reach_ghl_as_a_tag_and_a_custom_field() {
    let demo = demo(120, json!({"propagate": true})).await;
    let swept = run(&demo, "mutation { syncLinks { linked } }", "syncLinks").await;
    assert!(swept["linked"].as_u64().unwrap() > 0, "{swept}");
    // A linked member with a join date.
    let (g, u, member) = {
        let mut found = None;
        for p in demo.world.people.iter().filter(|p| p.kind == Kind::Linked) {
            let user = clubos_user(&demo, p.clubos_user_ids[0]).await;
            if user["joinDate"].is_string() {
                found = Some((
                    p.ghl_contact_id.clone().unwrap(),
                    p.clubos_user_ids[0],
                    user,
                ));
                break;
            }
        }
        found.expect("a linked member with a join date")
    };
    poll(&demo).await;
    change_member(&demo, u, json!({"lastName": "Moved-On"})).await;
    let polled = poll(&demo).await;
    assert_eq!(polled["propagated"], 1, "{polled}");

    let club = contactgraph::sim::seed::CLUBOS_LOCATION_IDS
        .iter()
        .position(|id| *id == member["locationId"].as_i64().unwrap())
        .map(|i| ["downtown", "northside"][i])
        .expect("a seeded club");
    let contact = ghl_contact(&demo, &g).await;
    let tags = tags_of(&contact);
    assert!(
        tags.contains(&format!("clubos-home-{club}").as_str()),
        "{tags:?}"
    );
    let joined = &member["joinDate"].as_str().unwrap()[..10];
    let field = contact["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == contactgraph::sim::seed::CLUBOS_JOIN_DATE_FIELD_ID)
        .unwrap_or_else(|| panic!("the join date field: {contact}"));
    assert_eq!(field["value"], joined, "{contact}");

    // Seen again, the user finds GHL in step: nothing more is written.
    let (ghl_before, _) = both_stats(&demo).await;
    let again = poll(&demo).await;
    assert_eq!(again["propagated"], 0, "{again}");
    assert_eq!(writes(&both_stats(&demo).await.0), writes(&ghl_before));
}

#[tokio::test]
async fn a_club_os_user_nobody_in_ghl_holds_gets_a_linked_contact_and_a_household_member_does_not()
{
    let demo = demo(200, json!({"create_in_ghl": true})).await;
    poll(&demo).await;
    let only = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::ClubOsOnly)
        .expect("a Club OS-only person");
    let u = only.clubos_user_ids[0];
    // Two Club OS users sharing one GHL contact's email: a household.
    let shared = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Ambiguous)
        .expect("a household");
    let h = shared.clubos_user_ids[0];
    // A person GHL names only by the link field, not yet a stored link.
    let field_linked = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::StoredLink)
        .expect("a person linked by the custom field");
    change_member(&demo, u, json!({"lastName": "Newcomer"})).await;
    change_member(&demo, h, json!({"lastName": "Household"})).await;
    change_member(
        &demo,
        field_linked.clubos_user_ids[0],
        json!({"email": "moved.elsewhere@example.org", "lastName": "Fieldlinked",
               "homePhone": "5125559871", "mobilePhone": "5125559872", "workPhone": "5125559873"}),
    )
    .await;
    let (ghl_before, _) = both_stats(&demo).await;
    let polled = poll(&demo).await;
    assert_eq!(polled["created"], 1, "{polled}");
    let (ghl_after, _) = both_stats(&demo).await;
    assert_eq!(
        route(&ghl_after, "POST /contacts/") - route(&ghl_before, "POST /contacts/"),
        1,
        "one contact made, none for the household member"
    );

    let person = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus linkedBy lastName ghl { id lastName email } } }",
        json!({"id": u.to_string()}),
    )
    .await;
    let p = &person["data"]["contact"];
    assert_eq!(p["linkStatus"], "LINKED", "{person}");
    assert_eq!(p["ghl"]["lastName"], "Newcomer", "{person}");
    let member = clubos_user(&demo, u).await;
    assert_eq!(p["ghl"]["email"], member["email"], "{person}");
    let household = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus } }",
        json!({"id": h.to_string()}),
    )
    .await;
    assert_ne!(
        household["data"]["contact"]["linkStatus"], "LINKED",
        "{household}"
    );

    // Seen again (the cursor is inclusive), nothing more is made or written.
    let again = poll(&demo).await;
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(writes(&both_stats(&demo).await.0), writes(&ghl_after));
}

#[tokio::test]
async fn a_refused_create_is_not_sent_again_until_the_user_changes() {
    let demo = demo(120, json!({"create_in_ghl": true})).await;
    poll(&demo).await;
    let u = example(&demo, Kind::ClubOsOnly).clubos_user_ids[0];
    change_member(&demo, u, json!({"lastName": "Refused"})).await;
    faults(
        &demo.sims.ghl.url(),
        json!({"rules": [{"route": "POST /contacts/", "status": 422, "times": 1}]}),
    )
    .await;
    let refused = poll(&demo).await;
    assert_eq!(refused["created"], 0, "{refused}");
    let again = poll(&demo).await;
    assert_eq!(again["created"], 0, "{again}");
    let sent = |s: &contactgraph::sim::admin::StatsSnapshot| s.count("POST /contacts/");
    assert_eq!(
        sent(&stats(&demo.sims.ghl.url()).await),
        1,
        "the same create is not sent twice"
    );
    change_member(&demo, u, json!({"lastName": "Corrected"})).await;
    let fixed = poll(&demo).await;
    assert_eq!(fixed["created"], 1, "{fixed}");
    assert_eq!(sent(&stats(&demo.sims.ghl.url()).await), 2);
}

#[tokio::test]
async fn a_contact_made_for_a_club_os_user_is_made_once_though_search_has_not_seen_it_yet() {
    let clock = manual_clock();
    let demo = app()
        .sims(SimOptions {
            people: 120,
            ghl: GhlSimConfig {
                allow_duplicate_contact: true,
                search_lag_ms: 600_000,
                ..GhlSimConfig::default()
            },
            ..SimOptions::default()
        })
        .unthrottled()
        .config(json!({"sync": {"create_in_ghl": true}, "ghl": {"timeout_ms": 400}}))
        .clock(&clock)
        .start()
        .await;
    poll(&demo).await;
    let u = example(&demo, Kind::ClubOsOnly).clubos_user_ids[0];
    change_member(&demo, u, json!({"lastName": "Newcomer"})).await;
    // GHL makes the contact but its answer never arrives: the link leg waits in the outbox.
    faults(
        &demo.sims.ghl.url(),
        json!({"rules": [{"route": "POST /contacts/", "action": "apply_then_hang", "times": 1}]}),
    )
    .await;
    let first = poll(&demo).await;
    assert_eq!(first["created"], 1, "{first}");
    // Polled again at once, GHL's search does not show the new contact yet.
    poll(&demo).await;
    settle_relay(&demo, &clock).await;
    poll(&demo).await;
    let made = stats(&demo.sims.ghl.url()).await.count("POST /contacts/");
    assert_eq!(made, 1, "one contact for the user, however often polled");
    let person = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus ghl { lastName } } }",
        json!({"id": u.to_string()}),
    )
    .await;
    assert_eq!(
        person["data"]["contact"]["linkStatus"], "LINKED",
        "{person}"
    );
    assert_eq!(
        person["data"]["contact"]["ghl"]["lastName"], "Newcomer",
        "{person}"
    );
}

/// Makes a contact at the GHL simulator itself (not through the gateway).
async fn new_lead(demo: &Demo, first: &str, email: &str) -> String {
    let made = ghl_api(
        demo,
        Method::POST,
        "/contacts/",
        Some(json!({
            "locationId": contactgraph::sim::seed::GHL_LOCATION_ID,
            "firstName": first,
            "lastName": "Lead",
            "email": email,
        })),
    )
    .await;
    made["contact"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{made}"))
        .to_owned()
}

#[tokio::test]
async fn a_new_ghl_contact_nobody_in_club_os_holds_gets_a_linked_prospect_once() {
    let demo = demo(120, json!({"create_in_clubos": true})).await;
    const GHL_POLL: &str = "mutation { pollGhl { seen unlinked created failed } }";
    run(&demo, GHL_POLL, "pollGhl").await;
    demo.sims.ghl_state.set_webhook_url(None);
    let fresh = new_lead(&demo, "Nova", "nova.lead@example.org").await;
    // Someone Club OS already holds by this email (a member GHL does not have yet):
    // maybe the same person, so no prospect is made for them.
    let member = example(&demo, Kind::ClubOsOnly);
    let known = new_lead(&demo, "Known", member.email.as_deref().expect("an email")).await;

    let polled = run(&demo, GHL_POLL, "pollGhl").await;
    assert_eq!(polled["created"], 1, "{polled}");
    assert_eq!(polled["failed"], 0, "{polled}");
    let made = clubos_api(
        &demo,
        Method::GET,
        "/users?email=nova.lead%40example.org",
        None,
    )
    .await;
    let users = made["content"].as_array().expect("a page of users");
    assert_eq!(users.len(), 1, "{made}");
    assert_eq!(users[0]["lastName"], "Lead", "{made}");
    let creates = |s: &contactgraph::sim::admin::StatsSnapshot| s.count("POST /users");
    assert_eq!(creates(&stats(demo.sims.clubos.url()).await), 1);
    let linked = async |id: String| {
        graphql(
            &demo,
            "query($id: ID!) { contact(id: $id) { linkStatus } }",
            json!({"id": id}),
        )
        .await["data"]["contact"]["linkStatus"]
            .clone()
    };
    assert_eq!(linked(fresh.clone()).await, "LINKED");
    assert_eq!(
        linked(known).await,
        "LINKED",
        "the contact Club OS holds links to that member by email, no second record"
    );
    assert!(polled["unlinked"].as_u64().unwrap() >= 1, "{polled}");

    // Seen again (the poll's range is inclusive): nothing made twice.
    let again = run(&demo, GHL_POLL, "pollGhl").await;
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(creates(&stats(demo.sims.clubos.url()).await), 1);
}

#[tokio::test]
async fn no_prospect_is_made_for_a_contact_whose_own_club_os_create_is_still_owed() {
    let clock = manual_clock();
    let demo = app()
        .people(60)
        .unthrottled()
        .config(json!({"sync": {"create_in_clubos": true}}))
        .clock(&clock)
        .start()
        .await;
    const GHL_POLL: &str = "mutation { pollGhl { seen unlinked created failed } }";
    run(&demo, GHL_POLL, "pollGhl").await;
    demo.sims.ghl_state.set_webhook_url(None);
    // `createContact` makes the GHL contact; Club OS is down for its prospect, which
    // waits in the outbox for the relay.
    faults(
        &demo.sims.clubos.url(),
        json!({"rules": [{"route": "POST /users", "status": 503, "times": 1}]}),
    )
    .await;
    let made = graphql(
        &demo,
        r#"mutation { createContact(input: {firstName: "Ola", lastName: "Owed",
            email: "ola.owed@example.org"}) { status } }"#,
        json!({}),
    )
    .await;
    assert_eq!(made["data"]["createContact"]["status"], "PENDING", "{made}");

    // The poll sees the new contact with no link yet: the owed create is left to finish.
    let polled = run(&demo, GHL_POLL, "pollGhl").await;
    assert!(polled["seen"].as_u64().unwrap() >= 1, "{polled}");
    assert_eq!(polled["created"], 0, "{polled}");
    settle_relay(&demo, &clock).await;
    let again = run(&demo, GHL_POLL, "pollGhl").await;
    assert_eq!(again["created"], 0, "{again}");
    let users = clubos_api(
        &demo,
        Method::GET,
        "/users?email=ola.owed%40example.org",
        None,
    )
    .await;
    assert_eq!(
        users["content"].as_array().map(Vec::len),
        Some(1),
        "one Club OS user for the person: {users}"
    );
}

#[tokio::test]
async fn a_new_ghl_contacts_webhook_makes_its_linked_prospect_and_the_echo_makes_none() {
    let demo = demo(60, json!({"create_in_clubos": true})).await;
    let ghl = demo.sims.ghl.url();
    let sent = deliveries(&ghl).await.sent;
    let lead = new_lead(&demo, "Wren", "wren.lead@example.org").await;
    settled(&ghl, sent + 1).await;
    // The link's mirror into GHL's link field comes back as a webhook too.
    settled(&ghl, deliveries(&ghl).await.sent).await;
    let users = clubos_api(
        &demo,
        Method::GET,
        "/users?email=wren.lead%40example.org",
        None,
    )
    .await;
    assert_eq!(
        users["content"].as_array().map(Vec::len),
        Some(1),
        "{users}"
    );
    assert_eq!(stats(demo.sims.clubos.url()).await.count("POST /users"), 1);
    let person = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus } }",
        json!({"id": lead}),
    )
    .await;
    assert_eq!(
        person["data"]["contact"]["linkStatus"], "LINKED",
        "{person}"
    );
}
