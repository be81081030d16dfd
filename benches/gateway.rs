//! The gateway benchmark: `cargo bench --bench gateway`.
//!
//! Everything runs in this one process, over real HTTP on loopback: both simulators, the
//! gateway ([`Demo`]) and the load generator (a keep-alive `reqwest` client). Every
//! upstream call gets a fixed injected latency ([`LATENCY_MS`], `POST /_sim/faults`).
//!
//! Two canonical queries are measured: [`Q1`], one linked contact with every field, and
//! [`Q50`], a page of 50 contacts with member fields, tasks, notes and appointments.
//! Every response is checked for `errors` before it is counted; any error aborts the run.
//!
//! What is measured (see `BENCHMARKS.md` for the method and the figures):
//!
//! - the latency of one direct simulator call (what one "20 ms" stage really costs);
//! - upstream calls by route of one cold request of each query (fresh process);
//! - p50/p99 latency with cold data at concurrency 1 and 16; the ideal critical path of
//!   each request computed from its dependency chain at 20 ms per call; and a *reference
//!   fan-out* that makes the same upstream calls through the gateway's own clients, each
//!   as soon as the answers it needs are in, without GraphQL, loaders or caches: the
//!   critical path as it can really be run on this machine. Overhead is reported above
//!   both;
//! - warm-cache requests per second at concurrency 16 (and latency at concurrency 1);
//! - the same with other `loaders.batch_delay_us` values;
//! - cold p50s with no injected latency, next to the reference: the gateway's own time;
//! - Q50 cold against the GHL simulator's default rate limits (elapsed time, 429s);
//! - peak RSS (`VmHWM`) of the whole process.
//!
//! The report is Markdown on stdout; progress goes to stderr. Nothing is written to disk.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

mod common;

use anyhow::{Context as _, bail, ensure};
use axum::body::Bytes;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{memory_of, ms, percentile};
use contactgraph::{
    demo::Demo,
    loaders::LoaderConfig,
    loaders::Readers,
    phone,
    sim::{
        SimOptions, World, admin::StatsSnapshot, ghl::tokens::LOCATION as GHL_TOKEN, seed::Kind,
    },
    upstream::{
        clubos::{ClubOsUser, EventSearch, UserSearch},
        ghl::models::{GhlContact, SearchRequest, SearchSort, SortDirection, TaskSearch},
    },
};
use futures_util::future::try_join_all;
use reqwest::{
    Client,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use serde::{Deserialize, de::IgnoredAny};
use serde_json::{Value, json};

/// Latency injected into every upstream API call, in milliseconds.
const LATENCY_MS: u64 = 20;
/// People in the seeded world: enough distinct linked people for every cold Q1 to be a
/// new person, and more than [`HIGH_C`] pages of 50 contacts; small enough that the
/// simulators' linear scans stay cheap (they share the machine with the gateway).
const PEOPLE: usize = 1500;
/// The seed of the world (the demo's).
const SEED: u64 = 42;
/// In-flight calls per upstream client and keys fetched at once per loader batch.
const CLIENT_CONCURRENCY: usize = 64;
/// Load-generator concurrency of the "c=16" runs.
const HIGH_C: usize = 16;
/// Upper bound on each warm-throughput run.
const WARM_CAP: Duration = Duration::from_secs(10);
/// Upper bound on any single request (the default-limits run is the slow one).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// GHL's task search returns at most this many tasks per call (`loaders.rs`).
const TASK_SEARCH_PAGE: usize = 100;
/// Other `loaders.batch_delay_us` values measured besides the default.
const OTHER_BATCH_DELAYS_US: [u64; 3] = [0, 100, 500];

/// The loaders' default batching delay (`loaders.batch_delay_us`), as the gateway has it.
fn default_batch_delay_us() -> u64 {
    LoaderConfig::default().batch_delay_us
}

/// One linked contact with everything the schema offers about them.
const Q1: &str = r#"query Q1($id: ID!) { contact(id: $id) {
  id linkStatus linkedBy firstName lastName name email emails phone phones
  address { line1 city state postalCode }
  dateOfBirth tags joinDate barcode
  membership { status type followupStatus joinDate }
  homeLocation { id name timeZone }
  conflicts { field ghlValue clubOsValue chosen }
  ghl { id locationId firstName lastName email phone tags dateOfBirth dateAdded dateUpdated }
  clubOs { userId firstName lastName email phoneDigits phone role membershipStatus
           membershipType followupStatus homeLocationId barcode joinDate updatedDate }
  tasks { id source title body dueDate completed assignedTo }
  notes { id source body title pinned authorId createdAt }
  appointments { id source title startTime endTime status calendar ownerId address }
} }"#;

/// A page of 50 contacts with member fields, tasks, notes and appointments.
const Q50: &str = r#"query Q50($after: String) { contacts(first: 50, after: $after) {
  totalCount
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node {
    id linkStatus linkedBy name email phone tags
    membership { status type followupStatus joinDate }
    homeLocation { id name }
    barcode
    tasks { id source title dueDate completed assignedTo }
    notes { id source body createdAt }
    appointments { id source title startTime endTime status }
  } }
} }"#;

/// Only the cursors of a page (used to walk the pages on a separate, latency-free demo).
const PAGE_CURSOR: &str = r#"query($after: String) { contacts(first: 50, after: $after) {
  pageInfo { hasNextPage endCursor } } }"#;

/// Runs every phase on a multi-threaded runtime (one worker per CPU) and prints the report.
fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there are no options to read.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let report = rt.block_on(run())?;
    print!("{report}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Plumbing: the demo, the simulators' admin routes, the GraphQL client.
// ---------------------------------------------------------------------------------------

/// Gateway settings of a run: the clients' limiter out of the way, generous concurrency,
/// and the loaders' batching delay under test.
fn overrides(batch_delay_us: u64) -> Value {
    json!({
        "ghl": {
            "rate_limit": {
                "max_per_interval": 1_000_000,
                "interval_ms": 10_000,
                "daily": 100_000_000,
                "headroom": 1.0,
            },
            "max_concurrency": CLIENT_CONCURRENCY,
        },
        "clubos": {"max_concurrency": CLIENT_CONCURRENCY},
        "loaders": {"fanout": CLIENT_CONCURRENCY, "batch_delay_us": batch_delay_us},
    })
}

/// Starts simulators and gateway over the benchmark's world.
async fn start(overrides: Value) -> anyhow::Result<Demo> {
    Demo::start_with(
        "127.0.0.1:0".parse().context("listen address")?,
        SimOptions {
            seed: SEED,
            people: PEOPLE,
            ..SimOptions::default()
        },
        overrides,
    )
    .await
}

/// Stops a demo, without letting a stuck graceful shutdown hang the benchmark.
async fn stop(demo: Demo) {
    if tokio::time::timeout(Duration::from_secs(10), demo.stop())
        .await
        .is_err()
    {
        eprintln!("warning: a demo did not stop within 10 s");
    }
}

/// Posts JSON to a simulator admin route and expects a 2xx.
async fn admin_post(http: &Client, url: String, body: Value) -> anyhow::Result<()> {
    let resp = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    ensure!(resp.status().is_success(), "POST {url}: {}", resp.status());
    Ok(())
}

/// Injects `latency_ms` on both simulators and, when `raise_limits`, lifts the GHL
/// simulator's rate limits out of the way.
async fn prepare(
    demo: &Demo,
    http: &Client,
    latency_ms: u64,
    raise_limits: bool,
) -> anyhow::Result<()> {
    for base in [demo.sims.ghl.url(), demo.sims.clubos.url()] {
        admin_post(
            http,
            format!("{base}/_sim/faults"),
            json!({"latency_ms": latency_ms}),
        )
        .await?;
    }
    if raise_limits {
        admin_post(
            http,
            format!("{}/_sim/config", demo.sims.ghl.url()),
            json!({"rate_limit": {"max": 1_000_000_000u64, "interval_ms": 1_000, "daily": 1_000_000_000_000u64}}),
        )
        .await?;
    }
    Ok(())
}

/// `GET /_sim/stats` of one simulator.
async fn sim_stats(http: &Client, base: &str) -> anyhow::Result<StatsSnapshot> {
    http.get(format!("{base}/_sim/stats"))
        .send()
        .await
        .context("GET /_sim/stats")?
        .json()
        .await
        .context("stats JSON")
}

/// Both simulators' counters: (GHL, Club OS).
async fn both_stats(demo: &Demo, http: &Client) -> anyhow::Result<(StatsSnapshot, StatsSnapshot)> {
    Ok((
        sim_stats(http, &demo.sims.ghl.url()).await?,
        sim_stats(http, &demo.sims.clubos.url()).await?,
    ))
}

/// The load generator's HTTP client: keep-alive, enough idle connections for every worker.
fn http_client() -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("HTTP client")
}

