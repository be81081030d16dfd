//! The GHL (HighLevel API v2) simulator: contacts, search, tags, tasks, notes,
//! appointments, custom fields and OAuth, with GHL's headers, status codes, error bodies,
//! strict DTOs and per-location rate limits (`ghl-api.md` §14 is the checklist), and
//! signed webhook events after every change.

mod activity;
mod auth;
mod contacts;
pub mod model;
mod oauth;
mod ratelimit;
mod reply;
mod search;
mod store;
mod validate;
pub mod webhooks;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    middleware,
    routing::{delete, get, post, put},
};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use auth::Caller;
pub use ratelimit::RateLimitConfig;
use store::Store;

use super::{
    admin::{self, Admin, ErrorBody},
    seed::{self, World},
};

/// The versions GHL publishes; any of them is accepted on any path (observed behaviour).
pub const PUBLISHED_VERSIONS: [&str; 5] =
    ["2021-04-15", "2021-07-28", "2023-02-21", "v3", "legacy"];

/// Simulator settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GhlSimConfig {
    /// Burst and daily limits per location.
    pub rate_limit: RateLimitConfig,
    /// The location setting `allowDuplicateContact`.
    pub allow_duplicate_contact: bool,
    /// The Marketplace app's OAuth client id.
    pub client_id: String,
    /// The Marketplace app's OAuth client secret.
    pub client_secret: String,
    /// Lifetime of an OAuth access token, in seconds (GHL: 86399).
    pub access_token_ttl_secs: u64,
    /// Where webhook events are POSTed; absent: no events are sent.
    pub webhook_url: Option<String>,
    /// Wait before re-sending a delivery answered 429, in milliseconds (GHL: about ten
    /// minutes, plus jitter).
    pub webhook_retry_delay_ms: u64,
    /// Re-sends after 429 before a delivery is given up (GHL: 6).
    pub webhook_max_retries: u32,
    /// How long a new contact stays out of `POST /contacts/search`, in milliseconds.
    /// GHL's search index is eventually consistent: writes take a few seconds to show.
    /// Only creations are modelled; 0 (the default) makes search see every write at once.
    pub search_lag_ms: u64,
}

impl Default for GhlSimConfig {
    fn default() -> Self {
        Self {
            rate_limit: RateLimitConfig::default(),
            allow_duplicate_contact: false,
            client_id: "5f0c5e2b9a1d4c3b2a1f0e9d-simapp".into(),
            client_secret: "sim-ghl-client-secret".into(),
            access_token_ttl_secs: 86_399,
            webhook_url: None,
            webhook_retry_delay_ms: 600_000,
            webhook_max_retries: 6,
            search_lag_ms: 0,
        }
    }
}

/// Private Integration tokens the simulator accepts from the start.
pub mod tokens {
    /// Every scope, on the seeded location.
    pub const LOCATION: &str = "pit-5e0f2c1a-sim0-4c9b-9a7e-0000000000a1";
    /// `contacts.readonly` only, on the seeded location.
    pub const READONLY: &str = "pit-5e0f2c1a-sim0-4c9b-9a7e-0000000000b2";
    /// Every scope, on the second (empty) location.
    pub const OTHER_LOCATION: &str = "pit-5e0f2c1a-sim0-4c9b-9a7e-0000000000c3";
}

/// The simulator's state.
#[derive(Debug)]
pub struct GhlSim {
    seed: u64,
    people: usize,
    cfg: Mutex<GhlSimConfig>,
    admin: Arc<Admin>,
    store: Mutex<Store>,
    limits: ratelimit::Windows,
    webhooks: webhooks::Emitter,
}

impl GhlSim {
    /// Builds the store from the seeded world.
    pub fn new(seed: u64, people: usize, cfg: GhlSimConfig) -> Self {
        Self {
            seed,
            people,
            store: Mutex::new(Store::new(World::generate(seed, people).ghl, seed)),
            cfg: Mutex::new(cfg),
            admin: Arc::new(Admin::default()),
            limits: ratelimit::Windows::default(),
            webhooks: webhooks::Emitter::new(seed),
        }
    }

    /// Counters and faults.
    pub fn admin(&self) -> &Arc<Admin> {
        &self.admin
    }

    /// A copy of the current settings.
    pub fn config(&self) -> GhlSimConfig {
        self.cfg.lock().expect("config lock").clone()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("store lock")
    }

    /// The public half of the webhook signing key, in PEM (what a receiver configures).
    pub fn webhook_public_key_pem(&self) -> String {
        self.webhooks.public_key_pem()
    }

