//! The harness's OAuth mode: a gateway that reaches GHL over OAuth, started over
//! simulators the test owns (so that two gateways can share them, or one can restart on
//! the same store), and the install as a browser goes through it.

use std::sync::Arc;

use contactgraph::{
    auth::{self, Role},
    demo, gateway, install,
    loaders::Readers,
    server,
    sim::{SimOptions, Sims, ghl::GhlSimConfig, seed::GHL_LOCATION_ID},
    store::GhlOAuthTokens,
};
use reqwest::{Client, StatusCode, header, redirect::Policy};
use serde_json::{Value, json};

/// A gateway in OAuth mode over running simulators, with a `read` key.
pub struct OAuthGateway {
    running: gateway::Gateway,
    /// The gateway's read side: its GHL client and store.
    pub readers: Arc<Readers>,
    api_key: String,
}

/// Simulators whose GHL issues access tokens for `access_token_ttl_secs`, with no rate
/// limit a test could reach.
pub async fn oauth_sims(people: usize, access_token_ttl_secs: u64) -> Sims {
    let mut ghl = GhlSimConfig {
        access_token_ttl_secs,
        ..GhlSimConfig::default()
    };
    ghl.rate_limit.max = 100_000;
    Sims::start(SimOptions {
        people,
        ghl,
        ..SimOptions::default()
    })
    .await
    .expect("simulators start")
}

/// Starts a gateway in OAuth mode over `sims`, with these configuration overrides (see
/// `demo::config_for`). Nothing is installed yet, and nothing warms up: every token call
/// a test counts is one it makes.
pub async fn oauth_gateway(sims: &Sims, overrides: Value) -> OAuthGateway {
    let listener = server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let overrides = merge(
        json!({"ghl": {"rate_limit": {"max_per_interval": 100_000}}}),
        overrides,
    );
    let cfg = demo::oauth_config_for(sims, addr, overrides).expect("config");
    let quiet = gateway::Options {
        warm_up: false,
        ..gateway::Options::default()
    };
    let running = gateway::Gateway::start(&cfg, listener, quiet)
        .await
        .expect("gateway starts");
    let readers = running.readers.clone();
    let api_key = auth::create_key(&readers.store, Role::Read, "oauth test", Default::default())
        .await
        .expect("key");
    OAuthGateway {
        running,
        readers,
        api_key,
    }
}

impl OAuthGateway {
    /// The gateway's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(self) {
        self.running.stop().await.expect("stops");
    }

    /// The tokens the store holds for the seeded location.
    pub async fn stored(&self) -> Option<GhlOAuthTokens> {
        self.readers
            .store
            .ghl_oauth_tokens(GHL_LOCATION_ID)
            .await
            .expect("store")
    }

    /// Runs `query` with `variables` under the gateway's `read` key.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        Client::new()
            .post(self.url("/graphql"))
            .bearer_auth(&self.api_key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("graphql")
            .json()
            .await
            .expect("json")
    }
}

/// Shallow-merges `b`'s sections over `a`'s (enough for these overrides).
fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            match (a.get_mut(&k), v) {
                (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                (_, v) => {
                    a.insert(k, v);
                }
            }
        }
    }
    a
}

/// A POST to one of the GHL simulator's own routes; its JSON answer, or null.
pub async fn sim_post(sims: &Sims, path: &str, body: Value) -> Value {
    Client::new()
        .post(format!("{}{path}", sims.ghl.url()))
        .json(&body)
        .send()
        .await
        .expect("sim admin call")
        .json()
        .await
        .unwrap_or(Value::Null)
}

/// An authorization code from the simulator's consent stand-in.
pub async fn mint_code(sims: &Sims) -> String {
    sim_post(sims, "/_sim/oauth/code", json!({}))
        .await
        .get("code")
        .and_then(Value::as_str)
        .expect("code")
        .to_owned()
}

/// `GET /oauth/ghl/install` without following the redirect: the consent URL and the
/// `name=value` of the state cookie.
pub async fn start_install(gw: &OAuthGateway) -> (url::Url, String) {
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let resp = client
        .get(gw.url(install::INSTALL_PATH))
        .send()
        .await
        .expect("install");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[header::LOCATION].to_str().unwrap();
    let consent = url::Url::parse(location).expect("consent url");
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (consent, cookie)
}

/// The value of the query parameter `name` of `url`.
pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The OAuth callback with `code`, `state` and, when given, the state cookie: its status
/// and JSON body.
pub async fn callback(
    gw: &OAuthGateway,
    code: &str,
    state: &str,
    cookie: Option<&str>,
) -> (u16, Value) {
    let mut req = Client::new()
        .get(gw.url(install::CALLBACK_PATH))
        .query(&[("code", code), ("state", state)]);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let resp = req.send().await.expect("callback");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

/// The whole install, as a browser goes through it: the gateway's install URL, a code
/// from the simulator's consent stand-in, the callback with the state and its cookie.
pub async fn install_app(gw: &OAuthGateway, sims: &Sims) -> Value {
    let (consent, cookie) = start_install(gw).await;
    let state = param(&consent, "state").expect("state");
    let code = mint_code(sims).await;
    let (status, body) = callback(gw, &code, &state, Some(&cookie)).await;
    assert_eq!(status, 200, "{body}");
    body
}
