//! Households: families share emails and phones. A shared value links nobody; a write on
//! a person whose partner is ambiguous is refused before any upstream call; a household
//! member linked by a stronger rule is written to on their own records only.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::gateway::*;
use contactgraph::{
    demo::Demo,
    sim::seed::{GHL_CALENDAR_ID, GHL_USER_IDS, Kind},
};
use reqwest::Method;
use serde_json::{Value, json};

/// Digits of a phone without a leading country 1: the form both simulators agree on.
fn digits(p: &str) -> String {
    let d: String = p.chars().filter(char::is_ascii_digit).collect();
    d.strip_prefix('1')
        .filter(|_| d.len() == 11)
        .unwrap_or(&d)
        .to_owned()
}

/// Who holds each email and phone, in each system, as the simulators hold them now.
#[derive(Default)]
struct Holders {
    ghl: BTreeMap<String, BTreeSet<String>>,
    clubos: BTreeMap<String, BTreeSet<String>>,
}

impl Holders {
    /// The seeded world plus [`add_phone_household`]'s records (nothing else has written).
    fn of(demo: &Demo, extra: &(String, [i64; 2])) -> Self {
        let mut h = Holders::default();
        for c in &demo.world.ghl.contacts {
            for key in keys(c.email.as_deref(), c.phone.iter().map(String::as_str)) {
                h.ghl.entry(key).or_default().insert(c.id.clone());
            }
        }
        for u in &demo.world.clubos.users {
            let phones = [&u.mobile_phone, &u.home_phone, &u.work_phone];
            let phones = phones.into_iter().flatten().map(String::as_str);
            for key in keys(u.email.as_deref(), phones) {
                h.clubos
                    .entry(key)
                    .or_default()
                    .insert(u.user_id.to_string());
            }
        }
        let (lead, users) = extra;
        let phone = format!("phone:{}", digits(HOUSEHOLD_PHONE));
        h.ghl.entry(phone.clone()).or_default().insert(lead.clone());
        h.ghl
            .entry("email:quintero.family@example.org".into())
            .or_default()
            .insert(lead.clone());
        for (u, first) in users.iter().zip(["rosa", "tomas"]) {
            h.clubos
                .entry(phone.clone())
                .or_default()
                .insert(u.to_string());
            h.clubos
                .entry(format!("email:{first}.quintero@example.org"))
                .or_default()
                .insert(u.to_string());
        }
        h
    }

    fn count(map: &BTreeMap<String, BTreeSet<String>>, key: &str) -> usize {
        map.get(key).map_or(0, BTreeSet::len)
    }

    /// Whether more than one record of either system holds `key`.
    fn shared(&self, key: &str) -> bool {
        Self::count(&self.ghl, key) > 1 || Self::count(&self.clubos, key) > 1
    }
}

fn keys<'a>(email: Option<&str>, phones: impl Iterator<Item = &'a str>) -> Vec<String> {
    let email = email
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("email:{}", e.trim().to_lowercase()));
    let phones = phones.map(|p| format!("phone:{}", digits(p)));
    email.into_iter().chain(phones).collect()
}

const PERSON: &str = r#"query($id: ID!) { contact(id: $id) {
    linkStatus linkedBy ghl { id email phone } clubOs { userId email phoneDigits }
    ghlCandidates { id } clubOsCandidates { userId } } }"#;

async fn person(demo: &Demo, id: &str) -> Value {
    let body = graphql(demo, PERSON, json!({"id": id})).await;
    assert!(body["errors"].is_null(), "{id}: {body}");
    body["data"]["contact"].clone()
}

const HOUSEHOLD_PHONE: &str = "5125550190";