    /// Points webhook deliveries at `url` (`None` stops them).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.cfg.lock().expect("config lock").webhook_url = url;
    }

    /// Webhook delivery counters.
    pub fn webhook_stats(&self) -> webhooks::DeliveryStats {
        self.webhooks.stats()
    }

    /// Sends webhook events (each carrying its `type`) when a URL is set.
    fn emit(&self, events: impl IntoIterator<Item = Value>) {
        let target = {
            let cfg = self.cfg.lock().expect("config lock");
            let Some(url) = cfg.webhook_url.clone() else {
                return;
            };
            webhooks::Target {
                url,
                retry_delay: Duration::from_millis(cfg.webhook_retry_delay_ms),
                max_retries: cfg.webhook_max_retries,
            }
        };
        for event in events {
            self.webhooks.send(target.clone(), event);
        }
    }

    /// Clears faults, counters, webhook counters and rate windows, and reseeds.
    pub fn reset(&self) {
        self.admin.reset();
        self.limits.reset();
        self.webhooks.reset();
        *self.store() = Store::new(World::generate(self.seed, self.people).ghl, self.seed);
    }
}

/// A fresh `traceId`, as GHL puts in search, upsert and error bodies.
pub fn trace_id() -> String {
    let mut rng = rand::rng();
    (0..4)
        .map(|_| format!("{:08x}", rng.random::<u32>()))
        .collect::<Vec<_>>()
        .join("-")
}

/// Adds a `traceId` to a JSON object.
pub fn with_trace(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("traceId".into(), json!(trace_id()));
    }
    v
}

/// GHL's NestJS-style error body for a status (used for injected faults too).
pub fn error_body(status: StatusCode, path: &str) -> Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = match status {
        StatusCode::NOT_FOUND => format!("Cannot GET {path}"),
        _ => reason.to_owned(),
    };
    with_trace(json!({"statusCode": status.as_u16(), "message": message, "error": reason}))
}

/// The simulator's HTTP surface: the API routes behind auth, rate limits, counters and
/// faults, plus the `/_sim/*` admin routes.
pub fn router(sim: Arc<GhlSim>) -> Router {
    let api = Router::new()
        .route("/contacts/", post(contacts::create))
        .route("/contacts/upsert", post(contacts::upsert))
        .route("/contacts/search", post(search::search))
        .route("/contacts/search/duplicate", get(contacts::duplicate))
        .route(
            "/contacts/bulk/tags/update/{type}",
            post(contacts::bulk_tags),
        )
        .route(
            "/contacts/{contactId}",
            get(contacts::get_one)
                .put(contacts::update)
                .delete(contacts::remove),
        )
        .route(
            "/contacts/{contactId}/tags",
            post(contacts::add_tags).delete(contacts::remove_tags),
        )
        .route(
            "/contacts/{contactId}/tasks",
            get(activity::list_tasks).post(activity::create_task),
        )
        .route(
            "/contacts/{contactId}/tasks/{taskId}",
            get(activity::get_task)
                .put(activity::update_task)
                .delete(activity::delete_task),
        )
        .route(
            "/contacts/{contactId}/tasks/{taskId}/completed",
            put(activity::complete_task),
        )
        .route(
            "/locations/{locationId}/tasks/search",
            post(activity::search_tasks),
        )
        .route(
            "/contacts/{contactId}/notes",
            get(activity::list_notes).post(activity::create_note),
        )
        .route(
            "/contacts/{contactId}/notes/{id}",
            get(activity::get_note)
                .put(activity::update_note)
                .delete(activity::delete_note),
        )
        .route(
            "/contacts/{contactId}/appointments",
            get(activity::contact_appointments),
        )
        .route(
            "/calendars/events/appointments",
            post(activity::create_appointment),
        )
        .route(
            "/calendars/events/appointments/{eventId}",
            get(activity::get_appointment).put(activity::update_appointment),
        )
        .route(
            "/calendars/events/{eventId}",
            delete(activity::delete_event),
        )
        .route(
            "/locations/{locationId}/customFields",
            get(activity::custom_fields),
        )
        .route("/oauth/token", post(oauth::token))
        // A served path with another verb answers as GHL does: 404 `Cannot PUT /…`.
        .method_not_allowed_fallback(not_found)
        .route_layer(middleware::from_fn_with_state(sim.clone(), auth::gate))
        .route_layer(middleware::from_fn_with_state(
            (sim.admin.clone(), error_body as ErrorBody),
            admin::admin_layer,
        ))
        .with_state(sim.clone());
    let admin_routes = Router::new()
        .route("/_sim/stats", get(admin::get_stats))
        .route("/_sim/faults", post(admin::post_faults))
        .with_state(sim.admin.clone());
    // Unknown paths pass GHL's auth gate (and carry its rate-limit headers) before the 404.
    let unknown = Router::new()
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), auth::gate));
    let sim_routes = Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", get(seed_info))
        .route("/_sim/config", post(set_config))
        .route("/_sim/webhooks", get(webhook_info))
        .route("/_sim/oauth/code", post(oauth::mint_code))
        .route("/_sim/oauth/revoke", post(oauth::revoke))
        .with_state(sim);
    api.merge(admin_routes)
        .merge(sim_routes)
        .fallback_service(unknown)
}