/// A GraphQL endpoint and a client to call it with.
#[derive(Clone)]
struct Gateway {
    http: Client,
    endpoint: String,
    authorization: HeaderValue,
}

/// Just enough of a GraphQL response to check it, without building a tree.
#[derive(Deserialize)]
struct Checked {
    data: Option<IgnoredAny>,
    errors: Option<IgnoredAny>,
}

impl Gateway {
    fn new(http: &Client, demo: &Demo) -> Self {
        Self {
            http: http.clone(),
            endpoint: format!("{}/graphql", demo.url()),
            authorization: HeaderValue::from_str(&format!("Bearer {}", demo.api_key))
                .expect("an API key is a valid header value"),
        }
    }

    /// A request body, serialised once.
    fn body(query: &str, variables: Value) -> anyhow::Result<Bytes> {
        Ok(
            serde_json::to_vec(&json!({"query": query, "variables": variables}))
                .context("request JSON")?
                .into(),
        )
    }

    /// Sends a request; answers the time until the whole body arrived, and the body.
    async fn send(&self, body: &Bytes) -> anyhow::Result<(Duration, Bytes)> {
        let start = Instant::now();
        let resp = self
            .http
            .post(&self.endpoint)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, self.authorization.clone())
            .body(body.clone())
            .send()
            .await
            .context("POST /graphql")?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("response body")?;
        let elapsed = start.elapsed();
        ensure!(
            status.is_success(),
            "gateway answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok((elapsed, bytes))
    }

    /// A request whose answer is needed: parsed, and refused when it carries `errors`.
    async fn query(&self, body: &Bytes) -> anyhow::Result<(Duration, Value)> {
        let (elapsed, bytes) = self.send(body).await?;
        let v: Value = serde_json::from_slice(&bytes).context("response JSON")?;
        if let Some(errors) = v.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        ensure!(v.get("data").is_some_and(|d| !d.is_null()), "no data: {v}");
        Ok((elapsed, v))
    }

    /// A request whose answer is only checked (throughput runs): no `errors`, has `data`.
    async fn check(&self, body: &Bytes) -> anyhow::Result<Duration> {
        let (elapsed, bytes) = self.send(body).await?;
        let c: Checked = serde_json::from_slice(&bytes).context("response JSON")?;
        if c.errors.is_some() {
            bail!("GraphQL errors: {}", String::from_utf8_lossy(&bytes));
        }
        ensure!(c.data.is_some(), "no data");
        Ok(elapsed)
    }
}

/// Runs `total` jobs (`job(i)` for i in 0..total) on `concurrency` workers, stopping
/// early at `cap`. Answers each finished job's output and the wall time.
async fn drive<T, F, Fut>(
    concurrency: usize,
    total: usize,
    cap: Duration,
    job: F,
) -> anyhow::Result<(Vec<T>, Duration)>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + cap;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let job = job.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    break;
                }
                out.push(job(i).await?);
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.context("load worker panicked")??);
    }
    Ok((all, start.elapsed()))
}

/// `VmHWM` and `VmRSS` of this process, in MiB.
fn memory() -> (f64, f64) {
    memory_of("self")
}

// ---------------------------------------------------------------------------------------
// The ideal critical path of a request, from what its answer shows.
// ---------------------------------------------------------------------------------------

/// What one contact needed before its own fields could load.
#[derive(Debug, Clone, Copy)]
struct NodeDeps {
    /// Sequential Club OS lookups linking needed after the GHL record was known
    /// (custom field / email: 1; phone after a fruitless email lookup: 2).
    lookups: u32,
    /// Whether a Club OS user was found (then its events load after linking).
    linked: bool,
}

/// Reads a node of Q1 or Q50: which lookups linking made, whether it linked.
fn node_deps(node: &Value) -> anyhow::Result<NodeDeps> {
    let has = |f: &str| node[f].as_str().is_some_and(|s| !s.is_empty());
    let status = node["linkStatus"].as_str().context("linkStatus")?;
    let rule = node["linkedBy"].as_str();
    let (lookups, linked) = match (status, rule) {
        ("LINKED", Some("STORED" | "CUSTOM_FIELD" | "EMAIL")) => (1, true),
        ("LINKED", Some("PHONE")) => (1 + u32::from(has("email")), true),
        ("AMBIGUOUS", _) => (1, false),
        ("GHL_ONLY", _) => (u32::from(has("email")) + u32::from(has("phone")), false),
        other => bail!("unexpected link outcome {other:?} for a GHL-driven read"),
    };
    Ok(NodeDeps { lookups, linked })
}

/// The ideal critical path of a GHL-driven read over `nodes` (one for Q1, the page for
/// Q50) that returned `tasks` tasks in all, in stages of one upstream round trip: the
/// lower bound of any implementation making these calls, each as soon as the answers it
/// needs are in, with at most [`CLIENT_CONCURRENCY`] calls in flight per upstream.
///
/// The first stage reads the GHL record(s). After it, two chains run side by side: the
/// Club OS lookups each contact's linking needs, then that user's events; and the GHL
/// activity (notes and appointments per contact, the task search per 100 tasks), in
/// waves of [`CLIENT_CONCURRENCY`]. The location list depends on nothing and hides
/// behind either chain.
fn ideal(nodes: &[NodeDeps], tasks: usize) -> u32 {
    let n = nodes.len();
    let task_calls = tasks / TASK_SEARCH_PAGE + 1;
    let ghl_waves = (2 * n + 1).div_ceil(CLIENT_CONCURRENCY) + (task_calls - 1);
    let clubos_chain = nodes
        .iter()
        .map(|d| d.lookups + u32::from(d.linked))
        .max()
        .unwrap_or(0);
    1 + clubos_chain.max(u32::try_from(ghl_waves).unwrap_or(u32::MAX))
}

