//! The response cache, over HTTP: a repeated query is answered without executing again
//! (no upstream call, no store read beyond the first), and never after something it read
//! changed: over a seeded sequence of 1,000 changes from every source (webhooks, the GHL
//! and Club OS polls with propagation, writes through the gateway, reconcile), each
//! cached answer equals a fresh execution from the read model. Upstream calls are
//! counted at the simulators.

use contactgraph::{demo::Demo, sim::seed::Kind, store::LegState, webhooks};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::harness::gateway::*;

const PERSON: &str = r#"query($id: ID!) { contact(id: $id) { id name email phone tags
  linkStatus membership { status type } barcode
  tasks { id title completed } notes { id body } appointments { id startTime } } }"#;

const PAGE: &str = r#"query($after: String) { contacts(first: 20, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id name email linkStatus tags tasks { id title } } } } }"#;

const BY_EMAIL: &str = r#"query($email: String!) { contactByEmail(email: $email) {
  id name linkStatus } }"#;

async fn demo(people: usize) -> Demo {
    let demo = app()
        .people(people)
        .unthrottled()
        .config(json!({
            "read_model": {"enabled": true, "backfill_on_start": false},
            "sync": {"clubos_poll": true, "ghl_poll": true, "propagate": true},
        }))
        .start()
        .await;
    let done = graphql(&demo, "mutation { backfill { ghlContacts } }", json!({})).await;
    assert!(done["errors"].is_null(), "{done}");
    let linked = graphql(&demo, "mutation { syncLinks { linked } }", json!({})).await;
    assert!(linked["errors"].is_null(), "{linked}");
    demo
}

const HITS: &str = "contactgraph_response_cache_hits_total";

