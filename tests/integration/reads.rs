//! The unified read graph: linking, merging, batching, caching, lists. Upstream call
//! counts come from the simulators' `/_sim/stats`.

use contactgraph::{
    demo::Demo,
    sim::seed::Kind,
    store::{LinkSource, NewLink},
};
use rstest::rstest;
use serde_json::{Value, json};

use crate::harness::gateway::{app, both_stats, example, faults, ghl_id, graphql, stats};

const PEOPLE: usize = 120;

async fn start_with(overrides: Value) -> Demo {
    app().people(PEOPLE).config(overrides).start().await
}

async fn start() -> Demo {
    start_with(json!({})).await
}

async fn ok(demo: &Demo, query: &str, variables: Value) -> Value {
    let body = graphql(demo, query, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    body
}

const Q1: &str = r#"query($id: ID!) { contact(id: $id) {
    id linkStatus linkedBy name emails phones dateOfBirth tags barcode joinDate
    address { line1 city state postalCode }
    membership { status type followupStatus joinDate }
    homeLocation { id name timeZone }
    conflicts { field ghlValue clubOsValue chosen }
    ghl { id email phone tags }
    clubOs { userId email phoneDigits membershipStatus }
    tasks { id source title dueDate completed }
    notes { id source body createdAt }
    appointments { id source title startTime status }
} }"#;

const Q50: &str = r#"query($after: String) { contacts(first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
        id linkStatus name email phone tags
        membership { status type }
        tasks { id title completed }
        notes { id body }
        appointments { id source startTime }
    } }
} }"#;

#[tokio::test]
async fn one_linked_contact_with_everything_fetches_each_resource_once() {
    let demo = start().await;
    let id = ghl_id(&demo, Kind::StoredLink);
    let body = ok(&demo, Q1, json!({"id": id})).await;
    let c = &body["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED");
    assert_eq!(c["linkedBy"], "CUSTOM_FIELD");
    assert!(c["homeLocation"]["name"].is_string());
    let (ghl, clubos) = both_stats(&demo).await;
    for (route, r) in ghl.routes.iter().chain(clubos.routes.iter()) {
        assert_eq!(r.count, 1, "{route} was called {} times", r.count);
    }
    assert_eq!(ghl.count("GET /contacts/{contactId}"), 1);
    assert_eq!(ghl.count("POST /locations/{locationId}/tasks/search"), 1);
    assert_eq!(clubos.count("GET /users/{userId}"), 1);
}

#[tokio::test]
async fn a_page_of_fifty_costs_one_task_search_per_page_of_results() {
    let demo = start().await;
    let body = ok(&demo, Q50, json!({})).await;
    let edges = body["data"]["contacts"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 50);
    let ids: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id"))
        .collect();
    let (ghl, clubos) = both_stats(&demo).await;
    let shown: Vec<String> = ids
        .iter()
        .map(
            |gid| match contactgraph::schema::ContactRef::parse(gid).expect("global id") {
                contactgraph::schema::ContactRef::Ghl(g) => g,
                other => panic!("a GHL-driven page holds GHL contacts, got {other:?}"),
            },
        )
        .collect();
    let tasks = demo
        .world
        .ghl
        .tasks
        .iter()
        .filter(|t| shown.contains(&t.contact_id))
        .count();
    let pages = tasks / 100 + 1;
    assert_eq!(
        ghl.count("POST /locations/{locationId}/tasks/search") as usize,
        pages,
        "{tasks} tasks; {ghl:?}"
    );
    assert_eq!(ghl.count("GET /contacts/{contactId}/notes"), 50);
    assert_eq!(ghl.count("GET /contacts/{contactId}/appointments"), 50);
    // The page itself, then linking's lookups, one batch per kind and stage: who else
    // holds the page's emails and phones (both sides must be unique), which contacts'
    // link field names the users it proposes (the users' side confirms), and the emails
    // of users found by phone.
    assert!(
        ghl.count("POST /contacts/search") <= 7,
        "one page search and linking's batched lookups: {ghl:?}"
    );
    assert_eq!(
        ghl.count("GET /contacts/{contactId}"),
        0,
        "search rows are reused"
    );
    assert!(
        clubos.count("GET /users") <= 100,
        "one email and at most one phone lookup per contact"
    );
    assert!(
        clubos.count("GET /events") <= 50,
        "at most one events call per contact: {clubos:?}"
    );
    assert!(ghl.rate_limited == 0 && clubos.rate_limited == 0);
}

