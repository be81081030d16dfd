//! The identity graph: the link sweep stores what both sides confirm (never a household's
//! shared value), queues the rest as suggestions that staff link or dismiss, and a stored
//! link holds however emails and phones change afterwards. Upstream writes are counted
//! at the simulators.

use std::collections::HashSet;

use contactgraph::{
    demo::Demo,
    sim::seed::Kind,
    store::{ChangeKind, LinkSource, Origin},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::gateway::*;

const SWEEP: &str =
    "mutation { syncLinks { contacts users alreadyLinked linked failed suggestions } }";

const SUGGESTIONS: &str = r#"query($after: String) { linkSuggestions(first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { ghlContactId clubOsUserId rule evidence score ghl { id } clubOs { userId } } } } }"#;

async fn unthrottled(people: usize) -> Demo {
    app().people(people).unthrottled().start().await
}

async fn sweep(demo: &Demo) -> Value {
    let body = graphql(demo, SWEEP, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["syncLinks"].clone()
}

/// Every suggestion, page after page.
async fn suggestions(demo: &Demo) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = graphql(demo, SUGGESTIONS, json!({"after": after})).await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &body["data"]["linkSuggestions"];
        out.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(page["totalCount"].as_u64(), Some(out.len() as u64));
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn pair_of(s: &Value) -> (String, i64) {
    (
        s["ghlContactId"].as_str().unwrap().to_owned(),
        s["clubOsUserId"].as_str().unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn the_sweep_stores_only_links_both_sides_confirm_and_suggests_the_households() {
    let demo = unthrottled(500).await;
    let report = sweep(&demo).await;
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["alreadyLinked"], 0);
    let links = demo.gateway.writer.store.all_links().await.unwrap();
    assert_eq!(report["linked"].as_u64(), Some(links.len() as u64));

    // Every stored link joins the two records of one seeded person, and no household.
    for l in &links {
        let person = demo
            .world
            .people
            .iter()
            .find(|p| p.ghl_contact_id.as_deref() == Some(l.ghl_contact_id.as_str()))
            .unwrap_or_else(|| panic!("{} is a seeded contact", l.ghl_contact_id));
        assert!(
            person.clubos_user_ids.contains(&l.clubos_user_id),
            "{l:?} joins two people"
        );
        assert_ne!(person.kind, Kind::Ambiguous, "{l:?} links a household");
        assert_eq!(l.confirmed_by, Origin::Sync);
        assert!(l.evidence.is_some(), "{l:?}");
    }
    for kind in [
        Kind::Linked,
        Kind::StoredLink,
        Kind::PhoneOnly,
        Kind::ChangedSurname,
    ] {
        let seeded = demo.world.people.iter().filter(|p| p.kind == kind).count();
        let stored = links
            .iter()
            .filter(|l| {
                demo.world.people.iter().any(|p| {
                    p.kind == kind && p.ghl_contact_id.as_deref() == Some(&l.ghl_contact_id)
                })
            })
            .count();
        assert_eq!(stored, seeded, "every {kind:?} person is linked");
    }
    assert!(
        links.iter().any(|l| l.source == LinkSource::CustomField)
            && links.iter().any(|l| l.source == LinkSource::Email)
            && links.iter().any(|l| l.source == LinkSource::Phone),
        "each rule linked someone"
    );

    // Each household is in the queue: its contact with every member sharing the email.
    let queue = suggestions(&demo).await;
    assert_eq!(report["suggestions"].as_u64(), Some(queue.len() as u64));
    let queued: HashSet<(String, i64)> = queue.iter().map(pair_of).collect();
    let households: Vec<_> = demo
        .world
        .people
        .iter()
        .filter(|p| p.kind == Kind::Ambiguous)
        .collect();
    assert!(!households.is_empty());
    for h in &households {
        let g = h.ghl_contact_id.clone().unwrap();
        for u in &h.clubos_user_ids {
            assert!(queued.contains(&(g.clone(), *u)), "{g} / {u} is suggested");
        }
    }
    for s in &queue {
        assert_eq!(s["rule"], "EMAIL", "{s}");
        assert!(
            s["evidence"]
                .as_str()
                .unwrap()
                .contains("2 Club OS user(s)"),
            "{s}"
        );
        assert_eq!(s["ghl"]["id"], s["ghlContactId"]);
        assert_eq!(s["clubOs"]["userId"], s["clubOsUserId"]);
    }
    let scores: Vec<i64> = queue.iter().map(|s| s["score"].as_i64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "likeliest first: {scores:?}"
    );

    // The change log holds one entry per stored link and per suggestion.
    let log = demo
        .gateway
        .writer
        .store
        .changes_after(0, 10_000)
        .await
        .unwrap();
    let count = |k| log.iter().filter(|c| c.kind == k).count();
    assert_eq!(count(ChangeKind::LinkStored), links.len());
    assert_eq!(count(ChangeKind::SuggestionAdded), queue.len());
    assert!(
        log.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
        "no gap, no repeat"
    );

    // A second sweep finds nothing new and writes nothing upstream.
    let writes_before = writes(&both_stats(&demo).await.0);
    let again = sweep(&demo).await;
    assert_eq!(again["linked"], 0, "{again}");
    assert_eq!(again["alreadyLinked"].as_u64(), Some(links.len() as u64));
    assert_eq!(again["suggestions"], report["suggestions"]);
    assert_eq!(writes(&both_stats(&demo).await.0), writes_before);
}

#[tokio::test]
async fn links_found_by_email_or_phone_are_mirrored_into_the_link_field() {
    let demo = unthrottled(120).await;
    sweep(&demo).await;
    let links = demo.gateway.writer.store.all_links().await.unwrap();
    let field = demo
        .gateway
        .writer
        .link_field
        .id()
        .await
        .unwrap()
        .unwrap()
        .to_owned();
    let by_email = links
        .iter()
        .find(|l| l.source == LinkSource::Email)
        .unwrap();
    let contact = ghl_contact(&demo, &by_email.ghl_contact_id).await;
    let held = contact["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == field.as_str())
        .map(|f| f["value"].clone());
    assert_eq!(held, Some(json!(by_email.clubos_user_id.to_string())));
    let mirrored = links
        .iter()
        .filter(|l| l.source != LinkSource::CustomField)
        .count() as u64;
    let stats = both_stats(&demo).await.0;
    assert_eq!(
        stats.count("PUT /contacts/{contactId}"),
        mirrored,
        "one write per link found by email or phone, none for the link field's own"
    );
}

#[tokio::test]
async fn staff_resolve_a_suggestion_by_linking_or_dismissing_and_a_dismissal_is_remembered() {
    let demo = unthrottled(500).await;
    sweep(&demo).await;
    let households: Vec<_> = demo
        .world
        .people
        .iter()
        .filter(|p| p.kind == Kind::Ambiguous)
        .collect();
    assert!(households.len() >= 2);
    let (a, b) = (households[0], households[1]);
    let (ga, gb) = (
        a.ghl_contact_id.clone().unwrap(),
        b.ghl_contact_id.clone().unwrap(),
    );

    let linked = graphql(
        &demo,
        "mutation($g: ID!, $u: ID!) { linkContacts(ghlContactId: $g, clubOsUserId: $u) { status } }",
        json!({"g": ga, "u": a.clubos_user_ids[0].to_string()}),
    )
    .await;
    assert_eq!(
        linked["data"]["linkContacts"]["status"], "APPLIED",
        "{linked}"
    );
    let queue = suggestions(&demo).await;
    assert!(
        queue.iter().all(|s| s["ghlContactId"] != ga.as_str()),
        "linking resolves every suggestion of the contact"
    );
    let person = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { linkStatus linkedBy clubOs { userId }
            storedLink { how confirmedBy linkedAt clubOsUserId } } }",
        json!({"id": ga}),
    )
    .await;
    let p = &person["data"]["contact"];
    assert_eq!(p["linkStatus"], "LINKED", "{person}");
    assert_eq!(p["linkedBy"], "STORED");
    assert_eq!(p["storedLink"]["how"], "MANUAL");
    assert_eq!(p["storedLink"]["confirmedBy"], "WRITE");
    assert_eq!(p["clubOs"]["userId"], a.clubos_user_ids[0].to_string());

    const DISMISS: &str =
        "mutation($g: ID!, $u: ID!) { dismissLinkSuggestion(ghlContactId: $g, clubOsUserId: $u) }";
    let vars = json!({"g": gb, "u": b.clubos_user_ids[0].to_string()});
    for _ in 0..2 {
        let body = graphql(&demo, DISMISS, vars.clone()).await;
        assert_eq!(body["data"]["dismissLinkSuggestion"], true, "{body}");
    }
    let unknown = graphql(&demo, DISMISS, json!({"g": gb, "u": "999999999"})).await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");

    sweep(&demo).await;
    let queued: HashSet<(String, i64)> = suggestions(&demo).await.iter().map(pair_of).collect();
    assert!(
        !queued.contains(&(gb.clone(), b.clubos_user_ids[0])),
        "a dismissal is remembered"
    );
    assert!(
        queued.contains(&(gb.clone(), b.clubos_user_ids[1])),
        "the household's other member is still suggested"
    );
    assert!(
        queued.iter().all(|(g, _)| *g != ga),
        "a linked contact is never suggested"
    );
}

#[tokio::test]
async fn a_stored_link_survives_email_and_phone_changing_on_both_sides() {
    let demo = unthrottled(120).await;
    let p = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Linked)
        .unwrap();
    let (g, u) = (p.ghl_contact_id.clone().unwrap(), p.clubos_user_ids[0]);
    sweep(&demo).await;

    let changed = ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{g}"),
        Some(json!({"email": "moved.on@example.net", "phone": "+13125550177"})),
    )
    .await;
    assert_eq!(
        changed["contact"]["email"], "moved.on@example.net",
        "{changed}"
    );
    let changed = clubos_api(
        &demo,
        Method::PUT,
        &format!("/users/{u}"),
        Some(
            json!({"email": "elsewhere@example.com", "mobilePhone": "4155550166",
            "homePhone": null, "workPhone": null}),
        ),
    )
    .await;
    assert_eq!(changed["email"], "elsewhere@example.com", "{changed}");
    // Club OS sends no webhooks: forget what the gateway read of both.
    demo.gateway.readers.caches.invalidate_ghl_contact(&g).await;
    demo.gateway.readers.caches.invalidate_clubos_user(u).await;

    const PERSON: &str = "query($id: ID!) { contact(id: $id) { linkStatus linkedBy
        ghl { id email } clubOs { userId email } tasks { id } appointments { id } } }";
    for id in [g.clone(), u.to_string()] {
        let body = graphql(&demo, PERSON, json!({"id": id})).await;
        assert!(body["errors"].is_null(), "{body}");
        let c = &body["data"]["contact"];
        assert_eq!(c["linkStatus"], "LINKED", "{id}: {body}");
        assert_eq!(c["linkedBy"], "STORED");
        assert_eq!(c["ghl"]["id"], g.as_str());
        assert_eq!(c["ghl"]["email"], "moved.on@example.net");
        assert_eq!(c["clubOs"]["userId"], u.to_string());
        assert_eq!(c["clubOs"]["email"], "elsewhere@example.com");
    }
}

