//! The GHL simulator speaks GHL's protocol (headers, statuses, bodies, limits), and the
//! GHL client handles it (retries for reads only, typed errors, no 429s earned).

use std::sync::Arc;

use contactgraph::{
    sim::{
        SimServer, World,
        admin::StatsSnapshot,
        ghl::{GhlSim, GhlSimConfig, tokens},
        seed::{self, GHL_LOCATION_ID},
    },
    upstream::{
        RetryConfig, RetryPolicy, UpstreamError,
        ghl::{GhlClient, GhlConfig, models::*},
    },
};
use reqwest::{Client, Response};
use serde_json::{Value, json};

const PEOPLE: usize = 60;

struct Sim {
    server: SimServer,
    http: Client,
    world: World,
}

impl Sim {
    async fn start() -> Self {
        let state = Arc::new(GhlSim::new(42, PEOPLE, GhlSimConfig::default()));
        let server = SimServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            contactgraph::sim::ghl::router(state),
        )
        .await
        .expect("sim starts");
        Self {
            server,
            http: Client::new(),
            world: World::generate(42, PEOPLE),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(tokens::LOCATION)
            .header("Version", "2021-07-28")
    }

    fn contact_id(&self) -> String {
        self.world.ghl.contacts[0].id.clone()
    }

    async fn stats(&self) -> StatsSnapshot {
        self.http
            .get(self.url("/_sim/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    async fn faults(&self, plan: Value) {
        let r = self
            .http
            .post(self.url("/_sim/faults"))
            .json(&plan)
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success());
    }

    fn client(&self) -> GhlClient {
        self.client_with(json!({}))
    }

    fn client_with(&self, extra: Value) -> GhlClient {
        let mut cfg = json!({
            "base_url": self.server.url(),
            "location_id": GHL_LOCATION_ID,
            "token": tokens::LOCATION,
        });
        for (k, v) in extra.as_object().expect("object") {
            cfg[k] = v.clone();
        }
        let cfg: GhlConfig = serde_json::from_value(cfg).expect("config");
        GhlClient::new(
            &cfg,
            RetryPolicy::new(RetryConfig {
                base_delay_ms: 1,
                max_delay_ms: 5,
                ..RetryConfig::default()
            }),
        )
        .expect("client")
    }
}

async fn body(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_request_without_version_is_refused_with_the_documented_401() {
    let sim = Sim::start().await;
    let r = sim
        .http
        .get(sim.url(&format!("/contacts/{}", sim.contact_id())))
        .bearer_auth(tokens::LOCATION)
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 401);
    assert_eq!(b["message"], "version header was not found.");
    let r = sim
        .http
        .get(sim.url(&format!("/contacts/{}", sim.contact_id())))
        .bearer_auth(tokens::LOCATION)
        .header("Version", "2020-01-01")
        .send()
        .await
        .expect("send");
    assert_eq!(body(r).await.1["message"], "version header is invalid");
    let stats = sim.stats().await;
    let route = &stats.routes["GET /contacts/{contactId}"];
    assert_eq!(route.statuses.get(&401), Some(&2));
}

#[tokio::test]
async fn bad_tokens_get_401_and_other_locations_403() {
    let sim = Sim::start().await;
    let path = format!("/contacts/{}", sim.contact_id());
    let r = sim
        .http
        .get(sim.url(&path))
        .bearer_auth("pit-00000000-0000-0000-0000-000000000000")
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(
        (status, b["message"].as_str()),
        (401, Some("Invalid Private Integration token"))
    );
    let r = sim
        .http
        .get(sim.url(&path))
        .bearer_auth(tokens::OTHER_LOCATION)
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 403);
    assert_eq!(
        b["message"],
        "The token does not have access to this location."
    );
    let r = sim
        .http
        .put(sim.url(&path))
        .bearer_auth(tokens::READONLY)
        .header("Version", "2021-07-28")
        .json(&json!({"firstName": "X"}))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 401);
    assert_eq!(b["message"], "The token is not authorized for this scope.");
}

#[tokio::test]
async fn an_unknown_body_property_is_a_422_naming_it() {
    let sim = Sim::start().await;
    let r = sim
        .req(
            reqwest::Method::POST,
            &format!("/contacts/{}/notes", sim.contact_id()),
        )
        .json(&json!({"body": "hello", "locationId": GHL_LOCATION_ID}))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 422);
    assert_eq!(
        b["message"],
        json!(["property locationId should not exist"])
    );
    assert_eq!(b["error"], "Unprocessable Entity");
    assert_eq!(sim.stats().await.status_count(422), 1);
}

