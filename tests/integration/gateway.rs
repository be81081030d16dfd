//! The walking skeleton end to end: the gateway over both simulators, through HTTP.

use contactgraph::demo::Demo;
use serde_json::{Value, json};

use crate::harness::gateway::{self as harness, get_json, stats};

async fn start() -> Demo {
    harness::start(80, json!({})).await
}

/// The HTTP status and the answer of one GraphQL request with the demo's key.
async fn graphql(demo: &Demo, query: &str, variables: Value) -> (u16, Value) {
    let (status, body) = harness::post(
        demo,
        Some(&demo.api_key),
        json!({"query": query, "variables": variables}),
    )
    .await;
    (status.as_u16(), body)
}

const PERSON: &str = r#"query($id: ID!) { contact(id: $id) {
    id linkStatus firstName lastName email phone
    ghl { id email phone tags }
    clubOs { userId lastName email phoneDigits membershipStatus membershipType homeLocationId }
    clubOsCandidates { userId }
} }"#;

#[tokio::test]
async fn a_linked_person_from_the_seed_merges_both_systems() {
    let demo = start().await;
    let seed = get_json(format!("{}/_sim/seed", demo.sims.ghl.url())).await;
    let person = &seed["examples"]["changed_surname"][0];
    let ghl_id = person["ghlContactId"].as_str().expect("ghl id");
    let clubos_id = person["clubOsUserIds"][0].as_i64().expect("club os id");

    let (status, body) = graphql(&demo, PERSON, json!({"id": ghl_id})).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    let c = &body["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED");
    assert_eq!(c["ghl"]["id"], ghl_id);
    assert_eq!(c["clubOs"]["userId"], clubos_id.to_string());
    // The surname comes from Club OS, the phone from GHL (E.164); both views stay as stored.
    assert_eq!(c["lastName"], c["clubOs"]["lastName"]);
    assert_eq!(c["phone"], c["ghl"]["phone"]);
    assert!(c["phone"].as_str().expect("phone").starts_with("+1"));
    assert!(
        c["clubOs"]["phoneDigits"]
            .as_str()
            .expect("digits")
            .chars()
            .all(|ch| ch.is_ascii_digit())
    );
    assert!(
        c["clubOs"]["membershipStatus"].is_string() || c["clubOs"]["membershipStatus"].is_null()
    );

    // The same person reached from the Club OS side, and by the gateway's own id.
    let (_, from_clubos) = graphql(&demo, PERSON, json!({"id": clubos_id.to_string()})).await;
    assert_eq!(from_clubos["data"]["contact"]["ghl"]["id"], ghl_id);
    let (_, by_global) = graphql(&demo, PERSON, json!({"id": c["id"]})).await;
    assert_eq!(
        by_global["data"]["contact"]["clubOs"]["userId"],
        clubos_id.to_string()
    );

    assert!(
        stats(demo.sims.ghl.url())
            .await
            .count("GET /contacts/{contactId}")
            >= 1
    );
    assert!(
        stats(demo.sims.clubos.url())
            .await
            .count("GET /users/{userId}")
            >= 1
    );
}

#[tokio::test]
async fn one_system_only_and_ambiguous_people_are_reported_as_such() {
    let demo = start().await;
    let seed = get_json(format!("{}/_sim/seed", demo.sims.ghl.url())).await;
    let ex = &seed["examples"];
    let (_, b) = graphql(
        &demo,
        PERSON,
        json!({"id": ex["ghl_only"][0]["ghlContactId"]}),
    )
    .await;
    assert_eq!(b["data"]["contact"]["linkStatus"], "GHL_ONLY");
    assert_eq!(b["data"]["contact"]["clubOs"], Value::Null);
    let clubos_only = ex["club_os_only"][0]["clubOsUserIds"][0].to_string();
    let (_, b) = graphql(&demo, PERSON, json!({"id": clubos_only})).await;
    assert_eq!(b["data"]["contact"]["linkStatus"], "CLUB_OS_ONLY");
    let (_, b) = graphql(
        &demo,
        PERSON,
        json!({"id": ex["ambiguous"][0]["ghlContactId"]}),
    )
    .await;
    let c = &b["data"]["contact"];
    assert_eq!(c["linkStatus"], "AMBIGUOUS");
    assert_eq!(c["clubOs"], Value::Null);
    assert_eq!(c["clubOsCandidates"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_club_os_outage_leaves_the_ghl_fields_and_an_error_at_club_os() {
    let demo = start().await;
    let id = demo.world.ghl.contacts[0].id.clone();
    harness::faults(demo.sims.clubos.url(), json!({"outage": true})).await;
    let (status, body) = graphql(&demo, PERSON, json!({"id": id})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["contact"]["ghl"]["id"], id.as_str());
    assert_eq!(body["data"]["contact"]["clubOs"], Value::Null);
    let err = &body["errors"][0];
    assert_eq!(err["path"], json!(["contact", "clubOs"]));
    assert_eq!(err["extensions"]["code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(err["extensions"]["system"], "CLUB_OS");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no upstream URL leaks: {body}"
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_answer_clearly() {
    let demo = start().await;
    let (_, b) = graphql(&demo, PERSON, json!({"id": "AAAAAAAAAAAAAAAAAAAA"})).await;
    assert_eq!(b["data"]["contact"], Value::Null);
    assert!(b.get("errors").is_none(), "{b}");
    let (_, b) = graphql(&demo, PERSON, json!({"id": "not an id!"})).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn health_and_playground_are_served() {
    let demo = start().await;
    assert_eq!(
        get_json(format!("{}/healthz", demo.url())).await,
        json!({"status": "ok", "checks": {"store": {"status": "ok"}, "ghl": {"status": "ok"}}})
    );
    let page = harness::get_text(format!("{}/", demo.url())).await;
    assert!(page.contains("graphiql"), "GraphiQL page");
    assert!(page.contains("defaultQuery"), "opens with an example query");
}

#[test]
fn schema_graphql_is_the_current_sdl() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql exists");
    assert_eq!(
        checked_in,
        contactgraph::schema::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}
