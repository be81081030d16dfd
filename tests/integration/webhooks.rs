//! GHL webhooks: the gateway's `POST /webhooks/ghl` (signature, timestamp window,
//! dedupe, cache invalidation, key rotation, legacy RSA) and the GHL simulator's emitter
//! (signed events after every change, retries only on 429), over real HTTP. Whether the
//! cache changed is read from the GHL simulator's call counts.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{TimeDelta, Utc};
use contactgraph::{
    demo::Demo,
    sim::{
        SimOptions, SimServer, Sims, World, admin::StatsSnapshot, ghl::tokens,
        seed::GHL_LOCATION_ID,
    },
    store::RecordKind,
};
use ed25519_dalek::{
    Signer, SigningKey, Verifier, VerifyingKey,
    pkcs8::{DecodePublicKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use reqwest::{Client, StatusCode};
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::gateway::{self as harness, deliveries, settled, sim_webhooks};

const PEOPLE: usize = 60;
const ROUTE_GET_CONTACT: &str = "GET /contacts/{contactId}";

fn test_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pem(key: &SigningKey) -> String {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public key pem")
}

fn legacy_key() -> rsa::PrivateKey {
    rsa::PrivateKey::from_pkcs8_pem(include_str!("../fixtures/webhook-legacy-rsa-test-key.pem"))
        .expect("test RSA key")
}

fn legacy_pem() -> String {
    legacy_key()
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("rsa public pem")
}

async fn start(overrides: Value) -> Demo {
    harness::start(PEOPLE, overrides).await
}

fn person(demo: &Demo) -> String {
    harness::linked(demo).1
}

/// The contact's answer to `query`, which must have no errors.
async fn contact(demo: &Demo, query: &str, id: &str) -> Value {
    let body = harness::graphql(demo, query, json!({"id": id})).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["contact"].clone()
}

const READ: &str = "query($id: ID!) { contact(id: $id) { ghl { id email tags } } }";

async fn ghl_stats(demo: &Demo) -> StatsSnapshot {
    harness::stats(demo.sims.ghl.url()).await
}

/// How often GHL was asked for one contact so far: unchanged across a read means the
/// read came from the gateway's cache.
async fn contact_fetches(demo: &Demo) -> u64 {
    ghl_stats(demo).await.count(ROUTE_GET_CONTACT)
}

/// A contact event as GHL sends it, timestamped `age` ago.
fn contact_event(kind: &str, id: &str, webhook_id: &str, age: TimeDelta) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind, "locationId": GHL_LOCATION_ID, "id": id,
        "email": "someone@example.com", "tags": [], "customFields": [],
        "timestamp": (Utc::now() - age).to_rfc3339(), "webhookId": webhook_id,
    }))
    .expect("event json")
}

fn ed25519_header(key: &SigningKey, body: &[u8]) -> (&'static str, String) {
    ("X-GHL-Signature", BASE64.encode(key.sign(body).to_bytes()))
}

fn rsa_header(body: &[u8]) -> (&'static str, String) {
    let sig = legacy_key()
        .pkcs1v15_sign::<Sha256>(body)
        .expect("rsa signature");
    ("X-WH-Signature", BASE64.encode(sig))
}

/// Posts a delivery; answers the status and the JSON body.
async fn deliver(demo: &Demo, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = Client::new()
        .post(format!("{}/webhooks/ghl", demo.url()))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.expect("webhook post");
    let status = resp.status();
    (status, resp.json().await.expect("webhook answer json"))
}