/// The nodes and task count of a Q1 answer.
fn q1_shape(v: &Value) -> anyhow::Result<(Vec<NodeDeps>, usize)> {
    let node = &v["data"]["contact"];
    ensure!(node.is_object(), "contact is null: {v}");
    let tasks = node["tasks"].as_array().map_or(0, Vec::len);
    Ok((vec![node_deps(node)?], tasks))
}

/// The nodes and task count of a Q50 answer (which must hold 50 contacts).
fn q50_shape(v: &Value) -> anyhow::Result<(Vec<NodeDeps>, usize)> {
    let edges = v["data"]["contacts"]["edges"].as_array().context("edges")?;
    ensure!(edges.len() == 50, "a page of {} contacts", edges.len());
    let mut nodes = Vec::with_capacity(edges.len());
    let mut tasks = 0;
    for e in edges {
        nodes.push(node_deps(&e["node"])?);
        tasks += e["node"]["tasks"].as_array().map_or(0, Vec::len);
    }
    Ok((nodes, tasks))
}

/// Reads an answer's contacts and task count ([`q1_shape`] or [`q50_shape`]).
type Shape = fn(&Value) -> anyhow::Result<(Vec<NodeDeps>, usize)>;

/// One cold sample: its latency and its ideal, in stages.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ms: f64,
    ideal: u32,
}

/// p50/p99 of the reference fan-out over the same cold workload.
#[derive(Debug, Clone, Copy)]
struct RefStats {
    p50: f64,
    p99: f64,
}

/// A summary of cold samples.
#[derive(Debug, Clone, Copy)]
struct ColdStats {
    n: usize,
    p50: f64,
    p99: f64,
    /// Median ideal, in stages.
    stages: f64,
    /// Median over samples of (latency − data-dependency ideal at 20 ms per stage).
    overhead: f64,
    /// The reference fan-out over the same workload, when it was run.
    reference: Option<RefStats>,
}

impl ColdStats {
    /// p50 of the gateway − p50 of the reference fan-out.
    fn overhead_vs_reference(&self) -> Option<f64> {
        self.reference.map(|r| self.p50 - r.p50)
    }
}

/// Summarises cold samples and, when run, the reference fan-out's latencies (ms).
fn cold_stats(samples: &[Sample], reference: Option<&[f64]>) -> ColdStats {
    let lat: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    let median_of =
        |f: &dyn Fn(&Sample) -> f64| percentile(&samples.iter().map(f).collect::<Vec<_>>(), 50.0);
    let nominal = LATENCY_MS as f64;
    ColdStats {
        n: samples.len(),
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        stages: median_of(&|s| f64::from(s.ideal)),
        overhead: median_of(&|s| s.ms - f64::from(s.ideal) * nominal),
        reference: reference.map(|r| RefStats {
            p50: percentile(r, 50.0),
            p99: percentile(r, 99.0),
        }),
    }
}

/// Runs cold requests `bodies[i]` on `concurrency` workers and measures each against its
/// ideal.
async fn cold_run(
    gw: &Gateway,
    bodies: Vec<Bytes>,
    concurrency: usize,
    shape: Shape,
) -> anyhow::Result<Vec<Sample>> {
    let gw = gw.clone();
    let bodies = Arc::new(bodies);
    let total = bodies.len();
    let (samples, _) = drive(concurrency, total, REQUEST_TIMEOUT, move |i| {
        let gw = gw.clone();
        let bodies = bodies.clone();
        async move {
            let (elapsed, v) = gw.query(&bodies[i]).await?;
            let (nodes, tasks) = shape(&v)?;
            Ok(Sample {
                ms: ms(elapsed),
                ideal: ideal(&nodes, tasks),
            })
        }
    })
    .await?;
    Ok(samples)
}

// ---------------------------------------------------------------------------------------
// The reference fan-out: the same upstream calls, each as early as its inputs allow.
// ---------------------------------------------------------------------------------------

/// What the reference fan-out reads: Q1 of a GHL contact id, or Q50 after a cursor.
#[derive(Debug, Clone)]
enum RefJob {
    Q1(String),
    Q50(Option<String>),
}

/// Makes the upstream calls `job`'s gateway request makes, through the gateway's own
/// clients (same connection pools, in-flight caps and retries), each as soon as the
/// answers it depends on are in: no GraphQL, no loaders, no caches, no store. Answers
/// the wall time.
async fn reference(state: &Readers, job: &RefJob) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let field = state.link_field_id().await?.map(str::to_owned);
    let contacts = match job {
        RefJob::Q1(id) => vec![
            state
                .ghl
                .get_contact(id)
                .await?
                .context("no such contact")?,
        ],
        RefJob::Q50(after) => {
            let search_after = after.as_deref().map(decode_cursor).transpose()?;
            let page = state
                .ghl
                .search_contacts(&SearchRequest {
                    page_limit: 51,
                    search_after,
                    sort: vec![SearchSort {
                        field: "dateAdded".into(),
                        direction: SortDirection::Desc,
                    }],
                    ..SearchRequest::default()
                })
                .await?;
            page.contacts.into_iter().take(50).collect()
        }
    };
    let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    let field = field.as_deref();
    futures_util::try_join!(
        ghl_activity(state, &ids),
        try_join_all(contacts.iter().map(|c| link_then_events(state, field, c))),
        async { Ok(state.clubos.list_locations().await.map(drop)?) },
    )?;
    Ok(start.elapsed())
}

/// The gateway's cursor (base64url of the GHL `searchAfter` JSON) as `searchAfter`.
fn decode_cursor(cursor: &str) -> anyhow::Result<Vec<Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).context("cursor base64")?;
    Ok(
        match serde_json::from_slice(&bytes).context("cursor JSON")? {
            Value::Array(a) => a,
            other => vec![other],
        },
    )
}

/// Notes and appointments of every contact, and their tasks through the task search.
async fn ghl_activity(state: &Readers, ids: &[String]) -> anyhow::Result<()> {
    let notes = try_join_all(ids.iter().map(|id| state.ghl.list_notes(id)));
    let appointments = try_join_all(ids.iter().map(|id| state.ghl.contact_appointments(id)));
    let tasks = async {
        for chunk in ids.chunks(TASK_SEARCH_PAGE) {
            let mut skip = 0;
            loop {
                let page = state
                    .ghl
                    .search_tasks(&TaskSearch {
                        contact_ids: chunk.to_vec(),
                        limit: TASK_SEARCH_PAGE as u32,
                        skip,
                        ..TaskSearch::default()
                    })
                    .await?;
                if page.len() < TASK_SEARCH_PAGE {
                    break;
                }
                skip += TASK_SEARCH_PAGE as u32;
            }
        }
        anyhow::Ok(())
    };
    futures_util::try_join!(
        async { Ok(notes.await.map(drop)?) },
        async { Ok(appointments.await.map(drop)?) },
        tasks
    )?;
    Ok(())
}

/// Links a contact as the gateway does (link custom field, then email, then phone; a
/// unique match links), then reads the user's Club OS events.
async fn link_then_events(
    state: &Readers,
    field: Option<&str>,
    c: &GhlContact,
) -> anyhow::Result<()> {
    if let Some(u) = link(state, field, c).await? {
        state
            .clubos
            .search_events(&EventSearch {
                user_id: Some(u.user_id),
                size: 100,
                ..EventSearch::default()
            })
            .await?;
    }
    Ok(())
}

