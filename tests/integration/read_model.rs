//! The synced read model, over HTTP: after a backfill a page of 50 is served with the
//! caches empty and no upstream call (and answers as the upstreams do); a record not yet
//! synced is read through once and stored; a webhook refreshes the stored copy before the
//! next read; a deletion upstream becomes a tombstone; a write through the gateway is
//! never answered from the copy it made old; `Cache-Control: no-cache` reads through.
//! Upstream calls are counted at the simulators.

use contactgraph::{
    demo::Demo,
    sim::seed::Kind,
    store::{ChangeKind, ReadSource, RecordKind},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::gateway::*;

/// A page of 50 with what a member screen shows, `syncedAt` included.
const PAGE: &str = r#"query($after: String) { contacts(first: 50, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id linkStatus name email phone tags syncedAt
    membership { status type } homeLocation { name } barcode
    tasks { id title syncedAt } notes { id body syncedAt }
    appointments { id source startTime syncedAt } } } } }"#;

const PERSON: &str = r#"query($id: ID!) { contact(id: $id) { id email lastName syncedAt
  linkStatus tasks { id } notes { id } } }"#;

async fn demo(people: usize) -> Demo {
    let demo = app()
        .people(people)
        .unthrottled()
        .config(json!({
            "read_model": {"enabled": true, "backfill_on_start": false},
            "sync": {"clubos_poll": true},
        }))
        .start()
        .await;
    polled_once(&demo).await;
    demo
}