#[tokio::test]
async fn a_repeated_page_within_the_ttl_makes_no_upstream_call() {
    let demo = start().await;
    let first = ok(&demo, Q50, json!({})).await;
    let (ghl, clubos) = both_stats(&demo).await;
    let again = ok(&demo, Q50, json!({})).await;
    let (ghl2, clubos2) = both_stats(&demo).await;
    assert_eq!(first, again);
    assert_eq!(ghl2.total, ghl.total);
    assert_eq!(clubos2.total, clubos.total);
    let hits: u64 = demo
        .gateway
        .readers
        .caches
        .counters()
        .iter()
        .map(|(_, c)| c.hits)
        .sum();
    assert!(hits > 0);
}

#[tokio::test]
async fn an_outage_after_warm_up_is_bridged_by_stale_entries_and_said_so() {
    // A TTL of zero makes every entry stale at once: each read goes upstream and may fall
    // back on the entry only because the upstream fails.
    let zero = json!({"ttl_secs": 0, "max_bytes": 1_000_000});
    let demo = start_with(json!({"cache": {
        "stale_if_error_secs": 3600,
        "contacts": zero, "members": zero, "activity": zero, "lookups": zero,
    }}))
    .await;
    let id = ghl_id(&demo, Kind::Linked);
    let warm = ok(&demo, Q1, json!({"id": id})).await;
    assert!(warm.get("extensions").is_none(), "{warm}");
    faults(demo.sims.clubos.url(), json!({"outage": true})).await;
    let body = ok(&demo, Q1, json!({"id": id})).await;
    assert_eq!(body["data"], warm["data"]);
    assert_eq!(body["extensions"]["cache"]["stale"], true);
    let kinds = body["extensions"]["cache"]["staleKinds"].to_string();
    assert!(kinds.contains("clubOs"), "{kinds}");
    assert!(
        stats(demo.sims.clubos.url()).await.status_count(503) > 0,
        "Club OS was asked"
    );
}

#[tokio::test]
async fn a_cold_outage_fails_only_the_club_os_fields() {
    let demo = start().await;
    faults(demo.sims.clubos.url(), json!({"outage": true})).await;
    let id = ghl_id(&demo, Kind::StoredLink);
    let body = graphql(&demo, Q1, json!({"id": id})).await;
    let c = &body["data"]["contact"];
    assert_eq!(c["ghl"]["id"], id.as_str());
    assert!(
        c["notes"].is_array(),
        "GHL activity still comes back: {body}"
    );
    for field in ["membership", "clubOs", "barcode", "homeLocation"] {
        assert_eq!(c[field], Value::Null, "{field}");
        let err = body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .find(|e| e["path"] == json!(["contact", field]))
            .unwrap_or_else(|| panic!("an error at contact.{field}: {body}"));
        assert_eq!(err["extensions"]["code"], "UPSTREAM_UNAVAILABLE");
    }
}

const LINK: &str = r#"query($id: ID!) { contact(id: $id) {
    linkStatus linkedBy lastName email phone
    conflicts { field ghlValue clubOsValue chosen }
    ghl { id email phone } clubOs { userId email phoneDigits lastName }
    clubOsCandidates { userId }
} }"#;

#[tokio::test]
async fn a_stored_link_wins_over_matching() {
    let demo = start().await;
    let ghl_only = ghl_id(&demo, Kind::GhlOnly);
    let member = example(&demo, Kind::ClubOsOnly).clubos_user_ids[0];
    demo.gateway
        .writer
        .store
        .put_link(&NewLink::new(&ghl_only, member, LinkSource::Manual))
        .await
        .expect("link stored");
    let c = &ok(&demo, LINK, json!({"id": ghl_only})).await["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED");
    assert_eq!(c["linkedBy"], "STORED");
    assert_eq!(c["clubOs"]["userId"], member.to_string());
    let c = &ok(&demo, LINK, json!({"id": member.to_string()})).await["data"]["contact"];
    assert_eq!(
        c["ghl"]["id"],
        ghl_only.as_str(),
        "the link works both ways"
    );
}

#[tokio::test]
async fn emails_match_whatever_their_case() {
    let demo = start().await;
    let w = &demo.world;
    let (contact, user) = w
        .people
        .iter()
        .filter(|p| p.kind == Kind::Linked)
        .find_map(|p| {
            let c = w
                .ghl
                .contacts
                .iter()
                .find(|c| Some(&c.id) == p.ghl_contact_id.as_ref())?;
            let u = w
                .clubos
                .users
                .iter()
                .find(|u| u.user_id == p.clubos_user_ids[0])?;
            (u.email != c.email).then_some((c, u))
        })
        .expect("a linked person whose emails differ in case");
    let c = &ok(&demo, LINK, json!({"id": contact.id})).await["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED");
    assert_eq!(c["linkedBy"], "EMAIL");
    assert_eq!(c["clubOs"]["userId"], user.user_id.to_string());
    assert_eq!(c["conflicts"], json!([]), "case is no conflict");
}