/// Two Club OS users sharing a phone (distinct emails) and one GHL lead with that phone:
/// the shared-phone household the seed does not make.
async fn add_phone_household(demo: &Demo) -> (String, [i64; 2]) {
    let phone = HOUSEHOLD_PHONE;
    let mut ids = [0; 2];
    for (i, first) in ["Rosa", "Tomas"].into_iter().enumerate() {
        let u = clubos_api(
            demo,
            Method::POST,
            "/users",
            Some(json!({"firstName": first, "lastName": "Quintero",
                "email": format!("{}.quintero@example.org", first.to_lowercase()),
                "mobilePhone": phone,
                "locationId": contactgraph::sim::seed::CLUBOS_LOCATION_IDS[0]})),
        )
        .await;
        ids[i] = u["userId"]
            .as_i64()
            .unwrap_or_else(|| panic!("user created: {u}"));
    }
    let c = ghl_api(
        demo,
        Method::POST,
        "/contacts/",
        Some(
            json!({"locationId": contactgraph::sim::seed::GHL_LOCATION_ID,
            "firstName": "Quintero", "lastName": "Household",
            "email": "quintero.family@example.org", "phone": format!("+1{phone}")}),
        ),
    )
    .await;
    let id = c["contact"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("contact: {c}"));
    (id.to_owned(), ids)
}

#[tokio::test]
async fn no_email_or_phone_link_goes_to_a_record_another_person_also_holds() {
    let demo = start(500, json!({})).await;
    let extra = add_phone_household(&demo).await;
    let holders = Holders::of(&demo, &extra);
    let mut linked_users: BTreeMap<String, String> = BTreeMap::new();
    let mut checked_shared = 0;
    // Every user of a household (a shared email or phone), and every contact holding a
    // value a household shares.
    let mut ids = BTreeSet::new();
    for (key, users) in &holders.clubos {
        if holders.shared(key) {
            ids.extend(users.iter().cloned());
            ids.extend(holders.ghl.get(key).into_iter().flatten().cloned());
        }
    }
    assert!(
        ids.len() > 60,
        "the demo world has households: {}",
        ids.len()
    );
    for id in &ids {
        let p = person(&demo, id).await;
        if p["linkStatus"] != "LINKED" {
            checked_shared += 1;
            continue;
        }
        let (gid, uid) = (
            p["ghl"]["id"].as_str().expect("ghl id"),
            &p["clubOs"]["userId"],
        );
        let uid = uid.as_str().map_or_else(|| uid.to_string(), str::to_owned);
        match p["linkedBy"].as_str() {
            Some("EMAIL") => {
                let key = format!(
                    "email:{}",
                    p["ghl"]["email"].as_str().expect("email").to_lowercase()
                );
                assert!(!holders.shared(&key), "{id} linked by a shared email: {p}");
            }
            Some("PHONE") => {
                let key = format!(
                    "phone:{}",
                    digits(p["ghl"]["phone"].as_str().expect("phone"))
                );
                assert!(!holders.shared(&key), "{id} linked by a shared phone: {p}");
            }
            _ => {}
        }
        // The partner answers the same from its side.
        let back_id = if id == gid {
            uid.clone()
        } else {
            gid.to_owned()
        };
        let back = person(&demo, &back_id).await;
        assert_eq!(back["linkStatus"], "LINKED", "{id} ⇄ {back_id}: {back}");
        assert_eq!(back["ghl"]["id"], gid, "{back}");
        if let Some(other) = linked_users.insert(uid.clone(), gid.to_owned()) {
            assert_eq!(other, gid, "user {uid} linked to two contacts");
        }
    }
    assert!(
        checked_shared > 50,
        "households stay unlinked: {checked_shared}"
    );
}

