//! Mutations fan out to both systems: checked against the simulators' own APIs and
//! call counts, with idempotency keys, the outbox relay and compensation.

use std::time::Duration;

use contactgraph::{
    demo::Demo,
    sim::seed::Kind,
    store::{LegState, NewLeg},
    writes::{legs::LegOp, relay},
};
use serde_json::{Value, json};

use crate::harness::gateway::*;

/// Fast retries, so that a test on the system's clock waits little for the relay.
fn writes_app() -> App {
    app()
        .people(80)
        .config(json!({"writes": {"relay_poll_ms": 20, "retry_base_ms": 50, "retry_max_ms": 200}}))
}

async fn start_writes() -> Demo {
    writes_app().start().await
}

const UPDATE: &str = r#"mutation($id: ID!, $input: ContactInput!, $key: String) {
    updateContact(id: $id, input: $input, idempotencyKey: $key) {
        status operationId
        writes { system operation status writeId errorCode message }
        contact { email phone clubOs { email phoneDigits } }
    } }"#;

#[tokio::test]
async fn an_update_reaches_both_systems_and_the_next_read_shows_it() {
    let demo = start_writes().await;
    let (_, ghl, user) = linked(&demo);
    let body = graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"email": "new.address@example.com", "phone": "(512) 555-0177"}}),
    )
    .await;
    let p = &body["data"]["updateContact"];
    assert_eq!(p["status"], "APPLIED", "{body}");
    assert_eq!(p["writes"].as_array().map(Vec::len), Some(2));
    let g = ghl_contact(&demo, &ghl).await;
    assert_eq!(g["email"], "new.address@example.com");
    assert_eq!(g["phone"], "+15125550177");
    let u = clubos_user(&demo, user).await;
    assert_eq!(u["email"], "new.address@example.com");
    assert_eq!(u["mobilePhone"], "5125550177");
    assert_eq!(p["contact"]["email"], "new.address@example.com");
    assert_eq!(p["contact"]["clubOs"]["phoneDigits"], "5125550177");
    let read = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { email phone } }",
        json!({"id": ghl}),
    )
    .await;
    assert_eq!(read["data"]["contact"]["email"], "new.address@example.com");
    assert_eq!(read["data"]["contact"]["phone"], "+15125550177");
}