/// The Club OS user a contact links to, by the gateway's rules; `None` when nobody or
/// several users match.
async fn link(
    state: &Readers,
    field: Option<&str>,
    c: &GhlContact,
) -> anyhow::Result<Option<ClubOsUser>> {
    let region = state.phone_region;
    let one = |mut users: Vec<ClubOsUser>| (users.len() == 1).then(|| users.pop()).flatten();
    if let Some(uid) = field
        .and_then(|f| c.custom_field(f))
        .and_then(|v| v.trim().parse::<i64>().ok())
        && let Some(u) = state.clubos.get_user(uid).await?
    {
        return Ok(Some(u));
    }
    if let Some(email) = c.email.as_deref().filter(|e| !e.trim().is_empty()) {
        let users = state
            .clubos
            .search_users(&UserSearch {
                email: Some(email.trim().to_lowercase()),
                ..UserSearch::default()
            })
            .await?
            .content;
        if !users.is_empty() {
            return Ok(one(users));
        }
    }
    if let Some(digits) = c
        .phone
        .as_deref()
        .and_then(|p| phone::to_e164(p, region))
        .and_then(|e| phone::to_national_digits(&e, region))
    {
        let users = state
            .clubos
            .search_users(&UserSearch {
                phone: Some(digits),
                ..UserSearch::default()
            })
            .await?
            .content;
        return Ok(one(users));
    }
    Ok(None)
}

/// Runs the reference fan-out of `jobs[i]` on `concurrency` workers; latencies in ms.
async fn reference_run(
    state: &Arc<Readers>,
    jobs: Vec<RefJob>,
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let state = state.clone();
    let jobs = Arc::new(jobs);
    let total = jobs.len();
    let (lat, _) = drive(concurrency, total, REQUEST_TIMEOUT, move |i| {
        let state = state.clone();
        let jobs = jobs.clone();
        async move { reference(&state, &jobs[i]).await.map(ms) }
    })
    .await?;
    Ok(lat)
}

// ---------------------------------------------------------------------------------------
// Warm runs.
// ---------------------------------------------------------------------------------------

/// A warm-cache run: latencies and throughput.
#[derive(Debug, Clone, Copy)]
struct WarmStats {
    n: usize,
    secs: f64,
    /// Median of the rounds' requests per second, and the slowest and fastest round.
    rps: f64,
    rps_min: f64,
    rps_max: f64,
    /// Over every request of every round.
    p50: f64,
    p99: f64,
    /// Upstream calls the run made (should be 0).
    upstream_calls: u64,
    /// CPU other processes of the machine took meanwhile, % of its capacity.
    foreign_cpu: f64,
}

/// Rounds of each warm run: the machine is a shared VM, so one round can be unlucky.
const WARM_ROUNDS: usize = 3;

/// Warms `body` up, then repeats it `total` times in [`WARM_ROUNDS`] rounds (each at most
/// [`WARM_CAP`] / [`WARM_ROUNDS`]) on `concurrency` workers.
async fn warm_run(
    demo: &Demo,
    gw: &Gateway,
    body: Bytes,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<WarmStats> {
    for _ in 0..20 {
        gw.check(&body).await?;
    }
    let (g0, c0) = both_stats(demo, &gw.http).await?;
    let ticks = Ticks::now();
    let mut lat = Vec::with_capacity(total);
    let mut rates = Vec::with_capacity(WARM_ROUNDS);
    let mut secs = 0.0;
    for _ in 0..WARM_ROUNDS {
        let gw = gw.clone();
        let body = body.clone();
        let cap = WARM_CAP / WARM_ROUNDS as u32;
        let (round, wall) = drive(concurrency, total / WARM_ROUNDS, cap, move |_| {
            let gw = gw.clone();
            let body = body.clone();
            async move { gw.check(&body).await }
        })
        .await?;
        rates.push(round.len() as f64 / wall.as_secs_f64());
        secs += wall.as_secs_f64();
        lat.extend(round.into_iter().map(ms));
    }
    let (foreign_cpu, _) = Ticks::now().since(ticks);
    let (g1, c1) = both_stats(demo, &gw.http).await?;
    Ok(WarmStats {
        n: lat.len(),
        secs,
        rps: percentile(&rates, 50.0),
        rps_min: percentile(&rates, 0.0),
        rps_max: percentile(&rates, 100.0),
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        upstream_calls: (g1.total - g0.total) + (c1.total - c0.total),
        foreign_cpu,
    })
}

/// CPU time counters, in clock ticks: the machine's busy time, its steal time and its
/// total time (`/proc/stat`), and this process's own time (`/proc/self/stat`).
#[derive(Debug, Clone, Copy, Default)]
struct Ticks {
    busy: u64,
    steal: u64,
    total: u64,
    own: u64,
}

impl Ticks {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let f: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse().ok())
            .collect();
        let at = |i: usize| f.get(i).copied().unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // Fields after the command name: state is field 3, utime 14, stime 15.
                let rest = s.rsplit_once(')')?.1.to_owned();
                let v: Vec<u64> = rest
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Some(v.iter().sum())
            })
            .unwrap_or(0);
        Self {
            busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
            steal: at(7),
            total: f.iter().sum(),
            own,
        }
    }

    /// Since `before`: (CPU taken by other processes, CPU stolen by the hypervisor), as
    /// percentages of the machine's capacity.
    fn since(self, before: Self) -> (f64, f64) {
        let total = self.total.saturating_sub(before.total).max(1) as f64;
        let busy = self.busy.saturating_sub(before.busy);
        let own = self.own.saturating_sub(before.own);
        let steal = self.steal.saturating_sub(before.steal);
        (
            busy.saturating_sub(own + steal) as f64 / total * 100.0,
            steal as f64 / total * 100.0,
        )
    }
}

/// The 1-minute load average before the run: other work on the machine skews figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------------------
// Phases.
// ---------------------------------------------------------------------------------------

/// GHL contact ids of linked people (custom-field or email links), in seed order.
fn linked_people(world: &World) -> Vec<String> {
    world
        .people
        .iter()
        .filter(|p| matches!(p.kind, Kind::Linked | Kind::StoredLink))
        .filter_map(|p| p.ghl_contact_id.clone())
        .collect()
}

/// The request body of Q1 for a GHL contact id.
fn q1_body(id: &str) -> anyhow::Result<Bytes> {
    Gateway::body(Q1, json!({"id": id}))
}

/// The request body of Q50 after a cursor (`None`: the first page).
fn q50_body(after: Option<&str>) -> anyhow::Result<Bytes> {
    Gateway::body(Q50, json!({"after": after}))
}

/// The `after` cursor of every page of 50 (`None` for the first), walked on a separate
/// latency-free demo over the same world.
async fn page_cursors(http: &Client, pages: usize) -> anyhow::Result<Vec<Option<String>>> {
    let demo = start(overrides(default_batch_delay_us())).await?;
    prepare(&demo, http, 0, true).await?;
    let gw = Gateway::new(http, &demo);
    let mut out = vec![None];
    while out.len() < pages {
        let after = out.last().cloned().flatten();
        let (_, v) = gw
            .query(&Gateway::body(PAGE_CURSOR, json!({"after": after}))?)
            .await?;
        let info = &v["data"]["contacts"]["pageInfo"];
        if info["hasNextPage"] != json!(true) {
            break;
        }
        let cursor = info["endCursor"].as_str().context("endCursor")?;
        out.push(Some(cursor.to_owned()));
    }
    stop(demo).await;
    Ok(out)
}

