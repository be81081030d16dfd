//! The gateway tests' harness: a demo (both simulators and the gateway on port 0),
//! GraphQL over HTTP with the demo's key, and the simulators' own APIs and counters.

use contactgraph::{
    demo::Demo,
    sim::{SimOptions, admin::StatsSnapshot, clubos::ClubOsSimConfig, ghl::tokens},
};
use reqwest::Client;
use serde_json::{Value, json};

/// A demo with `people` seeded people and these configuration overrides.
pub async fn start(people: usize, overrides: Value) -> Demo {
    start_sims(
        SimOptions {
            people,
            ..SimOptions::default()
        },
        overrides,
    )
    .await
}

/// A demo over simulators set up as `opts` says.
pub async fn start_sims(opts: SimOptions, overrides: Value) -> Demo {
    Demo::start_with("127.0.0.1:0".parse().expect("addr"), opts, overrides)
        .await
        .expect("demo starts")
}

/// Sets a simulator's fault plan (`/_sim/faults`).
pub async fn faults(url: &str, plan: Value) {
    let status = Client::new()
        .post(format!("{url}/_sim/faults"))
        .json(&plan)
        .send()
        .await
        .expect("faults")
        .status();
    assert!(status.is_success(), "fault plan accepted: {status}");
}

/// Waits (bounded) until the relay has no write left pending.
pub async fn relay_settles(demo: &Demo) {
    for _ in 0..400 {
        let body = graphql(demo, "{ pendingWrites { id } }", json!({})).await;
        if body["data"]["pendingWrites"] == json!([]) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the relay did not settle");
}

/// The JSON answer of one GraphQL request sent with the demo's admin key.
pub async fn graphql(demo: &Demo, query: &str, variables: Value) -> Value {
    Client::new()
        .post(format!("{}/graphql", demo.url()))
        .bearer_auth(&demo.api_key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json")
}

/// A simulator's request counters.
pub async fn stats(url: &str) -> StatsSnapshot {
    Client::new()
        .get(format!("{url}/_sim/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json")
}

/// Requests a simulator received that could change something (any verb but GET).
pub fn writes(s: &StatsSnapshot) -> u64 {
    s.routes
        .iter()
        .filter(|(route, _)| !route.starts_with("GET ") && !route.ends_with("/search"))
        .map(|(_, r)| r.count)
        .sum()
}

/// Calls the GHL simulator's own API with the seed's location token.
pub async fn ghl_api(
    demo: &Demo,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = Client::new()
        .request(method, format!("{}{path}", demo.sims.ghl.url()))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2021-07-28");
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send()
        .await
        .expect("ghl")
        .json()
        .await
        .expect("ghl json")
}

/// Calls the Club OS simulator's own API with its API key.
pub async fn clubos_api(
    demo: &Demo,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = Client::new()
        .request(method, format!("{}{path}", demo.sims.clubos.url()))
        .header("x-api-key", ClubOsSimConfig::default().api_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send()
        .await
        .expect("clubos")
        .json()
        .await
        .expect("clubos json")
}

/// The contact as the GHL simulator holds it.
pub async fn ghl_contact(demo: &Demo, id: &str) -> Value {
    ghl_api(demo, reqwest::Method::GET, &format!("/contacts/{id}"), None).await["contact"].clone()
}

/// The user as the Club OS simulator holds them.
pub async fn clubos_user(demo: &Demo, id: i64) -> Value {
    clubos_api(demo, reqwest::Method::GET, &format!("/users/{id}"), None).await
}

/// The first error's `extensions.code`, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}
