//! A gateway process killed between the two legs of a write: started again on the same
//! store, it finishes the write, nothing is written twice, and the client retrying the
//! write's idempotency key gets the finished write's answer at once.

// Test helpers panic with the failure they meet, as the tests themselves do.
#![allow(clippy::unwrap_used)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use contactgraph::{
    sim::{SimOptions, Sims, admin::StatsSnapshot, clubos::ClubOsSimConfig, ghl::tokens, seed},
    store::{LegState, Store},
};
use reqwest::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_contactgraph");

/// The idempotency key the killed request and the client's retries send.
const KEY: &str = "crash-retry-1";

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_gateway(config: &PathBuf, url: &str) -> Gateway {
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gateway starts");
    let gateway = Gateway(child);
    for _ in 0..200 {
        if Client::new()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not come up");
}

/// A configuration for a gateway on a free port over `sims`, with its store in a fresh
/// SQLite file, followed by `extra` TOML: the directory, the store file, the port and the
/// configuration file.
fn write_config(sims: &Sims, name: &str, extra: &str) -> (PathBuf, PathBuf, u16, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("contactgraph-crash-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("store.db");
    let port = free_port();
    let clubos = ClubOsSimConfig::default();
    let config = dir.join("contactgraph.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[ghl]
base_url = "{ghl}"
location_id = "{location}"
token = "{token}"
[clubos]
base_url = "{clubos_url}"
v1_base_url = "{clubos_url}"
api_key = "{api_key}"
club_id = {club}
location_id = {club_location}
[store]
url = "sqlite://{db}"
{extra}"#,
            ghl = sims.ghl.url(),
            location = seed::GHL_LOCATION_ID,
            token = tokens::LOCATION,
            clubos_url = sims.clubos.url(),
            api_key = clubos.api_key,
            club = seed::CLUBOS_CLUB_ID,
            club_location = seed::CLUBOS_LOCATION_IDS[0],
            db = db.display(),
        ),
    )
    .expect("config written");
    (dir, db, port, config)
}

async fn stats(url: String) -> StatsSnapshot {
    Client::new()
        .get(format!("{url}/_sim/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

async fn clubos_email(sims: &Sims, user: i64) -> Value {
    Client::new()
        .get(format!("{}/users/{user}", sims.clubos.url()))
        .header("x-api-key", ClubOsSimConfig::default().api_key)
        .send()
        .await
        .expect("user")
        .json::<Value>()
        .await
        .expect("json")["email"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_off_by_a_crash_completes_after_restart_without_writing_twice() {
    let sims = Sims::start(SimOptions {
        people: 60,
        ..SimOptions::default()
    })
    .await
    .expect("sims");
    let world = contactgraph::sim::World::generate(42, 60);
    let person = world
        .example(seed::Kind::StoredLink)
        .expect("linked person");
    let ghl_id = person.ghl_contact_id.clone().expect("ghl id");
    let user = person.clubos_user_ids[0];

    let (dir, db, port, config) = write_config(
        &sims,
        "write",
        r#"
[writes]
lease_secs = 1
key_wait_ms = 600000
relay_poll_ms = 50
retry_base_ms = 50
"#,
    );
    let url = format!("http://127.0.0.1:{port}");
    let created = Command::new(BIN)
        .args(["key", "--config"])
        .arg(&config)
        .args(["create", "--role", "write", "--label", "crash test"])
        .output()
        .expect("key create runs");
    assert!(created.status.success(), "key create: {created:?}");
    let api_key = String::from_utf8(created.stdout).expect("utf-8");
    let api_key = api_key.trim().to_owned();
    assert!(api_key.starts_with("cg_"), "a key is printed");

    // Club OS never answers the update: the write stops between its two legs.
    Client::new()
        .post(format!("{}/_sim/faults", sims.clubos.url()))
        .json(&json!({"rules": [{"route": "PUT /users/{userId}", "action": "hang"}]}))
        .send()
        .await
        .expect("faults");
    let first = start_gateway(&config, &url).await;
    let mutation = json!({
        "query": "mutation($id: ID!) { updateContact(id: $id, input: {email: \"after.crash@example.com\"}) { status writes { system status } } }",
        "variables": {"id": ghl_id},
    });
    let request = tokio::spawn({
        let url = url.clone();
        let api_key = api_key.clone();
        let mutation = mutation.clone();
        async move {
            let _ = Client::new()
                .post(format!("{url}/graphql"))
                .bearer_auth(api_key)
                .header("idempotency-key", KEY)
                .json(&mutation)
                .send()
                .await;
        }
    });

    // Watch the store until the GHL leg is recorded done.
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("store");
    let mut ghl_done = false;
    for _ in 0..200 {
        let done = store.legs_in_state(LegState::Done, 10).await.expect("legs");
        if done.iter().any(|l| l.kind == "update_contact") {
            ghl_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ghl_done, "the GHL leg finished before the crash");
    drop(first); // SIGKILL: no shutdown, no cleanup.
    request.abort();

    Client::new()
        .post(format!("{}/_sim/faults", sims.clubos.url()))
        .json(&json!({}))
        .send()
        .await
        .expect("clear faults");
    assert_ne!(
        clubos_email(&sims, user).await,
        "after.crash@example.com",
        "Club OS was not written before the crash"
    );

    let _second = start_gateway(&config, &url).await;
    let mut finished = false;
    for _ in 0..400 {
        if clubos_email(&sims, user).await == "after.crash@example.com" {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(finished, "the restarted gateway finished the write");
    let ghl = stats(sims.ghl.url()).await;
    assert_eq!(
        ghl.count("PUT /contacts/{contactId}"),
        1,
        "GHL was written once"
    );
    let clubos = stats(sims.clubos.url()).await;
    assert_eq!(
        clubos.routes["PUT /users/{userId}"].statuses.get(&200),
        Some(&1),
        "Club OS was written once"
    );

    // The client retries its key. The request holding it died, so there is nobody to wait
    // for: the answer is the outbox's, at once (a wait would last `key_wait_ms`, 10
    // minutes here, past the client's timeout), and stays the same on the next retry.
    for _ in 0..2 {
        let retried: Value = Client::new()
            .post(format!("{url}/graphql"))
            .bearer_auth(&api_key)
            .header("idempotency-key", KEY)
            .timeout(Duration::from_secs(30))
            .json(&mutation)
            .send()
            .await
            .expect("the retry is answered without waiting for the key")
            .json()
            .await
            .expect("json");
        let answer = &retried["data"]["updateContact"];
        assert_eq!(answer["status"], "APPLIED", "{retried}");
        assert_eq!(
            answer["writes"],
            json!([{"system": "GHL", "status": "APPLIED"}, {"system": "CLUB_OS", "status": "APPLIED"}]),
            "{retried}"
        );
    }
    assert_eq!(
        stats(sims.ghl.url())
            .await
            .count("PUT /contacts/{contactId}"),
        1,
        "the retries wrote nothing"
    );
    assert_eq!(
        stats(sims.clubos.url()).await.routes["PUT /users/{userId}"]
            .statuses
            .get(&200),
        Some(&1),
        "the retries wrote nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_halfway_resumes_at_its_page_and_reads_each_page_once() {
    let sims = Sims::start(SimOptions {
        people: 300,
        ..SimOptions::default()
    })
    .await
    .expect("sims");
    // Slow enough that the gateway is still backfilling when it is killed.
    Client::new()
        .post(format!("{}/_sim/faults", sims.clubos.url()))
        .json(&json!({"latency_ms": 40}))
        .send()
        .await
        .expect("faults");
    let (dir, db, port, config) = write_config(
        &sims,
        "backfill",
        r#"
[sync]
clubos_page_size = 10
[read_model]
enabled = true
"#,
    );
    let url = format!("http://127.0.0.1:{port}");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("store");
    let position = || async {
        store
            .sync_cursor("backfill:clubos_user")
            .await
            .expect("cursor")
            .map(|c| c.position)
    };

    let first = start_gateway(&config, &url).await;
    let mut reached = None;
    for _ in 0..400 {
        if let Some(page) = position().await.and_then(|p| p.parse::<u32>().ok())
            && page >= 5
        {
            reached = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reached = reached.expect("the backfill got past its fifth page");
    drop(first); // SIGKILL halfway.
    let stopped = position().await.expect("a stored position");
    assert_ne!(stopped, "done", "killed before it finished");

    let _second = start_gateway(&config, &url).await;
    let mut done = false;
    for _ in 0..1_000 {
        if position().await.as_deref() == Some("done") {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done, "the restarted gateway finished the backfill");

    let clubos = stats(sims.clubos.url()).await;
    let users = contactgraph::sim::World::generate(42, 300)
        .clubos
        .users
        .len();
    let pages = u64::try_from(users.div_ceil(10)).expect("pages");
    let searches = clubos.count("GET /users");
    assert!(
        searches == pages || searches == pages + 1,
        "{searches} user pages read for {pages} (killed after page {reached}): \
         at most the page it was on is read twice"
    );
    assert_eq!(
        store
            .record_count(contactgraph::store::RecordKind::ClubOsUser)
            .await
            .expect("count"),
        i64::try_from(users).expect("count"),
        "every user is stored"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
