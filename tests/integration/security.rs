//! Callers and limits: credentials, roles, operation limits. Every refusal is checked to
//! have cost zero upstream calls, from the simulators' `/_sim/stats`.

use contactgraph::{
    auth::{self, Binding, Role},
    demo::Demo,
    sim::seed::Kind,
};
use reqwest::{Client, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};

use crate::harness::gateway::{self as harness, upstream_calls};

const SECRET: &str = "test-hs256-secret-for-contactgraph";

async fn start_with(overrides: Value) -> Demo {
    harness::start(40, overrides).await
}

/// Small limits, so that each can be tested at N and N+1.
fn small_limits() -> Value {
    json!({"limits": {
        "max_depth": 4, "max_complexity": 60, "max_aliases": 3, "max_root_fields": 2,
        "max_mutation_root_fields": 1, "max_directives_per_field": 1, "max_recursive_depth": 4, "max_query_bytes": 4000,
        "introspection": false, "suggestions": false,
    }, "server": {"max_body_bytes": 100_000}})
}

async fn post(demo: &Demo, credential: Option<&str>, query: &str) -> (StatusCode, Value) {
    harness::post(demo, credential, json!({"query": query})).await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// Posts `query` and asserts it was refused with `expect_code` at no upstream cost.
async fn refused(demo: &Demo, key: &str, query: &str, expect_code: &str) -> StatusCode {
    let before = upstream_calls(demo).await;
    let (status, body) = post(demo, Some(key), query).await;
    assert_eq!(code(&body), expect_code, "{query}: {body}");
    assert_eq!(
        upstream_calls(demo).await,
        before,
        "{query} reached an upstream"
    );
    status
}

/// Posts `query` and asserts no limit refused it.
async fn within(demo: &Demo, key: &str, query: &str) {
    let (status, body) = post(demo, Some(key), query).await;
    assert_ne!(code(&body), "OPERATION_LIMIT_EXCEEDED", "{query}: {body}");
    assert_ne!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
}

#[tokio::test]
async fn no_or_a_bad_credential_is_401_and_reaches_nothing() {
    let demo = start_with(json!({})).await;
    let before = upstream_calls(&demo).await;
    let q = "{ contacts(first: 1) { totalCount } }";
    for credential in [None, Some("cg_nope_nope"), Some("not.a.jwt")] {
        let (status, body) = post(&demo, credential, q).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    assert_eq!(upstream_calls(&demo).await, before);
    let (status, body) = post(&demo, Some(&demo.api_key), q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_read_key_may_query_but_not_mutate_nor_see_the_outbox() {
    let demo = start_with(json!({})).await;
    let read = harness::key(&demo, Role::Read).await;
    let write = harness::key(&demo, Role::Write).await;
    let id = harness::ghl_id(&demo, Kind::Linked);
    let (status, body) = post(
        &demo,
        Some(&read),
        &format!("{{ contact(id: \"{id}\") {{ name }} }}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["contact"]["name"].is_string(), "{body}");

    let mutation = format!(
        "mutation {{ updateContact(id: \"{id}\", input: {{firstName: \"Mallory\"}}) {{ status }} }}"
    );
    let status = refused(&demo, &read, &mutation, "FORBIDDEN").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    refused(&demo, &read, "{ pendingWrites { id } }", "FORBIDDEN").await;
    refused(
        &demo,
        &write,
        "mutation { retryWrite(id: \"x\") { id } }",
        "FORBIDDEN",
    )
    .await;
    let (_, body) = post(&demo, Some(&demo.api_key), "{ failedWrites { id } }").await;
    assert!(body["errors"].is_null(), "admin sees the outbox: {body}");
}

#[tokio::test]
async fn a_key_bound_to_another_location_is_forbidden() {
    let demo = start_with(json!({})).await;
    let club = contactgraph::sim::seed::CLUBOS_LOCATION_IDS[0];
    let bind = |ghl: &str, clubos: i64| Binding {
        ghl_locations: Some(vec![ghl.into()]),
        clubos_locations: Some(vec![clubos]),
    };
    let here = contactgraph::sim::seed::GHL_LOCATION_ID;
    let q = "{ contacts(first: 1) { totalCount } }";
    for binding in [bind("other-location", club), bind(here, club + 999)] {
        let key = auth::create_key(
            &demo.gateway.writer.store,
            Role::Admin,
            "elsewhere",
            binding,
        )
        .await
        .expect("key");
        let status = refused(&demo, &key, q, "FORBIDDEN").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let key = auth::create_key(
        &demo.gateway.writer.store,
        Role::Read,
        "here",
        bind(here, club),
    )
    .await
    .expect("key");
    let (status, body) = post(&demo, Some(&key), q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn jwt(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("token")
}

#[tokio::test]
async fn jwt_bearer_tokens_are_checked_for_signature_issuer_audience_expiry_and_nbf() {
    let demo = start_with(json!({"auth": {"jwt": {
        "issuer": "https://id.example.com", "audience": "contactgraph", "hs256_secret": SECRET,
    }}}))
    .await;
    let now = chrono::Utc::now().timestamp();
    let good = json!({"sub": "app-1", "role": "read", "iss": "https://id.example.com",
        "aud": "contactgraph", "exp": now + 600});
    let q = "{ contacts(first: 1) { totalCount } }";
    let (status, body) = post(&demo, Some(&jwt(good.clone())), q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["errors"].is_null(), "{body}");

    let mut expired = good.clone();
    expired["exp"] = json!(now - 3600);
    let mut audience = good.clone();
    audience["aud"] = json!("someone-else");
    let mut issuer = good.clone();
    issuer["iss"] = json!("https://evil.example.com");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret").expect("key"),
    )
    .expect("token");
    let mut early = good.clone();
    early["nbf"] = json!(now + 3600);
    for token in [jwt(expired), jwt(audience), jwt(issuer), forged, jwt(early)] {
        let (status, body) = post(&demo, Some(&token), q).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    let mutation = "mutation { deleteContact(id: \"x\") { status } }";
    let reader = jwt(good);
    refused(&demo, &reader, mutation, "FORBIDDEN").await;
}

/// Each limit of [`small_limits`] at N (passes) and at N + 1 (refused, at no upstream
/// cost).
#[rstest]
#[case::depth_4("{ contact(id: \"bad\") { address { line1 } } }", false)]
#[case::depth_5(
    "{ contacts(first: 1) { edges { node { address { line1 } } } } }",
    true
)]
#[case::depth_5_through_a_fragment(
    "{ contacts(first: 1) { ...E } } fragment E on ContactConnection { edges { node { address { city } } } }",
    true
)]
#[case::aliases_3("{ a: contact(id: \"bad\") { x: id y: id } }", false)]
#[case::aliases_4("{ contact(id: \"bad\") { a: id b: id c: id d: id } }", true)]
#[case::aliases_counted_for_every_use_of_a_fragment(
    "{ ...__schema x: contact(id: \"bad\") { ...__schema } } fragment __schema on Query { p: __typename q: __typename }",
    true
)]
#[case::root_fields_2("{ __typename contact(id: \"bad\") { id } }", false)]
#[case::root_fields_3(
    "{ __typename contact(id: \"bad\") { id } node(id: \"bad\") { id } }",
    true
)]
#[case::mutation_root_fields_1("mutation { deleteContact(id: \"bad\") { status } }", false)]
#[case::mutation_root_fields_2(
    "mutation { a: deleteContact(id: \"bad\") { status } b: deleteContact(id: \"bad\") { status } }",
    true
)]
#[case::complexity_with_first_5("{ contacts(first: 5) { edges { node { id name } } } }", false)]
#[case::complexity_with_first_50("{ contacts(first: 50) { edges { node { id name } } } }", true)]
#[case::directives_1("{ __typename @include(if: true) }", false)]
#[case::directives_2("{ __typename @include(if: true) @skip(if: false) }", true)]
#[case::recursion_4(
    "{ ... on QueryRoot { ... on QueryRoot { ... on QueryRoot { ... on QueryRoot { __typename } } } } }",
    false
)]
#[case::recursion_5(
    "{ ... on QueryRoot { ... on QueryRoot { ... on QueryRoot { ... on QueryRoot { ... on QueryRoot { __typename } } } } } }",
    true
)]
#[tokio::test]
async fn each_limit_passes_at_n_and_refuses_at_n_plus_one_at_no_upstream_cost(
    #[case] query: &str,
    #[case] over: bool,
) {
    let demo = start_with(small_limits()).await;
    let key = demo.api_key.clone();
    if over {
        refused(&demo, &key, query, "OPERATION_LIMIT_EXCEEDED").await;
    } else {
        within(&demo, &key, query).await;
    }
}