#[tokio::test]
async fn club_os_failing_for_a_while_leaves_a_pending_write_the_relay_finishes() {
    let clock = manual_clock();
    let demo = writes_app().clock(&clock).start().await;
    let (_, ghl, user) = linked(&demo);
    faults(
        demo.sims.clubos.url(),
        json!({"rules": [{"route": "PUT /users/{userId}", "status": 503, "times": 3}]}),
    )
    .await;
    let body = graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"email": "later@example.com"}}),
    )
    .await;
    let p = &body["data"]["updateContact"];
    assert_eq!(p["status"], "PENDING", "{body}");
    let writes = p["writes"].as_array().expect("writes");
    let by_system = |s: &str| writes.iter().find(|w| w["system"] == s).expect(s).clone();
    assert_eq!(by_system("GHL")["status"], "APPLIED");
    assert_eq!(by_system("CLUB_OS")["status"], "PENDING");
    assert_eq!(by_system("CLUB_OS")["errorCode"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(ghl_contact(&demo, &ghl).await["email"], "later@example.com");
    // No further request: the relay retries, with backoff, until the fault clears.
    assert_eq!(
        settle_relay(&demo, &clock).await,
        3,
        "two failures, then the write"
    );
    assert_eq!(clubos_user(&demo, user).await["email"], "later@example.com");
    let s = stats(demo.sims.clubos.url()).await;
    assert_eq!(s.routes["PUT /users/{userId}"].statuses.get(&503), Some(&3));
    assert_eq!(s.routes["PUT /users/{userId}"].statuses.get(&200), Some(&1));
    let pending = graphql(
        &demo,
        "{ pendingWrites { id } failedWrites { id } }",
        json!({}),
    )
    .await;
    assert_eq!(pending["data"]["pendingWrites"], json!([]));
    assert_eq!(pending["data"]["failedWrites"], json!([]));
}

#[tokio::test]
async fn the_same_key_twice_writes_once_per_system() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let vars = json!({"id": ghl, "input": {"firstName": "Robin"}, "key": "key-1"});
    let first = graphql(&demo, UPDATE, vars.clone()).await;
    let again = graphql(&demo, UPDATE, vars).await;
    assert_eq!(
        first["data"]["updateContact"]["operationId"],
        again["data"]["updateContact"]["operationId"]
    );
    assert_eq!(again["data"]["updateContact"]["status"], "APPLIED");
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("PUT /contacts/{contactId}"),
        1
    );
    assert_eq!(
        stats(demo.sims.clubos.url())
            .await
            .count("PUT /users/{userId}"),
        1
    );
    // The header works as the argument does.
    let header = graphql_keyed(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"firstName": "Robin"}}),
        "key-1",
    )
    .await;
    assert_eq!(
        header["data"]["updateContact"]["operationId"],
        first["data"]["updateContact"]["operationId"]
    );
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_write_once() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let vars = json!({"id": ghl, "input": {"lastName": "Concurrent"}, "key": "same"});
    let all =
        futures_util::future::join_all((0..20).map(|_| graphql(&demo, UPDATE, vars.clone()))).await;
    let ops: Vec<&Value> = all
        .iter()
        .map(|b| &b["data"]["updateContact"]["operationId"])
        .collect();
    assert!(ops.iter().all(|o| *o == ops[0] && o.is_string()), "{all:?}");
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("PUT /contacts/{contactId}"),
        1
    );
    assert_eq!(
        stats(demo.sims.clubos.url())
            .await
            .count("PUT /users/{userId}"),
        1
    );
}

#[tokio::test]
async fn a_key_reused_with_other_input_is_refused_without_a_call() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"firstName": "A"}, "key": "k"}),
    )
    .await;
    let before = stats(demo.sims.ghl.url()).await.total;
    let body = graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"firstName": "B"}, "key": "k"}),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    let after = stats(demo.sims.ghl.url()).await;
    assert_eq!(after.count("PUT /contacts/{contactId}"), 1);
    assert!(after.total <= before + 1, "at most a cached read");
}

const CREATE: &str = r#"mutation($input: ContactInput!) {
    createContact(input: $input) {
        status
        writes { system operation status errorCode message }
        contact { linkStatus ghl { id } clubOs { userId } }
    } }"#;