#[tokio::test]
async fn a_person_with_a_stored_link_is_read_without_any_lookup() {
    let demo = unthrottled(80).await;
    sweep(&demo).await;
    let p = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Linked)
        .unwrap();
    let (g, u) = (p.ghl_contact_id.clone().unwrap(), p.clubos_user_ids[0]);
    const PERSON: &str = "query($id: ID!) { contact(id: $id) { linkStatus linkedBy
        tasks { id } notes { id } appointments { id } homeLocation { name } } }";
    for id in [g.clone(), u.to_string()] {
        demo.gateway.readers.caches.invalidate_everything();
        let (ghl_before, clubos_before) = both_stats(&demo).await;
        let body = graphql(&demo, PERSON, json!({"id": id})).await;
        assert_eq!(body["data"]["contact"]["linkStatus"], "LINKED", "{body}");
        assert_eq!(body["data"]["contact"]["linkedBy"], "STORED", "{body}");
        let (ghl, clubos) = both_stats(&demo).await;
        let delta = |after: &contactgraph::sim::admin::StatsSnapshot,
                     before: &contactgraph::sim::admin::StatsSnapshot,
                     route: &str| after.count(route) - before.count(route);
        assert_eq!(
            delta(&ghl, &ghl_before, "POST /contacts/search"),
            0,
            "no GHL search: the stored link names the partner ({id})"
        );
        assert_eq!(delta(&ghl, &ghl_before, "GET /contacts/{contactId}"), 1);
        assert_eq!(delta(&clubos, &clubos_before, "GET /users/{userId}"), 1);
        assert_eq!(delta(&clubos, &clubos_before, "GET /users"), 0, "no lookup");
    }
}

