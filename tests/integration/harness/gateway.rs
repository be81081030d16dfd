//! The gateway tests' harness: a demo (both simulators and the gateway on port 0) built
//! by [`app`], GraphQL over HTTP with the demo's key or another, and the simulators' own
//! APIs and counters.

use contactgraph::{
    auth::{self, Role},
    clock::ManualClock,
    demo::Demo,
    sim::{
        SimOptions,
        admin::StatsSnapshot,
        clubos::ClubOsSimConfig,
        ghl::{tokens, webhooks::DeliveryStats},
        seed::{Example, Kind},
    },
    writes::relay,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// What a test starts: simulators with a seeded world, and the gateway over them.
#[derive(Debug, Clone, Default)]
pub struct App {
    sims: SimOptions,
    config: Value,
    clock: Option<ManualClock>,
    unthrottled: bool,
}

/// A demo to build: 500 people, the default configuration.
pub fn app() -> App {
    App {
        sims: SimOptions::default(),
        config: json!({}),
        clock: None,
        unthrottled: false,
    }
}

impl App {
    /// How many people the simulators seed.
    pub fn people(mut self, people: usize) -> Self {
        self.sims.people = people;
        self
    }

    /// The simulators' options (seed, people, their own configuration).
    pub fn sims(mut self, sims: SimOptions) -> Self {
        self.sims = sims;
        self
    }

    /// Configuration overrides, shaped like the config file (see `demo::config_for`).
    pub fn config(mut self, overrides: Value) -> Self {
        self.config = overrides;
        self
    }

    /// The outbox runs on this clock, and the relay only when [`settle_relay`] runs it.
    pub fn clock(mut self, clock: &ManualClock) -> Self {
        self.clock = Some(clock.clone());
        self
    }

    /// GHL (the simulator and the gateway's limiter) allows far more than GHL's 100
    /// requests per 10 s, for tests whose writes would otherwise wait for GHL's windows.
    pub fn unthrottled(mut self) -> Self {
        self.unthrottled = true;
        self
    }

    /// Starts the simulators and the gateway.
    pub async fn start(mut self) -> Demo {
        if self.unthrottled {
            self.sims.ghl.rate_limit.max = 100_000;
            self.config["ghl"]["rate_limit"]["max_per_interval"] = json!(100_000);
        }
        let clock = self.clock.map(|c| c.clock()).unwrap_or_default();
        Demo::start_clocked(
            "127.0.0.1:0".parse().expect("addr"),
            self.sims,
            self.config,
            clock,
        )
        .await
        .expect("demo starts")
    }
}

/// A demo with `people` seeded people and these configuration overrides.
pub async fn start(people: usize, overrides: Value) -> Demo {
    app().people(people).config(overrides).start().await
}

/// A new API key of `role` for the demo's gateway.
pub async fn key(demo: &Demo, role: Role) -> String {
    auth::create_key(&demo.gateway.writer.store, role, "test", Default::default())
        .await
        .expect("key created")
}

/// Sets a simulator's fault plan (`/_sim/faults`).
pub async fn faults(url: impl AsRef<str>, plan: Value) {
    let status = Client::new()
        .post(format!("{}/_sim/faults", url.as_ref()))
        .json(&plan)
        .send()
        .await
        .expect("faults")
        .status();
    assert!(status.is_success(), "fault plan accepted: {status}");
}

/// A manual clock standing at the system's time now (upstream records keep the system's
/// times, and a retried create compares them with its own).
pub fn manual_clock() -> ManualClock {
    ManualClock::at(contactgraph::store::now_ms())
}

/// Runs the relay of a demo on a manual `clock` until no write is due any more: each
/// round moves the clock past the longest backoff, then runs relay rounds until one finds
/// nothing. Answers how many legs the relay ran.
pub async fn settle_relay(demo: &Demo, clock: &ManualClock) -> usize {
    let writer = &demo.gateway.writer;
    let longest = std::time::Duration::from_millis(writer.config.retry_max_ms + 1);
    let mut ran = 0;
    for _ in 0..writer.config.max_attempts + 2 {
        clock.advance(longest);
        let mut round = 0;
        loop {
            let n = relay::tick(writer).await.expect("a relay round");
            if n == 0 {
                break;
            }
            round += n;
        }
        if round == 0 {
            return ran;
        }
        ran += round;
    }
    panic!("the relay still had writes due after every attempt");
}

/// The JSON answer of one GraphQL request sent with the demo's admin key.
pub async fn graphql(demo: &Demo, query: &str, variables: Value) -> Value {
    post(
        demo,
        Some(&demo.api_key),
        json!({"query": query, "variables": variables}),
    )
    .await
    .1
}

/// [`graphql`] with an `Idempotency-Key` header.
pub async fn graphql_keyed(demo: &Demo, query: &str, variables: Value, key: &str) -> Value {
    let req = Client::new()
        .post(format!("{}/graphql", demo.url()))
        .bearer_auth(&demo.api_key)
        .header("Idempotency-Key", key);
    json_of(req, Some(json!({"query": query, "variables": variables}))).await
}

/// Posts `body` to `/graphql` with `credential` as the bearer (none without), and
/// answers the status and the JSON body.
pub async fn post(demo: &Demo, credential: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Client::new()
        .post(format!("{}/graphql", demo.url()))
        .json(&body);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    let resp = req.send().await.expect("graphql");
    let status = resp.status();
    (status, resp.json().await.expect("a JSON answer"))
}

/// The text at `url` (a GET without credentials), e.g. `/metrics`.
pub async fn get_text(url: impl AsRef<str>) -> String {
    Client::new()
        .get(url.as_ref())
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

/// The JSON at `url` (a GET without credentials).
pub async fn get_json(url: impl AsRef<str>) -> Value {
    json_of(Client::new().get(url.as_ref()), None).await
}

/// A simulator's request counters.
pub async fn stats(url: impl AsRef<str>) -> StatsSnapshot {
    serde_json::from_value(get_json(format!("{}/_sim/stats", url.as_ref())).await)
        .expect("stats json")
}

/// Both simulators' counters, GHL's first.
pub async fn both_stats(demo: &Demo) -> (StatsSnapshot, StatsSnapshot) {
    (
        stats(demo.sims.ghl.url()).await,
        stats(demo.sims.clubos.url()).await,
    )
}

/// Requests both simulators received so far.
pub async fn upstream_calls(demo: &Demo) -> u64 {
    let (ghl, clubos) = both_stats(demo).await;
    ghl.total + clubos.total
}

/// A seeded person of this kind.
pub fn example(demo: &Demo, kind: Kind) -> &Example {
    demo.world.example(kind).expect("the seed has one")
}

/// The GHL contact id of a seeded person of this kind.
pub fn ghl_id(demo: &Demo, kind: Kind) -> String {
    example(demo, kind)
        .ghl_contact_id
        .clone()
        .expect("the person has a GHL contact")
}

/// A person linked by a stored link, with their GHL contact id and Club OS user id.
pub fn linked(demo: &Demo) -> (&Example, String, i64) {
    let p = example(demo, Kind::StoredLink);
    (
        p,
        p.ghl_contact_id.clone().expect("ghl id"),
        p.clubos_user_ids[0],
    )
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
    let req = Client::new()
        .request(method, format!("{}{path}", demo.sims.ghl.url()))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2021-07-28");
    json_of(req, body).await
}

/// Calls the Club OS simulator's own API with its API key.
pub async fn clubos_api(
    demo: &Demo,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let req = Client::new()
        .request(method, format!("{}{path}", demo.sims.clubos.url()))
        .header("x-api-key", ClubOsSimConfig::default().api_key);
    json_of(req, body).await
}

/// Sends `req` (with `body` as JSON, if any) and answers the JSON it gets back.
async fn json_of(mut req: reqwest::RequestBuilder, body: Option<Value>) -> Value {
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send()
        .await
        .expect("a simulator answers")
        .json()
        .await
        .expect("a JSON answer")
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

/// The GHL simulator's webhook state (`/_sim/webhooks`): deliveries and the key.
pub async fn sim_webhooks(url: &str) -> Value {
    Client::new()
        .get(format!("{url}/_sim/webhooks"))
        .send()
        .await
        .expect("sim webhooks")
        .json()
        .await
        .expect("sim webhooks json")
}

/// The GHL simulator's webhook delivery counters.
pub async fn deliveries(url: &str) -> DeliveryStats {
    serde_json::from_value(sim_webhooks(url).await["deliveries"].clone()).expect("stats")
}

/// Waits (bounded) until every webhook the simulator sent has settled, and at least
/// `sent` were sent.
pub async fn settled(url: &str, sent: u64) -> DeliveryStats {
    for _ in 0..500 {
        let s = deliveries(url).await;
        if s.sent >= sent && s.settled() == s.sent {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("webhooks did not settle: {:?}", deliveries(url).await);
}