#[tokio::test]
async fn a_create_lands_in_both_systems_linked() {
    let demo = start_writes().await;
    let body = graphql(
        &demo,
        CREATE,
        json!({"input": {"firstName": "Nova", "lastName": "Reyes", "email": "nova.reyes@example.com", "phone": "303-555-0144", "tags": ["Trial"]}}),
    )
    .await;
    let p = &body["data"]["createContact"];
    assert_eq!(p["status"], "APPLIED", "{body}");
    assert_eq!(p["contact"]["linkStatus"], "LINKED");
    let user: i64 = p["contact"]["clubOs"]["userId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("user id");
    assert_eq!(clubos_user(&demo, user).await["mobilePhone"], "3035550144");
    let ghl = p["contact"]["ghl"]["id"].as_str().expect("ghl id");
    let g = ghl_contact(&demo, ghl).await;
    assert_eq!(g["tags"], json!(["trial"]));
    assert_eq!(
        g["customFields"][0]["value"],
        user.to_string(),
        "the link is mirrored into GHL"
    );
}

#[tokio::test]
async fn a_permanent_club_os_rejection_leaves_no_orphan_ghl_contact() {
    let demo = start_writes().await;
    // Club OS already has this person (same names and email): it answers DUPLICATE_USER.
    let member = demo
        .world
        .example(Kind::ClubOsOnly)
        .expect("member")
        .clubos_user_ids[0];
    let u = clubos_user(&demo, member).await;
    let body = graphql(
        &demo,
        CREATE,
        json!({"input": {"firstName": u["firstName"], "lastName": u["lastName"], "email": u["email"]}}),
    )
    .await;
    let p = &body["data"]["createContact"];
    assert_eq!(p["status"], "FAILED", "{body}");
    assert_eq!(p["contact"], Value::Null);
    let writes = p["writes"].as_array().expect("writes");
    assert_eq!(
        writes
            .iter()
            .map(|w| w["status"].as_str())
            .collect::<Vec<_>>(),
        [Some("FAILED"), Some("FAILED"), Some("SKIPPED")],
        "the create undone, the refusal, the link never attempted: {writes:?}"
    );
    let s = stats(demo.sims.ghl.url()).await;
    assert_eq!(s.count("POST /contacts/"), 1);
    assert_eq!(
        s.count("DELETE /contacts/{contactId}"),
        1,
        "the GHL contact was removed"
    );
    let left = ghl_api(
        &demo,
        reqwest::Method::GET,
        &format!(
            "/contacts/search/duplicate?locationId={}&email={}",
            contactgraph::sim::seed::GHL_LOCATION_ID,
            u["email"].as_str().expect("email")
        ),
        None,
    )
    .await;
    assert_eq!(left["contact"], Value::Null, "no orphan left in GHL");
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_upstream_call() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let before = (
        stats(demo.sims.ghl.url()).await.total,
        stats(demo.sims.clubos.url()).await.total,
    );
    let cases = [
        (
            UPDATE,
            json!({"id": ghl, "input": {"email": "not-an-email"}}),
            "email",
        ),
        (
            UPDATE,
            json!({"id": ghl, "input": {"phone": "12"}}),
            "phone",
        ),
        (
            UPDATE,
            json!({"id": ghl, "input": {"dateOfBirth": "31/12/1990"}}),
            "dateOfBirth",
        ),
        (
            UPDATE,
            json!({"id": ghl, "input": {"lastName": "x".repeat(51)}}),
            "lastName",
        ),
        (
            CREATE,
            json!({"input": {"firstName": "Solo", "email": "solo@example.com"}}),
            "lastName",
        ),
        (
            CREATE,
            json!({"input": {"firstName": "A", "lastName": "B"}}),
            "email",
        ),
    ];
    for (q, vars, field) in cases {
        let body = graphql(&demo, q, vars).await;
        let e = &body["errors"][0]["extensions"];
        assert_eq!(e["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(e["field"], field, "{body}");
    }
    let after = (
        stats(demo.sims.ghl.url()).await.total,
        stats(demo.sims.clubos.url()).await.total,
    );
    assert_eq!(before, after, "no upstream call");
}

#[tokio::test]
async fn tasks_and_notes_are_written_and_read_back() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let body = graphql(
        &demo,
        r#"mutation($id: ID!) {
            t: createTask(contactId: $id, input: {title: "Call back", dueDate: "2026-12-01T10:00:00Z"}) {
                status task { id title completed source } }
            n: createNote(contactId: $id, body: "Asked about pricing.") { status note { id body } }
            g: addTags(id: $id, tags: ["VIP", "Renewal"]) { status contact { tags } } }"#,
        json!({"id": ghl}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let d = &body["data"];
    assert_eq!(d["t"]["task"]["title"], "Call back");
    assert_eq!(d["n"]["note"]["body"], "Asked about pricing.");
    let tags = d["g"]["contact"]["tags"].to_string();
    assert!(
        tags.contains("\"vip\"") && tags.contains("\"renewal\""),
        "{tags}"
    );
    let task = d["t"]["task"]["id"].as_str().expect("task id");
    let done = graphql(
        &demo,
        "mutation($c: ID!, $t: ID!) { completeTask(contactId: $c, taskId: $t) { status task { completed } } }",
        json!({"c": ghl, "t": task}),
    )
    .await;
    assert_eq!(
        done["data"]["completeTask"]["task"]["completed"], true,
        "{done}"
    );
}

#[tokio::test]
async fn deleting_says_club_os_was_skipped() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let body = graphql(
        &demo,
        "mutation($id: ID!) { deleteContact(id: $id) { status writes { system status message } } }",
        json!({"id": ghl}),
    )
    .await;
    let writes = body["data"]["deleteContact"]["writes"]
        .as_array()
        .expect("writes");
    let clubos = writes
        .iter()
        .find(|w| w["system"] == "CLUB_OS")
        .expect("club os");
    assert_eq!(clubos["status"], "SKIPPED");
    assert!(
        clubos["message"]
            .as_str()
            .expect("why")
            .contains("no delete")
    );
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("DELETE /contacts/{contactId}"),
        1
    );
}

#[tokio::test]
async fn appointments_are_booked_moved_and_cancelled() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let booked = graphql(
        &demo,
        r#"mutation($c: ID!, $cal: String!, $u: String!) {
            bookAppointment(contactId: $c, input: {calendarId: $cal, assignedUserId: $u,
                startTime: "2026-12-03T15:00:00Z", endTime: "2026-12-03T15:30:00Z", title: "Tour"}) {
                status appointment { id title startTime status source } } }"#,
        json!({"c": ghl, "cal": contactgraph::sim::seed::GHL_CALENDAR_ID, "u": contactgraph::sim::seed::GHL_USER_IDS[0]}),
    )
    .await;
    let a = &booked["data"]["bookAppointment"]["appointment"];
    assert_eq!(a["title"], "Tour", "{booked}");
    let id = a["id"].as_str().expect("appointment id");
    let moved = graphql(
        &demo,
        r#"mutation($c: ID!, $a: ID!) { updateAppointment(contactId: $c, appointmentId: $a,
            input: {startTime: "2026-12-04T15:00:00Z", endTime: "2026-12-04T15:30:00Z"}) {
            appointment { startTime } } }"#,
        json!({"c": ghl, "a": id}),
    )
    .await;
    let start_time = moved["data"]["updateAppointment"]["appointment"]["startTime"].to_string();
    assert!(start_time.contains("2026-12-04"), "{moved}");
    let cancelled = graphql(
        &demo,
        r#"mutation($c: ID!, $a: ID!) { cancelAppointment(contactId: $c, appointmentId: $a) {
            status appointment { status } } }"#,
        json!({"c": ghl, "a": id}),
    )
    .await;
    assert_eq!(
        cancelled["data"]["cancelAppointment"]["appointment"]["status"], "cancelled",
        "{cancelled}"
    );
    let bad = graphql(
        &demo,
        r#"mutation($c: ID!) { bookAppointment(contactId: $c, input: {calendarId: "x", assignedUserId: "u",
            startTime: "2026-12-03T15:00:00Z", endTime: "2026-12-03T14:00:00Z"}) { status } }"#,
        json!({"c": ghl}),
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "endTime");
}

