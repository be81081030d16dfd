//! GHL over OAuth: the install callback, the tokens in the store, refresh before expiry
//! (one refresh however many callers), the rotated refresh token surviving a restart, and
//! one retry after a 401. The simulators and the gateway are real servers on port 0; token
//! calls are counted by the GHL simulator's `/_sim/stats`. "About to expire" is the
//! simulator's token lifetime set below the gateway's refresh margin, so nothing sleeps.
//!
//! The store's atomic rotation is also checked on its own, on every store backend.

use contactgraph::{
    install,
    sim::{Sims, World, admin::StatsSnapshot},
    store::{GhlOAuthTokens, Store},
};
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::harness::{oauth::*, *};

const PEOPLE: usize = 120;
const TOKEN_ROUTE: &str = "POST /oauth/token";
const CONTACT_QUERY: &str = "query($id: ID!) { contact(id: $id) { id ghl { id email } } }";

async fn sims(access_token_ttl_secs: u64) -> Sims {
    oauth_sims(PEOPLE, access_token_ttl_secs).await
}

async fn stats(sims: &Sims) -> StatsSnapshot {
    gateway::stats(sims.ghl.url()).await
}

async fn read_contact(gw: &OAuthGateway, id: &str) -> Value {
    gw.graphql(CONTACT_QUERY, json!({"id": id})).await
}

fn ghl_ids(n: usize) -> Vec<String> {
    World::generate(42, PEOPLE)
        .people
        .iter()
        .filter_map(|p| p.ghl_contact_id.clone())
        .take(n)
        .collect()
}

fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
        .collect()
}

async fn refused_by_the_simulator(sims: &Sims, refresh_token: &SecretString) -> bool {
    let app = sims.ghl_state.config();
    let resp = Client::new()
        .post(format!("{}/oauth/token", sims.ghl.url()))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ])
        .send()
        .await
        .expect("token call");
    resp.status() == StatusCode::BAD_REQUEST
}

