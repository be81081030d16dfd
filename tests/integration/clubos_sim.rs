//! The Club OS simulator driven through the real Club OS client: auth, lookups, search,
//! paging, writes and their validation, v1 email match, and the fault/stats surface.

use std::sync::Arc;

use contactgraph::{
    sim::{
        SimServer, World,
        admin::StatsSnapshot,
        clubos::{ClubOsSim, ClubOsSimConfig, model::User},
    },
    upstream::{
        RetryConfig, RetryPolicy, UpstreamError,
        clubos::{
            ClubOsAttendee, ClubOsClient, ClubOsConfig, EventSearch, NewEvent, NewUser, SortDir,
            UserPatch, UserSearch,
        },
    },
};
use serde_json::{Value, json};

const SEED: u64 = 42;
const PEOPLE: usize = 100;

struct Harness {
    server: SimServer,
    client: ClubOsClient,
    http: reqwest::Client,
}

fn config(url: &str) -> ClubOsConfig {
    let sim = ClubOsSimConfig::default();
    ClubOsConfig {
        base_url: url.to_owned(),
        v1_base_url: url.to_owned(),
        v1_username: Some(sim.v1_username),
        v1_password: Some(sim.v1_password.into()),
        ..ClubOsConfig::new(sim.api_key.into(), 600, 4500)
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(RetryConfig {
        base_delay_ms: 1,
        max_delay_ms: 5,
        ..RetryConfig::default()
    })
}

fn client(cfg: ClubOsConfig) -> ClubOsClient {
    ClubOsClient::new(cfg, fast_retries()).expect("client builds")
}

async fn start() -> Harness {
    let sim = Arc::new(ClubOsSim::new(SEED, PEOPLE, ClubOsSimConfig::default()));
    let server = SimServer::start(
        "127.0.0.1:0".parse().unwrap(),
        contactgraph::sim::clubos::router(sim),
    )
    .await
    .expect("simulator starts");
    let client = client(config(&server.url()));
    Harness {
        server,
        client,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    async fn seed_info(&self) -> Value {
        self.http
            .get(format!("{}/_sim/seed", self.server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn example(&self, key: &str) -> i64 {
        self.seed_info().await["examples"][key]
            .as_i64()
            .unwrap_or_else(|| panic!("example {key}"))
    }

    async fn post_faults(&self, plan: Value) {
        let resp = self
            .http
            .post(format!("{}/_sim/faults", self.server.url()))
            .json(&plan)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }

    async fn stats(&self) -> StatsSnapshot {
        self.http
            .get(format!("{}/_sim/stats", self.server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The seeded Club OS users, as the simulator starts with them.
fn seeded_users() -> Vec<User> {
    World::generate(SEED, PEOPLE).clubos.users
}

fn new_user(first: &str, last: &str, email: &str, phone: &str) -> NewUser {
    NewUser {
        first_name: first.into(),
        last_name: last.into(),
        email: Some(email.into()),
        mobile_phone: Some(phone.into()),
        source: Some("integration test".into()),
        ..NewUser::default()
    }
}

#[tokio::test]
async fn v3_calls_without_the_right_api_key_get_401() {
    let h = start().await;
    let resp = h
        .http
        .get(format!("{}/users/1", h.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 401);
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(body["message"], "Invalid API key");
    assert_eq!(body["path"], "/users/1");
    assert!(body["timestamp"].is_string());

    let wrong = client(ClubOsConfig {
        api_key: "not-the-key".into(),
        ..config(&h.server.url())
    });
    let err = wrong.get_user(170_000_001).await.unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Unauthorized {
            message: "Invalid API key".into()
        }
    );
}

#[tokio::test]
async fn get_user_returns_the_user_and_none_for_unknown_ids() {
    let h = start().await;
    let member = h.example("member").await;
    let user = h
        .client
        .get_user(member)
        .await
        .unwrap()
        .expect("member exists");
    assert_eq!(user.user_id, member);
    assert_eq!(user.club_id, 600);
    assert_eq!(user.membership_status.as_deref(), Some("ACTIVE"));
    assert!(user.first_name.is_some() && user.created_date.is_some());

    assert_eq!(h.client.get_user(1).await.unwrap(), None);
}

#[tokio::test]
async fn limited_view_is_a_subset_of_the_user() {
    let h = start().await;
    let member = h.example("member").await;
    let url = format!("{}/users/{member}?limited=true", h.server.url());
    let body: Value = h
        .http
        .get(url)
        .header("x-api-key", "sim-clubos-api-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["userId"], member);
    assert!(body.get("firstName").is_some());
    assert!(body.get("membershipStatus").is_none());
    assert!(body.get("createdDate").is_none());
}

#[tokio::test]
async fn email_search_ignores_case() {
    let h = start().await;
    let user = seeded_users()
        .into_iter()
        .find(|u| u.email.is_some())
        .expect("a user with an email");
    let shouted = user.email.clone().unwrap().to_uppercase();
    let page = h
        .client
        .search_users(&UserSearch {
            email: Some(shouted),
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert!(page.content.iter().any(|u| u.user_id == user.user_id));
    assert!(page.content.iter().all(|u| {
        u.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(user.email.as_deref().unwrap()))
    }));
}

#[tokio::test]
async fn phone_search_matches_a_differently_formatted_number() {
    let h = start().await;
    let user = seeded_users()
        .into_iter()
        .find(|u| u.mobile_phone.is_some())
        .expect("a user with a mobile");
    let d = user.mobile_phone.clone().unwrap();
    for formatted in [
        format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        format!("+1 {}.{}.{}", &d[..3], &d[3..6], &d[6..]),
    ] {
        let page = h
            .client
            .search_users(&UserSearch {
                phone: Some(formatted.clone()),
                ..UserSearch::default()
            })
            .await
            .unwrap();
        assert!(
            page.content.iter().any(|u| u.user_id == user.user_id),
            "{formatted} did not find {}",
            user.user_id
        );
    }
}

#[tokio::test]
async fn a_page_past_the_end_says_it_is_empty() {
    let h = start().await;
    let page = |n: usize| {
        h.http
            .get(format!("{}/users?page={n}&size=10", h.server.url()))
            .header("x-api-key", ClubOsSimConfig::default().api_key)
            .send()
    };
    let first: Value = page(0).await.unwrap().json().await.unwrap();
    assert_eq!(first["empty"], false, "{first}");
    let past: Value = page(10_000).await.unwrap().json().await.unwrap();
    assert_eq!(past["content"], serde_json::json!([]));
    assert_eq!(
        past["empty"], true,
        "Spring's empty means no content on this page: {past}"
    );
}

#[tokio::test]
async fn user_search_pages_with_the_spring_envelope_and_caps_the_size() {
    let h = start().await;
    let total = seeded_users().len() as u64;
    let first = h
        .client
        .search_users(&UserSearch {
            size: 10,
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(first.total_elements, total);
    assert_eq!(first.total_pages, total.div_ceil(10));
    assert_eq!((first.number, first.size), (0, 10));
    assert_eq!(first.content.len(), 10);
    assert!(first.has_next());
    let ids: Vec<i64> = first.content.iter().map(|u| u.user_id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "default sort is userId ASC"
    );

    let second = h
        .client
        .search_users(&UserSearch {
            page: 1,
            size: 10,
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(second.number, 1);
    assert!(second.content.iter().all(|u| !ids.contains(&u.user_id)));

    let newest = h
        .client
        .search_users(&UserSearch {
            size: 1,
            sort_on: Some("userId".into()),
            sort_dir: Some(SortDir::Desc),
            ..UserSearch::default()
        })
        .await
        .unwrap();
    let max_id = seeded_users().iter().map(|u| u.user_id).max().unwrap();
    assert_eq!(newest.content[0].user_id, max_id);

    let err = h
        .client
        .search_users(&UserSearch {
            size: 1001,
            ..UserSearch::default()
        })
        .await
        .unwrap_err();
    match err {
        UpstreamError::Invalid { messages } => {
            assert!(messages.iter().any(|m| m.contains("1000")), "{messages:?}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn updated_since_keeps_only_recently_changed_users() {
    let h = start().await;
    let created = h
        .client
        .create_user(&new_user(
            "Tess",
            "Recent",
            "tess.recent@example.test",
            "5125550100",
        ))
        .await
        .unwrap();
    let page = h
        .client
        .search_users(&UserSearch {
            updated_since: Some("2030-01-01T00:00:00Z".into()),
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total_elements, 0);
    let page = h
        .client
        .search_users(&UserSearch {
            updated_since: Some("2026-01-06T00:00:00Z".into()),
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.content.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        vec![created.user_id]
    );
}

#[tokio::test]
async fn created_user_can_be_read_back_with_digits_only_phone() {
    let h = start().await;
    let max_seeded = seeded_users().iter().map(|u| u.user_id).max().unwrap();
    let created = h
        .client
        .create_user(&new_user(
            "Robin",
            "Newcomer",
            "robin.newcomer@example.test",
            "(512) 555-0199",
        ))
        .await
        .unwrap();
    assert_eq!(created.user_id, max_seeded + 1);
    assert_eq!(created.mobile_phone.as_deref(), Some("5125550199"));
    assert_eq!(created.location_id, 4500);
    assert!(created.role.as_ref().is_some_and(|r| r.is_prospect()));
    assert!(
        created
            .created_date
            .as_deref()
            .is_some_and(|d| d.ends_with('Z'))
    );

    let read = h.client.get_user(created.user_id).await.unwrap();
    assert_eq!(read, Some(created));
}

#[tokio::test]
async fn creating_the_same_person_again_is_a_duplicate_of_the_existing_user() {
    let h = start().await;
    let created = h
        .client
        .create_user(&new_user(
            "Dana",
            "Twice",
            "dana.twice@example.test",
            "6175550142",
        ))
        .await
        .unwrap();
    // Same name in another case, same email in another case.
    let err = h
        .client
        .create_user(&new_user(
            "DANA",
            "twice",
            "Dana.Twice@Example.test",
            "2065550000",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Duplicate {
            existing_id: Some(created.user_id.to_string()),
            matching_field: None
        }
    );
    // Same name, other email, same phone digits.
    let err = h
        .client
        .create_user(&new_user(
            "Dana",
            "Twice",
            "other@example.test",
            "617-555-0142",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Duplicate { existing_id: Some(id), .. } if id == created.user_id.to_string())
    );

    let seeded = seeded_users()
        .into_iter()
        .find(|u| u.email.is_some())
        .unwrap();
    let err = h
        .client
        .create_user(&new_user(
            &seeded.first_name,
            &seeded.last_name,
            seeded.email.as_deref().unwrap(),
            "",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Duplicate { existing_id: Some(id), .. } if id == seeded.user_id.to_string())
    );
}

#[tokio::test]
async fn over_long_or_missing_names_are_refused_and_nothing_is_created() {
    let h = start().await;
    let long = "A".repeat(51);
    let err = h
        .client
        .create_user(&new_user(
            &long,
            "Long",
            "too.long@example.test",
            "3035550111",
        ))
        .await
        .unwrap_err();
    match &err {
        UpstreamError::Invalid { messages } => assert!(
            messages.iter().any(|m| m.contains("FIRST_NAME")),
            "{messages:?}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let err = h
        .client
        .create_user(&new_user(
            "",
            "Nameless",
            "nameless@example.test",
            "3035550112",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Invalid { messages } if messages.iter().any(|m| m.contains("firstName"))),
        "{err:?}"
    );
    let no_contact = NewUser {
        first_name: "No".into(),
        last_name: "Contact".into(),
        ..NewUser::default()
    };
    assert!(matches!(
        h.client.create_user(&no_contact).await,
        Err(UpstreamError::Invalid { .. })
    ));

    for email in ["too.long@example.test", "nameless@example.test"] {
        let page = h
            .client
            .search_users(&UserSearch {
                email: Some(email.into()),
                ..UserSearch::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total_elements, 0, "{email} was created");
    }
    let all = h.client.search_users(&UserSearch::default()).await.unwrap();
    assert_eq!(all.total_elements, seeded_users().len() as u64);
}

#[tokio::test]
async fn update_changes_the_given_fields_and_keeps_the_rest() {
    let h = start().await;
    let member = h.example("member").await;
    let before = h.client.get_user(member).await.unwrap().unwrap();
    let updated = h
        .client
        .update_user(
            member,
            &UserPatch {
                mobile_phone: Some("+1 (404) 555-0177".into()),
                city: Some("Atlanta".into()),
                state: Some("GA".into()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.mobile_phone.as_deref(), Some("14045550177"));
    assert_eq!(updated.city.as_deref(), Some("Atlanta"));
    assert_eq!(updated.last_name, before.last_name);
    assert_eq!(updated.email, before.email);
    assert_ne!(updated.updated_date, before.updated_date);
    assert_eq!(h.client.get_user(member).await.unwrap(), Some(updated));

    let err = h
        .client
        .update_user(
            member,
            &UserPatch {
                last_name: Some("B".repeat(60)),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Invalid { .. }), "{err:?}");
    let err = h
        .client
        .update_user(1, &UserPatch::default())
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn events_filter_by_user_and_new_bookings_show_up() {
    let h = start().await;
    let user = h.example("withEvents").await;
    let page = h
        .client
        .search_events(&EventSearch {
            user_id: Some(user),
            ..EventSearch::default()
        })
        .await
        .unwrap();
    assert!(!page.content.is_empty());
    assert!(
        page.content
            .iter()
            .all(|e| e.attendee.iter().any(|a| a.attendee_id == user))
    );

    let booked = h
        .client
        .create_event(&NewEvent {
            event_type_id: 4,
            event_owner_id: Some(130_000_001),
            start_time: "2026-03-02T16:00:00Z".into(),
            end_time: "2026-03-02T16:30:00Z".into(),
            subject: Some("Tour".into()),
            remind_attendee: Some(true),
            attendee: vec![ClubOsAttendee {
                attendee_id: user,
                attendee_status: "A".into(),
                visit_type: Some("A".into()),
            }],
            ..NewEvent::default()
        })
        .await
        .unwrap();
    assert!(booked.event_id > 0);
    let window = h
        .client
        .search_events(&EventSearch {
            user_id: Some(user),
            start_time_start: Some("2026-03-02T00:00:00Z".into()),
            start_time_end: Some("2026-03-03T00:00:00Z".into()),
            event_type_ids: vec![4],
            ..EventSearch::default()
        })
        .await
        .unwrap();
    assert!(window.content.iter().any(|e| e.event_id == booked.event_id));

    let backwards = h
        .client
        .create_event(&NewEvent {
            event_type_id: 4,
            start_time: "2026-03-02T16:30:00Z".into(),
            end_time: "2026-03-02T16:00:00Z".into(),
            attendee: vec![ClubOsAttendee {
                attendee_id: user,
                attendee_status: "A".into(),
                visit_type: None,
            }],
            ..NewEvent::default()
        })
        .await;
    assert!(matches!(backwards, Err(UpstreamError::Invalid { .. })));
}

#[tokio::test]
async fn locations_are_listed() {
    let h = start().await;
    let page = h.client.list_locations().await.unwrap();
    let ids: Vec<i64> = page.content.iter().map(|l| l.location_id).collect();
    assert_eq!(ids, vec![4500, 4501]);
    assert!(page.content.iter().all(|l| !l.time_zone.is_empty()));
}

#[tokio::test]
async fn emailmatch_uses_v1_basic_auth() {
    let h = start().await;
    let user = seeded_users()
        .into_iter()
        .find(|u| u.email.is_some())
        .unwrap();
    let email = user.email.clone().unwrap();
    let found = h.client.email_match(&email.to_uppercase()).await.unwrap();
    assert!(found.iter().any(|m| m.id == user.user_id));
    assert!(found.iter().all(|m| m.role.as_deref() == Some("Client")));

    assert_eq!(
        h.client
            .email_match("nobody@example.invalid")
            .await
            .unwrap(),
        Vec::new()
    );

    let wrong = client(ClubOsConfig {
        v1_password: Some("wrong".into()),
        ..config(&h.server.url())
    });
    assert!(matches!(
        wrong.email_match(&email).await,
        Err(UpstreamError::Unauthorized { .. })
    ));

    let elsewhere = client(ClubOsConfig {
        location_id: 9999,
        ..config(&h.server.url())
    });
    assert!(matches!(
        elsewhere.email_match(&email).await,
        Err(UpstreamError::Invalid { messages }) if messages == ["Access denied to location"]
    ));
}

#[tokio::test]
async fn a_read_that_fails_once_is_retried_and_both_attempts_are_counted() {
    let h = start().await;
    let member = h.example("member").await;
    h.post_faults(json!({"rules": [{"route": "GET /users/{userId}", "status": 503, "times": 1}]}))
        .await;
    let user = h.client.get_user(member).await.unwrap();
    assert_eq!(user.map(|u| u.user_id), Some(member));

    let stats = h.stats().await;
    let route = &stats.routes["GET /users/{userId}"];
    assert_eq!(route.count, 2);
    assert_eq!(route.statuses.get(&503), Some(&1));
    assert_eq!(route.statuses.get(&200), Some(&1));
}

#[tokio::test]
async fn a_write_that_fails_is_not_retried() {
    let h = start().await;
    h.post_faults(json!({"rules": [{"route": "POST /users", "status": 503}]}))
        .await;
    let err = h
        .client
        .create_user(&new_user(
            "Once",
            "Only",
            "once.only@example.test",
            "4155550123",
        ))
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Unavailable { status: 503 });
    assert_eq!(h.stats().await.count("POST /users"), 1);
}

#[tokio::test]
async fn reset_restores_the_seed_and_clears_counters() {
    let h = start().await;
    h.client
        .create_user(&new_user(
            "Gone",
            "Soon",
            "gone.soon@example.test",
            "4155550999",
        ))
        .await
        .unwrap();
    h.post_faults(json!({"outage": true})).await;
    let resp = h
        .http
        .post(format!("{}/_sim/reset", h.server.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(h.stats().await.total, 0);
    let all = h.client.search_users(&UserSearch::default()).await.unwrap();
    assert_eq!(all.total_elements, seeded_users().len() as u64);

    let seed = h.seed_info().await;
    assert_eq!(seed["apiKey"], "sim-clubos-api-key");
    assert_eq!(seed["clubId"], 600);
    assert_eq!(seed["locationIds"], json!([4500, 4501]));
}
