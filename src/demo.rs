//! The embedded default: both simulators and the gateway over them, in one process,
//! talking HTTP through the same clients production uses. The GHL simulator sends its
//! signed webhook events to the gateway's `/webhooks/ghl`, which trusts its key, so a
//! change made directly at the simulator reaches the gateway's caches.

use std::net::SocketAddr;

use figment::{Figment, providers::Serialized};
use serde_json::json;

use crate::{
    clock::Clock,
    config::Config,
    gateway::{self, Gateway},
    server,
    sim::{SimOptions, Sims, World, ghl, seed},
    webhooks,
};

/// The gateway's configuration for simulators at these URLs, trusting the GHL
/// simulator's webhook key, with `overrides` (a JSON object shaped like the config file,
/// e.g. `{"cache": {"stale_if_error_secs": 60}}`; a list replaces the list) merged over
/// it. GHL is reached with the simulator's Private Integration token.
pub fn config_for(
    sims: &Sims,
    listen: SocketAddr,
    overrides: serde_json::Value,
) -> anyhow::Result<Config> {
    let mut value = base_config(sims, listen);
    value["ghl"]["token"] = json!(ghl::tokens::LOCATION);
    merged(value, overrides)
}

/// [`config_for`] with GHL reached over OAuth: the simulator's Marketplace app
/// credentials and `http://{listen}/oauth/ghl/callback` as the redirect URI. Nothing is
/// installed until a code from the simulator's `POST /_sim/oauth/code` reaches the
/// gateway's callback.
pub fn oauth_config_for(
    sims: &Sims,
    listen: SocketAddr,
    overrides: serde_json::Value,
) -> anyhow::Result<Config> {
    let app = sims.ghl_state.config();
    let mut value = base_config(sims, listen);
    value["ghl"]["auth"] = json!("oauth");
    value["ghl"]["oauth"] = json!({
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "redirect_uri": format!("http://{listen}{}", crate::install::CALLBACK_PATH),
    });
    merged(value, overrides)
}

fn base_config(sims: &Sims, listen: SocketAddr) -> serde_json::Value {
    let clubos = sims.clubos_state.config();
    json!({
        "server": {"listen": listen.to_string()},
        "store": {"url": "sqlite::memory:"},
        "ghl": {
            "base_url": sims.ghl.url(),
            "location_id": seed::GHL_LOCATION_ID,
        },
        "clubos": {
            "base_url": sims.clubos.url(),
            "v1_base_url": sims.clubos.url(),
            "api_key": clubos.api_key,
            "v1_username": clubos.v1_username,
            "v1_password": clubos.v1_password,
            "club_id": seed::CLUBOS_CLUB_ID,
            "location_id": seed::CLUBOS_LOCATION_IDS[0],
        },
        "webhooks": {"ghl_public_keys": [sims.ghl_state.webhook_public_key_pem()]},
    })
}

fn merged(value: serde_json::Value, overrides: serde_json::Value) -> anyhow::Result<Config> {
    Ok(Config::from_figment(
        Figment::from(Serialized::defaults(value)).merge(Serialized::defaults(overrides)),
    )?)
}

/// A running demo: simulators plus gateway. Dropping it stops everything.
#[derive(Debug)]
pub struct Demo {
    pub sims: Sims,
    pub gateway: Gateway,
    pub world: World,
    /// An `admin` API key the demo created: the banner prints it and the playground sends
    /// it.
    pub api_key: String,
}

impl Demo {
    /// Starts the simulators, then the gateway on `listen`, then points the GHL
    /// simulator's webhooks at the gateway.
    pub async fn start(listen: SocketAddr, opts: SimOptions) -> anyhow::Result<Self> {
        Self::start_with(listen, opts, json!({})).await
    }

    /// [`Demo::start`] with configuration overrides (see [`config_for`]).
    pub async fn start_with(
        listen: SocketAddr,
        opts: SimOptions,
        overrides: serde_json::Value,
    ) -> anyhow::Result<Self> {
        Self::start_clocked(listen, opts, overrides, Clock::system()).await
    }

    /// [`Demo::start_with`] with the outbox on `clock` (a manual clock stops the relay
    /// from running on its own; see [`gateway::Options::clock`]).
    pub async fn start_clocked(
        listen: SocketAddr,
        opts: SimOptions,
        overrides: serde_json::Value,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let world = World::generate(opts.seed, opts.people);
        let sims = Sims::start(opts).await?;
        let cfg = config_for(&sims, listen, overrides)?;
        let listener = server::bind(listen).await?;
        let gateway = Gateway::start(
            &cfg,
            listener,
            gateway::Options {
                playground_admin_key: true,
                allow_own_origins: true,
                clock,
                ..gateway::Options::default()
            },
        )
        .await?;
        sims.ghl_state.set_webhook_url(Some(format!(
            "http://{}{}",
            gateway.addr,
            webhooks::GHL_PATH
        )));
        let api_key = gateway.playground_key.clone().unwrap_or_default();
        Ok(Self {
            sims,
            gateway,
            world,
            api_key,
        })
    }