#[tokio::test]
async fn an_upsert_updates_whoever_has_the_email_and_creates_nobody_twice() {
    let demo = start_writes().await;
    let (p, ghl, user) = linked(&demo);
    let email = p.email.clone().expect("email");
    let q = r#"mutation($input: ContactInput!) { upsertContact(input: $input) {
        status writes { system operation status } contact { ghl { id } clubOs { userId } } } }"#;
    let body = graphql(
        &demo,
        q,
        json!({"input": {"email": email, "firstName": "Upserted"}}),
    )
    .await;
    let r = &body["data"]["upsertContact"];
    assert_eq!(r["status"], "APPLIED", "{body}");
    assert_eq!(r["contact"]["ghl"]["id"], ghl.as_str());
    assert_eq!(r["contact"]["clubOs"]["userId"], user.to_string());
    assert_eq!(stats(demo.sims.clubos.url()).await.count("POST /users"), 0);
    assert_eq!(clubos_user(&demo, user).await["firstName"], "Upserted");
    let fresh = graphql(
        &demo,
        q,
        json!({"input": {"email": "brand.new@example.com", "firstName": "Brand", "lastName": "New"}}),
    )
    .await;
    assert_eq!(
        fresh["data"]["upsertContact"]["status"], "APPLIED",
        "{fresh}"
    );
    assert_eq!(stats(demo.sims.clubos.url()).await.count("POST /users"), 1);
}

