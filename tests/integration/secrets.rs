//! Known fake secrets never show up in logs (captured at debug level for every crate),
//! GraphQL responses or error messages, whatever traffic and failures the gateway sees.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use contactgraph::{
    demo::Demo,
    sim::{clubos::ClubOsSimConfig, ghl::tokens, seed::Kind},
};
use serde_json::{Value, json};

use crate::harness::gateway as harness;

const JWT_SECRET: &str = "fake-jwt-secret-0f3a9c";
const WRONG_GHL_TOKEN: &str = "pit-fake-wrong-token-77e1d2";

/// Everything every tracing event of the process wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn start(overrides: Value) -> Demo {
    harness::start(40, overrides).await
}

/// The whole answer to one GraphQL request with `key`, as text.
async fn post(demo: &Demo, key: &str, query: &str, variables: Value) -> String {
    harness::post(
        demo,
        Some(key),
        json!({"query": query, "variables": variables}),
    )
    .await
    .1
    .to_string()
}

#[tokio::test]
async fn fake_secrets_appear_in_no_log_response_or_error() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();

    let clubos = ClubOsSimConfig::default();
    let demo = start(json!({"auth": {"jwt": {
        "issuer": "i", "audience": "a", "hs256_secret": JWT_SECRET,
    }}}))
    .await;
    let key = demo.api_key.clone();
    let id = harness::ghl_id(&demo, Kind::Linked);
    let everything = "query($id: ID!) { contact(id: $id) { name email phone ghl { id } clubOs { userId } tasks { id } notes { id } appointments { id } homeLocation { name } } }";
    let mut answers = vec![
        post(&demo, &key, everything, json!({"id": id})).await,
        post(&demo, &key, "{ contacts(first: 5) { edges { node { name } } } }", json!({})).await,
        post(
            &demo,
            &key,
            "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"Leak\"}) { status } }",
            json!({"id": id}),
        )
        .await,
        post(&demo, "cg_not_a_key", "{ __typename }", json!({})).await,
        post(&demo, "a.b.c", "{ __typename }", json!({})).await,
    ];
    // Upstream failures: Club OS errors, then GHL refusing the gateway's token.
    harness::faults(
        demo.sims.clubos.url(),
        json!({"rules": [{"action": "error", "status": 500}]}),
    )
    .await;
    let other = harness::ghl_id(&demo, Kind::StoredLink);
    answers.push(post(&demo, &key, everything, json!({"id": other})).await);
    assert!(
        answers
            .last()
            .is_some_and(|a| a.contains("UPSTREAM_UNAVAILABLE")),
        "Club OS failed: {answers:?}"
    );
    let refused = start(json!({"ghl": {"token": WRONG_GHL_TOKEN}})).await;
    answers.push(post(&refused, &refused.api_key, everything, json!({"id": id})).await);
    assert!(
        answers.last().is_some_and(|a| a.contains("UPSTREAM_AUTH")),
        "GHL refused the wrong token: {answers:?}"
    );

    let logs = String::from_utf8(logs.0.lock().expect("log lock").clone()).expect("utf-8");
    assert!(logs.len() > 1_000, "debug logs were captured");
    let secrets = [
        tokens::LOCATION,
        WRONG_GHL_TOKEN,
        clubos.api_key.as_str(),
        clubos.v1_password.as_str(),
        JWT_SECRET,
        key.as_str(),
        refused.api_key.as_str(),
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret is in the logs");
        for a in &answers {
            assert!(!a.contains(secret), "a secret is in a response: {a}");
        }
    }
    for a in &answers {
        assert!(
            !a.contains("http://127.0.0.1"),
            "an upstream URL is in a response: {a}"
        );
    }
}