#[tokio::test]
async fn the_callback_exchanges_a_code_and_stores_the_tokens() {
    let sims = sims(86_399).await;
    let gw = oauth_gateway(&sims, json!({})).await;
    let id = &ghl_ids(1)[0];

    let before = read_contact(&gw, id).await;
    assert_eq!(error_codes(&before), ["UPSTREAM_AUTH"], "{before}");
    assert!(gw.stored().await.is_none());

    let (consent, _) = start_install(&gw).await;
    let app = sims.ghl_state.config();
    assert_eq!(param(&consent, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&consent, "client_id"), Some(app.client_id.clone()));
    assert_eq!(
        param(&consent, "redirect_uri"),
        Some(gw.url(install::CALLBACK_PATH))
    );
    assert!(
        param(&consent, "scope")
            .unwrap()
            .contains("contacts.readonly")
    );

    let body = install_app(&gw, &sims).await;
    assert_eq!(body["status"], "installed");
    assert_eq!(body["locationId"], contactgraph::sim::seed::GHL_LOCATION_ID);
    let stored = gw.stored().await.expect("tokens stored");
    assert!(stored.scopes.iter().any(|s| s == "contacts.write"));
    assert!(stored.expires_at_ms > 0);
    let text = body.to_string();
    assert!(!text.contains(stored.access_token.expose_secret()));
    assert!(!text.contains(stored.refresh_token.expose_secret()));
    let dump = format!("{:?} {:?}", stored, gw.readers);
    assert!(
        !dump.contains(stored.access_token.expose_secret()),
        "{dump}"
    );
    assert!(
        !dump.contains(stored.refresh_token.expose_secret()),
        "{dump}"
    );

    let after = read_contact(&gw, id).await;
    assert!(after.get("errors").is_none(), "{after}");
    assert_eq!(after["data"]["contact"]["ghl"]["id"], id.as_str());
    assert_eq!(stats(&sims).await.count(TOKEN_ROUTE), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_bad_code_or_state_is_refused_and_nothing_is_stored() {
    let sims = sims(86_399).await;
    let gw = oauth_gateway(&sims, json!({})).await;
    let (consent, cookie) = start_install(&gw).await;
    let state = param(&consent, "state").unwrap();

    let good_code = mint_code(&sims).await;
    let (status, body) = callback(&gw, &good_code, "forged-state", Some(&cookie)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("OAUTH_STATE_INVALID"))
    );
    let (status, body) = callback(&gw, &good_code, &state, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("OAUTH_STATE_INVALID"))
    );
    assert_eq!(
        stats(&sims).await.count(TOKEN_ROUTE),
        0,
        "a refused state costs no token call"
    );

    let (status, body) = callback(&gw, "code-that-ghl-never-issued", &state, Some(&cookie)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("OAUTH_CODE_REJECTED"))
    );
    assert!(!body.to_string().contains("invalid_grant"), "{body}");
    assert!(gw.stored().await.is_none());

    let (status, body) = callback(&gw, "", &state, Some(&cookie)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("OAUTH_CODE_MISSING"))
    );
    assert!(gw.stored().await.is_none());
    gw.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_requests_with_a_token_about_to_expire_refresh_once() {
    // Issued for 60 s, refreshed 300 s before expiry: due as soon as it is installed.
    let sims = sims(60).await;
    let gw = oauth_gateway(&sims, json!({})).await;
    install_app(&gw, &sims).await;
    let installed = gw.stored().await.expect("installed");
    // The refreshed token lives a day, so that no later call refreshes again.
    sim_post(
        &sims,
        "/_sim/config",
        json!({"access_token_ttl_secs": 86_399}),
    )
    .await;

    let ids = ghl_ids(50);
    let answers = join_all(ids.iter().map(|id| read_contact(&gw, id))).await;
    for (id, body) in ids.iter().zip(&answers) {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["contact"]["ghl"]["id"], id.as_str());
    }

    let stats = stats(&sims).await;
    assert_eq!(
        stats.count(TOKEN_ROUTE),
        2,
        "the install and exactly one refresh"
    );
    assert_eq!(
        stats.status_count(401),
        0,
        "no call went out with a stale token"
    );
    let rotated = gw.stored().await.expect("tokens");
    assert_ne!(
        rotated.refresh_token.expose_secret(),
        installed.refresh_token.expose_secret()
    );
    assert!(rotated.expires_at_ms > installed.expires_at_ms + 3_600_000);
    gw.stop().await;
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_used_after_a_restart() {
    let path = unique_temp_db();
    let store = json!({"store": {"url": format!("sqlite://{}", path.display())}});
    let sims = sims(60).await;

    let first = oauth_gateway(&sims, store.clone()).await;
    install_app(&first, &sims).await;
    let installed = first.stored().await.expect("installed");
    first
        .readers
        .ghl
        .custom_fields()
        .await
        .expect("a call after a refresh");
    assert_eq!(stats(&sims).await.count(TOKEN_ROUTE), 2);
    let rotated = first.stored().await.expect("tokens");
    assert_ne!(
        rotated.refresh_token.expose_secret(),
        installed.refresh_token.expose_secret()
    );
    assert!(refused_by_the_simulator(&sims, &installed.refresh_token).await);
    first.stop().await;

    sim_post(
        &sims,
        "/_sim/config",
        json!({"access_token_ttl_secs": 86_399}),
    )
    .await;
    let token_calls = stats(&sims).await.count(TOKEN_ROUTE);
    let second = oauth_gateway(&sims, store).await;
    let id = &ghl_ids(1)[0];
    let body = read_contact(&second, id).await;
    assert!(body.get("errors").is_none(), "{body}");
    let token_route = stats(&sims).await.routes[TOKEN_ROUTE].clone();
    assert_eq!(
        token_route.count,
        token_calls + 1,
        "the restarted gateway refreshed once, with the stored refresh token"
    );
    assert_eq!(
        token_route.statuses.get(&400),
        Some(&1),
        "only the spent token was refused"
    );
    let after_restart = second.stored().await.expect("tokens");
    assert_ne!(
        after_restart.refresh_token.expose_secret(),
        rotated.refresh_token.expose_secret()
    );
    second.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn two_gateways_sharing_a_store_spend_a_refresh_token_once() {
    let path = unique_temp_db();
    let store = json!({"store": {"url": format!("sqlite://{}", path.display())}});
    let sims = sims(60).await;
    let a = oauth_gateway(&sims, store.clone()).await;
    install_app(&a, &sims).await;
    let b = oauth_gateway(&sims, store).await;
    sim_post(
        &sims,
        "/_sim/config",
        json!({"access_token_ttl_secs": 86_399}),
    )
    .await;
    // The token endpoint answers after 300 ms, so that both refreshes are in flight at
    // once: GHL grants the first and refuses the second, spent, token.
    sim_post(
        &sims,
        "/_sim/faults",
        json!({"rules": [{"route": TOKEN_ROUTE, "action": "delay", "latency_ms": 300}]}),
    )
    .await;

    let (from_a, from_b) =
        tokio::join!(a.readers.ghl.custom_fields(), b.readers.ghl.custom_fields());
    from_a.expect("gateway A's call");
    from_b.expect("gateway B's call");

    let token_route = stats(&sims).await.routes[TOKEN_ROUTE].clone();
    assert_eq!(
        token_route.statuses.get(&200),
        Some(&2),
        "the install and one refresh"
    );
    assert_eq!(
        token_route.statuses.get(&400),
        Some(&1),
        "the loser's refresh"
    );
    let (held_a, held_b) = (a.stored().await.unwrap(), b.stored().await.unwrap());
    assert_eq!(
        held_a.refresh_token.expose_secret(),
        held_b.refresh_token.expose_secret()
    );
    // Both carry on with the winner's tokens, without refreshing again.
    a.readers.ghl.custom_fields().await.expect("A again");
    b.readers.ghl.custom_fields().await.expect("B again");
    assert_eq!(stats(&sims).await.count(TOKEN_ROUTE), 3);
    a.stop().await;
    b.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn a_401_refreshes_once_and_sends_the_call_again() {
    let sims = sims(86_399).await;
    let gw = oauth_gateway(&sims, json!({})).await;
    install_app(&gw, &sims).await;
    let ids = ghl_ids(3);
    let warm = read_contact(&gw, &ids[0]).await;
    assert!(warm.get("errors").is_none(), "{warm}");
    assert_eq!(stats(&sims).await.count(TOKEN_ROUTE), 1);

    let revoked = sim_post(&sims, "/_sim/oauth/revoke", json!({})).await;
    assert_eq!(revoked["revoked"], 1);
    let body = read_contact(&gw, &ids[1]).await;
    assert!(body.get("errors").is_none(), "{body}");
    let stats_after = stats(&sims).await;
    assert_eq!(
        stats_after.count(TOKEN_ROUTE),
        2,
        "one refresh after the 401"
    );
    assert!(stats_after.status_count(401) >= 1);

    // A second 401 to the same call is the caller's error, after one refresh.
    let refused_before = stats_after.routes["GET /contacts/{contactId}"]
        .statuses
        .get(&401)
        .copied()
        .unwrap_or(0);
    sim_post(
        &sims,
        "/_sim/faults",
        json!({"rules": [{"route": "GET /contacts/{contactId}", "action": "error", "status": 401, "times": 2}]}),
    )
    .await;
    let body = read_contact(&gw, &ids[2]).await;
    assert!(
        error_codes(&body).contains(&"UPSTREAM_AUTH".to_owned()),
        "{body}"
    );
    let last = stats(&sims).await;
    assert_eq!(last.count(TOKEN_ROUTE), 3);
    assert_eq!(
        last.routes["GET /contacts/{contactId}"].statuses.get(&401),
        Some(&(refused_before + 2))
    );
    gw.stop().await;
}

// The store's rotation, on every backend.

on_backends!(
    sqlite_memory => on_sqlite_memory,
    sqlite_file => on_sqlite_file,
    postgres => on_postgres;
    [
        a_rotation_replaces_the_pair_only_from_the_spent_refresh_token,
        of_concurrent_rotations_of_one_refresh_token_exactly_one_lands,
    ]
);

fn tokens(access: &str, refresh: &str, expires_at_ms: i64) -> GhlOAuthTokens {
    GhlOAuthTokens {
        location_id: "loc-1".into(),
        access_token: access.to_owned().into(),
        refresh_token: refresh.to_owned().into(),
        expires_at_ms,
        scopes: vec!["contacts.readonly".into(), "contacts.write".into()],
        company_id: Some("company-1".into()),
        user_id: None,
    }
}

fn pair(t: &GhlOAuthTokens) -> (String, String, i64) {
    (
        t.access_token.expose_secret().to_owned(),
        t.refresh_token.expose_secret().to_owned(),
        t.expires_at_ms,
    )
}

async fn held(store: &Store) -> GhlOAuthTokens {
    store
        .ghl_oauth_tokens("loc-1")
        .await
        .unwrap()
        .expect("a row")
}

async fn a_rotation_replaces_the_pair_only_from_the_spent_refresh_token(db: TestDb) {
    let store = db.connect().await;
    assert!(store.ghl_oauth_tokens("loc-1").await.unwrap().is_none());
    store
        .put_ghl_oauth_tokens(&tokens("at-1", "rt-1", 1_000), 1)
        .await
        .unwrap();

    let spent: SecretString = "rt-1".to_owned().into();
    assert!(
        store
            .rotate_ghl_oauth_tokens(&spent, &tokens("at-2", "rt-2", 2_000), 2)
            .await
            .unwrap()
    );
    let now = held(&store).await;
    assert_eq!(pair(&now), ("at-2".into(), "rt-2".into(), 2_000));
    assert_eq!(now.scopes, ["contacts.readonly", "contacts.write"]);
    assert_eq!(now.company_id.as_deref(), Some("company-1"));

    // rt-1 is spent: a second rotation from it changes nothing.
    assert!(
        !store
            .rotate_ghl_oauth_tokens(&spent, &tokens("at-x", "rt-x", 9_000), 3)
            .await
            .unwrap()
    );
    assert_eq!(
        pair(&held(&store).await),
        ("at-2".into(), "rt-2".into(), 2_000)
    );

    // Installing again starts a new chain.
    store
        .put_ghl_oauth_tokens(&tokens("at-9", "rt-9", 9_000), 4)
        .await
        .unwrap();
    assert_eq!(
        pair(&held(&store).await),
        ("at-9".into(), "rt-9".into(), 9_000)
    );
}

async fn of_concurrent_rotations_of_one_refresh_token_exactly_one_lands(db: TestDb) {
    let store = db.connect().await;
    store
        .put_ghl_oauth_tokens(&tokens("at-0", "rt-0", 1_000), 1)
        .await
        .unwrap();
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let spent: SecretString = "rt-0".to_owned().into();
            let won = store
                .rotate_ghl_oauth_tokens(
                    &spent,
                    &tokens(&format!("at-{i}"), &format!("rt-{i}-new"), 2_000 + i),
                    2,
                )
                .await
                .unwrap();
            (i, won)
        })
    });
    let results: Vec<(i64, bool)> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<i64> = results
        .iter()
        .filter(|(_, w)| *w)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let w = winners[0];
    assert_eq!(
        pair(&held(&store).await),
        (format!("at-{w}"), format!("rt-{w}-new"), 2_000 + w)
    );
}