/// p50/p99 of direct calls to each simulator with the injected latency: how long one
/// "20 ms" stage really takes on this machine (timer granularity, HTTP, handler).
#[derive(Debug, Clone, Copy)]
struct Calibration {
    ghl_p50: f64,
    ghl_p99: f64,
    clubos_p50: f64,
    clubos_p99: f64,
}

/// Times 50 direct calls to each simulator (after 10 to open connections).
async fn calibrate(http: &Client) -> anyhow::Result<Calibration> {
    let demo = start(overrides(default_batch_delay_us())).await?;
    prepare(&demo, http, LATENCY_MS, true).await?;
    let person = demo
        .world
        .example(Kind::StoredLink)
        .context("a stored-link person")?
        .clone();
    let ghl_id = person.ghl_contact_id.context("GHL id")?;
    let user_id = *person.clubos_user_ids.first().context("Club OS id")?;
    let api_key = demo.sims.clubos_state.config().api_key.clone();
    let mut ghl = Vec::new();
    let mut clubos = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        let r = http
            .get(format!("{}/contacts/{ghl_id}", demo.sims.ghl.url()))
            .bearer_auth(GHL_TOKEN)
            .header("Version", "2021-07-28")
            .send()
            .await?;
        ensure!(r.status().is_success(), "GHL direct call: {}", r.status());
        r.bytes().await?;
        ghl.push(ms(t.elapsed()));
        let t = Instant::now();
        let r = http
            .get(format!("{}/users/{user_id}", demo.sims.clubos.url()))
            .header("x-api-key", &api_key)
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "Club OS direct call: {}",
            r.status()
        );
        r.bytes().await?;
        clubos.push(ms(t.elapsed()));
    }
    stop(demo).await;
    // The first calls open connections; keep the steady state.
    let (ghl, clubos) = (&ghl[10..], &clubos[10..]);
    Ok(Calibration {
        ghl_p50: percentile(ghl, 50.0),
        ghl_p99: percentile(ghl, 99.0),
        clubos_p50: percentile(clubos, 50.0),
        clubos_p99: percentile(clubos, 99.0),
    })
}

/// Cold samples with a fresh process (demo) each: `bodies[i]` on its own new demo.
/// Also answers the upstream calls by route of the first sample: (GHL, Club OS).
async fn fresh_process_run(
    http: &Client,
    bodies: Vec<Bytes>,
    shape: Shape,
) -> anyhow::Result<(Vec<Sample>, StatsSnapshot, StatsSnapshot)> {
    let mut samples = Vec::new();
    let mut first = None;
    for body in bodies {
        let demo = start(overrides(default_batch_delay_us())).await?;
        prepare(&demo, http, LATENCY_MS, true).await?;
        // A separate client per demo, so that its connections close with it.
        let client = http_client()?;
        let gw = Gateway::new(&client, &demo);
        let (elapsed, v) = gw.query(&body).await?;
        let (nodes, tasks) = shape(&v)?;
        samples.push(Sample {
            ms: ms(elapsed),
            ideal: ideal(&nodes, tasks),
        });
        if first.is_none() {
            first = Some(both_stats(&demo, http).await?);
        }
        drop(gw);
        drop(client);
        stop(demo).await;
    }
    let (g, c) = first.context("at least one sample")?;
    Ok((samples, g, c))
}

/// How many requests each run of a configuration makes.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    q1_cold_c1: usize,
    q1_cold_c16: usize,
    q1_warm_c1: usize,
    q1_warm_c16: usize,
    q50_cold_c1: usize,
    /// Rounds of [`HIGH_C`] concurrent distinct pages, caches cleared between rounds.
    q50_cold_c16_rounds: usize,
    q50_warm_c1: usize,
    q50_warm_c16: usize,
}

/// Everything measured for one gateway configuration.
#[derive(Debug, Clone, Copy)]
struct ConfigResults {
    batch_delay_us: u64,
    q1_cold_c1: ColdStats,
    q1_cold_c16: Option<ColdStats>,
    q1_warm_c1: WarmStats,
    q1_warm_c16: WarmStats,
    q50_cold_c1: ColdStats,
    q50_cold_c16: Option<ColdStats>,
    q50_warm_c1: WarmStats,
    q50_warm_c16: WarmStats,
    /// `VmHWM` after the Q1 runs and after the Q50 runs, MiB.
    hwm_after_q1: f64,
    hwm_after_q50: f64,
}

/// Measures one configuration. Q1 runs on one demo: cold requests each for a linked
/// person no earlier request read, warm ones for a single person. Q50 runs on another:
/// cold requests for distinct pages with every cache cleared before each request (c=1)
/// or each round of [`HIGH_C`] concurrent pages (c=16); warm ones for the first page.
/// Each cold workload is also run by the reference fan-out.
async fn measure(
    http: &Client,
    batch_delay_us: u64,
    sizes: Sizes,
    cursors: &[Option<String>],
) -> anyhow::Result<ConfigResults> {
    eprintln!("[batch_delay_us={batch_delay_us}] Q1");
    let demo = start(overrides(batch_delay_us)).await?;
    prepare(&demo, http, LATENCY_MS, true).await?;
    let gw = Gateway::new(http, &demo);
    let state = demo.gateway.readers.clone();
    let people = linked_people(&demo.world);
    ensure!(
        people.len() > 1 + sizes.q1_cold_c1 + sizes.q1_cold_c16,
        "only {} linked people",
        people.len()
    );
    // Warm the process (connections, the link custom field's id) on a person the cold
    // samples do not use.
    let warmup = q1_body(&people[0])?;
    gw.query(&warmup).await?;
    reference(&state, &RefJob::Q1(people[0].clone())).await?;
    let mut rest = people[1..].iter();
    let mut samples = Vec::new();
    let mut refs = Vec::new();
    for id in rest.by_ref().take(sizes.q1_cold_c1) {
        refs.push(ms(reference(&state, &RefJob::Q1(id.clone())).await?));
        samples.extend(cold_run(&gw, vec![q1_body(id)?], 1, q1_shape).await?);
    }
    let q1_cold_c1 = cold_stats(&samples, Some(&refs));
    let q1_cold_c16 = if sizes.q1_cold_c16 > 0 {
        let ids: Vec<&String> = rest.by_ref().take(sizes.q1_cold_c16).collect();
        let jobs = ids.iter().map(|id| RefJob::Q1((*id).clone())).collect();
        let refs = reference_run(&state, jobs, HIGH_C).await?;
        let bodies = ids
            .iter()
            .map(|id| q1_body(id))
            .collect::<anyhow::Result<_>>()?;
        let samples = cold_run(&gw, bodies, HIGH_C, q1_shape).await?;
        Some(cold_stats(&samples, Some(&refs)))
    } else {
        None
    };
    let q1_warm_c1 = warm_run(&demo, &gw, warmup.clone(), 1, sizes.q1_warm_c1).await?;
    let q1_warm_c16 = warm_run(&demo, &gw, warmup, HIGH_C, sizes.q1_warm_c16).await?;
    drop(gw);
    drop(state);
    stop(demo).await;
    let hwm_after_q1 = memory().0;

    eprintln!("[batch_delay_us={batch_delay_us}] Q50");
    let demo = start(overrides(batch_delay_us)).await?;
    prepare(&demo, http, LATENCY_MS, true).await?;
    let gw = Gateway::new(http, &demo);
    let state = demo.gateway.readers.clone();
    ensure!(
        cursors.len() > sizes.q50_cold_c1.max(HIGH_C),
        "only {} pages",
        cursors.len()
    );
    let last = cursors.last().cloned().flatten();
    gw.query(&q50_body(last.as_deref())?).await?;
    reference(&state, &RefJob::Q50(last)).await?;
    let mut samples = Vec::new();
    let mut refs = Vec::new();
    for after in cursors.iter().take(sizes.q50_cold_c1) {
        refs.push(ms(reference(&state, &RefJob::Q50(after.clone())).await?));
        demo.gateway.readers.caches.invalidate_everything();
        let body = q50_body(after.as_deref())?;
        samples.extend(cold_run(&gw, vec![body], 1, q50_shape).await?);
    }
    let q50_cold_c1 = cold_stats(&samples, Some(&refs));
    let q50_cold_c16 = if sizes.q50_cold_c16_rounds > 0 {
        let pages = &cursors[..HIGH_C];
        let mut samples = Vec::new();
        let mut refs = Vec::new();
        for _ in 0..sizes.q50_cold_c16_rounds {
            let jobs = pages.iter().map(|a| RefJob::Q50(a.clone())).collect();
            refs.extend(reference_run(&state, jobs, HIGH_C).await?);
            demo.gateway.readers.caches.invalidate_everything();
            let bodies = pages
                .iter()
                .map(|a| q50_body(a.as_deref()))
                .collect::<anyhow::Result<_>>()?;
            samples.extend(cold_run(&gw, bodies, HIGH_C, q50_shape).await?);
        }
        Some(cold_stats(&samples, Some(&refs)))
    } else {
        None
    };
    let first = q50_body(None)?;
    let q50_warm_c1 = warm_run(&demo, &gw, first.clone(), 1, sizes.q50_warm_c1).await?;
    let q50_warm_c16 = warm_run(&demo, &gw, first, HIGH_C, sizes.q50_warm_c16).await?;
    drop(gw);
    drop(state);
    stop(demo).await;
    let hwm_after_q50 = memory().0;

    Ok(ConfigResults {
        batch_delay_us,
        q1_cold_c1,
        q1_cold_c16,
        q1_warm_c1,
        q1_warm_c16,
        q50_cold_c1,
        q50_cold_c16,
        q50_warm_c1,
        q50_warm_c16,
        hwm_after_q1,
        hwm_after_q50,
    })
}

