//! The Club OS simulator: a real HTTP server answering as `clubos-api.md` §9 proposes.
//!
//! What it serves, and how sure we are of each part:
//!
//! - **v3** (`x-api-key`): `GET /users/{userId}`, `POST /users` and its `DUPLICATE_USER`
//!   400, `GET /locations[/{id}]` and `POST /events` follow shapes *observed* in Club OS's
//!   own client code. `GET /users` (search), `PUT /users/{userId}` and `GET /events` are
//!   *inferred*: the v3 overview advertises searching users and events, but the Swagger
//!   document is not public, so their filter names are guesses and the user-search ones
//!   are configurable ([`ClubOsSimConfig`]).
//! - **v1** (HTTP Basic): `GET /emailmatch`, *documented*; its status codes are not, so the
//!   ones used here are *inferred*.
//! - **Admin** (no auth, not counted): `GET /_sim/stats`, `POST /_sim/faults`,
//!   `POST /_sim/reset`, `GET /_sim/seed`.
//!
//! Every API route goes through [`crate::admin::admin_layer`], so stats count by route
//! template (`GET /users/{userId}`) and fault plans apply.

pub mod model;

mod http;
mod store;
mod v1;
mod v3;

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    admin::{self, Admin, ErrorBody},
    seed::{self, Kind, World},
};
use store::Store;

/// Simulator settings (config section `[sim.clubos]`). The credentials are the ones the
/// gateway must be configured with to talk to this simulator; they are not secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClubOsSimConfig {
    /// The v3 key expected in the `x-api-key` header.
    pub api_key: String,
    /// The v1 HTTP Basic user name.
    pub v1_username: String,
    /// The v1 HTTP Basic password.
    pub v1_password: String,
    /// Query parameter of `GET /users` matching an email (case-insensitive).
    /// *Inferred*: no v3 user-search filter is documented; configurable so the simulator
    /// can follow the real Swagger once it is known.
    pub email_param: String,
    /// Query parameter of `GET /users` matching a phone on its digits (last 10).
    /// *Inferred* and configurable, as `email_param`.
    pub phone_param: String,
    /// Query parameter of `GET /users` keeping users with `updatedDate` at or after an
    /// ISO-8601 instant. *Inferred* and configurable, as `email_param`.
    pub updated_since_param: String,
}

impl Default for ClubOsSimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-clubos-api-key".into(),
            v1_username: "sim-clubos".into(),
            v1_password: "sim-clubos-password".into(),
            email_param: "email".into(),
            phone_param: "phone".into(),
            updated_since_param: "updatedSince".into(),
        }
    }
}

/// The largest `size` v3 accepts (documented: "max 1000 per page").
const MAX_PAGE_SIZE: usize = 1000;

/// One simulated Club OS tenant: its data, settings and admin state. Shared by every
/// request through an `Arc`.
pub struct ClubOsSim {
    seed: u64,
    people: usize,
    cfg: ClubOsSimConfig,
    admin: Arc<Admin>,
    /// Never held across an `.await`.
    store: Mutex<Store>,
    examples: Value,
}

impl std::fmt::Debug for ClubOsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The store is large; its size is what helps when debugging.
        let users = self.store.lock().map(|s| s.users.len()).unwrap_or_default();
        f.debug_struct("ClubOsSim")
            .field("seed", &self.seed)
            .field("people", &self.people)
            .field("cfg", &self.cfg)
            .field("users", &users)
            .finish_non_exhaustive()
    }
}

impl ClubOsSim {
    /// Builds the simulator over the Club OS half of the world `(seed, people)`, so that
    /// its ids agree with the GHL simulator built from the same pair.
    pub fn new(seed: u64, people: usize, cfg: ClubOsSimConfig) -> Self {
        let world = World::generate(seed, people);
        let examples = examples(&world);
        Self {
            seed,
            people,
            cfg,
            admin: Arc::new(Admin::default()),
            store: Mutex::new(Store::from_seed(world.clubos)),
            examples,
        }
    }

    /// Counters and fault plan, for tests that drive the simulator in-process.
    pub fn admin(&self) -> &Arc<Admin> {
        &self.admin
    }

    /// The settings the simulator was built with (credentials, search parameter names).
    pub fn config(&self) -> &ClubOsSimConfig {
        &self.cfg
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().expect("clubos store lock poisoned")
    }