async fn not_found(uri: axum::http::Uri, method: axum::http::Method) -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "message": format!("Cannot {method} {}", uri.path()),
            "error": "Not Found",
            "statusCode": 404,
        })),
    )
}

async fn reset(State(sim): State<Arc<GhlSim>>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

/// Settings that can change while the simulator runs (`POST /_sim/config`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    rate_limit: Option<RateLimitConfig>,
    allow_duplicate_contact: Option<bool>,
    access_token_ttl_secs: Option<u64>,
    /// `""` stops deliveries.
    webhook_url: Option<String>,
    webhook_retry_delay_ms: Option<u64>,
    webhook_max_retries: Option<u32>,
    search_lag_ms: Option<u64>,
}

async fn set_config(
    State(sim): State<Arc<GhlSim>>,
    Json(patch): Json<ConfigPatch>,
) -> Json<GhlSimConfig> {
    let mut cfg = sim.cfg.lock().expect("config lock");
    if let Some(r) = patch.rate_limit {
        cfg.rate_limit = r;
        sim.limits.reset();
    }
    if let Some(d) = patch.allow_duplicate_contact {
        cfg.allow_duplicate_contact = d;
    }
    if let Some(t) = patch.access_token_ttl_secs {
        cfg.access_token_ttl_secs = t;
    }
    if let Some(url) = patch.webhook_url {
        cfg.webhook_url = (!url.is_empty()).then_some(url);
    }
    if let Some(ms) = patch.webhook_retry_delay_ms {
        cfg.webhook_retry_delay_ms = ms;
    }
    if let Some(n) = patch.webhook_max_retries {
        cfg.webhook_max_retries = n;
    }
    if let Some(ms) = patch.search_lag_ms {
        cfg.search_lag_ms = ms;
    }
    Json(cfg.clone())
}

/// `GET /_sim/webhooks`: the public key receivers verify with, the target URL and the
/// delivery counters.
async fn webhook_info(State(sim): State<Arc<GhlSim>>) -> Json<Value> {
    Json(json!({
        "publicKeyPem": sim.webhook_public_key_pem(),
        "url": sim.config().webhook_url,
        "deliveries": sim.webhook_stats(),
    }))
}

async fn seed_info(State(sim): State<Arc<GhlSim>>) -> Json<Value> {
    let world = World::generate(sim.seed, sim.people);
    let cfg = sim.config();
    Json(json!({
        "locationId": seed::GHL_LOCATION_ID,
        "otherLocationId": seed::GHL_OTHER_LOCATION_ID,
        "tokens": {
            "location": tokens::LOCATION,
            "readonly": tokens::READONLY,
            "otherLocation": tokens::OTHER_LOCATION,
        },
        "oauth": {"clientId": cfg.client_id, "clientSecret": cfg.client_secret},
        "calendarId": seed::GHL_CALENDAR_ID,
        "userIds": seed::GHL_USER_IDS,
        "linkCustomField": {"id": seed::CLUBOS_LINK_FIELD_ID, "key": seed::CLUBOS_LINK_FIELD_KEY},
        "clubOs": {"clubId": seed::CLUBOS_CLUB_ID, "locationIds": seed::CLUBOS_LOCATION_IDS},
        "people": sim.people,
        "examples": examples(&world),
    }))
}

/// Up to three people of each kind, for tests and the demo.
pub fn examples(world: &World) -> Value {
    let mut out = serde_json::Map::new();
    for p in &world.people {
        let key = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let list = out.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut().filter(|a| a.len() < 3) {
            a.push(json!({
                "ghlContactId": p.ghl_contact_id,
                "clubOsUserIds": p.clubos_user_ids,
                "email": p.email,
            }));
        }
    }
    Value::Object(out)
}
