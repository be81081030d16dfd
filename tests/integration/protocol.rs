//! Every answer of `/graphql` is JSON with a code from the closed set, and bad input is
//! refused, naming its field, before any upstream call.

use crate::harness::gateway::*;
use contactgraph::demo::Demo;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn raw(
    demo: &Demo,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Client::new()
        .post(format!("{}/graphql", demo.url()))
        .bearer_auth(&demo.api_key)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("graphql");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer, got {status}: {text}"));
    (status, body)
}

#[tokio::test]
async fn malformed_requests_get_json_answers_with_codes() {
    let demo = start(20, json!({"server": {"max_body_bytes": 4096}})).await;
    let (status, body) = raw(&demo, "not json", &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, Some("BAD_USER_INPUT")),
        "{body}"
    );
    let (status, body) = raw(&demo, r#"{"query": null}"#, &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, Some("BAD_USER_INPUT")),
        "{body}"
    );
    let big = json!({"query": format!("{{ __typename }} #{}", "x".repeat(8000))}).to_string();
    let (status, body) = raw(&demo, big, &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("OPERATION_LIMIT_EXCEEDED")
        ),
        "{body}"
    );
    let get = Client::new()
        .get(format!("{}/graphql", demo.url()))
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["allow"], "POST");
    let body: Value = get.json().await.expect("JSON 405");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    let body = graphql(&demo, "{ contact(id: \"1\") { id ", json!({})).await;
    assert_eq!(error_code(&body), Some("GRAPHQL_PARSE_FAILED"), "{body}");
    assert_eq!(
        body["errors"][0]["locations"][0],
        json!({"line": 1, "column": 25}),
        "{body}"
    );
    let body = graphql(
        &demo,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({}),
    )
    .await;
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("$id is missing"), "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn bad_input_is_refused_naming_its_field_before_any_upstream_call() {
    let demo = start(20, json!({})).await;
    let id = demo.world.ghl.contacts[0].id.clone();
    let before = upstream_calls(&demo).await;
    let update = "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input) { status } }";
    for (field, input) in [
        ("firstName", json!({"firstName": "Ada\u{0}"})),
        ("lastName", json!({"lastName": "Lovelace\u{7}"})),
        ("firstName", json!({"firstName": "\u{202E}nimda"})),
        ("city", json!({"city": "Austin\u{2066}"})),
    ] {
        let body = graphql(&demo, update, json!({"id": id, "input": input})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let note =
        "mutation($id: ID!, $b: String!) { createNote(contactId: $id, body: $b) { status } }";
    let body = graphql(&demo, note, json!({"id": id, "b": "hello\u{0}world"})).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "body", "{body}");
    let tags = "mutation($id: ID!, $t: [String!]!) { addTags(id: $id, tags: $t) { status } }";
    let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let body = graphql(&demo, tags, json!({"id": id, "t": many})).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "tags", "{body}");
    let long = vec!["x".repeat(76)];
    let body = graphql(&demo, tags, json!({"id": id, "t": long})).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "tags", "{body}");
    for q in [
        "{ contacts(first: 0) { totalCount } }",
        "{ contacts(first: 101) { totalCount } }",
        "{ unlinkedMembers(first: -1) { totalCount } }",
        "{ pendingWrites(first: 501) { id } }",
        r#"{ contactByEmail(email: "a@b") { id } }"#,
        r#"{ contactByEmail(email: "a b@example.com") { id } }"#,
    ] {
        let body = graphql(&demo, q, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{q}: {body}");
    }
    let (status, body) = raw(
        &demo,
        json!({"query": "mutation($id: ID!) { addTags(id: $id, tags: [\"a\"]) { status } }", "variables": {"id": id}}).to_string(),
        &[("idempotency-key", "key with space")],
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, Some("BAD_USER_INPUT")),
        "{body}"
    );
    assert_eq!(upstream_calls(&demo).await, before, "no upstream call");
}

