//! The synced read model's benchmark: `cargo bench --bench sync`.
//!
//! The gateway runs as its own process (the release `contactgraph serve`, SQLite store
//! in a temporary file), so that its memory is its own; the simulators and the load
//! generator run in this process and talk to it over loopback. Every upstream call gets
//! [`LATENCY_MS`] of injected latency.
//!
//! What is measured (see `BENCHMARKS.md` for the figures):
//!
//! - **backfill** of worlds of 500, 2,000 and 5,000 people at GHL's default limits
//!   (100 requests per 10 s at the simulator, the gateway's default limiter): wall time,
//!   calls per system against the API minimum, 429s, and the gateway's RSS once synced;
//! - an interactive read-through (`Cache-Control: no-cache`) of one person, idle and
//!   while background work (reconcile, back to back) runs, at the largest world;
//! - **freshness**: a GHL change through its webhook, and a Club OS change through the
//!   poll, into the read model and on to GHL;
//! - with limits out of the way and moka off (every TTL 0), a **synced page of 50**
//!   (after one walk over the pages filled each person's activity): upstream calls, p50
//!   at c=1, requests/s at c=16, beside the same page from a second gateway whose moka
//!   caches are warm; and a read-through Q1 of a person with a stored link against one
//!   direct upstream call.
//!
//! The report is Markdown on stdout; progress goes to stderr.

mod common;

use std::{
    fmt::Write as _,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use common::{memory_of, ms, percentile};
use contactgraph::sim::{
    SimOptions, Sims,
    admin::StatsSnapshot,
    clubos::ClubOsSimConfig,
    ghl::tokens,
    seed::{self, Kind, World},
};
use reqwest::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_contactgraph");
/// Latency injected into every upstream API call, in milliseconds.
const LATENCY_MS: u64 = 20;
const SEED: u64 = 42;
/// World sizes of the backfill table.
const SIZES: [usize; 3] = [500, 2_000, 5_000];
/// The world of the synced-read figures.
const SYNCED_PEOPLE: usize = 2_000;
/// With `BENCH_QUICK` set, every world has this many people: a check that the bench
/// runs, not figures.
const QUICK_PEOPLE: usize = 300;

fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}

fn sizes() -> Vec<usize> {
    if quick() {
        vec![QUICK_PEOPLE]
    } else {
        SIZES.to_vec()
    }
}

/// With `BENCH_ONLY=backfill` or `BENCH_ONLY=synced`, only that half runs (for profiling
/// one of them).
fn runs(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only == part)
}

fn synced_people() -> usize {
    if quick() { QUICK_PEOPLE } else { SYNCED_PEOPLE }
}
/// Pages GHL's contact search and Club OS's user search answer at most (the backfill's).
const GHL_PAGE: usize = 500;
const CLUBOS_PAGE: usize = 200;
/// How long the c=16 synced-page run lasts.
const LOAD_FOR: Duration = Duration::from_secs(5);
/// Interactive samples idle and under background work, one every [`SAMPLE_EVERY`]: a
/// read-through Q1 takes about 6 GHL calls, so they ask 30 per 10 s, within what the
/// default limiter leaves interactive work (90 per window, background at most 45).
const INTERACTIVE_SAMPLES: usize = 20;
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// One person with what a staff screen shows.
const Q1: &str = r#"query Q1($id: ID!) { contact(id: $id) {
  id linkStatus name email phone tags syncedAt
  membership { status type joinDate } homeLocation { name }
  tasks { id title dueDate completed } notes { id body createdAt }
  appointments { id title startTime status } } }"#;

/// A page of 50 with member fields, tasks, notes and appointments.
const Q50: &str = r#"query Q50($after: String) { contacts(first: 50, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id linkStatus name email phone tags syncedAt
    membership { status type joinDate } homeLocation { name } barcode
    tasks { id title dueDate completed } notes { id body createdAt }
    appointments { id title startTime status } } } } }"#;

const SYNC_STATUS: &str = "{ syncStatus { source cursor } }";

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    print!("{}", rt.block_on(run())?);
    Ok(())
}