/// Cold p50s with no injected latency: the gateway's own time next to the reference
/// fan-out's (HTTP, the simulators' handlers, decoding), for one batching delay.
#[derive(Debug, Clone, Copy)]
struct ZeroLatency {
    batch_delay_us: u64,
    q1: f64,
    q1_reference: f64,
    q50: f64,
    q50_reference: f64,
}

/// Cold Q1 (40 new people) and Q50 (10 pages, caches cleared before each) with no
/// injected latency, each next to the reference fan-out.
async fn zero_latency_run(
    http: &Client,
    batch_delay_us: u64,
    cursors: &[Option<String>],
) -> anyhow::Result<ZeroLatency> {
    eprintln!("[zero latency, batch_delay_us={batch_delay_us}]");
    let demo = start(overrides(batch_delay_us)).await?;
    prepare(&demo, http, 0, true).await?;
    let gw = Gateway::new(http, &demo);
    let state = demo.gateway.readers.clone();
    let people = linked_people(&demo.world);
    gw.query(&q1_body(&people[0])?).await?;
    reference(&state, &RefJob::Q1(people[0].clone())).await?;
    let (mut q1, mut q1_ref) = (Vec::new(), Vec::new());
    for id in people.iter().skip(1).take(40) {
        q1_ref.push(ms(reference(&state, &RefJob::Q1(id.clone())).await?));
        q1.push(ms(gw.query(&q1_body(id)?).await?.0));
    }
    let (mut q50, mut q50_ref) = (Vec::new(), Vec::new());
    for after in cursors.iter().take(10) {
        q50_ref.push(ms(reference(&state, &RefJob::Q50(after.clone())).await?));
        state.caches.invalidate_everything();
        q50.push(ms(gw.query(&q50_body(after.as_deref())?).await?.0));
    }
    drop(gw);
    drop(state);
    stop(demo).await;
    Ok(ZeroLatency {
        batch_delay_us,
        q1: percentile(&q1, 50.0),
        q1_reference: percentile(&q1_ref, 50.0),
        q50: percentile(&q50, 50.0),
        q50_reference: percentile(&q50_ref, 50.0),
    })
}

/// What one cold Q50 against the GHL simulator's default limits took.
#[derive(Debug, Clone)]
struct LimitRun {
    label: &'static str,
    secs: f64,
    ghl_calls: u64,
    ghl_429: u64,
    clubos_calls: u64,
    errors: usize,
}

/// Runs Q50 once cold on a fresh demo whose GHL simulator keeps its default limits.
async fn limits_run(
    http: &Client,
    label: &'static str,
    overrides: Value,
) -> anyhow::Result<LimitRun> {
    eprintln!("[limits] {label}");
    let demo = start(overrides).await?;
    prepare(&demo, http, LATENCY_MS, false).await?;
    let client = http_client()?;
    let gw = Gateway::new(&client, &demo);
    let (elapsed, bytes) = gw.send(&q50_body(None)?).await?;
    let v: Value = serde_json::from_slice(&bytes).context("response JSON")?;
    let errors = v["errors"].as_array().map_or(0, Vec::len);
    if errors == 0 {
        q50_shape(&v)?;
    }
    let (g, c) = both_stats(&demo, http).await?;
    drop(gw);
    drop(client);
    stop(demo).await;
    Ok(LimitRun {
        label,
        secs: elapsed.as_secs_f64(),
        ghl_calls: g.total,
        ghl_429: g.rate_limited,
        clubos_calls: c.total,
        errors,
    })
}

// ---------------------------------------------------------------------------------------
// The run and its report.
// ---------------------------------------------------------------------------------------