#[tokio::test]
async fn the_101st_request_in_ten_seconds_is_429_with_rate_limit_headers() {
    let sim = Sim::start().await;
    let path = format!("/contacts/{}", sim.contact_id());
    for i in 0..100 {
        let r = sim
            .req(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.headers()["x-ratelimit-max"], "100");
        assert_eq!(
            r.headers()["x-ratelimit-remaining"],
            (99 - i).to_string().as_str()
        );
    }
    let r = sim
        .req(reqwest::Method::GET, &path)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    let h = r.headers();
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-interval-milliseconds"], "10000");
    assert_eq!(h["x-ratelimit-limit-daily"], "200000");
    assert_eq!(h["x-ratelimit-daily-remaining"], "199900");
    let stats = sim.stats().await;
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.count("GET /contacts/{contactId}"), 101);
    // Another location's budget is untouched.
    let r = sim
        .http
        .get(sim.url(&format!(
            "/locations/{}/customFields",
            seed::GHL_OTHER_LOCATION_ID
        )))
        .bearer_auth(tokens::OTHER_LOCATION)
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn contacts_are_created_deduplicated_and_normalised() {
    let sim = Sim::start().await;
    let r = sim
        .req(reqwest::Method::POST, "/contacts/")
        .json(&json!({
            "locationId": GHL_LOCATION_ID, "firstName": "Tess", "lastName": "Ng",
            "email": "tess.ng@example.com", "phone": "(415) 555-0199",
            "tags": ["VIP", "Trial", "vip"], "dateOfBirth": "03/07/1990",
        }))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 201, "{b}");
    let c = &b["contact"];
    assert_eq!(c["phone"], "+14155550199");
    assert_eq!(c["tags"], json!(["vip", "trial"]));
    assert_eq!(c["dateOfBirth"], "1990-03-07");
    let id = c["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 20);

    let r = sim
        .req(reqwest::Method::POST, "/contacts/")
        .json(&json!({"locationId": GHL_LOCATION_ID, "email": "TESS.NG@example.com"}))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        b["message"],
        "This location does not allow duplicated contacts."
    );
    assert_eq!(b["meta"]["contactId"], id.as_str());
    assert_eq!(b["meta"]["matchingField"], "email");

    let r = sim
        .req(reqwest::Method::PUT, &format!("/contacts/{id}"))
        .json(&json!({"lastName": "Ng-Park"}))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 200);
    assert_eq!(b["succeded"], true);
    assert_eq!(b["contact"]["lastName"], "Ng-Park");

    let r = sim
        .req(reqwest::Method::DELETE, &format!("/contacts/{id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(body(r).await, (200, json!({"succeded": true})));
    let r = sim
        .req(reqwest::Method::GET, &format!("/contacts/{id}"))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 400);
    assert_eq!(b["message"], format!("Contact with id {id} not found"));
}

#[tokio::test]
async fn search_requires_location_and_page_limit() {
    let sim = Sim::start().await;
    let r = sim
        .req(reqwest::Method::POST, "/contacts/search")
        .json(&json!({"query": "a"}))
        .send()
        .await
        .expect("send");
    let (status, b) = body(r).await;
    assert_eq!(status, 422);
    let messages = b["message"].to_string();
    assert!(
        messages.contains("locationId should not be empty"),
        "{messages}"
    );
    assert!(
        messages.contains("pageLimit should not be empty"),
        "{messages}"
    );
}

#[tokio::test]
async fn search_filters_with_or_groups_and_pages_both_ways() {
    let sim = Sim::start().await;
    let client = sim.client();
    let emails: Vec<String> = sim.world.ghl.contacts[..3]
        .iter()
        .map(|c| c.email.clone().expect("seeded email").to_uppercase())
        .collect();
    let r = client
        .search_contacts(&SearchRequest {
            page_limit: 10,
            filters: vec![SearchFilter::any(
                emails
                    .iter()
                    .map(|e| SearchFilter::cond("email", FilterOp::Eq, e.as_str()))
                    .collect(),
            )],
            ..SearchRequest::default()
        })
        .await
        .expect("search");
    assert_eq!(r.total, 3);
    let mut found: Vec<&str> = r.contacts.iter().map(|c| c.id.as_str()).collect();
    found.sort_unstable();
    let mut want: Vec<&str> = sim.world.ghl.contacts[..3]
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    want.sort_unstable();
    assert_eq!(found, want);

    let all = sim.world.ghl.contacts.len() as u64;
    let mut by_page = Vec::new();
    for page in 1.. {
        let r = client
            .search_contacts(&SearchRequest {
                page_limit: 7,
                page: Some(page),
                ..SearchRequest::default()
            })
            .await
            .expect("page");
        assert_eq!(r.total, all);
        if r.contacts.is_empty() {
            break;
        }
        by_page.extend(r.contacts.into_iter().map(|c| c.id));
    }
    let mut by_cursor = Vec::new();
    let mut after = None;
    loop {
        let r = client
            .search_contacts(&SearchRequest {
                page_limit: 7,
                search_after: after.take(),
                ..SearchRequest::default()
            })
            .await
            .expect("cursor page");
        let Some(last) = r.contacts.last() else { break };
        after = last.search_after.clone();
        by_cursor.extend(r.contacts.into_iter().map(|c| c.id));
    }
    assert_eq!(by_page.len() as u64, all);
    assert_eq!(by_page, by_cursor, "page and cursor paging agree");
}