#[tokio::test]
async fn both_sides_of_a_household_answer_ambiguous_with_the_candidates() {
    let demo = start(200, json!({})).await;
    let (lead, [rosa, tomas]) = add_phone_household(&demo).await;
    let family = demo.world.example(Kind::Ambiguous).expect("a household");
    let contact = family.ghl_contact_id.clone().expect("ghl id");
    let users = &family.clubos_user_ids;
    let from_ghl = person(&demo, &contact).await;
    assert_eq!(from_ghl["linkStatus"], "AMBIGUOUS", "{from_ghl}");
    let candidates: BTreeSet<i64> = from_ghl["clubOsCandidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|u| {
            u["userId"].as_str().map_or_else(
                || u["userId"].as_i64().expect("id"),
                |s| s.parse().expect("id"),
            )
        })
        .collect();
    assert_eq!(candidates, users.iter().copied().collect(), "{from_ghl}");
    for u in users {
        let p = person(&demo, &u.to_string()).await;
        assert_eq!(p["linkStatus"], "AMBIGUOUS", "user {u}: {p}");
        assert!(p["ghl"].is_null(), "user {u} is linked to nobody: {p}");
        assert_eq!(p["ghlCandidates"][0]["id"], contact.as_str(), "{p}");
    }
    let p = person(&demo, &lead).await;
    assert_eq!(p["linkStatus"], "AMBIGUOUS", "{p}");
    for u in [rosa, tomas] {
        let p = person(&demo, &u.to_string()).await;
        assert_eq!(p["linkStatus"], "AMBIGUOUS", "{p}");
        assert_eq!(p["ghlCandidates"][0]["id"], lead.as_str(), "{p}");
    }
}