#[tokio::test]
async fn a_booking_is_mirrored_into_club_os_where_configured() {
    let demo = start(
        80,
        json!({"writes": {"clubos_mirror": {"event_type_id": 4, "owner_id": 130000001}}}),
    )
    .await;
    let (_, ghl, user) = linked(&demo);
    let body = graphql(
        &demo,
        r#"mutation($c: ID!, $cal: String!, $u: String!) {
            bookAppointment(contactId: $c, input: {calendarId: $cal, assignedUserId: $u,
                startTime: "2026-12-05T15:00:00Z", title: "Tour"}) {
                status writes { system operation status } } }"#,
        json!({"c": ghl, "cal": contactgraph::sim::seed::GHL_CALENDAR_ID, "u": contactgraph::sim::seed::GHL_USER_IDS[0]}),
    )
    .await;
    let p = &body["data"]["bookAppointment"];
    assert_eq!(p["status"], "APPLIED", "{body}");
    assert_eq!(stats(demo.sims.clubos.url()).await.count("POST /events"), 1);
    let read = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { appointments { source startTime } } }",
        json!({"id": user.to_string()}),
    )
    .await;
    let mirrored = read["data"]["contact"]["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter(|a| a["source"] == "CLUB_OS" && a["startTime"].to_string().contains("2026-12-05"))
        .count();
    assert_eq!(mirrored, 1, "{read}");
}