#[tokio::test]
async fn a_new_contact_shows_in_search_only_after_the_configured_lag() {
    let sim = Sim::start().await;
    let client = sim.client();
    let by_email = |email: &str| SearchRequest {
        page_limit: 10,
        filters: vec![SearchFilter::cond("email", FilterOp::Eq, email)],
        ..SearchRequest::default()
    };
    let config = |lag: u64| {
        sim.http
            .post(sim.url("/_sim/config"))
            .json(&json!({"search_lag_ms": lag}))
            .send()
    };
    assert!(config(600_000).await.expect("config").status().is_success());
    let made = client
        .create_contact(&NewContact {
            location_id: GHL_LOCATION_ID.into(),
            fields: ContactPatch {
                first_name: Some("Lagging".into()),
                email: Some("lagging@example.org".into()),
                ..ContactPatch::default()
            },
            ..NewContact::default()
        })
        .await
        .expect("create");
    let unseen = client
        .search_contacts(&by_email("lagging@example.org"))
        .await
        .expect("search");
    assert_eq!(unseen.total, 0, "not indexed yet");
    let seeded = sim.world.ghl.contacts[0]
        .email
        .clone()
        .expect("seeded email");
    let old = client
        .search_contacts(&by_email(&seeded))
        .await
        .expect("search");
    assert_eq!(old.total, 1, "older contacts are found");
    assert!(config(0).await.expect("config").status().is_success());
    let seen = client
        .search_contacts(&by_email("lagging@example.org"))
        .await
        .expect("search");
    assert_eq!(
        seen.contacts.first().map(|c| c.id.as_str()),
        Some(made.id.as_str())
    );
}

#[tokio::test]
async fn tasks_of_many_contacts_come_from_one_search() {
    let sim = Sim::start().await;
    let client = sim.client();
    let ids: Vec<String> = sim.world.ghl.contacts[..10]
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let tasks = client
        .search_tasks(&TaskSearch {
            contact_ids: ids.clone(),
            limit: 100,
            ..TaskSearch::default()
        })
        .await
        .expect("task search");
    let expected = sim
        .world
        .ghl
        .tasks
        .iter()
        .filter(|t| ids.contains(&t.contact_id))
        .count();
    assert_eq!(tasks.len(), expected);
    assert!(
        tasks
            .iter()
            .all(|t| ids.contains(t.contact_id.as_ref().expect("contactId")))
    );
    assert_eq!(
        sim.stats()
            .await
            .count("POST /locations/{locationId}/tasks/search"),
        1
    );
}

