//! The playground at `GET /`: the page loads only files the gateway serves itself (the
//! vendored bundles, byte for byte as `assets/playground/VENDORED.md` lists them).

use contactgraph::{demo::Demo, playground, sim::SimOptions};
use reqwest::{Client, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};

fn opts() -> SimOptions {
    SimOptions {
        people: 40,
        ..SimOptions::default()
    }
}

async fn start_demo() -> Demo {
    Demo::start_with("127.0.0.1:0".parse().expect("addr"), opts(), json!({}))
        .await
        .expect("demo starts")
}

/// `(served path, sha256)` of each file `VENDORED.md`'s first table lists.
fn vendored() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/playground/VENDORED.md");
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