#[tokio::test]
async fn a_page_looks_up_only_the_people_without_a_stored_link() {
    let demo = unthrottled(80).await;
    sweep(&demo).await;
    demo.gateway.readers.caches.invalidate_everything();
    let (_, clubos_before) = both_stats(&demo).await;
    const PAGE: &str = "{ contacts(first: 40) { edges { node { linkedBy
        ghl { email phone } } } } }";
    let body = graphql(&demo, PAGE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, clubos) = both_stats(&demo).await;
    let rows = body["data"]["contacts"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let stored = rows
        .iter()
        .filter(|e| e["node"]["linkedBy"] == "STORED")
        .count();
    // Each row without a stored link may look up its email and its phone in Club OS;
    // a row with one looks up nothing.
    let bound: usize = rows
        .iter()
        .filter(|e| e["node"]["linkedBy"] != "STORED")
        .map(|e| {
            let ghl = &e["node"]["ghl"];
            usize::from(ghl["email"].is_string()) + usize::from(ghl["phone"].is_string())
        })
        .sum();
    let with_email = rows
        .iter()
        .filter(|e| e["node"]["ghl"]["email"].is_string())
        .count();
    assert!(
        stored > 0 && bound < with_email,
        "the page mixes both kinds"
    );
    let lookups = clubos.count("GET /users") - clubos_before.count("GET /users");
    assert!(
        lookups as usize <= bound,
        "{lookups} Club OS lookups for {stored} stored-linked rows of {}; at most {bound}",
        rows.len()
    );
}
