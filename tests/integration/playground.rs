//! The playground at `GET /` and CORS: the page loads only files the gateway serves
//! itself (the vendored bundles, byte for byte as `crates/gateway/assets/playground/VENDORED.md` lists
//! them); only configured origins get CORS headers; and, where Chromium and
//! playwright-core are installed, a real browser renders the page, lists the schema and
//! runs the default operation with everything from outside blocked.

use contactgraph::{
    demo::{self, Demo},
    gateway::{Gateway, Options},
    playground, server,
    server::CorsConfig,
    sim::{SimOptions, Sims},
};
use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn opts() -> SimOptions {
    SimOptions {
        people: 40,
        ..SimOptions::default()
    }
}

async fn start_demo() -> Demo {
    crate::harness::gateway::start(opts().people, json!({})).await
}

/// The gateway as `contactgraph serve` starts it (no playground key, CORS from the
/// configuration), over the simulators.
struct Served {
    _sims: Sims,
    gateway: Gateway,
}

async fn serve(overrides: Value) -> Served {
    let sims = Sims::start(opts()).await.expect("simulators");
    let listener = server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cfg = demo::config_for(&sims, addr, overrides).expect("config");
    let gateway = Gateway::start(&cfg, listener, Options::default())
        .await
        .expect("gateway starts");
    Served {
        _sims: sims,
        gateway,
    }
}

/// The response's `access-control-*` headers, by name.
fn cors_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn preflight(base: &str, path: &str, origin: &str) -> reqwest::Response {
    Client::new()
        .request(Method::OPTIONS, format!("{base}{path}"))
        .header(header::ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .expect("preflight")
}

async fn post_from(base: &str, origin: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = Client::new()
        .post(format!("{base}/graphql"))
        .header(header::ORIGIN, origin)
        .json(&json!({"query": "{ __typename }"}));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.expect("post")
}

/// An allowed origin's preflight: answered, with exactly the origin, the methods and the
/// headers a caller needs, and never credentials.
fn assert_allowed_preflight(resp: &reqwest::Response, origin: &str) {
    assert!(resp.status().is_success(), "{}", resp.status());
    let cors = cors_headers(resp);
    assert_eq!(
        header_of(&cors, "access-control-allow-origin"),
        Some(origin),
        "{cors:?}"
    );
    let methods = header_of(&cors, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{cors:?}"
    );
    let allowed = header_of(&cors, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(name), "{name}: {cors:?}");
    }
    assert_eq!(
        header_of(&cors, "access-control-allow-credentials"),
        None,
        "{cors:?}"
    );
}

#[tokio::test]
async fn the_demo_allows_its_own_origins_only() {
    let demo = start_demo().await;
    let base = demo.url();
    let port = demo.gateway.addr.port();

    for origin in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let resp = preflight(&base, "/graphql", &origin).await;
        assert_allowed_preflight(&resp, &origin);

        let resp = post_from(&base, &origin, Some(&demo.api_key)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let cors = cors_headers(&resp);
        assert_eq!(
            header_of(&cors, "access-control-allow-origin"),
            Some(origin.as_str()),
            "{cors:?}"
        );
        assert_eq!(
            header_of(&cors, "access-control-allow-credentials"),
            None,
            "{cors:?}"
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["data"]["__typename"], "QueryRoot", "{body}");

        // A refusal carries the headers too, so that the page can read why.
        let resp = post_from(&base, &origin, None).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(!cors_headers(&resp).is_empty());
    }

    for origin in [
        format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1)),
        "http://localhost".to_owned(),
        "https://evil.example".to_owned(),
        "null".to_owned(),
    ] {
        let resp = preflight(&base, "/graphql", &origin).await;
        assert!(cors_headers(&resp).is_empty(), "{origin}: {resp:?}");
        let resp = post_from(&base, &origin, Some(&demo.api_key)).await;
        assert!(cors_headers(&resp).is_empty(), "{origin}: {resp:?}");
    }
    demo.stop().await;
}

