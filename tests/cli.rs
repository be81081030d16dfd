//! The `contactgraph` binary as a user runs it.

// Test helpers panic with the failure they meet, as the tests themselves do.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_contactgraph");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn demo_is_serving_within_ten_seconds() {
    let mut child = Child(
        Command::new(BIN)
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--ghl-listen",
                "127.0.0.1:0",
                "--clubos-listen",
                "127.0.0.1:0",
                "--people",
                "50",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the banner appears within 10 s");
        if let Some(rest) = line.trim().strip_prefix("GraphQL endpoint:") {
            break rest.trim().to_owned();
        }
    };
    let health = reqwest::blocking::get(url.replace("/graphql", "/healthz"))
        .expect("healthz answers")
        .text()
        .expect("body");
    assert!(health.contains("ok"));
}

fn config_file(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("contactgraph-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write config");
    path
}

fn serve_with(path: &PathBuf, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"]).arg(path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const VALID: &str = r#"
[ghl]
location_id = "ve9EPM428h8vShlRW1KT"
token = "pit-config-secret-aaaa"

[clubos]
api_key = "clubos-config-secret-bbbb"
club_id = 600
location_id = 4500
"#;

#[test]
fn a_missing_key_is_one_line_naming_it() {
    let path = config_file(
        "missing",
        &VALID.replace("api_key = \"clubos-config-secret-bbbb\"\n", ""),
    );
    let (ok, stderr) = serve_with(&path, &[("CONTACTGRAPH_LOG", "debug")]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("`clubos.api_key`"), "{stderr}");
    assert!(stderr.contains("CONTACTGRAPH_CLUBOS__API_KEY"), "{stderr}");
    assert!(!stderr.contains("pit-config-secret-aaaa"), "{stderr}");
}

#[test]
fn an_unknown_key_is_named_and_no_secret_is_echoed() {
    let path = config_file(
        "unknown",
        &format!("{VALID}\n[server]\nlisen = \"127.0.0.1:1\"\n"),
    );
    let (ok, stderr) = serve_with(&path, &[]);
    assert!(!ok);
    assert!(stderr.contains("`server.lisen`"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn a_secret_of_the_wrong_type_from_the_environment_is_not_echoed() {
    let path = config_file("env", VALID);
    let (ok, stderr) = serve_with(&path, &[("CONTACTGRAPH_GHL__TOKEN", "[9876543210]")]);
    assert!(!ok);
    assert!(stderr.contains("`ghl.token`"), "{stderr}");
    assert!(!stderr.contains("9876543210"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn schema_command_prints_the_checked_in_sdl() {
    let out = Command::new(BIN).arg("schema").output().expect("runs");
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql");
    assert_eq!(String::from_utf8_lossy(&out.stdout), checked_in);
}

/// The first log line `serve` writes to a piped stderr, with these variables.
fn first_log_line(name: &str, env: &[(&str, &str)]) -> String {
    // Upstreams that answer nothing: the gateway starts all the same.
    let config = VALID
        .replacen("[ghl]\n", "[ghl]\nbase_url = \"http://127.0.0.1:9\"\n", 1)
        .replacen(
            "[clubos]\n",
            "[clubos]\nbase_url = \"http://127.0.0.1:9\"\n",
            1,
        );
    let path = config_file(
        name,
        &format!(
            "{config}\n[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"sqlite::memory:\"\n"
        ),
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"]).arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Child(
        cmd.stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("serve starts"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a log line within 10 s")
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes_and_can_be_json() {
    let plain = first_log_line("plain", &[]);
    assert!(!plain.contains('\u{1b}'), "no ANSI escape: {plain:?}");
    assert!(plain.contains("INFO"), "{plain}");
    let json = first_log_line("json", &[("CONTACTGRAPH_LOG_FORMAT", "json")]);
    let line: serde_json::Value = serde_json::from_str(&json).expect("one JSON object per line");
    assert_eq!(line["level"], "INFO", "{json}");
}

#[test]
fn key_needs_only_the_store_section_and_revoke_says_what_it_revoked() {
    let db = std::env::temp_dir().join(format!("contactgraph-keys-{}.db", std::process::id()));
    let path = config_file(
        "keys",
        &format!("[store]\nurl = \"sqlite://{}\"\n", db.display()),
    );
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["key", "--config"])
            .arg(&path)
            .args(args)
            .output()
            .expect("runs");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, key, err) = run(&["create", "--role", "read"]);
    assert!(ok, "a config with only [store] is enough: {err}");
    let id = key
        .trim()
        .strip_prefix("cg_")
        .and_then(|k| k.split('_').next())
        .expect("a cg_ key")
        .to_owned();
    let (ok, out, err) = run(&["revoke", &id]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("revoked key {id}")), "{out}");
    let (ok, _, err) = run(&["revoke", &id]);
    assert!(
        !ok && err.contains(&id),
        "a second revoke says there is no live key: {err}"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[test]
fn a_busy_simulator_port_is_named_in_the_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .args([
            "sim",
            "--ghl-listen",
            &addr,
            "--clubos-listen",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// Runs `contactgraph sync ... <action>` against `url` with `key`: success, stdout, stderr.
fn sync_command(url: &str, key: &str, action: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["sync", "--url", url, "--key", key, action])
        .output()
        .expect("sync runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_drives_a_running_gateway_and_says_what_it_did() {
    let demo = contactgraph::demo::Demo::start_with(
        "127.0.0.1:0".parse().unwrap(),
        contactgraph::sim::SimOptions {
            people: 60,
            ..contactgraph::sim::SimOptions::default()
        },
        serde_json::json!({"read_model": {"enabled": true, "backfill_on_start": false}}),
    )
    .await
    .unwrap();
    let (url, key) = (demo.url(), demo.api_key.clone());
    let run = move |action: &'static str| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || sync_command(&url, &key, action))
    };

    let (ok, out, err) = run("backfill").await.unwrap();
    assert!(ok, "{err}");
    assert!(out.starts_with("backfill: "), "{out}");
    assert!(!out.contains("backfill: 0 GHL contacts"), "{out}");
    let (ok, out, _) = run("status").await.unwrap();
    assert!(ok);
    let line = out
        .lines()
        .find(|l| l.starts_with("backfill:ghl_contact"))
        .expect("the backfill's cursor is listed");
    assert!(line.contains("cursor done"), "{line}");
    let (ok, out, _) = run("reconcile").await.unwrap();
    assert!(ok);
    assert!(out.contains("ghl_contact: "), "{out}");
    assert!(out.contains("0 missing, 0 extra, 0 differing"), "{out}");
    let (ok, out, _) = run("plan").await.unwrap();
    assert!(ok);
    assert!(out.contains("nothing was written"), "{out}");

    let url = demo.url();
    let (ok, _, err) = tokio::task::spawn_blocking(move || sync_command(&url, "cg_nope", "status"))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("UNAUTHENTICATED"), "{err}");
    demo.stop().await;
}