async fn run() -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(out, "## Synced read model (`cargo bench --bench sync`)\n")?;
    writeln!(
        out,
        "Machine: {} CPUs; load average before the run {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    )?;
    if runs("backfill") {
        backfills(&mut out).await?;
    }
    if runs("synced") {
        synced_reads(&mut out).await?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The gateway process and the simulators.
// ---------------------------------------------------------------------------------------

/// A `contactgraph serve` child with its config, store and admin key.
struct Gateway {
    child: Child,
    dir: PathBuf,
    url: String,
    key: String,
    http: Client,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    /// A GraphQL request; fails on any error in the answer.
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
        no_cache: bool,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.key)
            .json(&json!({"query": query, "variables": variables}));
        if no_cache {
            req = req.header("cache-control", "no-cache");
        }
        let body: Value = req.send().await?.json().await?;
        ensure!(body["errors"].is_null(), "GraphQL errors: {body}");
        Ok(body)
    }

    /// Waits until both backfill cursors read `done`.
    async fn backfilled(&self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let status = self.graphql(SYNC_STATUS, json!({}), false).await?;
            let done = status["data"]["syncStatus"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| {
                    s["source"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("backfill:"))
                })
                .all(|s| s["cursor"] == "done");
            if done {
                return Ok(());
            }
            ensure!(
                start.elapsed() < limit,
                "the backfill did not finish: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn memory(&self) -> (f64, f64) {
        memory_of(&self.child.id().to_string())
    }

    /// CPU time the gateway process has used so far (user and system), in milliseconds;
    /// clock ticks are taken to be Linux's 100 per second.
    fn cpu_ms(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        ticks as f64 * 10.0
    }
}

/// Simulators over the bench's world; GHL's limits raised unless `real_limits`.
async fn simulators(people: usize, real_limits: bool) -> anyhow::Result<Sims> {
    let sims = Sims::start(SimOptions {
        seed: SEED,
        people,
        ..SimOptions::default()
    })
    .await?;
    let http = Client::new();
    for base in [sims.ghl.url(), sims.clubos.url()] {
        post(
            &http,
            format!("{base}/_sim/faults"),
            json!({"latency_ms": LATENCY_MS}),
        )
        .await?;
    }
    if !real_limits {
        post(
            &http,
            format!("{}/_sim/config", sims.ghl.url()),
            json!({"rate_limit": {"max": 1_000_000_000u64, "interval_ms": 1_000, "daily": 1_000_000_000_000u64}}),
        )
        .await?;
    }
    Ok(sims)
}

async fn post(http: &Client, url: String, body: Value) -> anyhow::Result<()> {
    let resp = http.post(&url).json(&body).send().await?;
    ensure!(resp.status().is_success(), "POST {url}: {}", resp.status());
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `contactgraph serve` over `sims` with the read model on (backfilled at start),
/// GHL's webhooks pointed at it, the Club OS poll every minute with propagation, and
/// `ghl_extra` / `extra` TOML in the `[ghl]` table and at the end.
async fn gateway(sims: &Sims, name: &str, ghl_extra: &str, extra: &str) -> anyhow::Result<Gateway> {
    let dir =
        std::env::temp_dir().join(format!("contactgraph-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let config = dir.join("contactgraph.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[ghl]
base_url = "{ghl}"
location_id = "{location}"
token = "{token}"
{ghl_extra}
[clubos]
base_url = "{clubos}"
v1_base_url = "{clubos}"
api_key = "{api_key}"
club_id = {club}
location_id = {club_location}
[store]
url = "sqlite://{db}"
[webhooks]
ghl_public_keys = ['''{pem}''']
[read_model]
enabled = true
[sync]
clubos_poll = true
propagate = true
interval_minutes = 1
{extra}"#,
            ghl = sims.ghl.url(),
            location = seed::GHL_LOCATION_ID,
            token = tokens::LOCATION,
            clubos = sims.clubos.url(),
            api_key = ClubOsSimConfig::default().api_key,
            club = seed::CLUBOS_CLUB_ID,
            club_location = seed::CLUBOS_LOCATION_IDS[0],
            db = dir.join("store.db").display(),
            pem = sims.ghl_state.webhook_public_key_pem(),
        ),
    )?;
    let created = Command::new(BIN)
        .args(["key", "--config"])
        .arg(&config)
        .args(["create", "--role", "admin", "--label", "bench"])
        .output()?;
    ensure!(created.status.success(), "key create: {created:?}");
    let key = String::from_utf8(created.stdout)?.trim().to_owned();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env(
            "CONTACTGRAPH_LOG",
            std::env::var("BENCH_LOG")
                .unwrap_or_else(|_| (if quick() { "info" } else { "warn" }).into()),
        )
        .stdout(Stdio::null())
        .stderr(if quick() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let gw = Gateway {
        child,
        dir,
        url: url.clone(),
        key,
        http: Client::builder().pool_max_idle_per_host(64).build()?,
    };
    sims.ghl_state
        .set_webhook_url(Some(format!("{url}/webhooks/ghl")));
    for _ in 0..400 {
        if gw.http.get(format!("{url}/healthz")).send().await.is_ok() {
            return Ok(gw);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the gateway did not come up")
}

async fn stats(base: &str) -> anyhow::Result<StatsSnapshot> {
    Ok(Client::new()
        .get(format!("{base}/_sim/stats"))
        .send()
        .await?
        .json()
        .await?)
}

/// GHL's and Club OS's request totals.
async fn totals(sims: &Sims) -> anyhow::Result<(u64, u64)> {
    Ok((
        stats(&sims.ghl.url()).await?.total,
        stats(&sims.clubos.url()).await?.total,
    ))
}

fn linked(world: &World) -> Vec<(String, i64)> {
    world
        .people
        .iter()
        .filter(|p| p.kind == Kind::Linked)
        .filter_map(|p| Some((p.ghl_contact_id.clone()?, *p.clubos_user_ids.first()?)))
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

// ---------------------------------------------------------------------------------------
// Backfill at GHL's default limits, interactive reads beside background work, freshness.
// ---------------------------------------------------------------------------------------

async fn backfills(out: &mut String) -> anyhow::Result<()> {
    writeln!(
        out,
        "### Backfill at GHL's default limits\n\n\
         The GHL simulator keeps its default limits (100 requests per 10 s); the gateway its \
         default limiter (90 % headroom, background work at most half of each window). \
         Wall time runs from the process's start until both backfill cursors read `done`. \
         The API minimum is one contact search page per {GHL_PAGE} contacts and one user \
         search page per {CLUBOS_PAGE} users; the calls counted include the start's own \
         (the link field's id, the Club OS poll's first turn).\n"
    )?;
    writeln!(
        out,
        "| people | GHL contacts | Club OS users | wall s | GHL calls | GHL minimum | Club OS calls | Club OS minimum | 429s | RSS MiB synced | peak RSS MiB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    let mut last = None;
    for people in sizes() {
        eprintln!("backfill: {people} people");
        let world = World::generate(SEED, people);
        let sims = simulators(people, true).await?;
        let start = Instant::now();
        let gw = gateway(&sims, &format!("backfill-{people}"), "", "").await?;
        gw.backfilled(Duration::from_secs(600)).await?;
        let wall = start.elapsed();
        let (ghl, clubos) = (
            stats(&sims.ghl.url()).await?,
            stats(&sims.clubos.url()).await?,
        );
        let (hwm, rss) = gw.memory();
        let (contacts, users) = (world.ghl.contacts.len(), world.clubos.users.len());
        writeln!(
            out,
            "| {people} | {contacts} | {users} | {:.2} | {} | {} | {} | {} | {} | {rss:.1} | {hwm:.1} |",
            wall.as_secs_f64(),
            ghl.total,
            ceil_div(contacts, GHL_PAGE),
            clubos.total,
            ceil_div(users, CLUBOS_PAGE),
            ghl.rate_limited + clubos.rate_limited,
        )?;
        last = Some((world, sims, gw));
    }
    let (world, sims, gw) = last.context("a world")?;
    interactive_beside_background(out, &world, &sims, &gw).await?;
    drop(gw);
    drop(sims);
    freshness(out).await
}

/// Read-through Q1s of linked people, one every [`SAMPLE_EVERY`], in ms.
async fn read_through_samples(gw: &Gateway, people: &[(String, i64)]) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for (id, _) in people.iter().take(INTERACTIVE_SAMPLES) {
        let t = Instant::now();
        gw.graphql(Q1, json!({"id": id}), true).await?;
        samples.push(ms(t.elapsed()));
        tokio::time::sleep(SAMPLE_EVERY.saturating_sub(t.elapsed())).await;
    }
    Ok(samples)
}

async fn interactive_beside_background(
    out: &mut String,
    world: &World,
    sims: &Sims,
    gw: &Gateway,
) -> anyhow::Result<()> {
    eprintln!("interactive reads beside background work");
    let people = linked(world);
    ensure!(
        people.len() >= 2 * INTERACTIVE_SAMPLES,
        "enough linked people"
    );
    let before = totals(sims).await?;
    let idle = read_through_samples(gw, &people).await?;
    let after = totals(sims).await?;
    let per_read = (after.0 - before.0) as f64 / idle.len() as f64;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (url, key, stop) = (gw.url.clone(), gw.key.clone(), stop.clone());
        tokio::spawn(async move {
            let http = Client::new();
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ok = http
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&key)
                    .json(&json!({"query": "mutation { reconcile { kind } }"}))
                    .send()
                    .await
                    .is_ok();
                runs += u32::from(ok);
            }
            runs
        })
    };
    let busy = read_through_samples(gw, &people[INTERACTIVE_SAMPLES..]).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reconciles = background.await?;
    let ghl_429 = stats(&sims.ghl.url()).await?.rate_limited;
    writeln!(
        out,
        "\n### An interactive read-through beside background work ({} people)\n\n\
         A read-through Q1 (`Cache-Control: no-cache`) of a new linked person every \
         {:.1} s, {} samples idle, then {} while `reconcile` runs back to back ({reconciles} \
         runs, each reading every contact and member again). One read-through costs \
         {per_read:.1} GHL calls. GHL 429s over the whole run: {ghl_429}.\n\n\
         | | p50 ms | p99 ms |\n|---|---:|---:|\n\
         | idle | {:.1} | {:.1} |\n| beside background work | {:.1} | {:.1} |\n\
         | ratio of p99s | | {:.2} |",
        sizes().last().copied().unwrap_or_default(),
        SAMPLE_EVERY.as_secs_f64(),
        idle.len(),
        busy.len(),
        percentile(&idle, 50.0),
        percentile(&idle, 99.0),
        percentile(&busy, 50.0),
        percentile(&busy, 99.0),
        percentile(&busy, 99.0) / percentile(&idle, 99.0),
    )?;
    Ok(())
}

/// GHL change → gateway (webhook), Club OS change → gateway and → GHL (poll).
async fn freshness(out: &mut String) -> anyhow::Result<()> {
    let people_n = if quick() { QUICK_PEOPLE } else { 500 };
    eprintln!("freshness");
    let world = World::generate(SEED, people_n);
    let sims = simulators(people_n, true).await?;
    let gw = gateway(&sims, "freshness", "", "").await?;
    gw.backfilled(Duration::from_secs(120)).await?;
    let people = linked(&world);
    let http = Client::new();
    let ghl = sims.ghl.url();
    let read_name = "query($id: ID!) { contact(id: $id) { ghl { lastName } clubOs { lastName } } }";
    let mut webhook = Vec::new();
    for (i, (id, _)) in people.iter().take(20).enumerate() {
        gw.graphql(read_name, json!({"id": id}), false).await?;
        let name = format!("Webhooked{i}");
        let t = Instant::now();
        let resp = http
            .put(format!("{ghl}/contacts/{id}"))
            .bearer_auth(tokens::LOCATION)
            .header("Version", "2021-07-28")
            .json(&json!({"lastName": name}))
            .send()
            .await?;
        ensure!(resp.status().is_success(), "GHL update: {}", resp.status());
        loop {
            let body = gw.graphql(read_name, json!({"id": id}), false).await?;
            if body["data"]["contact"]["ghl"]["lastName"] == name.as_str() {
                break;
            }
            ensure!(
                t.elapsed() < Duration::from_secs(30),
                "the webhook never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        webhook.push(ms(t.elapsed()));
    }

    // Club OS: a stored link, then a change at Club OS, watched in the gateway and in GHL.
    let (g, u) = people[25].clone();
    gw.graphql(
        "mutation($g: ID!, $u: ID!) { linkContacts(ghlContactId: $g, clubOsUserId: $u) { status } }",
        json!({"g": g, "u": u.to_string()}),
        false,
    )
    .await?;
    // Read once, so that the gateway holds the old name until something tells it.
    gw.graphql(read_name, json!({"id": u.to_string()}), false)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let name = "Polled";
    let t = Instant::now();
    let resp = http
        .put(format!("{}/users/{u}", sims.clubos.url()))
        .header("x-api-key", ClubOsSimConfig::default().api_key)
        .json(&json!({"lastName": name}))
        .send()
        .await?;
    ensure!(
        resp.status().is_success(),
        "Club OS update: {}",
        resp.status()
    );
    let (mut in_gateway, mut in_ghl) = (None, None);
    let mut checked_ghl = Instant::now();
    while in_gateway.is_none() || in_ghl.is_none() {
        ensure!(
            t.elapsed() < Duration::from_secs(180),
            "the Club OS change never arrived"
        );
        if in_gateway.is_none() {
            let body = gw
                .graphql(read_name, json!({"id": u.to_string()}), false)
                .await?;
            if body["data"]["contact"]["clubOs"]["lastName"] == name {
                in_gateway = Some(t.elapsed());
            }
        }
        // GHL's own API counts against the location's window: asked once a second.
        if in_ghl.is_none() && checked_ghl.elapsed() >= Duration::from_secs(1) {
            checked_ghl = Instant::now();
            let contact: Value = http
                .get(format!("{ghl}/contacts/{g}"))
                .bearer_auth(tokens::LOCATION)
                .header("Version", "2021-07-28")
                .send()
                .await?
                .json()
                .await?;
            if contact["contact"]["lastName"] == name {
                in_ghl = Some(t.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    writeln!(
        out,
        "\n### Freshness ({people_n} people, poll interval 60 s)\n\n\
         | change | to | samples | p50 | p99 |\n|---|---|---:|---:|---:|\n\
         | GHL contact (`PUT /contacts/{{id}}` at the simulator) | the gateway's answers, by its webhook | {} | {:.1} ms | {:.1} ms |\n\
         | Club OS user (`PUT /users/{{id}}`) | the gateway's answers, by the poll | 1 | {:.1} s | |\n\
         | the same | the linked GHL contact, by propagation (checked once a second) | 1 | {:.1} s | |\n\n\
         A Club OS change waits for the next poll, so its time is anywhere up to the interval \
         (60 s) plus the poll's own work.",
        webhook.len(),
        percentile(&webhook, 50.0),
        percentile(&webhook, 99.0),
        secs(in_gateway),
        secs(in_ghl),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Synced reads with limits out of the way and moka off.
// ---------------------------------------------------------------------------------------

/// Every moka TTL 0: nothing is ever served from memory.
const MOKA_OFF: &str = r#"
[cache]
stale_if_error_secs = 0
[cache.contacts]
ttl_secs = 0
max_bytes = 67108864
[cache.members]
ttl_secs = 0
max_bytes = 67108864
[cache.activity]
ttl_secs = 0
max_bytes = 67108864
[cache.lookups]
ttl_secs = 0
max_bytes = 16777216
"#;

/// No response cache: what is measured is the execution.
const RESPONSES_OFF: &str = r#"
[cache.responses]
enabled = false
"#;

/// Two walks over every page: the first reads through what the store lacks, the second
/// reads it as stored.
async fn warmed(gw: &Gateway, pages: &[Value]) -> anyhow::Result<()> {
    gw.backfilled(Duration::from_secs(300)).await?;
    gw.graphql("mutation { syncLinks { linked } }", json!({}), false)
        .await?;
    for _ in 0..2 {
        for vars in pages {
            gw.graphql(Q50, vars.clone(), false).await?;
        }
    }
    Ok(())
}

/// GHL's limits and the loaders' fan-out out of the way.
const LIMITS_OUT: &str = r#"
[ghl.rate_limit]
max_per_interval = 1000000
daily = 100000000
headroom = 1.0
[loaders]
fanout = 64
"#;

/// A document over every set of variables once at c=1, then 16 workers walking them in
/// turn for [`LOAD_FOR`], each from its own offset; the gateway's CPU time is read around
/// each.
struct Load {
    c1: Vec<f64>,
    cpu_c1: f64,
    calls_c1: u64,
    c16: Vec<f64>,
    per_s_c16: f64,
    cpu_c16: f64,
    calls_c16: u64,
}

async fn load(
    gw: &Gateway,
    doc: &str,
    variables: &Arc<Vec<Value>>,
    sims: &Sims,
) -> anyhow::Result<Load> {
    let calls = |a: (u64, u64), b: (u64, u64)| (b.0 - a.0) + (b.1 - a.1);
    let before = totals(sims).await?;
    let cpu_before_c1 = gw.cpu_ms();
    let mut c1 = Vec::new();
    for vars in variables.iter() {
        let t = Instant::now();
        let body = gw.graphql(doc, vars.clone(), false).await?;
        ensure!(
            body["errors"].is_null() && !body["data"].is_null(),
            "an answer: {body}"
        );
        c1.push(ms(t.elapsed()));
    }
    let after_c1 = totals(sims).await?;
    let cpu_c1 = (gw.cpu_ms() - cpu_before_c1) / c1.len() as f64;

    eprintln!("load: 16 workers for {} s", LOAD_FOR.as_secs());
    let doc: Arc<str> = doc.into();
    let cpu_before_c16 = gw.cpu_ms();
    let t = Instant::now();
    let mut workers = Vec::new();
    for w in 0..16 {
        let (http, url, key, variables, doc) = (
            gw.http.clone(),
            gw.url.clone(),
            gw.key.clone(),
            variables.clone(),
            doc.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while t.elapsed() < LOAD_FOR {
                let vars = &variables[i % variables.len()];
                let s = Instant::now();
                // The body is checked, not parsed: the load generator shares the cores.
                let body = http
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&key)
                    .json(&json!({"query": &*doc, "variables": vars}))
                    .send()
                    .await?
                    .bytes()
                    .await?;
                ensure!(
                    body.starts_with(b"{\"data\":{")
                        && !body.windows(9).any(|w| w == b"\"errors\":"),
                    "errors: {}",
                    String::from_utf8_lossy(&body)
                );
                lat.push(ms(s.elapsed()));
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut c16 = Vec::new();
    for w in workers {
        c16.extend(w.await??);
    }
    let elapsed = t.elapsed();
    let after_c16 = totals(sims).await?;
    let cpu_c16 = (gw.cpu_ms() - cpu_before_c16) / c16.len() as f64;
    Ok(Load {
        cpu_c1,
        calls_c1: calls(before, after_c1),
        c1,
        per_s_c16: c16.len() as f64 / elapsed.as_secs_f64(),
        cpu_c16,
        calls_c16: calls(after_c1, after_c16),
        c16,
    })
}

async fn synced_reads(out: &mut String) -> anyhow::Result<()> {
    let people_n = synced_people();
    eprintln!("synced reads: {people_n} people");
    let world = World::generate(SEED, people_n);
    let sims = simulators(people_n, false).await?;
    let gw = gateway(
        &sims,
        "synced",
        "max_concurrency = 64",
        &format!("{MOKA_OFF}{LIMITS_OUT}{RESPONSES_OFF}"),
    )
    .await?;
    gw.backfilled(Duration::from_secs(300)).await?;
    let linked_now = gw
        .graphql("mutation { syncLinks { linked } }", json!({}), false)
        .await?;
    let stored_links = linked_now["data"]["syncLinks"]["linked"]
        .as_u64()
        .unwrap_or(0);

    // One walk over every page fills each person's tasks, notes and appointments.
    let before = totals(&sims).await?;
    let t = Instant::now();
    let mut cursors: Vec<Option<String>> = vec![None];
    loop {
        let after = cursors.last().cloned().flatten();
        let page = gw.graphql(Q50, json!({"after": after}), false).await?;
        let info = &page["data"]["contacts"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        cursors.push(info["endCursor"].as_str().map(str::to_owned));
    }
    let fill = t.elapsed();
    let filled = totals(&sims).await?;
    // An untimed second walk: the gateway stores what a read read through after
    // answering, and its reads wait for those copies, so the timed walks start settled.
    for after in &cursors {
        gw.graphql(Q50, json!({"after": after}), false).await?;
    }

    let pages: Arc<Vec<Value>> = Arc::new(cursors.iter().map(|a| json!({"after": a})).collect());
    let synced_q50 = load(&gw, Q50, &pages, &sims).await?;

    // One direct GHL call, and a read-through Q1 of people with stored links.
    let people = linked(&world);
    let mut direct = Vec::new();
    for (id, _) in people.iter().take(30) {
        let t = Instant::now();
        gw.http
            .get(format!("{}/contacts/{id}", sims.ghl.url()))
            .bearer_auth(tokens::LOCATION)
            .header("Version", "2021-07-28")
            .send()
            .await?
            .bytes()
            .await?;
        direct.push(ms(t.elapsed()));
    }
    let mut through = Vec::new();
    let mut synced = Vec::new();
    for (id, _) in people.iter().take(30) {
        let t = Instant::now();
        gw.graphql(Q1, json!({"id": id}), true).await?;
        through.push(ms(t.elapsed()));
        let t = Instant::now();
        gw.graphql(Q1, json!({"id": id}), false).await?;
        synced.push(ms(t.elapsed()));
    }
    let (hwm, rss) = gw.memory();
    drop(gw);

    // The same pages from moka: a gateway with the default entity caches, warmed by two
    // walks, and no response cache.
    let warm_gw = gateway(
        &sims,
        "warm",
        "max_concurrency = 64",
        &format!("{LIMITS_OUT}{RESPONSES_OFF}"),
    )
    .await?;
    warmed(&warm_gw, &pages).await?;
    let warm_q50 = load(&warm_gw, Q50, &pages, &sims).await?;
    drop(warm_gw);

    // Every default, the response cache included: the same pages and Q1s, repeated,
    // without `syncedAt` (an answer that selects it is not kept).
    let (q50_kept, q1_kept) = (Q50.replace(" syncedAt", ""), Q1.replace(" syncedAt", ""));
    let cached_gw = gateway(&sims, "cached", "max_concurrency = 64", LIMITS_OUT).await?;
    warmed(&cached_gw, &pages).await?;
    let ones: Arc<Vec<Value>> = Arc::new(
        people
            .iter()
            .take(30)
            .map(|(id, _)| json!({"id": id}))
            .collect(),
    );
    for vars in ones.iter() {
        cached_gw.graphql(&q1_kept, vars.clone(), false).await?;
    }
    for vars in pages.iter() {
        cached_gw.graphql(&q50_kept, vars.clone(), false).await?;
    }
    let cached_q50 = load(&cached_gw, &q50_kept, &pages, &sims).await?;
    let cached_q1 = load(&cached_gw, &q1_kept, &ones, &sims).await?;
    drop(cached_gw);

    let calls = |a: (u64, u64), b: (u64, u64)| (b.0 - a.0) + (b.1 - a.1);
    let rows = |name: &str, r: &Load| {
        format!(
            "| {name}, each once | 1 | {} | {:.2} | {:.2} | | {:.1} | {} |\n\
             | {name}, in turn for {} s | 16 | {} | {:.2} | {:.2} | {:.0} | {:.2} | {} |\n",
            r.c1.len(),
            percentile(&r.c1, 50.0),
            percentile(&r.c1, 99.0),
            r.cpu_c1,
            r.calls_c1,
            LOAD_FOR.as_secs(),
            r.c16.len(),
            percentile(&r.c16, 50.0),
            percentile(&r.c16, 99.0),
            r.per_s_c16,
            r.cpu_c16,
            r.calls_c16,
        )
    };
    writeln!(
        out,
        "\n### Synced reads ({people_n} people, moka off, limits out of the way)\n\n\
         Every moka TTL is 0, so each answer comes from the store (or an upstream). \
         {stored_links} links stored by `syncLinks`. The first walk over the {} pages \
         filled each person's tasks, notes and appointments: {:.1} s, {} upstream calls. \
         The rows \"from moka\" are a second gateway over the same store contents with the \
         default entity caches and no response cache, warmed by two walks: every record \
         comes from moka, only the listing itself (its rows and count) from the store. The \
         rows \"from the response cache\" are a third gateway with every default, warmed the \
         same way: each answer is kept whole until something it read changes.\n\n\
         | workload | c | requests | p50 ms | p99 ms | req/s | gateway CPU ms per request | upstream calls |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n\
         {}{}{}{}\
         | Q1 from the read model | 1 | {} | {:.2} | {:.2} | | | |\n\
         | Q1 read through (`no-cache`), stored link | 1 | {} | {:.1} | {:.1} | | | |\n\
         | one direct `GET /contacts/{{id}}` at the GHL simulator | 1 | {} | {:.1} | {:.1} | | | |\n\n\
         The read-through Q1 takes {:.1} direct calls' time at p50. Gateway RSS after the \
         synced run: {rss:.1} MiB (peak {hwm:.1}).",
        cursors.len(),
        fill.as_secs_f64(),
        calls(before, filled),
        rows("Q50 from the store", &synced_q50),
        rows("Q50 from moka (warm)", &warm_q50),
        rows("Q50 from the response cache", &cached_q50),
        rows("Q1 from the response cache", &cached_q1),
        synced.len(),
        percentile(&synced, 50.0),
        percentile(&synced, 99.0),
        through.len(),
        percentile(&through, 50.0),
        percentile(&through, 99.0),
        direct.len(),
        percentile(&direct, 50.0),
        percentile(&direct, 99.0),
        percentile(&through, 50.0) / percentile(&direct, 50.0),
    )?;
    Ok(())
}