#[tokio::test]
async fn oauth_codes_are_single_use_and_refresh_tokens_rotate() {
    let sim = Sim::start().await;
    let cfg = GhlSimConfig::default();
    let code: Value = sim
        .http
        .post(sim.url("/_sim/oauth/code"))
        .send()
        .await
        .expect("code")
        .json()
        .await
        .expect("json");
    let exchange = |form: Vec<(&'static str, String)>| {
        let http = sim.http.clone();
        let url = sim.url("/oauth/token");
        async move { body(http.post(url).form(&form).send().await.expect("token")).await }
    };
    let base = vec![
        ("client_id", cfg.client_id.clone()),
        ("client_secret", cfg.client_secret.clone()),
    ];
    let mut form = base.clone();
    form.push(("grant_type", "authorization_code".into()));
    form.push(("code", code["code"].as_str().expect("code").to_owned()));
    let (status, first) = exchange(form.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    let (status, again) = exchange(form).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let access = first["access_token"].as_str().expect("access token");
    let r = sim
        .http
        .get(sim.url(&format!("/contacts/{}", sim.contact_id())))
        .bearer_auth(access)
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    let refresh = |token: String| {
        let mut f = base.clone();
        f.push(("grant_type", "refresh_token".into()));
        f.push(("refresh_token", token));
        f
    };
    let old = first["refresh_token"].as_str().expect("refresh").to_owned();
    let (status, second) = exchange(refresh(old.clone())).await;
    assert_eq!(status, 200);
    assert_ne!(second["refresh_token"].as_str(), Some(old.as_str()));
    let (status, reused) = exchange(refresh(old)).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_client_retries_reads_but_never_writes() {
    let sim = Sim::start().await;
    let client = sim.client();
    sim.faults(
        json!({"rules": [{"route": "GET /contacts/{contactId}", "status": 503, "times": 1}]}),
    )
    .await;
    let c = client
        .get_contact(&sim.contact_id())
        .await
        .expect("retried");
    assert_eq!(c.map(|c| c.id), Some(sim.contact_id()));
    let stats = sim.stats().await;
    let route = &stats.routes["GET /contacts/{contactId}"];
    assert_eq!((route.count, route.statuses.get(&503)), (2, Some(&1)));

    sim.faults(json!({"rules": [{"route": "POST /contacts/", "status": 503, "times": 1}]}))
        .await;
    let err = client
        .create_contact(&NewContact {
            location_id: GHL_LOCATION_ID.into(),
            fields: ContactPatch {
                email: Some("new.person@example.com".into()),
                ..ContactPatch::default()
            },
            ..NewContact::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Unavailable { status: 503 });
    assert_eq!(sim.stats().await.count("POST /contacts/"), 1);
}

#[tokio::test]
async fn upstream_answers_become_typed_errors() {
    let sim = Sim::start().await;
    let client = sim.client();
    assert_eq!(client.get_contact("AAAAAAAAAAAAAAAAAAAA").await, Ok(None));
    let existing = &sim.world.ghl.contacts[1];
    let err = client
        .create_contact(&NewContact {
            location_id: GHL_LOCATION_ID.into(),
            fields: ContactPatch {
                email: existing.email.clone(),
                ..ContactPatch::default()
            },
            ..NewContact::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Duplicate {
            existing_id: Some(existing.id.clone()),
            matching_field: Some("email".into()),
        }
    );
    let err = client
        .update_contact(
            &existing.id,
            &ContactPatch {
                phone: Some("12".into()),
                ..ContactPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Invalid { ref messages } if messages[0].contains("phone")),
        "{err:?}"
    );
    sim.faults(json!({"rules": [{"route": "GET /contacts/{contactId}", "action": "malformed"}]}))
        .await;
    assert!(matches!(
        client.get_contact(&existing.id).await,
        Err(UpstreamError::Decode(_))
    ));
    sim.faults(json!({"rules": [{"route": "GET /contacts/{contactId}", "action": "drop"}]}))
        .await;
    let err = client.get_contact(&existing.id).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn the_client_spaces_its_calls_and_earns_no_429() {
    let sim = Sim::start().await;
    sim.http
        .post(sim.url("/_sim/config"))
        .json(&json!({"rate_limit": {"max": 10, "interval_ms": 1000, "daily": 200000}}))
        .send()
        .await
        .expect("config");
    let client = sim.client_with(json!({
        "rate_limit": {"max_per_interval": 10, "interval_ms": 1000, "daily": 200000, "headroom": 0.9}
    }));
    let id = sim.contact_id();
    let calls = (0..25).map(|_| client.get_contact(&id));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
    let stats = sim.stats().await;
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.count("GET /contacts/{contactId}"), 25);
}

#[test]
fn the_client_never_prints_its_token() {
    let cfg: GhlConfig = serde_json::from_value(json!({
        "base_url": "http://127.0.0.1:1",
        "location_id": GHL_LOCATION_ID,
        "token": "pit-very-secret-token",
    }))
    .expect("config");
    let client = GhlClient::new(&cfg, RetryPolicy::new(RetryConfig::default())).expect("client");
    assert!(!format!("{client:?}{cfg:?}").contains("very-secret"));
}

#[tokio::test]
async fn a_wrong_verb_or_an_unknown_path_answers_as_ghl_does() {
    let sim = Sim::start().await;
    let id = sim.contact_id();
    let wrong = sim
        .req(reqwest::Method::PATCH, &format!("/contacts/{id}"))
        .send()
        .await
        .expect("patch");
    assert_eq!(wrong.status(), 404);
    assert!(wrong.headers().contains_key("x-ratelimit-remaining"));
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(
        body["message"],
        format!("Cannot PATCH /contacts/{id}"),
        "{body}"
    );
    let unknown = sim
        .req(reqwest::Method::GET, "/no/such/route")
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().contains_key("x-ratelimit-remaining"));
    let anonymous = sim
        .http
        .get(sim.url("/no/such/route"))
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("get");
    assert_eq!(
        anonymous.status(),
        401,
        "unknown routes are behind the auth gate too"
    );
}