/// Waits (bounded) for the Club OS poll's first turn, which runs at start, so that
/// counts taken afterwards are the reads' own.
async fn polled_once(demo: &Demo) {
    for _ in 0..200 {
        let cursor = demo
            .gateway
            .readers
            .store
            .sync_cursor("clubos_users")
            .await
            .unwrap();
        if cursor.is_some_and(|c| c.last_success_ms.is_some()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the Club OS poll did not run");
}

async fn backfill(demo: &Demo) -> Value {
    let body = graphql(
        demo,
        "mutation { backfill { ghlContacts clubOsUsers changed pages } }",
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["backfill"].clone()
}

fn clear_caches(demo: &Demo) {
    demo.gateway.readers.caches.invalidate_everything();
}

async fn read(demo: &Demo, doc: &str, variables: Value) -> Value {
    let body = graphql(demo, doc, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    body
}

/// The same read past every copy (`Cache-Control: no-cache`).
async fn read_through(demo: &Demo, doc: &str, variables: Value) -> Value {
    let key = demo.api_key.clone();
    let body: Value = reqwest::Client::new()
        .post(format!("{}/graphql", demo.url()))
        .bearer_auth(key)
        .header("cache-control", "no-cache")
        .json(&json!({"query": doc, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{body}");
    body
}

/// The answer without what differs between two reads of the same records: `syncedAt`
/// values, and cursors (the read model's own, or GHL's).
fn without_sync_times(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            for volatile in ["syncedAt", "cursor", "endCursor"] {
                m.remove(volatile);
            }
            for value in m.values_mut() {
                *value = without_sync_times(value.take());
            }
        }
        Value::Array(a) => {
            for value in a.iter_mut() {
                *value = without_sync_times(value.take());
            }
        }
        _ => {}
    }
    v
}

/// A page's people in id order, without what differs between two reads.
fn by_id(page: &Value) -> Vec<Value> {
    let mut nodes: Vec<Value> = page["data"]["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| without_sync_times(e["node"].clone()))
        .collect();
    nodes.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    nodes
}

#[tokio::test]
async fn a_synced_page_of_fifty_costs_no_upstream_call_with_the_caches_empty() {
    let demo = demo(150).await;
    let first = backfill(&demo).await;
    assert!(first["ghlContacts"].as_u64().unwrap() > 100, "{first}");
    assert!(first["clubOsUsers"].as_u64().unwrap() > 100, "{first}");
    let again = backfill(&demo).await;
    assert_eq!(
        again["pages"], 0,
        "a finished backfill reads nothing: {again}"
    );

    // The first read fills each person's tasks, notes and events (no bulk endpoint).
    let filled = read(&demo, PAGE, json!({})).await;
    clear_caches(&demo);
    let before = upstream_calls(&demo).await;
    let synced = read(&demo, PAGE, json!({})).await;
    assert_eq!(
        upstream_calls(&demo).await,
        before,
        "a synced page reads no upstream"
    );
    let freshness = &synced["extensions"]["freshness"];
    assert!(
        freshness["fromReadModel"].as_u64().unwrap() >= 50,
        "{freshness}"
    );
    assert_eq!(freshness["readThrough"], 0, "{freshness}");
    assert!(freshness["oldestSyncedAt"].is_string(), "{freshness}");
    let edges = synced["data"]["contacts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    assert!(edges.iter().all(|e| e["node"]["syncedAt"].is_string()));

    // The copy answers as the upstreams do (contacts added in the same millisecond may
    // come in another order: GHL breaks such ties its own way, the read model by id).
    let upstream = read_through(&demo, PAGE, json!({})).await;
    assert_eq!(by_id(&synced), by_id(&upstream));
    assert_eq!(
        without_sync_times(filled["data"].clone()),
        without_sync_times(synced["data"].clone())
    );

    // The next page continues from the read model's cursor.
    let after = synced["data"]["contacts"]["pageInfo"]["endCursor"].clone();
    let next = read(&demo, PAGE, json!({"after": after})).await;
    let ids = |page: &Value| -> Vec<String> {
        page["data"]["contacts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (one, two) = (ids(&synced), ids(&next));
    assert!(two.iter().all(|id| !one.contains(id)), "pages overlap");
    assert_eq!(
        synced["data"]["contacts"]["totalCount"],
        upstream["data"]["contacts"]["totalCount"]
    );
}

#[tokio::test]
async fn a_record_not_yet_synced_is_read_through_once_and_stored() {
    let demo = demo(40).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    let route = "GET /contacts/{contactId}";
    let gets = || async { stats(demo.sims.ghl.url()).await.count(route) };
    let at_start = gets().await;
    let first = read(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(gets().await, at_start + 1);
    assert!(
        first["extensions"]["freshness"]["readThrough"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(first["data"]["contact"]["syncedAt"].is_string(), "{first}");

    clear_caches(&demo);
    let second = read(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(gets().await, at_start + 1, "the stored copy is served");
    assert_eq!(
        without_sync_times(first["data"].clone()),
        without_sync_times(second["data"].clone())
    );
}

#[tokio::test]
async fn a_webhook_refreshes_the_stored_copy_before_the_next_read() {
    let demo = demo(60).await;
    backfill(&demo).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    let sent = deliveries(&demo.sims.ghl.url()).await.sent;
    ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{id}"),
        Some(json!({"lastName": "Adeyemi-Novak"})),
    )
    .await;
    settled(&demo.sims.ghl.url(), sent + 1).await;

    clear_caches(&demo);
    let gets = stats(demo.sims.ghl.url())
        .await
        .count("GET /contacts/{contactId}");
    let body = read(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(
        body["data"]["contact"]["lastName"], "Adeyemi-Novak",
        "{body}"
    );
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("GET /contacts/{contactId}"),
        gets,
        "served from the copy the webhook refreshed"
    );
    let changes = demo
        .gateway
        .readers
        .store
        .changes_after(0, 10_000)
        .await
        .unwrap();
    let logged = changes.iter().rev().find(|c| {
        c.kind == ChangeKind::RecordChanged
            && c.record == Some((RecordKind::GhlContact, id.clone()))
    });
    let logged = logged.expect("the change is in the change log");
    assert!(logged.fields.iter().any(|f| f == "lastName"), "{logged:?}");
    assert_eq!(logged.via, Some(ReadSource::Webhook), "{logged:?}");
}

#[tokio::test]
async fn a_contact_deleted_upstream_becomes_a_tombstone() {
    let demo = demo(40).await;
    backfill(&demo).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    let sent = deliveries(&demo.sims.ghl.url()).await.sent;
    ghl_api(&demo, Method::DELETE, &format!("/contacts/{id}"), None).await;
    settled(&demo.sims.ghl.url(), sent + 1).await;

    clear_caches(&demo);
    let body = read(&demo, PERSON, json!({"id": id})).await;
    assert!(body["data"]["contact"].is_null(), "{body}");
    let changes = demo
        .gateway
        .readers
        .store
        .changes_after(0, 10_000)
        .await
        .unwrap();
    assert!(changes.iter().any(|c| c.kind == ChangeKind::RecordDeleted
        && c.record == Some((RecordKind::GhlContact, id.clone()))));
}

#[tokio::test]
async fn a_write_is_never_answered_from_the_copy_it_made_old() {
    let demo = demo(40).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    read(&demo, PERSON, json!({"id": id})).await;
    // No webhook reaches the gateway: only the write itself can tell the read model.
    demo.sims.ghl_state.set_webhook_url(None);

    let written = graphql(
        &demo,
        r#"mutation($id: ID!) { updateContact(id: $id, input: {lastName: "Lindqvist"}) { status } }"#,
        json!({"id": id}),
    )
    .await;
    assert!(written["errors"].is_null(), "{written}");
    clear_caches(&demo);
    let body = read(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(body["data"]["contact"]["lastName"], "Lindqvist", "{body}");
}

#[tokio::test]
async fn no_cache_reads_through_to_the_upstream_and_stores_what_it_read() {
    let demo = demo(40).await;
    backfill(&demo).await;
    let id = ghl_id(&demo, Kind::GhlOnly);
    read(&demo, PERSON, json!({"id": id})).await;
    let route = "GET /contacts/{contactId}";
    let before = stats(demo.sims.ghl.url()).await.count(route);
    let body = read_through(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(stats(demo.sims.ghl.url()).await.count(route), before + 1);
    let freshness = &body["extensions"]["freshness"];
    assert_eq!(freshness["fromReadModel"], 0, "{freshness}");
    assert!(
        freshness["readThrough"].as_u64().unwrap() >= 1,
        "{freshness}"
    );
}

#[tokio::test]
async fn metrics_say_where_each_source_stands_and_what_the_read_model_holds() {
    let demo = demo(30).await;
    let done = backfill(&demo).await;
    let metrics = get_text(format!("{}/metrics", demo.url())).await;
    let value = |series: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{metrics}"))
            .parse::<f64>()
            .unwrap()
    };
    let polled = value("contactgraph_sync_last_success_seconds{source=\"clubos_users\"}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 60.0..=now + 1.0).contains(&polled),
        "{polled} against {now}"
    );
    assert_eq!(
        value("contactgraph_sync_failing{source=\"clubos_users\"}"),
        0.0
    );
    assert_eq!(
        value("contactgraph_read_model_records{kind=\"ghl_contact\"}"),
        done["ghlContacts"].as_f64().unwrap()
    );
    assert_eq!(
        value("contactgraph_read_model_records{kind=\"clubos_user\"}"),
        done["clubOsUsers"].as_f64().unwrap()
    );
    assert!(value("contactgraph_change_log_sequence") > 0.0, "{metrics}");
    assert!(
        value(
            "contactgraph_ghl_requests_today{class=\"background\",source=\"backfill:ghl_contact\"}"
        ) > 0.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn sync_status_counts_what_the_read_model_holds_of_each_upstream() {
    let demo = demo(30).await;
    let status_doc = "{ syncStatus { source recordsStored recordsTotal } }";
    let of = |status: &Value, source: &str| {
        status["data"]["syncStatus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == source)
            .cloned()
            .unwrap_or_else(|| panic!("no {source}: {status}"))
    };
    // Before any backfill: a record read through is held; no upstream total is known.
    let id = demo.world.ghl.contacts[0].id.clone();
    read(
        &demo,
        "query($id: ID!) { contact(id: $id) { name } }",
        json!({"id": id}),
    )
    .await;
    let before = graphql(&demo, status_doc, json!({})).await;
    let ghl = of(&before, "backfill:ghl_contact");
    assert!(ghl["recordsStored"].as_i64().unwrap() >= 1, "{before}");
    assert!(ghl["recordsTotal"].is_null(), "{before}");

    let done = backfill(&demo).await;
    let after = graphql(&demo, status_doc, json!({})).await;
    for (source, read) in [
        ("backfill:ghl_contact", &done["ghlContacts"]),
        ("backfill:clubos_user", &done["clubOsUsers"]),
    ] {
        let s = of(&after, source);
        assert_eq!(&s["recordsStored"], read, "every record held: {after}");
        assert_eq!(&s["recordsTotal"], read, "read whole: {after}");
    }
    assert!(
        of(&after, "clubos_users")["recordsTotal"].is_null(),
        "{after}"
    );
}

#[tokio::test]
async fn backfill_says_clearly_when_the_read_model_is_off() {
    let demo = app().people(10).start().await;
    let body = graphql(&demo, "mutation { backfill { pages } }", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn reconcile_finds_and_repairs_a_missing_an_extra_and_a_differing_record() {
    let demo = demo(80).await;
    backfill(&demo).await;
    // Changes that reach no webhook and no poll.
    demo.sims.ghl_state.set_webhook_url(None);
    let missing = ghl_id(&demo, Kind::GhlOnly);
    let store = &demo.gateway.readers.store;
    store
        .remove_record(RecordKind::GhlContact, &missing, ReadSource::Reconcile)
        .await
        .unwrap();
    let extra = ghl_id(&demo, Kind::Linked);
    ghl_api(&demo, Method::DELETE, &format!("/contacts/{extra}"), None).await;
    let differing = ghl_id(&demo, Kind::StoredLink);
    ghl_api(
        &demo,
        Method::PUT,
        &format!("/contacts/{differing}"),
        Some(json!({"lastName": "Drifted"})),
    )
    .await;

    const RECONCILE: &str = "mutation { reconcile { kind compared missing extra differing \
        missingIds extraIds differingIds } }";
    let body = read(&demo, RECONCILE, json!({})).await;
    let ghl = &body["data"]["reconcile"][0];
    assert_eq!(ghl["kind"], "ghl_contact", "{body}");
    assert_eq!(ghl["missingIds"], json!([missing]), "{ghl}");
    assert_eq!(ghl["extraIds"], json!([extra]), "{ghl}");
    assert_eq!(ghl["differingIds"], json!([differing]), "{ghl}");
    assert_eq!(body["data"]["reconcile"][1]["differing"], 0, "{body}");

    // Repaired: a second run finds nothing, and the reports are kept.
    let again = read(&demo, RECONCILE, json!({})).await;
    for d in again["data"]["reconcile"].as_array().unwrap() {
        assert_eq!(
            (
                d["missing"].as_u64(),
                d["extra"].as_u64(),
                d["differing"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{d}"
        );
    }
    let reports = read(
        &demo,
        "{ driftReports(last: 4) { kind missing extra differing } }",
        json!({}),
    )
    .await;
    assert_eq!(reports["data"]["driftReports"].as_array().unwrap().len(), 4);
    clear_caches(&demo);
    let person = read(
        &demo,
        "query($id: ID!) { contact(id: $id) { ghl { lastName } } }",
        json!({"id": differing}),
    )
    .await;
    assert_eq!(
        person["data"]["contact"]["ghl"]["lastName"], "Drifted",
        "{person}"
    );
    let gone = read(&demo, PERSON, json!({"id": extra})).await;
    assert!(gone["data"]["contact"].is_null(), "{gone}");
}

#[tokio::test]
async fn a_write_counts_a_household_member_the_store_does_not_know_yet() {
    let demo = demo(120).await;
    backfill(&demo).await;
    let person = demo
        .world
        .people
        .iter()
        .find(|p| p.kind == Kind::Linked && p.email.is_some())
        .unwrap();
    let (id, email) = (
        person.ghl_contact_id.clone().unwrap(),
        person.email.clone().unwrap(),
    );
    // A second GHL contact with the same email, created upstream a moment ago: no
    // webhook has told the read model yet.
    demo.sims.ghl_state.set_webhook_url(None);
    let allow = json!({"allow_duplicate_contact": true});
    ghl_api(&demo, Method::POST, "/_sim/config", Some(allow)).await;
    let created = ghl_api(
        &demo,
        Method::POST,
        "/contacts/",
        Some(json!({"locationId": contactgraph::sim::seed::GHL_LOCATION_ID, "firstName": "Sam", "email": email})),
    )
    .await;
    assert!(created["contact"]["id"].is_string(), "{created}");

    let (_, clubos_before) = both_stats(&demo).await;
    let body = graphql(
        &demo,
        r#"mutation($id: ID!) { updateContact(id: $id, input: {lastName: "Shared"}) { status } }"#,
        json!({"id": id}),
    )
    .await;
    assert_eq!(error_code(&body), Some("AMBIGUOUS"), "{body}");
    assert_eq!(
        writes(&both_stats(&demo).await.1),
        writes(&clubos_before),
        "nothing written to Club OS"
    );
}

/// A member's Club OS events as `contact(id:)` shows them: (id, start) pairs.
async fn club_os_events(demo: &Demo, ghl_id: &str) -> Vec<(String, String)> {
    let body = read(
        demo,
        "query($id: ID!) { contact(id: $id) { appointments { id source startTime } } }",
        json!({"id": ghl_id}),
    )
    .await;
    body["data"]["contact"]["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "CLUB_OS")
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["startTime"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_events_poll_brings_a_booking_made_at_club_os_into_the_read_model() {
    let demo = demo(30).await;
    let (_, ghl, user) = linked(&demo);
    let before = club_os_events(&demo, &ghl).await;

    // Booked at Club OS, two days ahead: inside the poll's window.
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let booked = clubos_api(
        &demo,
        Method::POST,
        "/events",
        Some(json!({
            "eventTypeId": 2,
            "startTime": start.to_rfc3339(),
            "endTime": (start + chrono::Duration::hours(1)).to_rfc3339(),
            "subject": "Personal training",
            "attendee": [{"attendeeId": user}],
        })),
    )
    .await;
    assert!(booked["eventId"].is_i64(), "{booked}");
    assert_eq!(club_os_events(&demo, &ghl).await, before, "not polled yet");

    let calls = stats(demo.sims.clubos.url()).await.count("GET /events");
    let polled = read(
        &demo,
        "mutation { pollClubOsEvents { seen members changed cursor } }",
        json!({}),
    )
    .await;
    let report = &polled["data"]["pollClubOsEvents"];
    assert_eq!(report["seen"], 1, "one event in the window: {polled}");
    assert_eq!(report["members"], 1, "one member's stored list: {polled}");
    assert_eq!(report["changed"], 1, "{polled}");

    let after = club_os_events(&demo, &ghl).await;
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert!(
        before.iter().all(|e| after.contains(e)),
        "events outside the window are kept: {after:?}"
    );
    assert_eq!(
        stats(demo.sims.clubos.url()).await.count("GET /events") - calls,
        1,
        "the poll read one page of the window; the read came from the read model"
    );
    let cursor = demo
        .gateway
        .readers
        .store
        .sync_cursor("clubos_events")
        .await
        .unwrap()
        .expect("the poll's cursor");
    assert_eq!(Value::from(cursor.position), report["cursor"]);
}

#[tokio::test]
async fn the_events_poll_drops_a_stored_event_club_os_no_longer_lists_in_its_window() {
    let demo = demo(30).await;
    let (_, ghl, user) = linked(&demo);
    let before = club_os_events(&demo, &ghl).await;
    // The stored list holds an event tomorrow that Club OS does not list (cancelled
    // there, say): what the member's list held once.
    let model = demo.gateway.readers.read_model.as_ref().unwrap();
    let mut held: Vec<contactgraph::upstream::clubos::ClubOsEvent> = model
        .sets(&[user.to_string()])
        .await
        .unwrap()
        .remove(&user.to_string())
        .expect("the member's list is stored")
        .value;
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let mut gone = held.first().cloned().expect("the member has an event");
    gone.event_id = 990_000_001;
    gone.start_time = tomorrow.to_rfc3339();
    gone.end_time = (tomorrow + chrono::Duration::hours(1)).to_rfc3339();
    held.push(gone);
    model
        .put_set(&user.to_string(), &held, ReadSource::ReadThrough)
        .await
        .unwrap();
    clear_caches(&demo);
    assert_eq!(club_os_events(&demo, &ghl).await.len(), before.len() + 1);

    let polled = read(
        &demo,
        "mutation { pollClubOsEvents { seen members changed } }",
        json!({}),
    )
    .await;
    assert_eq!(
        polled["data"]["pollClubOsEvents"],
        json!({"seen": 0, "members": 1, "changed": 1}),
        "{polled}"
    );
    assert_eq!(club_os_events(&demo, &ghl).await, before);
}

#[tokio::test]
async fn the_events_poll_needs_the_read_model() {
    let demo = app().people(5).start().await;
    let body = graphql(&demo, "mutation { pollClubOsEvents { seen } }", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

const CHANGES: &str = r#"query($after: String, $kinds: [ChangeKind!], $people: [ID!]) {
  changes(first: 20, after: $after, kinds: $kinds, personIds: $people) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { seq kind ghlContactId contactId fields origin recordKind recordId via at } } } }"#;

/// Every change after `after` that the filters keep, page by page, and the cursor to poll
/// with next.
async fn poll_changes(
    demo: &Demo,
    mut after: Value,
    kinds: Value,
    people: Value,
) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    loop {
        let body = graphql(
            demo,
            CHANGES,
            json!({"after": after, "kinds": kinds, "people": people}),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &body["data"]["changes"];
        out.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        after = page["pageInfo"]["endCursor"].clone();
        assert!(after.is_string(), "{body}");
        if page["pageInfo"]["hasNextPage"] != true {
            return (out, after);
        }
    }
}

#[tokio::test]
async fn the_change_feed_gives_each_change_once_in_order_filtered_by_kind_and_person() {
    let demo = demo(60).await;
    backfill(&demo).await;
    let (all, head) = poll_changes(&demo, Value::Null, Value::Null, Value::Null).await;
    let seqs: Vec<i64> = all.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.len() > 20,
        "the backfill's changes span pages: {}",
        seqs.len()
    );
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, no repeat"
    );
    // Polling at the head gives nothing until something changes.
    assert!(
        poll_changes(&demo, head.clone(), Value::Null, Value::Null)
            .await
            .0
            .is_empty()
    );

    let id = ghl_id(&demo, Kind::GhlOnly);
    let other = ghl_id(&demo, Kind::Linked);
    let sent = deliveries(&demo.sims.ghl.url()).await.sent;
    for (who, name) in [(&id, "Adeyemi-Novak"), (&other, "Lindqvist")] {
        ghl_api(
            &demo,
            Method::PUT,
            &format!("/contacts/{who}"),
            Some(json!({"lastName": name})),
        )
        .await;
    }
    settled(&demo.sims.ghl.url(), sent + 2).await;

    let (new, next) = poll_changes(&demo, head.clone(), Value::Null, Value::Null).await;
    let about = |changes: &[Value], who: &str| {
        changes
            .iter()
            .filter(|c| c["ghlContactId"] == who && c["recordKind"] == "GHL_CONTACT")
            .count()
    };
    assert_eq!(about(&new, &id), 1, "{new:?}");
    assert_eq!(about(&new, &other), 1, "{new:?}");
    let mine = new
        .iter()
        .find(|c| c["ghlContactId"] == id.as_str())
        .unwrap();
    assert_eq!(mine["kind"], "RECORD_CHANGED");
    assert_eq!(mine["origin"], "SYNC");
    assert_eq!(mine["via"], "WEBHOOK");
    assert!(
        mine["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "lastName"),
        "{mine}"
    );
    assert!(
        poll_changes(&demo, next, Value::Null, Value::Null)
            .await
            .0
            .is_empty()
    );

    // One person, by either of the ids `contact(id:)` takes: only their changes.
    let (theirs, _) =
        poll_changes(&demo, head.clone(), Value::Null, json!([mine["contactId"]])).await;
    assert!(!theirs.is_empty());
    assert!(
        theirs.iter().all(|c| c["ghlContactId"] == id.as_str()),
        "{theirs:?}"
    );
    // By kind: no link changed since the head.
    let (links, _) = poll_changes(
        &demo,
        head,
        json!(["LINK_STORED", "LINK_REMOVED"]),
        Value::Null,
    )
    .await;
    assert!(links.is_empty(), "{links:?}");
}

#[tokio::test]
async fn the_change_feed_refuses_a_cursor_or_person_it_cannot_read() {
    let demo = demo(10).await;
    for (variables, says) in [
        (json!({"after": "bm90LWEtY3Vyc29y"}), "after"),
        (json!({"people": ["not an id!"]}), "personIds"),
        (json!({"people": []}), "personIds"),
    ] {
        let body = graphql(&demo, CHANGES, variables).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}"
        );
    }
}