async fn metric(demo: &Demo, outcome: &str) -> u64 {
    let text = harness::get_text(format!("{}/metrics", demo.url())).await;
    let series = format!("contactgraph_webhooks_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// A request to the GHL simulator's API, bypassing the gateway.
fn at_ghl(demo: &Demo, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    Client::new()
        .request(method, format!("{}{path}", demo.sims.ghl.url()))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2021-07-28")
}

/// A delivery the gateway must refuse: what it tests, its headers and body, and the
/// status and code expected.
type Refusal = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn only_the_first_valid_delivery_is_processed_and_refusals_leave_the_cache_alone() {
    let (key, stranger) = (test_key(1), test_key(9));
    let demo = start(json!({"webhooks": {"ghl_public_keys": [pem(&key)]}})).await;
    let id = person(&demo);
    contact(&demo, READ, &id).await;
    let warm = contact_fetches(&demo).await;
    contact(&demo, READ, &id).await;
    assert_eq!(
        contact_fetches(&demo).await,
        warm,
        "the second read is cached"
    );

    let good = contact_event("ContactUpdate", &id, "wh-1", TimeDelta::zero());
    let mut tampered = good.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 0x01;
    let stale = contact_event("ContactUpdate", &id, "wh-2", TimeDelta::minutes(6));
    let future = contact_event("ContactUpdate", &id, "wh-3", TimeDelta::minutes(-6));
    let refused: [Refusal; 7] = [
        (
            "tampered body",
            vec![ed25519_header(&key, &good)],
            tampered,
            401,
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "wrong key",
            vec![ed25519_header(&stranger, &good)],
            good.clone(),
            401,
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "missing header",
            vec![],
            good.clone(),
            401,
            "WEBHOOK_SIGNATURE_MISSING",
        ),
        (
            "header not base64",
            vec![("X-GHL-Signature", "not base64!".into())],
            good.clone(),
            401,
            "WEBHOOK_SIGNATURE_INVALID",
        ),
        (
            "stale timestamp",
            vec![ed25519_header(&key, &stale)],
            stale,
            401,
            "WEBHOOK_STALE",
        ),
        (
            "timestamp in the future",
            vec![ed25519_header(&key, &future)],
            future,
            401,
            "WEBHOOK_STALE",
        ),
        (
            "legacy header only, no legacy key configured",
            vec![rsa_header(&good)],
            good.clone(),
            401,
            "WEBHOOK_SIGNATURE_MISSING",
        ),
    ];
    for (case, headers, body, status, code) in refused {
        let (got, answer) = deliver(&demo, &headers, body).await;
        assert_eq!(got.as_u16(), status, "{case}: {answer}");
        assert_eq!(answer["code"], code, "{case}: {answer}");
        contact(&demo, READ, &id).await;
        assert_eq!(
            contact_fetches(&demo).await,
            warm,
            "{case} changed the cache"
        );
    }

    let signed = vec![ed25519_header(&key, &good)];
    let (status, answer) = deliver(&demo, &signed, good.clone()).await;
    assert_eq!(
        (status.as_u16(), &answer["status"]),
        (200, &json!("accepted"))
    );
    contact(&demo, READ, &id).await;
    assert_eq!(
        contact_fetches(&demo).await,
        warm + 1,
        "accepted: refetched"
    );

    let (status, answer) = deliver(&demo, &signed, good).await;
    assert_eq!(
        (status.as_u16(), &answer["status"]),
        (200, &json!("duplicate"))
    );
    contact(&demo, READ, &id).await;
    assert_eq!(
        contact_fetches(&demo).await,
        warm + 1,
        "a replay changes nothing"
    );

    for (outcome, n) in [
        ("accepted", 1),
        ("duplicate", 1),
        ("signature_invalid", 3),
        ("signature_missing", 2),
        ("stale", 2),
        ("payload_invalid", 0),
    ] {
        assert_eq!(metric(&demo, outcome).await, n, "{outcome}");
    }
    demo.stop().await;
}

#[tokio::test]
async fn a_delivery_signed_with_the_second_configured_key_is_accepted() {
    let (old, new, stranger) = (test_key(1), test_key(2), test_key(3));
    let demo = start(json!({"webhooks": {"ghl_public_keys": [pem(&old), pem(&new)]}})).await;
    let id = person(&demo);
    contact(&demo, READ, &id).await;
    let warm = contact_fetches(&demo).await;

    let body = contact_event("ContactTagUpdate", &id, "rot-1", TimeDelta::zero());
    let (status, answer) = deliver(&demo, &[ed25519_header(&new, &body)], body).await;
    assert_eq!(
        (status.as_u16(), &answer["status"]),
        (200, &json!("accepted"))
    );
    contact(&demo, READ, &id).await;
    assert_eq!(contact_fetches(&demo).await, warm + 1);

    let body = contact_event("ContactTagUpdate", &id, "rot-2", TimeDelta::zero());
    let (status, _) = deliver(&demo, &[ed25519_header(&old, &body)], body).await;
    assert_eq!(status, StatusCode::OK, "the first key still verifies");
    let body = contact_event("ContactTagUpdate", &id, "rot-3", TimeDelta::zero());
    let (status, _) = deliver(&demo, &[ed25519_header(&stranger, &body)], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    demo.stop().await;
}

#[tokio::test]
async fn a_legacy_rsa_signature_counts_only_when_its_key_is_configured_and_the_new_header_is_absent()
 {
    let key = test_key(1);
    let demo = start(json!({"webhooks": {
        "ghl_public_keys": [pem(&key)],
        "ghl_legacy_rsa_public_key": legacy_pem(),
    }}))
    .await;
    let id = person(&demo);

    let body = contact_event("ContactUpdate", &id, "legacy-1", TimeDelta::zero());
    let (status, answer) = deliver(&demo, &[rsa_header(&body)], body).await;
    assert_eq!(
        (status.as_u16(), &answer["status"]),
        (200, &json!("accepted"))
    );

    let other = contact_event("ContactUpdate", &id, "legacy-2", TimeDelta::zero());
    let body = contact_event("ContactUpdate", &id, "legacy-3", TimeDelta::zero());
    let (status, answer) = deliver(&demo, &[rsa_header(&other)], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["code"], "WEBHOOK_SIGNATURE_INVALID");

    let body = contact_event("ContactUpdate", &id, "legacy-4", TimeDelta::zero());
    let headers = [ed25519_header(&test_key(8), &body), rsa_header(&body)];
    let (status, _) = deliver(&demo, &headers, body).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a failing X-GHL-Signature is not rescued by the legacy header"
    );
    demo.stop().await;
}

async fn set_sim_webhook_url(demo: &Demo, url: &str) {
    let resp = Client::new()
        .post(format!("{}/_sim/config", demo.sims.ghl.url()))
        .json(&json!({"webhook_url": url}))
        .send()
        .await
        .expect("sim config");
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn update_at_ghl(demo: &Demo, id: &str, body: Value) {
    let resp = at_ghl(demo, reqwest::Method::PUT, &format!("/contacts/{id}"))
        .json(&body)
        .send()
        .await
        .expect("update at GHL");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_contact_changed_at_the_simulator_reads_fresh_only_through_its_webhook() {
    let demo = start(json!({})).await;
    let ghl = demo.sims.ghl.url();
    let id = person(&demo);
    let before = contact(&demo, READ, &id).await;
    let warm = contact_fetches(&demo).await;

    set_sim_webhook_url(&demo, "").await;
    update_at_ghl(&demo, &id, json!({"email": "unheard.of@example.com"})).await;
    let unheard = contact(&demo, READ, &id).await;
    assert_eq!(
        unheard, before,
        "without a webhook the cached contact stands"
    );
    assert_eq!(contact_fetches(&demo).await, warm);
    assert_eq!(deliveries(&ghl).await.sent, 0);

    set_sim_webhook_url(&demo, &format!("{}/webhooks/ghl", demo.url())).await;
    update_at_ghl(
        &demo,
        &id,
        json!({"email": "changed.at.ghl@example.com", "tags": ["from-ghl"]}),
    )
    .await;
    let s = settled(&ghl, 2).await;
    assert_eq!(s.delivered, 2, "{s:?}");
    assert_eq!(s.by_type.get("ContactUpdate"), Some(&1));
    assert_eq!(s.by_type.get("ContactTagUpdate"), Some(&1));

    let after = contact(&demo, READ, &id).await;
    assert_eq!(after["ghl"]["email"], "changed.at.ghl@example.com");
    assert_eq!(after["ghl"]["tags"], json!(["from-ghl"]));
    assert_eq!(metric(&demo, "accepted").await, 2);
    demo.stop().await;
}

#[tokio::test]
async fn tasks_and_notes_added_at_the_simulator_read_fresh_after_their_webhooks() {
    let demo = start(json!({})).await;
    let ghl = demo.sims.ghl.url();
    let id = person(&demo);
    let query = "query($id: ID!) { contact(id: $id) { tasks { title } notes { body } } }";
    contact(&demo, query, &id).await;

    let task = at_ghl(
        &demo,
        reqwest::Method::POST,
        &format!("/contacts/{id}/tasks"),
    )
    .json(
        &json!({"title": "Webhook task", "dueDate": "2030-01-01T10:00:00Z",
                      "completed": false}),
    )
    .send()
    .await
    .expect("task at GHL");
    assert_eq!(task.status(), StatusCode::CREATED);
    let note = at_ghl(
        &demo,
        reqwest::Method::POST,
        &format!("/contacts/{id}/notes"),
    )
    .json(&json!({"body": "Webhook note"}))
    .send()
    .await
    .expect("note at GHL");
    assert_eq!(note.status(), StatusCode::CREATED);
    let s = settled(&ghl, 2).await;
    assert_eq!(s.delivered, 2, "{s:?}");

    let after = contact(&demo, query, &id).await;
    let titles: Vec<&Value> = after["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| &t["title"])
        .collect();
    assert!(titles.contains(&&json!("Webhook task")), "{after}");
    let bodies: Vec<&Value> = after["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| &n["body"])
        .collect();
    assert!(bodies.contains(&&json!("Webhook note")), "{after}");
    demo.stop().await;
}

/// A receiver that records each delivery and answers the next planned status (200 once
/// the plan is used up).
#[derive(Default)]
struct Receiver {
    plan: Mutex<VecDeque<u16>>,
    got: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.got.lock().expect("receiver").push((headers, body));
    let next = r.plan.lock().expect("receiver").pop_front().unwrap_or(200);
    StatusCode::from_u16(next).expect("status")
}

#[tokio::test]
async fn the_simulator_signs_each_change_and_retries_only_after_a_429() {
    let sims = Sims::start(SimOptions {
        people: PEOPLE,
        ..SimOptions::default()
    })
    .await
    .expect("sims start");
    let ghl = sims.ghl.url();
    let receiver = Arc::new(Receiver::default());
    receiver.plan.lock().expect("plan").extend([429, 429]);
    let server = SimServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone()),
    )
    .await
    .expect("receiver starts");
    let http = Client::new();
    let configured = http
        .post(format!("{ghl}/_sim/config"))
        .json(&json!({"webhook_url": format!("{}/hook", server.url()),
                      "webhook_retry_delay_ms": 1}))
        .send()
        .await
        .expect("configure");
    assert_eq!(configured.status(), StatusCode::OK);
    let info = sim_webhooks(&ghl).await;
    let key = VerifyingKey::from_public_key_pem(info["publicKeyPem"].as_str().expect("pem"))
        .expect("the published key parses");
    assert_eq!(sims.ghl_state.config().webhook_retry_delay_ms, 1);
    let id = World::generate(SimOptions::default().seed, PEOPLE)
        .ghl
        .contacts[0]
        .id
        .clone();

    let task = http
        .post(format!("{ghl}/contacts/{id}/tasks"))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2021-07-28")
        .json(&json!({"title": "Signed", "dueDate": "2030-01-01T10:00:00Z", "completed": false}))
        .send()
        .await
        .expect("task");
    assert_eq!(task.status(), StatusCode::CREATED);
    let s = settled(&ghl, 1).await;
    assert_eq!((s.sent, s.retried, s.delivered), (1, 2, 1), "{s:?}");
    {
        let got = receiver.got.lock().expect("got");
        assert_eq!(got.len(), 3, "two 429s, then the delivery");
        let (headers, body) = &got[2];
        let sig = BASE64
            .decode(headers["x-ghl-signature"].as_bytes())
            .expect("base64 signature");
        let sig = ed25519_dalek::Signature::from_slice(&sig).expect("signature");
        key.verify(body, &sig).expect("signed over the exact body");
        assert_eq!(got[0].1, got[2].1, "a retry sends the same bytes");
        let event: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(event["type"], "TaskCreate");
        assert_eq!(event["locationId"], GHL_LOCATION_ID);
        assert_eq!(event["contactId"], json!(id));
        assert_eq!(event["title"], "Signed");
        assert!(
            chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().expect("ts")).is_ok()
        );
        assert_eq!(event["webhookId"].as_str().map(str::len), Some(36));
    }

    receiver.plan.lock().expect("plan").extend([500]);
    let note = http
        .post(format!("{ghl}/contacts/{id}/notes"))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2021-07-28")
        .json(&json!({"body": "Refused"}))
        .send()
        .await
        .expect("note");
    assert_eq!(note.status(), StatusCode::CREATED);
    let s = settled(&ghl, 2).await;
    assert_eq!((s.refused, s.retried), (1, 2), "a 500 is final: {s:?}");
    assert_eq!(receiver.got.lock().expect("got").len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn a_webhook_is_answered_only_once_its_re_read_is_stored() {
    let key = test_key(3);
    let demo = start(json!({
        "webhooks": {"ghl_public_keys": [pem(&key)]},
        "read_model": {"enabled": true, "backfill_on_start": false},
    }))
    .await;
    let id = person(&demo);
    update_at_ghl(&demo, &id, json!({"lastName": "Okonkwo-Lind"})).await;

    let event = contact_event("ContactUpdate", &id, "wh-stored", TimeDelta::zero());
    let (status, _) = deliver(&demo, &[ed25519_header(&key, &event)], event).await;
    assert_eq!(status, StatusCode::OK);
    // GHL does not deliver an accepted event again: once answered, the re-read copy must
    // be in the store (read here past the read model, whose reads wait for copies).
    let stored = demo
        .gateway
        .readers
        .store
        .records(RecordKind::GhlContact, std::slice::from_ref(&id))
        .await
        .expect("store");
    let body: Value = serde_json::from_str(&stored.first().expect("stored copy").body).unwrap();
    assert_eq!(body["lastName"], "Okonkwo-Lind", "{body}");
}