    /// `http://host:port` of the gateway.
    pub fn url(&self) -> String {
        self.gateway.url()
    }

    /// Stops the gateway and the simulators.
    pub async fn stop(self) {
        if let Err(e) = self.gateway.stop().await {
            tracing::warn!(error = %e, "the demo's gateway stopped with an error");
        }
    }

    /// What the demo prints: where things are and what to try.
    pub fn banner(&self) -> String {
        let pick = |kind| self.world.example(kind);
        let linked = pick(seed::Kind::StoredLink);
        let ghl_only = pick(seed::Kind::GhlOnly);
        let clubos_only = pick(seed::Kind::ClubOsOnly);
        let ambiguous = pick(seed::Kind::Ambiguous);
        let ghl_id = |e: Option<&seed::Example>| {
            e.and_then(|e| e.ghl_contact_id.clone())
                .unwrap_or_else(|| "-".into())
        };
        let clubos_id = |e: Option<&seed::Example>| {
            e.and_then(|e| e.clubos_user_ids.first().map(i64::to_string))
                .unwrap_or_else(|| "-".into())
        };
        let query_id = ghl_id(linked);
        format!(
            "contactgraph demo\n\
             \n  Playground (GraphiQL): {url}/   (sends the key below)\n  GraphQL endpoint:      {url}/graphql\n  Health:                {url}/healthz\n  API key (admin):       {key}\n\
             \n  GHL simulator:         {ghl}   (credentials and ids: {ghl}/_sim/seed)\n  Club OS simulator:     {clubos}   ({clubos}/_sim/seed)\n\
             \nExample ids:\n  linked person:        GHL {linked_ghl} / Club OS {linked_clubos}\n  GHL only:             {ghl_only}\n  Club OS only:         {clubos_only}\n  ambiguous (2 in Club OS): GHL {amb}\n\
             \nWebhooks: the GHL simulator signs every change and posts it to {url}{hook},\n  which invalidates the gateway's cache: change a contact at the simulator and the\n  next query shows it. Deliveries and the key: {ghl}/_sim/webhooks\n\nSync: every minute the gateway stores the links both sides confirm (households it\n  cannot decide wait in `linkSuggestions`) and polls Club OS: change a member at the\n  Club OS simulator (PUT {clubos}/users/ID) and GHL has it within a minute\n  (`syncStatus`, `syncPlan`).\n\nRead model: at start the gateway backfills every contact and member into its store;\n  reads are served from it (each answer's `extensions.freshness` says how much), and\n  webhooks and the Club OS poll keep it fresh. `Cache-Control: no-cache` reads through.\n\nTry:\n  curl -s {url}/graphql -H 'content-type: application/json' -H 'authorization: Bearer {key}' \\\n    -d '{{\"query\":\"{{ contact(id: \\\"{query_id}\\\") {{ linkStatus firstName lastName email phone ghl {{ tags }} clubOs {{ membershipStatus membershipType }} }} }}\"}}'\n\
             \nStop with Ctrl-C.",
            url = self.url(),
            ghl = self.sims.ghl.url(),
            clubos = self.sims.clubos.url(),
            linked_ghl = ghl_id(linked),
            linked_clubos = clubos_id(linked),
            ghl_only = ghl_id(ghl_only),
            clubos_only = clubos_id(clubos_only),
            amb = ghl_id(ambiguous),
            hook = webhooks::GHL_PATH,
            key = self.api_key,
        )
    }
}

/// `contactgraph demo`.
pub async fn run(listen: SocketAddr, opts: SimOptions) -> anyhow::Result<()> {
    // The demo serves reads from the read model (backfilled at start), runs the link sweep,
    // carries Club OS changes to GHL and reads Club OS events every minute (its writes go
    // to the simulators only).
    let sync = json!({
        "sync": {"links": true, "clubos_poll": true, "clubos_events_poll": true, "propagate": true, "create_in_ghl": true, "interval_minutes": 1},
        "read_model": {"enabled": true},
    });
    let demo = Demo::start_with(listen, opts, sync).await?;
    println!("{}", demo.banner());
    crate::shutdown::signal().await;
    demo.stop().await;
    Ok(())
}