#[tokio::test]
async fn a_bulk_tag_write_reports_each_contact_and_an_unknown_id_is_not_applied() {
    let demo = start(20, json!({})).await;
    let known = demo.world.ghl.contacts[0].id.clone();
    let unknown = "ZZZZZZZZZZZZZZZZZZZZ";
    let body = graphql(
        &demo,
        r#"mutation($ids: [ID!]!) { bulkUpdateTags(ids: $ids, tags: ["vip"], action: ADD, idempotencyKey: "bulk-1") {
            status writes { status contactId errorCode } } }"#,
        json!({"ids": [known, unknown]}),
    )
    .await;
    let p = &body["data"]["bulkUpdateTags"];
    assert_eq!(p["status"], "PARTIAL", "{body}");
    let rows = p["writes"].as_array().expect("writes");
    let row = |id: &str| {
        rows.iter()
            .find(|w| w["contactId"] == id)
            .cloned()
            .expect("row")
    };
    assert_eq!(row(&known)["status"], "APPLIED", "{body}");
    assert_eq!(row(unknown)["status"], "FAILED", "{body}");
    assert_eq!(row(unknown)["errorCode"], "UPSTREAM_REJECTED", "{body}");
    // A replay answers the same.
    let again = graphql(
        &demo,
        r#"mutation($ids: [ID!]!) { bulkUpdateTags(ids: $ids, tags: ["vip"], action: ADD, idempotencyKey: "bulk-1") {
            status writes { status contactId errorCode } } }"#,
        json!({"ids": [known, unknown]}),
    )
    .await;
    assert_eq!(again, body);
}

/// The whole body of each kind of refusal, as a client sees it: message, code and the
/// extensions a client branches on. A change to any of them shows in review.
#[tokio::test]
async fn refusals_have_stable_bodies() {
    let demo = start(20, json!({"server": {"max_body_bytes": 4096}})).await;
    let (_, not_json) = raw(&demo, "not json", &[]).await;
    insta::assert_json_snapshot!(not_json, @r#"
    {
      "errors": [
        {
          "extensions": {
            "code": "BAD_USER_INPUT"
          },
          "message": "the body is not a GraphQL request: JSON with a string `query` (and optional `variables` and `operationName`), or a list of them"
        }
      ]
    }
    "#);
    let big = json!({"query": format!("{{ __typename }} #{}", "x".repeat(8000))}).to_string();
    let (_, too_large) = raw(&demo, big, &[]).await;
    insta::assert_json_snapshot!(too_large, @r#"
    {
      "errors": [
        {
          "extensions": {
            "code": "OPERATION_LIMIT_EXCEEDED"
          },
          "message": "the request body is larger than this gateway accepts"
        }
      ]
    }
    "#);
    let parse = graphql(&demo, "{ contact(id: \"1\") { id ", json!({})).await;
    insta::assert_json_snapshot!(parse, @r#"
    {
      "data": null,
      "errors": [
        {
          "extensions": {
            "code": "GRAPHQL_PARSE_FAILED"
          },
          "locations": [
            {
              "column": 25,
              "line": 1
            }
          ],
          "message": " --> 1:25\n  |\n1 | { contact(id: \"1\") { id \n  |                         ^---\n  |\n  = expected selection_set, selection, directive, or arguments"
        }
      ]
    }
    "#);
    let (_, unauthenticated) = post(&demo, None, json!({"query": "{ __typename }"})).await;
    insta::assert_json_snapshot!(unauthenticated, @r#"
    {
      "errors": [
        {
          "extensions": {
            "code": "UNAUTHENTICATED"
          },
          "message": "a credential is required: an API key or a bearer token"
        }
      ]
    }
    "#);
    let bad_input = graphql(
        &demo,
        "mutation($id: ID!) { updateContact(id: $id, input: {email: \"nope\"}) { status } }",
        json!({"id": demo.world.ghl.contacts[0].id}),
    )
    .await;
    insta::assert_json_snapshot!(bad_input, @r#"
    {
      "data": null,
      "errors": [
        {
          "extensions": {
            "code": "BAD_USER_INPUT",
            "field": "email"
          },
          "locations": [
            {
              "column": 22,
              "line": 1
            }
          ],
          "message": "email is not an email address",
          "path": [
            "updateContact"
          ]
        }
      ]
    }
    "#);
    let ambiguous = graphql(
        &demo,
        "mutation($id: ID!) { addTags(id: $id, tags: [\"x\"]) { status } }",
        json!({"id": ghl_id(&demo, contactgraph::sim::seed::Kind::Ambiguous)}),
    )
    .await;
    insta::assert_json_snapshot!(ambiguous, {
        ".errors[].extensions.candidates[]" => "[Club OS user id]",
    }, @r#"
    {
      "data": null,
      "errors": [
        {
          "extensions": {
            "candidates": [
              "[Club OS user id]",
              "[Club OS user id]"
            ],
            "code": "AMBIGUOUS"
          },
          "locations": [
            {
              "column": 22,
              "line": 1
            }
          ],
          "message": "this person's records in the other system are ambiguous (a shared email or phone): link them with linkContacts first",
          "path": [
            "addTags"
          ]
        }
      ]
    }
    "#);
}