#[tokio::test]
async fn a_served_gateway_sends_cors_headers_only_for_configured_origins() {
    let plain = serve(json!({})).await;
    let base = format!("http://{}", plain.gateway.addr);
    let own = format!("http://127.0.0.1:{}", plain.gateway.addr.port());
    for origin in [own.as_str(), "https://app.example"] {
        assert!(cors_headers(&preflight(&base, "/graphql", origin).await).is_empty());
        assert!(cors_headers(&post_from(&base, origin, None).await).is_empty());
    }

    let configured =
        serve(json!({"server": {"cors": {"allowed_origins": ["https://app.example"]}}})).await;
    let base = format!("http://{}", configured.gateway.addr);
    assert_allowed_preflight(
        &preflight(&base, "/graphql", "https://app.example").await,
        "https://app.example",
    );
    let resp = post_from(&base, "https://app.example", None).await;
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    assert!(cors_headers(&preflight(&base, "/graphql", "https://other.example").await).is_empty());
    // Only the API and the page: the other endpoints send no CORS headers.
    let resp = Client::new()
        .get(format!("{base}/healthz"))
        .header(header::ORIGIN, "https://app.example")
        .send()
        .await
        .expect("healthz");
    assert!(cors_headers(&resp).is_empty());
}

#[tokio::test]
async fn a_wildcard_origin_is_a_configuration_error() {
    let sims = Sims::start(opts()).await.expect("simulators");
    let err = demo::config_for(
        &sims,
        "127.0.0.1:0".parse().expect("addr"),
        json!({"server": {"cors": {"allowed_origins": ["*"]}}}),
    )
    .expect_err("`*` is refused")
    .to_string();
    assert!(err.contains("`server.cors.allowed_origins`"), "{err}");
    assert!(err.contains("`*`"), "{err}");
    assert_eq!(CorsConfig::default().allowed_origins.len(), 0);
}

/// `(served path, sha256)` of each file `VENDORED.md`'s first table lists.
fn vendored() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/gateway/assets/playground/VENDORED.md"
    );
    let text = std::fs::read_to_string(path).expect("VENDORED.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let [_, _, file, sha] = cells.as_slice() else {
                return None;
            };
            (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                let name = file.rsplit('/').next().unwrap_or(file);
                (format!("/playground/{name}"), (*sha).to_owned())
            })
        })
        .collect()
}

#[tokio::test]
async fn the_page_loads_only_the_vendored_files_the_gateway_serves() {
    let demo = start_demo().await;
    let base = demo.url();
    let client = Client::new();

    let resp = client.get(format!("{base}/")).send().await.expect("page");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let page = resp.text().await.expect("page text");
    assert!(!page.contains("unpkg") && !page.contains("http:") && !page.contains("https:"));
    assert!(page.contains("GraphiQL.createFetcher"), "{page}");
    assert!(
        page.contains(&format!(
            r#""headers":{{"Authorization":"Bearer {}"}}"#,
            demo.api_key
        )),
        "the fetcher sends the demo's key"
    );
    assert!(page.contains("query Person("), "the example operations");

    let listed = vendored();
    assert_eq!(listed.len(), playground::ASSETS.len(), "{listed:?}");
    for (path, sha) in listed {
        let asset = playground::ASSETS
            .iter()
            .find(|a| a.path == path)
            .unwrap_or_else(|| panic!("{path} is listed but not served"));
        assert!(
            page.contains(&format!("{path}?v={}", asset.version)),
            "{path}"
        );
        let resp = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("asset");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let content_type = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default();
        let expected = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(content_type.starts_with(expected), "{path}: {content_type}");
        let cache = resp.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap_or_default();
        assert!(cache.contains("max-age=31536000"), "{path}: {cache}");
        let body = resp.bytes().await.expect("asset body");
        assert_eq!(hex::encode(Sha256::digest(&body)), sha, "{path}");
    }
    demo.stop().await;
}

/// Chromium renders the playground of a running demo, lists `Query` in the docs and runs
/// the default operation (`tests/browser/playground.mjs`; every request to a host that
/// is not loopback is blocked and fails it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "needs chromium and tests/browser/node_modules (bash .ci/run installs them)"
)]
async fn a_browser_runs_the_default_operation_offline() {
    let demo = start_demo().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/playground.mjs");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).arg(demo.url());
    if let Ok(path) = std::env::var("PLAYGROUND_SCREENSHOT") {
        cmd.arg("--screenshot").arg(path);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), cmd.output())
        .await
        .expect("the browser test finishes within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("playground ok"), "{stdout}\n{stderr}");
    demo.stop().await;
}