/// Every phase in turn; answers the Markdown report.
async fn run() -> anyhow::Result<String> {
    let (hwm_start, _) = memory();
    let load_before = load_average();
    let ticks_before = Ticks::now();
    let http = http_client()?;
    let began = Instant::now();

    eprintln!("calibrating");
    let cal = calibrate(&http).await?;

    eprintln!("walking pages");
    let cursors = page_cursors(&http, HIGH_C + 2).await?;
    if std::env::var_os("BENCH_QUICK").is_some() {
        return quick(&http, &cursors).await;
    }

    eprintln!("fresh-process samples");
    let world = World::generate(SEED, PEOPLE);
    let people = linked_people(&world);
    let q1_fresh_bodies = people
        .iter()
        .take(20)
        .map(|id| q1_body(id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (q1_fresh, q1_ghl, q1_clubos) = fresh_process_run(&http, q1_fresh_bodies, q1_shape).await?;
    let q50_fresh_bodies = (0..10)
        .map(|_| q50_body(None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (q50_fresh, q50_ghl, q50_clubos) =
        fresh_process_run(&http, q50_fresh_bodies, q50_shape).await?;
    let q1_fresh = cold_stats(&q1_fresh, None);
    let q50_fresh = cold_stats(&q50_fresh, None);

    let main_sizes = Sizes {
        q1_cold_c1: 50,
        q1_cold_c16: 320,
        q1_warm_c1: 1_000,
        q1_warm_c16: 20_000,
        q50_cold_c1: 10,
        q50_cold_c16_rounds: 3,
        q50_warm_c1: 100,
        q50_warm_c16: 2_000,
    };
    let main = measure(&http, default_batch_delay_us(), main_sizes, &cursors).await?;
    let variant_sizes = Sizes {
        q1_cold_c1: 30,
        q1_cold_c16: 0,
        q1_warm_c1: 500,
        q1_warm_c16: 10_000,
        q50_cold_c1: 10,
        q50_cold_c16_rounds: 0,
        q50_warm_c1: 50,
        q50_warm_c16: 500,
    };
    let mut variants = Vec::new();
    for delay in OTHER_BATCH_DELAYS_US {
        if delay != default_batch_delay_us() {
            variants.push(measure(&http, delay, variant_sizes, &cursors).await?);
        }
    }

    let mut zero = Vec::new();
    for delay in [default_batch_delay_us(), 0] {
        zero.push(zero_latency_run(&http, delay, &cursors).await?);
    }

    let limits = vec![
        limits_run(&http, "default configuration", json!({})).await?,
        limits_run(
            &http,
            "benchmark configuration (client limiter raised)",
            overrides(default_batch_delay_us()),
        )
        .await?,
    ];
    let (hwm_end, rss_end) = memory();
    let (foreign_cpu, steal) = Ticks::now().since(ticks_before);

    let mut r = String::new();
    write_report(
        &mut r,
        &Report {
            cal,
            q1_routes: (&q1_ghl, &q1_clubos),
            q50_routes: (&q50_ghl, &q50_clubos),
            q1_fresh,
            q50_fresh,
            main,
            variants: &variants,
            zero: &zero,
            limits: &limits,
            hwm_start,
            hwm_end,
            rss_end,
            secs: began.elapsed().as_secs_f64(),
            load_before,
            steal,
            foreign_cpu,
        },
    )?;
    Ok(r)
}

/// `BENCH_QUICK=1`: only the cold c=1 runs at the default batch delay, as a short
/// summary for checking a change to the read path (not the report `BENCHMARKS.md` holds).
async fn quick(http: &Client, cursors: &[Option<String>]) -> anyhow::Result<String> {
    let sizes = Sizes {
        q1_cold_c1: 30,
        q1_cold_c16: 0,
        q1_warm_c1: 200,
        q1_warm_c16: 2_000,
        q50_cold_c1: 10,
        q50_cold_c16_rounds: 0,
        q50_warm_c1: 20,
        q50_warm_c16: 100,
    };
    let m = measure(http, default_batch_delay_us(), sizes, cursors).await?;
    let mut out = String::new();
    for (name, c) in [("Q1", &m.q1_cold_c1), ("Q50", &m.q50_cold_c1)] {
        writeln!(
            out,
            "{name} cold c=1: p50 {:.1} ms, overhead vs nominal {:+.1}, vs reference {}",
            c.p50,
            c.overhead,
            opt(c.overhead_vs_reference(), true)
        )?;
    }
    writeln!(out, "Q1 warm c=16: {:.0} req/s", m.q1_warm_c16.rps)?;
    Ok(out)
}

/// Everything the report prints.
struct Report<'a> {
    cal: Calibration,
    q1_routes: (&'a StatsSnapshot, &'a StatsSnapshot),
    q50_routes: (&'a StatsSnapshot, &'a StatsSnapshot),
    q1_fresh: ColdStats,
    q50_fresh: ColdStats,
    main: ConfigResults,
    variants: &'a [ConfigResults],
    zero: &'a [ZeroLatency],
    limits: &'a [LimitRun],
    hwm_start: f64,
    hwm_end: f64,
    rss_end: f64,
    secs: f64,
    /// 1-minute load average before the run.
    load_before: String,
    /// Share of CPU time the hypervisor took during the run, %.
    steal: f64,
    /// Share of CPU time other processes took during the run, %.
    foreign_cpu: f64,
}

/// The CPU model from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A signed number of milliseconds, or a dash.
fn opt(v: Option<f64>, signed: bool) -> String {
    match v {
        Some(v) if signed => format!("{v:+.1}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

/// One row of the cold-latency table.
fn cold_row(
    out: &mut String,
    query: &str,
    workload: &str,
    c: usize,
    s: &ColdStats,
) -> std::fmt::Result {
    writeln!(
        out,
        "| {query} | {workload} | {c} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {:+.1} | {} | {} | {} |",
        s.n,
        s.p50,
        s.p99,
        s.stages,
        s.stages * LATENCY_MS as f64,
        s.overhead,
        opt(s.reference.map(|r| r.p50), false),
        opt(s.reference.map(|r| r.p99), false),
        opt(s.overhead_vs_reference(), true),
    )
}

/// One row of the warm-cache table.
fn warm_row(out: &mut String, query: &str, c: usize, w: &WarmStats) -> std::fmt::Result {
    writeln!(
        out,
        "| {query} | {c} | {} | {:.2} | {:.0} ({:.0}–{:.0}) | {:.2} | {:.2} | {} | {:.1} |",
        w.n, w.secs, w.rps, w.rps_min, w.rps_max, w.p50, w.p99, w.upstream_calls, w.foreign_cpu
    )
}

/// Upstream calls by route of the first fresh-process Q1 and Q50.
fn routes_table(out: &mut String, r: &Report<'_>) -> std::fmt::Result {
    let mut rows: BTreeMap<(&str, &str), [u64; 2]> = BTreeMap::new();
    for ((ghl, clubos), col) in [(r.q1_routes, 0), (r.q50_routes, 1)] {
        for (sys, snap) in [("GHL", ghl), ("Club OS", clubos)] {
            for (route, stats) in &snap.routes {
                rows.entry((sys, route.as_str())).or_default()[col] += stats.count;
            }
        }
    }
    writeln!(out, "| system | route | Q1 | Q50 |")?;
    writeln!(out, "|---|---|---:|---:|")?;
    for ((sys, route), [a, b]) in &rows {
        writeln!(out, "| {sys} | `{route}` | {a} | {b} |")?;
    }
    let total = |s: (&StatsSnapshot, &StatsSnapshot)| s.0.total + s.1.total;
    let limited = |s: (&StatsSnapshot, &StatsSnapshot)| s.0.rate_limited + s.1.rate_limited;
    writeln!(
        out,
        "| | **total** | **{}** | **{}** |",
        total(r.q1_routes),
        total(r.q50_routes)
    )?;
    writeln!(
        out,
        "| | 429s | {} | {} |",
        limited(r.q1_routes),
        limited(r.q50_routes)
    )
}

/// How a target reads.
fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

/// Writes the whole Markdown report.
fn write_report(out: &mut String, r: &Report<'_>) -> anyhow::Result<()> {
    let m = &r.main;
    writeln!(out, "# contactgraph gateway benchmark\n")?;
    writeln!(
        out,
        "- Date: {}\n- Machine: {} logical CPUs, {}\n- World: seed {SEED}, {PEOPLE} people; {LATENCY_MS} ms injected into every upstream call on both simulators\n- Gateway: client limiter raised out of the way, `max_concurrency` {CLIENT_CONCURRENCY} (GHL and Club OS), `loaders.fanout` {CLIENT_CONCURRENCY}, `loaders.batch_delay_us` {} (the default) unless stated\n- Whole run: {:.0} s; load average before it {}; during it, other processes took {:.1} % of the CPU and the hypervisor {:.1} %\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        default_batch_delay_us(),
        r.secs,
        r.load_before,
        r.foreign_cpu,
        r.steal,
    )?;

    writeln!(
        out,
        "## One stage: a direct simulator call with {LATENCY_MS} ms injected\n"
    )?;
    writeln!(out, "| call | p50 ms | p99 ms |\n|---|---:|---:|")?;
    writeln!(
        out,
        "| GHL `GET /contacts/{{contactId}}` | {:.2} | {:.2} |",
        r.cal.ghl_p50, r.cal.ghl_p99
    )?;
    writeln!(
        out,
        "| Club OS `GET /users/{{userId}}` | {:.2} | {:.2} |\n",
        r.cal.clubos_p50, r.cal.clubos_p99
    )?;

    writeln!(
        out,
        "## Upstream calls by route, one cold request in a fresh process\n"
    )?;
    routes_table(out, r)?;
    writeln!(out)?;

    writeln!(out, "## Cold latency (ms)\n")?;
    writeln!(
        out,
        "Ideal stages: the critical path of the calls each request needs, from their data dependencies (see `BENCHMARKS.md`); nominal ideal = stages × {LATENCY_MS} ms. Overhead vs nominal: median over samples of latency − nominal ideal. Reference: the same upstream calls made directly through the gateway's clients, each as early as its inputs allow, over the same workload; overhead vs reference = p50 − reference p50.\n"
    )?;
    writeln!(
        out,
        "| query | cold workload | c | n | p50 | p99 | ideal stages | nominal ideal | overhead vs nominal | reference p50 | reference p99 | overhead vs reference |"
    )?;
    writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    cold_row(out, "Q1", "fresh process per request", 1, &r.q1_fresh)?;
    cold_row(
        out,
        "Q1",
        "a new linked person per request",
        1,
        &m.q1_cold_c1,
    )?;
    if let Some(s) = &m.q1_cold_c16 {
        cold_row(out, "Q1", "a new linked person per request", HIGH_C, s)?;
    }
    cold_row(
        out,
        "Q50",
        "fresh process per request (first page)",
        1,
        &r.q50_fresh,
    )?;
    cold_row(
        out,
        "Q50",
        "caches cleared, a different page each",
        1,
        &m.q50_cold_c1,
    )?;
    if let Some(s) = &m.q50_cold_c16 {
        cold_row(
            out,
            "Q50",
            "caches cleared per round of 16 different pages",
            HIGH_C,
            s,
        )?;
    }
    writeln!(out)?;

    writeln!(out, "## Warm cache\n")?;
    writeln!(
        out,
        "| query | c | requests | seconds | req/s: median of {WARM_ROUNDS} rounds (range) | p50 ms | p99 ms | upstream calls | other processes' CPU % |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    warm_row(out, "Q1", 1, &m.q1_warm_c1)?;
    warm_row(out, "Q1", HIGH_C, &m.q1_warm_c16)?;
    warm_row(out, "Q50", 1, &m.q50_warm_c1)?;
    warm_row(out, "Q50", HIGH_C, &m.q50_warm_c16)?;
    writeln!(out)?;

    writeln!(out, "## `loaders.batch_delay_us`\n")?;
    writeln!(
        out,
        "| batch_delay_us | Q1 cold p50 (c=1) | Q1 overhead vs nominal | Q1 overhead vs reference | Q1 warm p50 (c=1) | Q1 warm req/s (c=16) | Q50 cold p50 (c=1) | Q50 overhead vs nominal | Q50 overhead vs reference | Q50 warm p50 (c=1) | Q50 warm req/s (c=16) |"
    )?;
    writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for v in std::iter::once(m).chain(r.variants.iter()) {
        writeln!(
            out,
            "| {} | {:.1} | {:+.1} | {} | {:.2} | {:.0} | {:.1} | {:+.1} | {} | {:.2} | {:.0} |",
            v.batch_delay_us,
            v.q1_cold_c1.p50,
            v.q1_cold_c1.overhead,
            opt(v.q1_cold_c1.overhead_vs_reference(), true),
            v.q1_warm_c1.p50,
            v.q1_warm_c16.rps,
            v.q50_cold_c1.p50,
            v.q50_cold_c1.overhead,
            opt(v.q50_cold_c1.overhead_vs_reference(), true),
            v.q50_warm_c1.p50,
            v.q50_warm_c16.rps,
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "## Cold p50 with no injected latency (ms): the gateway's own time\n"
    )?;
    writeln!(
        out,
        "| batch_delay_us | Q1 | Q1 reference | Q1 difference | Q50 | Q50 reference | Q50 difference |\n|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for z in r.zero {
        writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:+.2} | {:.1} | {:.1} | {:+.1} |",
            z.batch_delay_us,
            z.q1,
            z.q1_reference,
            z.q1 - z.q1_reference,
            z.q50,
            z.q50_reference,
            z.q50 - z.q50_reference,
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "## Q50 cold, GHL simulator at its default rate limits ({LATENCY_MS} ms injected)\n"
    )?;
    writeln!(
        out,
        "| gateway configuration | seconds | GHL calls | GHL 429s | Club OS calls | GraphQL errors |\n|---|---:|---:|---:|---:|---:|"
    )?;
    for l in r.limits {
        writeln!(
            out,
            "| {} | {:.2} | {} | {} | {} | {} |",
            l.label, l.secs, l.ghl_calls, l.ghl_429, l.clubos_calls, l.errors
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "## Memory (whole process: simulators, gateway, load generator)\n"
    )?;
    writeln!(out, "| point | VmHWM MiB |\n|---|---:|")?;
    writeln!(out, "| start | {:.1} |", r.hwm_start)?;
    writeln!(
        out,
        "| after the fresh-process and Q1 runs | {:.1} |",
        m.hwm_after_q1
    )?;
    writeln!(out, "| after the Q50 runs | {:.1} |", m.hwm_after_q50)?;
    writeln!(out, "| end (VmRSS {:.1}) | {:.1} |", r.rss_end, r.hwm_end)?;
    writeln!(out)?;

    writeln!(out, "## Targets\n")?;
    writeln!(
        out,
        "| target | vs nominal ideal | verdict | vs reference fan-out | verdict |\n|---|---:|---|---:|---|"
    )?;
    for (name, s, limit) in [
        ("Q1 overhead, p50 at c=1 ≤ 2 ms", &m.q1_cold_c1, 2.0),
        ("Q50 overhead, p50 at c=1 ≤ 10 ms", &m.q50_cold_c1, 10.0),
    ] {
        let vs_ref = s.overhead_vs_reference();
        writeln!(
            out,
            "| {name} | {:+.1} ms | {} | {} ms | {} |",
            s.overhead,
            verdict(s.overhead <= limit),
            opt(vs_ref, true),
            vs_ref.map_or("–", |o| verdict(o <= limit)),
        )?;
    }
    writeln!(
        out,
        "| Warm Q1 ≥ 5,000 req/s at c=16, load generator included | {:.0} req/s | {} | | |",
        m.q1_warm_c16.rps,
        verdict(m.q1_warm_c16.rps >= 5_000.0)
    )?;
    Ok(())
}