    fn reseed(&self) {
        let fresh = Store::from_seed(World::generate(self.seed, self.people).clubos);
        *self.store() = fresh;
    }
}

/// Ids that tests and the demo can name without reading the store.
fn examples(world: &World) -> Value {
    let mut m = Map::new();
    let users = &world.clubos.users;
    let first_user =
        |pred: &dyn Fn(&model::User) -> bool| users.iter().find(|u| pred(u)).map(|u| u.user_id);
    let picks = [
        (
            "member",
            first_user(&|u| {
                u.role == model::Role::member() && u.membership_status.as_deref() == Some("ACTIVE")
            }),
        ),
        (
            "inactiveMember",
            first_user(&|u| u.membership_status.as_deref() == Some("INACTIVE")),
        ),
        (
            "prospect",
            first_user(&|u| u.role == model::Role::prospect()),
        ),
        (
            "withEvents",
            world
                .clubos
                .events
                .first()
                .and_then(|e| e.attendee.first())
                .map(|a| a.attendee_id),
        ),
    ];
    for (key, id) in picks {
        if let Some(id) = id {
            m.insert(key.into(), json!(id));
        }
    }
    for (key, kind) in [
        ("linked", Kind::Linked),
        ("storedLink", Kind::StoredLink),
        ("changedSurname", Kind::ChangedSurname),
        ("phoneOnly", Kind::PhoneOnly),
        ("clubOsOnly", Kind::ClubOsOnly),
    ] {
        if let Some(id) = world.example(kind).and_then(|e| e.clubos_user_ids.first()) {
            m.insert(key.into(), json!(id));
        }
    }
    if let Some(e) = world.example(Kind::Ambiguous) {
        m.insert("ambiguous".into(), json!(e.clubos_user_ids));
    }
    Value::Object(m)
}

/// The Spring Boot default error body, used for faults injected by the admin layer.
/// *Inferred*: Club OS's 5xx/429 bodies were never observed; Spring's default is the
/// likeliest shape given the observed 400 bodies.
fn clubos_error_body(status: StatusCode, path: &str) -> Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    json!({
        "timestamp": http::now_iso(),
        "status": status.as_u16(),
        "error": reason,
        "message": reason,
        "path": path,
    })
}

/// The simulator's HTTP surface: v3 and v1 API routes (counted, fault-injected) plus the
/// admin routes under `/_sim/`.
pub fn router(sim: Arc<ClubOsSim>) -> Router {
    let admin = sim.admin.clone();
    let v3 = v3::routes(sim.clone()).route_layer(middleware::from_fn_with_state(
        sim.clone(),
        v3::require_api_key,
    ));
    let v1 = v1::routes(sim.clone()).route_layer(middleware::from_fn_with_state(
        sim.clone(),
        v1::require_basic_auth,
    ));
    let api = v3.merge(v1).route_layer(middleware::from_fn_with_state(
        (admin.clone(), clubos_error_body as ErrorBody),
        admin::admin_layer,
    ));
    let admin_routes = Router::new()
        .route("/_sim/stats", get(admin::get_stats))
        .route("/_sim/faults", post(admin::post_faults))
        .with_state(admin);
    let sim_routes = Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", get(seed_info))
        .with_state(sim);
    api.merge(admin_routes)
        .merge(sim_routes)
        .fallback(not_found)
}

/// `POST /_sim/reset`: back to the freshly seeded state, no faults, zero counters.
async fn reset(State(sim): State<Arc<ClubOsSim>>) -> StatusCode {
    sim.admin.reset();
    sim.reseed();
    StatusCode::NO_CONTENT
}

/// `GET /_sim/seed`: what a client needs to talk to this simulator, and example ids.
async fn seed_info(State(sim): State<Arc<ClubOsSim>>) -> Json<Value> {
    Json(json!({
        "apiKey": sim.cfg.api_key,
        "v1Username": sim.cfg.v1_username,
        "v1Password": sim.cfg.v1_password,
        "clubId": seed::CLUBOS_CLUB_ID,
        "locationIds": seed::CLUBOS_LOCATION_IDS,
        "examples": sim.examples,
    }))
}

/// Unknown paths: Spring's 404 body (*inferred*).
async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(clubos_error_body(StatusCode::NOT_FOUND, uri.path())),
    )
        .into_response()
}