#[tokio::test]
async fn an_oversized_document_is_400_and_introspection_and_suggestions_can_be_off() {
    let demo = start_with(small_limits()).await;
    let key = demo.api_key.clone();
    let long = format!("{{ __typename }}#{}", "x".repeat(4000));
    let status = refused(&demo, &key, &long, "OPERATION_LIMIT_EXCEEDED").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = post(&demo, Some(&key), "{ __schema { queryType { name } } }").await;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection answers nothing: {body}"
    );
    let (_, body) = post(&demo, Some(&key), "{ contactz(id: \"x\") { id } }").await;
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn a_depth_bomb_an_alias_bomb_and_a_ten_megabyte_body_are_refused() {
    let demo = start_with(json!({})).await;
    let key = demo.api_key.clone();
    let deep = format!(
        "{{ {}__typename{} }}",
        "node(id: \"x\") { ... on Contact { ".repeat(20),
        " } }".repeat(20)
    );
    refused(&demo, &key, &deep, "OPERATION_LIMIT_EXCEEDED").await;
    let aliases: String = (0..500).map(|i| format!("a{i}: __typename ")).collect();
    refused(
        &demo,
        &key,
        &format!("{{ {aliases} }}"),
        "OPERATION_LIMIT_EXCEEDED",
    )
    .await;

    let before = upstream_calls(&demo).await;
    let huge = format!(
        "{{\"query\": \"{{ __typename }}\", \"pad\": \"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let r = Client::new()
        .post(format!("{}/graphql", demo.url()))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(upstream_calls(&demo).await, before);
}

#[tokio::test]
async fn get_requests_never_run_mutations() {
    let demo = start_with(json!({})).await;
    let before = upstream_calls(&demo).await;
    let r = Client::new()
        .get(format!("{}/graphql", demo.url()))
        .bearer_auth(&demo.api_key)
        .query(&[("query", "mutation { deleteContact(id: \"x\") { status } }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(upstream_calls(&demo).await, before);
}

#[tokio::test]
async fn the_playground_of_the_demo_carries_its_key() {
    let demo = start_with(json!({})).await;
    let page = harness::get_text(format!("{}/", demo.url())).await;
    assert!(page.contains(&demo.api_key));
    assert!(demo.banner().contains(&demo.api_key));
}

#[tokio::test]
async fn a_batch_runs_up_to_its_limit_and_is_checked_whole_before_anything_runs() {
    let demo = start_with(json!({"limits": {"max_batch": 2}})).await;
    let send = |ops: Vec<Value>, key: String| {
        let url = format!("{}/graphql", demo.url());
        async move {
            let r = Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&Value::Array(ops))
                .send()
                .await
                .expect("sent");
            (r.status(), r.json::<Value>().await.expect("json"))
        }
    };
    let op = json!({"query": "{ __typename }"});
    let (status, body) = send(vec![op.clone(), op.clone()], demo.api_key.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(body[1]["data"]["__typename"], "QueryRoot");

    let before = upstream_calls(&demo).await;
    let (status, body) = send(
        vec![op.clone(), op.clone(), op.clone()],
        demo.api_key.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "OPERATION_LIMIT_EXCEEDED");
    let read = harness::key(&demo, Role::Read).await;
    let contacts = json!({"query": "{ contacts(first: 1) { totalCount } }"});
    let mutation = json!({"query": "mutation { deleteContact(id: \"x\") { status } }"});
    let (status, body) = send(vec![contacts, mutation], read).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "FORBIDDEN");
    assert_eq!(
        upstream_calls(&demo).await,
        before,
        "nothing of a refused batch ran"
    );
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_configured_public_key() {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let private_pem = include_str!("../fixtures/webhook-legacy-rsa-test-key.pem");
    let public_pem = rsa::PrivateKey::from_pkcs8_pem(private_pem)
        .expect("test RSA key")
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("public pem");
    let demo = start_with(json!({"auth": {"jwt": {
        "issuer": "i", "audience": "a", "rs256_public_key": public_pem,
    }}}))
    .await;
    let claims = json!({"sub": "svc", "role": "read", "iss": "i", "aud": "a",
        "exp": chrono::Utc::now().timestamp() + 600});
    let sign = |key: &jsonwebtoken::EncodingKey| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            key,
        )
        .expect("token")
    };
    let good = sign(&jsonwebtoken::EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("key"));
    let (status, body) = post(&demo, Some(&good), "{ __typename }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same claims signed HS256 with the public key as secret (algorithm confusion).
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()).expect("key"),
    )
    .expect("token");
    let (status, _) = post(&demo, Some(&confused), "{ __typename }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