async fn metric(demo: &Demo, name: &str) -> u64 {
    let text = get_text(format!("{}/metrics", demo.url())).await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// The same requests in one batch: batches are never answered from the response cache,
/// so these are the queries executed now, from the read model (the entity caches are
/// emptied first, so that nothing comes from a copy older than the store's).
async fn executed(demo: &Demo, asks: &[(&str, Value)]) -> Vec<Value> {
    demo.gateway.readers.caches.forget_entities();
    let batch: Vec<Value> = asks
        .iter()
        .map(|(doc, variables)| json!({"query": doc, "variables": variables}))
        .collect();
    let (status, body) = post(demo, Some(&demo.api_key), json!(batch)).await;
    assert!(status.is_success(), "{body}");
    body.as_array().expect("a batch answer").clone()
}

#[tokio::test]
async fn a_repeated_query_is_answered_from_the_response_cache_until_what_it_read_changes() {
    let demo = demo(40).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    let vars = json!({"id": id});
    // The first read reads the person's notes through (they have no bulk endpoint) and
    // is not kept; the second is.
    graphql(&demo, PERSON, vars.clone()).await;
    quiet(&demo).await;
    let first = graphql(&demo, PERSON, vars.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    let (hits, calls) = (metric(&demo, HITS).await, upstream_calls(&demo).await);
    let again = graphql(&demo, PERSON, vars.clone()).await;
    assert_eq!(again, first);
    assert_eq!(metric(&demo, HITS).await, hits + 1);
    assert_eq!(upstream_calls(&demo).await, calls, "no upstream call");

    // A change at GHL reaches the gateway by webhook: the kept answer goes.
    let sent = deliveries(&demo.sims.ghl.url()).await.sent;
    ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{id}"),
        Some(json!({"lastName": "Okonkwo-Hale"})),
    )
    .await;
    settled(&demo.sims.ghl.url(), sent + 1).await;
    let after_webhook = graphql(&demo, PERSON, vars.clone()).await;
    assert!(
        after_webhook["data"]["contact"]["name"]
            .as_str()
            .unwrap()
            .ends_with("Okonkwo-Hale"),
        "{after_webhook}"
    );

    // A write through the gateway: the next answer shows it, without waiting for GHL's
    // webhook.
    demo.sims.ghl_state.set_webhook_url(None);
    let written = graphql(
        &demo,
        r#"mutation($id: ID!) { addTags(id: $id, tags: ["vip-cached"]) { status } }"#,
        vars.clone(),
    )
    .await;
    assert!(written["errors"].is_null(), "{written}");
    let after_write = graphql(&demo, PERSON, vars.clone()).await;
    let tags = after_write["data"]["contact"]["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t == "vip-cached"), "{after_write}");
}

#[tokio::test]
async fn answers_are_not_kept_for_mutations_batches_no_cache_or_synced_at() {
    let demo = demo(30).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    let vars = json!({"id": id});
    let stored = || metric(&demo, "contactgraph_response_cache_stored_total");
    let before = stored().await;
    let synced = r#"query($id: ID!) { contact(id: $id) { id syncedAt } }"#;
    for _ in 0..2 {
        graphql(&demo, synced, vars.clone()).await;
        executed(&demo, &[(PERSON, vars.clone())]).await;
        graphql(&demo, "{ syncStatus { source } }", json!({})).await;
        graphql(&demo, "mutation { syncLinks { linked } }", json!({})).await;
        let no_cache = Client::new()
            .post(format!("{}/graphql", demo.url()))
            .bearer_auth(&demo.api_key)
            .header("cache-control", "no-cache")
            .json(&json!({"query": PERSON, "variables": vars}))
            .send()
            .await
            .unwrap();
        assert!(no_cache.status().is_success());
    }
    assert_eq!(stored().await, before, "nothing kept");
    // A caller of another role has answers of their own.
    quiet(&demo).await;
    let reader = key(&demo, contactgraph::auth::Role::Read).await;
    let admin = graphql(&demo, PERSON, vars.clone()).await;
    let (kept, hits) = (stored().await, metric(&demo, HITS).await);
    let (_, read) = post(
        &demo,
        Some(&reader),
        json!({"query": PERSON, "variables": vars}),
    )
    .await;
    assert_eq!(read["data"], admin["data"]);
    assert_eq!(metric(&demo, HITS).await, hits, "not the admin's answer");
    assert_eq!(stored().await, kept + 1, "kept apart for the other scope");
}

/// A person of the demo, at random.
fn anyone(demo: &Demo, rng: &mut StdRng) -> (Option<String>, Option<i64>, Option<String>) {
    let p = &demo.world.people[rng.random_range(0..demo.world.people.len())];
    (
        p.ghl_contact_id.clone(),
        p.clubos_user_ids.first().copied(),
        p.email.clone(),
    )
}

/// Waits (bounded) until nothing moves: no webhook in flight, no write waiting in the
/// outbox, the change log still.
async fn quiet(demo: &Demo) {
    let store = &demo.gateway.readers.store;
    let mut last = None;
    for _ in 0..2000 {
        let d = deliveries(&demo.sims.ghl.url()).await;
        let pending = store.leg_counts().await.unwrap();
        let waiting: u64 = pending
            .iter()
            .filter(|(state, _)| matches!(state, LegState::Pending | LegState::InFlight))
            .map(|(_, n)| *n as u64)
            .sum();
        let now = (d.sent, d.settled(), store.last_change_seq().await.unwrap());
        if d.settled() == d.sent && waiting == 0 && last == Some(now) {
            return;
        }
        last = Some(now);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the gateway did not settle");
}

#[tokio::test]
async fn over_a_thousand_changes_from_every_source_no_answer_is_stale() {
    let demo = demo(60).await;
    let hook = Some(format!("{}{}", demo.url(), webhooks::GHL_PATH));
    let mut rng = StdRng::seed_from_u64(20261204);
    let (mut compared, mut stale) = (0, Vec::new());
    let mut pages: Vec<Value> = vec![Value::Null];
    for step in 0..1000 {
        let (g, u, _) = anyone(&demo, &mut rng);
        let name = format!("Step{step}");
        // Reconcile compares everything, so it is the rarest source.
        let source = if rng.random_range(0..25) == 0 {
            5
        } else {
            rng.random_range(0..5)
        };
        match source {
            // GHL, by webhook.
            0 => {
                if let Some(g) = &g {
                    let body = json!({"lastName": name});
                    ghl_api(&demo, Method::PUT, &format!("/contacts/{g}"), Some(body)).await;
                }
            }
            // GHL with webhooks off, caught by the GHL poll.
            1 => {
                if let Some(g) = &g {
                    demo.sims.ghl_state.set_webhook_url(None);
                    let body = json!({"firstName": name});
                    ghl_api(&demo, Method::PUT, &format!("/contacts/{g}"), Some(body)).await;
                    demo.sims.ghl_state.set_webhook_url(hook.clone());
                    graphql(&demo, "mutation { pollGhl { seen } }", json!({})).await;
                }
            }
            // Club OS, caught by its poll, propagated to GHL.
            2 => {
                if let Some(u) = u {
                    let body = json!({"lastName": name});
                    clubos_api(&demo, Method::PUT, &format!("/users/{u}"), Some(body)).await;
                    graphql(&demo, "mutation { pollClubOs { seen } }", json!({})).await;
                }
            }
            // A write through the gateway.
            3 => {
                if let Some(g) = &g {
                    let doc = r#"mutation($id: ID!, $t: String!) { addTags(id: $id, tags: [$t]) { status } }"#;
                    let tag = format!("t{}", step % 7);
                    graphql(&demo, doc, json!({"id": g, "t": tag})).await;
                }
            }
            // A task at GHL (a collection record), by webhook.
            4 => {
                if let Some(g) = &g {
                    let body = json!({"title": name, "dueDate": "2027-01-01T10:00:00Z", "completed": false});
                    ghl_api(
                        &demo,
                        Method::POST,
                        &format!("/contacts/{g}/tasks"),
                        Some(body),
                    )
                    .await;
                }
            }
            // Drift no source reports, repaired by reconcile.
            _ => {
                if let Some(g) = &g {
                    demo.sims.ghl_state.set_webhook_url(None);
                    let body = json!({"lastName": name});
                    ghl_api(&demo, Method::PUT, &format!("/contacts/{g}"), Some(body)).await;
                    demo.sims.ghl_state.set_webhook_url(hook.clone());
                    let r = graphql(&demo, "mutation { reconcile { kind } }", json!({})).await;
                    assert!(r["errors"].is_null(), "{r}");
                }
            }
        }
        quiet(&demo).await;
        // Queries the cache may have kept: the changed person, two of a few people read
        // at every step, a page, a lookup by email.
        let (_, _, email) = anyone(&demo, &mut rng);
        let watched = &demo.world.people[..8];
        let page = pages[rng.random_range(0..pages.len())].clone();
        let mut asks = vec![(PAGE, json!({"after": page}))];
        let people = [
            g,
            watched[rng.random_range(0..8)].ghl_contact_id.clone(),
            watched[rng.random_range(0..8)].ghl_contact_id.clone(),
        ];
        for id in people.into_iter().flatten() {
            asks.push((PERSON, json!({"id": id})));
        }
        if let Some(email) = email {
            asks.push((BY_EMAIL, json!({"email": email})));
        }
        let mut cached = Vec::new();
        for (doc, vars) in &asks {
            cached.push(graphql(&demo, doc, vars.clone()).await);
        }
        for ((_, vars), (cached, fresh)) in asks
            .iter()
            .zip(cached.iter().zip(executed(&demo, &asks).await))
        {
            compared += 1;
            if let Some(next) = cached["data"]["contacts"]["pageInfo"]["endCursor"].as_str()
                && pages.len() < 3
            {
                pages.push(json!(next));
            }
            if cached["data"] != fresh["data"] {
                stale.push((step, vars.clone(), cached.clone(), fresh));
            }
        }
    }
    let hits = metric(&demo, HITS).await;
    let dropped = metric(&demo, "contactgraph_response_cache_invalidations_total").await;
    assert!(
        stale.is_empty(),
        "{} stale of {compared}: {:?}",
        stale.len(),
        stale.first()
    );
    eprintln!("{compared} answers compared; {hits} from the cache; {dropped} answers dropped");
    assert!(
        hits > 1000,
        "the cache answered often enough to be tested: {hits} hits"
    );
    assert!(dropped > 500, "and dropped answers: {dropped}");
}