/// Every kind of write a person can be the target of, by id.
fn every_write(id: &str) -> Vec<(&'static str, String, Value)> {
    let v = json!({"id": id, "cal": GHL_CALENDAR_ID, "u": GHL_USER_IDS[0]});
    vec![
        ("updateContact", r#"mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Changed", phone: "512-555-0111"}) { status } }"#.into(), v.clone()),
        ("addTags", r#"mutation($id: ID!) { addTags(id: $id, tags: ["household"]) { status } }"#.into(), v.clone()),
        ("createTask", r#"mutation($id: ID!) { createTask(contactId: $id, input: {title: "Call", dueDate: "2026-12-10T10:00:00Z"}) { status } }"#.into(), v.clone()),
        ("createNote", r#"mutation($id: ID!) { createNote(contactId: $id, body: "Asked about classes") { status } }"#.into(), v.clone()),
        ("bookAppointment", r#"mutation($id: ID!, $cal: String!, $u: String!) { bookAppointment(contactId: $id, input: {calendarId: $cal, assignedUserId: $u, startTime: "2026-12-08T15:00:00Z", endTime: "2026-12-08T15:30:00Z"}) { status } }"#.into(), v.clone()),
        ("deleteContact", r#"mutation($id: ID!) { deleteContact(id: $id) { status } }"#.into(), v),
    ]
}

#[tokio::test]
async fn every_write_on_an_ambiguous_person_is_refused_before_any_upstream_write() {
    let demo = start(200, json!({})).await;
    let (lead, phone_family) = add_phone_household(&demo).await;
    let family = demo.world.example(Kind::Ambiguous).expect("a household");
    let mut ids: Vec<String> = family.clubos_user_ids.iter().map(i64::to_string).collect();
    ids.push(family.ghl_contact_id.clone().expect("ghl id"));
    ids.push(lead);
    ids.extend(phone_family.iter().map(i64::to_string));
    let (ghl0, clubos0) = (
        stats(&demo.sims.ghl.url()).await,
        stats(&demo.sims.clubos.url()).await,
    );
    for id in &ids {
        for (name, query, vars) in every_write(id) {
            let body = graphql(&demo, &query, vars).await;
            assert_eq!(
                error_code(&body),
                Some("AMBIGUOUS"),
                "{name} on {id}: {body}"
            );
            let candidates = &body["errors"][0]["extensions"]["candidates"];
            assert!(
                !candidates.as_array().expect("candidates").is_empty(),
                "{body}"
            );
        }
    }
    let (ghl1, clubos1) = (
        stats(&demo.sims.ghl.url()).await,
        stats(&demo.sims.clubos.url()).await,
    );
    assert_eq!(writes(&ghl1), writes(&ghl0), "no GHL write: {ghl1:?}");
    assert_eq!(
        writes(&clubos1),
        writes(&clubos0),
        "no Club OS write: {clubos1:?}"
    );
}

#[tokio::test]
async fn a_household_member_linked_by_a_stronger_rule_is_written_to_on_their_own_records() {
    let demo = start(200, json!({})).await;
    let family = demo.world.example(Kind::Ambiguous).expect("a household");
    let contact = family.ghl_contact_id.clone().expect("ghl id");
    let (parent, child) = (family.clubos_user_ids[0], family.clubos_user_ids[1]);
    let linked = graphql(
        &demo,
        r#"mutation($g: ID!, $u: ID!) { linkContacts(ghlContactId: $g, clubOsUserId: $u) { status } }"#,
        json!({"g": contact, "u": parent.to_string()}),
    )
    .await;
    assert_eq!(
        linked["data"]["linkContacts"]["status"], "APPLIED",
        "{linked}"
    );
    let p = person(&demo, &parent.to_string()).await;
    assert_eq!(
        (&p["linkStatus"], &p["linkedBy"]),
        (&json!("LINKED"), &json!("STORED")),
        "{p}"
    );
    let c = person(&demo, &child.to_string()).await;
    assert_eq!(
        c["linkStatus"], "CLUB_OS_ONLY",
        "the contact is the parent's: {c}"
    );

    let child_before = clubos_user(&demo, child).await;
    let contact_before = ghl_contact(&demo, &contact).await;
    // The parent's writes land on the parent's two records.
    for (name, query, vars) in every_write(&parent.to_string()).into_iter().take(5) {
        let body = graphql(&demo, &query, vars).await;
        let status = body["data"][name]["status"].as_str();
        assert!(
            matches!(status, Some("APPLIED" | "PARTIAL")),
            "{name}: {body}"
        );
    }
    assert_eq!(clubos_user(&demo, parent).await["firstName"], "Changed");
    let after = ghl_contact(&demo, &contact).await;
    assert_eq!(after["firstName"], "Changed");
    assert!(after["tags"].to_string().contains("household"), "{after}");
    assert_eq!(
        clubos_user(&demo, child).await,
        child_before,
        "the child is untouched"
    );
    let notes = ghl_api(
        &demo,
        Method::GET,
        &format!("/contacts/{contact}/notes"),
        None,
    )
    .await;
    assert!(notes.to_string().contains("Asked about classes"), "{notes}");

    // The child's update reaches the child's Club OS record only.
    let body = graphql(
        &demo,
        r#"mutation($id: ID!) { updateContact(id: $id, input: {lastName: "Junior"}) { status writes { system status } } }"#,
        json!({"id": child.to_string()}),
    )
    .await;
    assert_eq!(
        body["data"]["updateContact"]["writes"][0]["status"], "SKIPPED",
        "{body}"
    );
    assert_eq!(clubos_user(&demo, child).await["lastName"], "Junior");
    let contact_after = ghl_contact(&demo, &contact).await;
    assert_eq!(
        contact_after["lastName"], after["lastName"],
        "the GHL contact keeps the parent's name"
    );
    assert_ne!(contact_before["firstName"], json!("Junior"));
}

#[tokio::test]
async fn an_upsert_with_a_household_email_or_phone_writes_nothing() {
    let demo = start(200, json!({})).await;
    let (_, [rosa, _]) = add_phone_household(&demo).await;
    let family = demo.world.example(Kind::Ambiguous).expect("a household");
    let email = family.email.clone().expect("email");
    let (g0, c0) = (
        stats(&demo.sims.ghl.url()).await,
        stats(&demo.sims.clubos.url()).await,
    );
    let upsert = r#"mutation($input: ContactInput!) { upsertContact(input: $input) { status } }"#;
    for input in [
        json!({"email": email, "firstName": "Guess"}),
        json!({"phone": HOUSEHOLD_PHONE, "firstName": "Guess", "lastName": "Who"}),
    ] {
        let body = graphql(&demo, upsert, json!({"input": input})).await;
        assert_eq!(error_code(&body), Some("AMBIGUOUS"), "{input}: {body}");
    }
    let (g1, c1) = (
        stats(&demo.sims.ghl.url()).await,
        stats(&demo.sims.clubos.url()).await,
    );
    assert_eq!(writes(&g1), writes(&g0), "no GHL write");
    assert_eq!(writes(&c1), writes(&c0), "no Club OS write");
    assert_eq!(clubos_user(&demo, rosa).await["firstName"], "Rosa");
}