#[tokio::test]
async fn phones_match_across_formats() {
    let demo = start().await;
    let p = example(&demo, Kind::PhoneOnly);
    let id = p.ghl_contact_id.clone().expect("ghl id");
    let c = &ok(&demo, LINK, json!({"id": id})).await["data"]["contact"];
    assert_eq!(c["linkStatus"], "LINKED");
    assert_eq!(c["linkedBy"], "PHONE");
    assert_eq!(c["clubOs"]["userId"], p.clubos_user_ids[0].to_string());
    let e164 = c["ghl"]["phone"].as_str().expect("E.164");
    let digits = c["clubOs"]["phoneDigits"].as_str().expect("digits");
    assert_ne!(e164, digits);
    assert_eq!(e164, format!("+1{digits}"));
}

#[tokio::test]
async fn two_candidates_are_ambiguous_never_a_guess() {
    let demo = start().await;
    let p = example(&demo, Kind::Ambiguous);
    let id = p.ghl_contact_id.clone().expect("ghl id");
    let c = &ok(&demo, LINK, json!({"id": id})).await["data"]["contact"];
    assert_eq!(c["linkStatus"], "AMBIGUOUS");
    assert_eq!(c["clubOs"], Value::Null);
    let mut got: Vec<String> = c["clubOsCandidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|u| u["userId"].as_str().expect("id").to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = p.clubos_user_ids.iter().map(i64::to_string).collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn people_in_one_system_only_say_so() {
    let demo = start().await;
    let g = ghl_id(&demo, Kind::GhlOnly);
    let c = &ok(&demo, LINK, json!({"id": g})).await["data"]["contact"];
    assert_eq!(
        (c["linkStatus"].as_str(), &c["clubOs"]),
        (Some("GHL_ONLY"), &Value::Null)
    );
    let u = example(&demo, Kind::ClubOsOnly).clubos_user_ids[0].to_string();
    let c = &ok(&demo, LINK, json!({"id": u})).await["data"]["contact"];
    assert_eq!(
        (c["linkStatus"].as_str(), &c["ghl"]),
        (Some("CLUB_OS_ONLY"), &Value::Null)
    );
}

#[tokio::test]
async fn disagreements_are_listed_and_precedence_decides() {
    let demo = start_with(json!({"merge": {"last_name": "ghl"}})).await;
    let id = ghl_id(&demo, Kind::ChangedSurname);
    let c = &ok(&demo, LINK, json!({"id": id})).await["data"]["contact"];
    let conflict = c["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .find(|x| x["field"] == "lastName")
        .expect("a lastName conflict")
        .clone();
    assert_eq!(conflict["chosen"], "GHL");
    assert_eq!(c["lastName"], conflict["ghlValue"]);
    assert_eq!(conflict["clubOsValue"], c["clubOs"]["lastName"]);
}

const BY_PHONE: &str = "query($p: String!) { contactByPhone(phone: $p) { ghl { id } } }";
const BY_EMAIL: &str = "query($e: String!) { contactByEmail(email: $e) { ghl { id } } }";

/// Ten digits after the `+1` of a seeded contact's phone.
fn ten_digits(phone: &str) -> &str {
    &phone[2..]
}

#[rstest]
#[case::ten_digits(|d: &str| d.to_owned())]
#[case::e164(|d: &str| format!("+1{d}"))]
#[case::with_country_code(|d: &str| format!("1{d}"))]
#[case::parenthesised(|d: &str| format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]))]
#[case::dashed(|d: &str| format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]))]
#[case::dotted(|d: &str| format!("{}.{}.{}", &d[..3], &d[3..6], &d[6..]))]
#[case::spaced_international(|d: &str| format!("+1 {} {} {}", &d[..3], &d[3..6], &d[6..]))]
#[tokio::test]
async fn a_person_is_found_by_phone_in_any_format(#[case] shape: fn(&str) -> String) {
    let demo = start().await;
    let contact = &demo.world.ghl.contacts[0];
    let phone = shape(ten_digits(contact.phone.as_deref().expect("phone")));
    let body = ok(&demo, BY_PHONE, json!({"p": phone})).await;
    assert_eq!(
        body["data"]["contactByPhone"]["ghl"]["id"],
        contact.id.as_str(),
        "{phone}"
    );
}

#[rstest]
#[case::as_stored(|e: &str| e.to_owned())]
#[case::upper(|e: &str| e.to_uppercase())]
#[case::capitalised(|e: &str| format!("{}{}", e[..1].to_uppercase(), &e[1..]))]
#[tokio::test]
async fn a_person_is_found_by_email_whatever_its_case(#[case] shape: fn(&str) -> String) {
    let demo = start().await;
    let contact = &demo.world.ghl.contacts[0];
    let email = shape(contact.email.as_deref().expect("email"));
    let body = ok(&demo, BY_EMAIL, json!({"e": email})).await;
    assert_eq!(
        body["data"]["contactByEmail"]["ghl"]["id"],
        contact.id.as_str(),
        "{email}"
    );
}

#[rstest]
#[case::too_short(BY_PHONE, json!({"p": "12"}))]
#[case::letters(BY_PHONE, json!({"p": "call me"}))]
#[case::no_at(BY_EMAIL, json!({"e": "nobody.example.com"}))]
#[case::a_space(BY_EMAIL, json!({"e": "a b@example.com"}))]
#[tokio::test]
async fn a_malformed_phone_or_email_is_bad_user_input(#[case] query: &str, #[case] vars: Value) {
    let demo = start().await;
    let bad = graphql(&demo, query, vars).await;
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{bad}"
    );
}

#[tokio::test]
async fn pages_follow_their_cursors_without_overlap() {
    let demo = start().await;
    let q = "query($after: String) { contacts(first: 30, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = ok(&demo, q, json!({"after": after})).await;
        let page = &body["data"]["contacts"];
        assert_eq!(
            page["totalCount"].as_u64(),
            Some(demo.world.ghl.contacts.len() as u64)
        );
        seen.extend(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no person twice");
    assert_eq!(seen.len(), demo.world.ghl.contacts.len(), "everyone once");
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let demo = start().await;
    let q = "query($f: ContactFilter) { contacts(first: 100, filter: $f) {
        edges { node { linkStatus tags membership { status } } } } }";
    let run = |f: Value| {
        let demo = &demo;
        async move {
            ok(demo, q, json!({"f": f})).await["data"]["contacts"]["edges"]
                .as_array()
                .expect("edges")
                .clone()
        }
    };
    let linked = run(json!({"linkStatus": "LINKED"})).await;
    assert!(!linked.is_empty());
    assert!(linked.iter().all(|e| e["node"]["linkStatus"] == "LINKED"));
    let vip = run(json!({"tag": "VIP"})).await;
    assert!(!vip.is_empty());
    assert!(
        vip.iter()
            .all(|e| e["node"]["tags"].to_string().contains("\"vip\""))
    );
    let active = run(json!({"membershipStatus": "ACTIVE"})).await;
    assert!(!active.is_empty());
    assert!(
        active
            .iter()
            .all(|e| e["node"]["membership"]["status"] == "ACTIVE")
    );
    let bad = graphql(&demo, q, json!({"f": {"updatedSince": "yesterday"}})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn members_without_a_ghl_contact_are_listed() {
    let demo = start().await;
    let q = "{ unlinkedMembers(first: 100) { edges { node { linkStatus clubOs { userId } } } } }";
    let body = ok(&demo, q, json!({})).await;
    let edges = body["data"]["unlinkedMembers"]["edges"]
        .as_array()
        .expect("edges");
    let mut want: Vec<String> = demo
        .world
        .people
        .iter()
        .filter(|p| p.kind == Kind::ClubOsOnly)
        .map(|p| p.clubos_user_ids[0].to_string())
        .collect();
    want.sort();
    let mut got: Vec<String> = edges
        .iter()
        .map(|e| {
            assert_eq!(e["node"]["linkStatus"], "CLUB_OS_ONLY");
            e["node"]["clubOs"]["userId"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn node_resolves_a_global_id() {
    let demo = start().await;
    let id = ghl_id(&demo, Kind::Linked);
    let body = ok(
        &demo,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    let gid = body["data"]["contact"]["id"].clone();
    let node = ok(
        &demo,
        "query($id: ID!) { node(id: $id) { id ... on Contact { linkStatus } } }",
        json!({"id": gid}),
    )
    .await;
    assert_eq!(node["data"]["node"]["id"], gid);
    assert_eq!(node["data"]["node"]["linkStatus"], "LINKED");
}

#[tokio::test]
async fn a_cold_page_at_the_default_ghl_limits_earns_no_429() {
    let demo = start().await;
    ok(&demo, Q50, json!({})).await;
    let (ghl, _) = both_stats(&demo).await;
    assert!(
        ghl.total > 100,
        "the page needs more calls than one window allows"
    );
    assert_eq!(ghl.rate_limited, 0);
}