#[tokio::test]
async fn a_refused_write_is_dead_lettered_and_retry_write_finishes_it() {
    let clock = manual_clock();
    let demo = writes_app().clock(&clock).start().await;
    let (_, ghl, user) = linked(&demo);
    faults(
        demo.sims.clubos.url(),
        json!({"rules": [{"route": "PUT /users/{userId}", "status": 400, "times": 1}]}),
    )
    .await;
    let body = graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"email": "dead.letter@example.com"}}),
    )
    .await;
    let p = &body["data"]["updateContact"];
    assert_eq!(p["status"], "PARTIAL", "{body}");
    let failed = graphql(
        &demo,
        "{ failedWrites { id system operation state lastErrorCode } }",
        json!({}),
    )
    .await;
    let dead = failed["data"]["failedWrites"]
        .as_array()
        .expect("failed writes")
        .clone();
    assert_eq!(dead.len(), 1, "{failed}");
    assert_eq!(dead[0]["system"], "CLUB_OS");
    assert_eq!(dead[0]["state"], "DEAD");
    let metrics = get_text(format!("{}/metrics", demo.url())).await;
    assert!(
        metrics.contains("contactgraph_outbox_writes{state=\"dead\"} 1"),
        "{metrics}"
    );
    let retried = graphql(
        &demo,
        "mutation($id: ID!) { retryWrite(id: $id) { state } }",
        json!({"id": dead[0]["id"]}),
    )
    .await;
    assert_eq!(
        retried["data"]["retryWrite"]["state"], "PENDING",
        "{retried}"
    );
    assert_eq!(settle_relay(&demo, &clock).await, 1);
    assert_eq!(
        clubos_user(&demo, user).await["email"],
        "dead.letter@example.com",
        "the retried write reached Club OS"
    );
    let again = graphql(&demo, "{ failedWrites { id } }", json!({})).await;
    assert_eq!(again["data"]["failedWrites"], json!([]));
    let replay_free = graphql(
        &demo,
        "mutation($id: ID!) { retryWrite(id: $id) { state } }",
        json!({"id": dead[0]["id"]}),
    )
    .await;
    assert_eq!(
        replay_free["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn a_create_refused_later_by_club_os_is_undone_by_the_relay() {
    let clock = manual_clock();
    let demo = writes_app().clock(&clock).start().await;
    faults(
        demo.sims.clubos.url(),
        json!({"rules": [
            {"route": "POST /users", "status": 503, "times": 1},
            {"route": "POST /users", "status": 400, "times": 1}
        ]}),
    )
    .await;
    let body = graphql(
        &demo,
        CREATE,
        json!({"input": {"firstName": "Late", "lastName": "Refusal", "email": "late.refusal@example.com"}}),
    )
    .await;
    assert_eq!(body["data"]["createContact"]["status"], "PENDING", "{body}");
    assert_eq!(settle_relay(&demo, &clock).await, 1);
    assert_eq!(
        stats(demo.sims.ghl.url())
            .await
            .count("DELETE /contacts/{contactId}"),
        1,
        "the relay removed the GHL contact"
    );
    let pending = graphql(&demo, "{ pendingWrites { id } }", json!({})).await;
    assert_eq!(
        pending["data"]["pendingWrites"],
        json!([]),
        "nothing left waiting"
    );
}

#[tokio::test]
async fn a_write_whose_runner_dies_every_time_is_dead_lettered_after_max_attempts_leases() {
    let clock = manual_clock();
    let demo = app()
        .people(20)
        .config(json!({"writes": {"max_attempts": 3, "lease_secs": 1}}))
        .clock(&clock)
        .start()
        .await;
    let contact_id = demo.world.ghl.contacts[0].id.clone();
    let op = LegOp::GhlTags {
        contact_id,
        tags: vec!["poison".into()],
        add: true,
    };
    let leg = NewLeg {
        system: op.system().to_string(),
        kind: op.kind().to_owned(),
        payload: serde_json::to_string(&op).expect("payload"),
    };
    let store = &demo.gateway.writer.store;
    // Recorded by a request that died with it, then leased twice by relays that died too.
    let (_, legs) = store
        .begin_operation("op-poison", &[leg], clock.clock().now_ms(), 1_000, None)
        .await
        .expect("recorded");
    for _ in 0..2 {
        clock.advance(Duration::from_secs(2));
        let leased = store
            .lease_due(clock.clock().now_ms(), 1_000, 10)
            .await
            .expect("leased");
        assert_eq!(leased.len(), 1);
    }
    clock.advance(Duration::from_secs(2));
    let before = stats(&demo.sims.ghl.url()).await.total;

    // The third lease lapses too: that is `max_attempts`, so the relay gives it up
    // instead of running it again.
    assert_eq!(relay::tick(&demo.gateway.writer).await.expect("a round"), 1);
    let leg = store.leg(&legs[0].id).await.expect("leg").expect("exists");
    assert_eq!(leg.state, LegState::Dead);
    assert_eq!((leg.attempts, leg.lapses), (0, 3));
    assert_eq!(
        stats(&demo.sims.ghl.url()).await.total,
        before,
        "nothing was sent"
    );
    let failed = graphql(
        &demo,
        "{ failedWrites { id lapses attempts lastErrorCode lastErrorMessage } }",
        json!({}),
    )
    .await;
    let row = &failed["data"]["failedWrites"][0];
    assert_eq!(row["id"], legs[0].id.as_str(), "{failed}");
    assert_eq!(row["lapses"], 3, "{failed}");
    assert_eq!(row["lastErrorCode"], "INTERNAL", "{failed}");
    assert!(
        row["lastErrorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("stopped 3 times")),
        "{failed}"
    );
    // Nothing more to do: the relay leaves it alone.
    assert_eq!(relay::tick(&demo.gateway.writer).await.expect("a round"), 0);
}

/// What a mutation answers, whole: overall status, one row per upstream write, the
/// person after it.
#[tokio::test]
async fn a_write_answers_a_stable_payload() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let body = graphql(
        &demo,
        UPDATE,
        json!({"id": ghl, "input": {"email": "payload@example.com"}}),
    )
    .await;
    insta::assert_json_snapshot!(body, {
        ".data.updateContact.operationId" => "[operation id]",
        ".data.updateContact.writes[].writeId" => "[write id]",
    }, @r#"
    {
      "data": {
        "updateContact": {
          "contact": {
            "clubOs": {
              "email": "payload@example.com",
              "phoneDigits": "3033060002"
            },
            "email": "payload@example.com",
            "phone": "+13033060002"
          },
          "operationId": "[operation id]",
          "status": "APPLIED",
          "writes": [
            {
              "errorCode": null,
              "message": null,
              "operation": "update_contact",
              "status": "APPLIED",
              "system": "GHL",
              "writeId": "[write id]"
            },
            {
              "errorCode": null,
              "message": null,
              "operation": "update_user",
              "status": "APPLIED",
              "system": "CLUB_OS",
              "writeId": "[write id]"
            }
          ]
        }
      }
    }
    "#);
}

/// The key's scope is the mutation, not the alias a document gives it: the same key
/// under another alias replays, and the same key on another mutation is its own.
#[tokio::test]
async fn an_alias_does_not_change_a_keys_scope() {
    let demo = start_writes().await;
    let (_, ghl, _) = linked(&demo);
    let tag = |alias: &str, field: &str| {
        format!(
            r#"mutation($id: ID!) {{ {alias}: {field}(id: $id, tags: ["scoped"], idempotencyKey: "scope-1") {{ operationId }} }}"#
        )
    };
    let first = graphql(&demo, &tag("first", "addTags"), json!({"id": ghl})).await;
    let again = graphql(&demo, &tag("again", "addTags"), json!({"id": ghl})).await;
    assert_eq!(
        first["data"]["first"]["operationId"], again["data"]["again"]["operationId"],
        "{first} {again}"
    );
    let removed = graphql(&demo, &tag("first", "removeTags"), json!({"id": ghl})).await;
    assert_ne!(
        removed["data"]["first"]["operationId"], first["data"]["first"]["operationId"],
        "{removed}"
    );
    let s = stats(demo.sims.ghl.url()).await;
    assert_eq!(s.count("POST /contacts/{contactId}/tags"), 1, "added once");
    assert_eq!(
        s.count("DELETE /contacts/{contactId}/tags"),
        1,
        "removed once"
    );
}

/// A recorded write this version cannot read is dead-lettered with a code of the closed
/// set, and nothing is sent.
#[tokio::test]
async fn an_unreadable_recorded_write_is_dead_lettered_as_internal() {
    let clock = manual_clock();
    let demo = app().people(20).clock(&clock).start().await;
    let leg = NewLeg {
        system: "GHL".into(),
        kind: "update_contact".into(),
        payload: "{\"op\": \"from_a_future_version\"}".into(),
    };
    let store = &demo.gateway.writer.store;
    store
        .begin_operation("op-unreadable", &[leg], clock.clock().now_ms(), 1_000, None)
        .await
        .expect("recorded");
    let before = stats(demo.sims.ghl.url()).await.total;
    clock.advance(Duration::from_secs(2));
    assert_eq!(relay::tick(&demo.gateway.writer).await.expect("a round"), 1);
    let failed = graphql(
        &demo,
        "{ failedWrites { lastErrorCode lastErrorMessage } }",
        json!({}),
    )
    .await;
    let row = &failed["data"]["failedWrites"][0];
    assert_eq!(row["lastErrorCode"], "INTERNAL", "{failed}");
    assert!(
        row["lastErrorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("cannot read")),
        "{failed}"
    );
    assert_eq!(
        stats(demo.sims.ghl.url()).await.total,
        before,
        "nothing sent"
    );
}
