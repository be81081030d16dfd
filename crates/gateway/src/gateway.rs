//! The composition root: a gateway built from a [`Config`] and served on a listener, with
//! its relay. `contactgraph serve`, the demo, the tests and the bench all start one here;
//! nothing else wires the parts together.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    auth::{self, Authenticator, Role},
    cache::Caches,
    clock::Clock,
    config::Config,
    loaders::Readers,
    read_model::{ReadModel, Trust},
    schema,
    server::{self, CorsConfig, Surface},
    store::Store,
    sync::{self, ghl::Propagation},
    upstream::{
        RetryPolicy, UpstreamError,
        clubos::ClubOsClient,
        ghl::{GhlAuth, GhlClient, GhlOAuth, LinkField, TokenSource},
    },
    webhooks::{GhlWebhooks, KeyError},
    writes::{Writer, relay},
};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build an upstream client: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read a webhook key: {0}")]
    Webhooks(#[from] KeyError),
    #[error("{0}")]
    Auth(#[from] crate::auth::AuthConfigError),
}

/// How a gateway starts beyond its configuration. The default is `contactgraph serve`'s.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resolve the GHL link custom field's id in the background at start, so that the
    /// first request does not wait for it. Off only where a test counts every GHL call
    /// from the start.
    pub warm_up: bool,
    /// Create an `admin` API key and have the playground send it (the demo, which listens
    /// on loopback only by default). A served gateway shows no key.
    pub playground_admin_key: bool,
    /// Also allow the gateway's own origins for CORS (`http://127.0.0.1:{port}`,
    /// `http://localhost:{port}` and the listen address), so that a page opened at either
    /// name of its address may call it. Known only once the listener is bound.
    pub allow_own_origins: bool,
    /// The outbox's clock (the system's by default). With a manual clock the relay does
    /// not run on its own: time moves only when the test moves it, and the test runs the
    /// relay's rounds ([`relay::tick`]).
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            warm_up: true,
            playground_admin_key: false,
            allow_own_origins: false,
            clock: Clock::system(),
        }
    }
}

/// A running gateway. Dropping it leaves it running until the runtime ends; [`stop`]
/// shuts it down gracefully.
///
/// [`stop`]: Gateway::stop
#[derive(Debug)]
pub struct Gateway {
    /// What reads go through (clients, caches, store), for tests and benchmarks to use.
    pub readers: Arc<Readers>,
    /// What writes go through (the outbox, the relay's rounds), likewise.
    pub writer: Arc<Writer>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The key the playground sends, with [`Options::playground_admin_key`].
    pub playground_key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    relay: Option<JoinHandle<()>>,
    sync: Option<JoinHandle<()>>,
    poll: Option<JoinHandle<()>>,
    ghl_poll: Option<JoinHandle<()>>,
    events_poll: Option<JoinHandle<()>>,
    backfill: Option<JoinHandle<()>>,
    reconcile: Option<JoinHandle<()>>,
    /// The response cache's follower of the change log.
    responses: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Builds the parts from `cfg` (clients, caches, store), starts the relay, and serves
    /// the router on `listener`.
    pub async fn start(cfg: &Config, listener: TcpListener, opts: Options) -> anyhow::Result<Self> {
        let store = Store::connect(&cfg.store.url).await?;
        let (ghl, oauth) = ghl_client(cfg, &store)?;
        let clubos = ClubOsClient::new(cfg.clubos.clone(), RetryPolicy::new(cfg.retry.clone()))?;
        let caches = Arc::new(Caches::new(&cfg.cache));
        let link_field = LinkField::new(ghl.clone(), &cfg.ghl.link_field);
        if opts.warm_up {
            link_field.resolve_early();
        }
        let read_model = cfg.read_model.enabled.then(|| {
            let webhooks = !cfg.webhooks.ghl_public_keys.is_empty()
                || cfg.webhooks.ghl_legacy_rsa_public_key.is_some();
            let stall_after =
                Duration::from_secs(cfg.sync.interval_minutes * 60 * sync::STALL_INTERVALS);
            let (ghl_poll, clubos_poll) = (
                cfg.sync.ghl_poll.then_some(stall_after),
                cfg.sync.clubos_poll.then_some(stall_after),
            );
            ReadModel::new(
                store.clone(),
                &cfg.read_model,
                Arc::new(Trust::new(webhooks, ghl_poll, clubos_poll)),
                link_field.clone(),
                cfg.linking.region(),
            )
        });
        let readers = Arc::new(Readers {
            ghl: ghl.clone(),
            clubos: clubos.clone(),
            caches: caches.clone(),
            store: store.clone(),
            link_field: link_field.clone(),
            phone_region: cfg.linking.region(),
            fanout: cfg.loaders.fanout,
            batch_delay: Duration::from_micros(cfg.loaders.batch_delay_us),
            read_model: read_model.clone(),
        });
        let writer = Arc::new(Writer {
            ghl,
            clubos,
            store: store.clone(),
            caches: caches.clone(),
            link_field,
            config: cfg.writes.clone(),
            clock: opts.clock.clone(),
            own_writes: Default::default(),
            read_model,
        });
        let addr = listener.local_addr()?;
        let playground_key = if opts.playground_admin_key {
            Some(auth::create_key(&store, Role::Admin, "demo", Default::default()).await?)
        } else {
            None
        };
        let cors = if opts.allow_own_origins {
            own_origins(&cfg.server.cors, addr)
        } else {
            cfg.server.cors.clone()
        };
        let surface = Surface {
            schema: schema::build(
                writer.clone(),
                cfg.merge.clone(),
                cfg.sync.clone(),
                &cfg.limits,
            ),
            readers: readers.clone(),
            auth: Arc::new(Authenticator::new(&cfg.auth).map_err(StartError::from)?),
            limits: cfg.limits.clone(),
            webhooks: Arc::new(GhlWebhooks::new(&cfg.webhooks).map_err(StartError::from)?),
            oauth,
            readiness: server::Readiness {
                polls: [
                    (cfg.sync.clubos_poll, "clubosPoll", sync::clubos::SOURCE),
                    (cfg.sync.ghl_poll, "ghlPoll", sync::ghl_poll::SOURCE),
                    (
                        cfg.sync.clubos_events_poll,
                        "clubosEventsPoll",
                        sync::clubos_events::SOURCE,
                    ),
                ]
                .into_iter()
                .filter(|(on, ..)| *on)
                .map(|(_, check, source)| {
                    (
                        check,
                        source,
                        Duration::from_secs(cfg.sync.interval_minutes * 60),
                    )
                })
                .collect(),
                started_ms: crate::store::now_ms(),
            },
            propagation: (cfg.sync.propagate || cfg.sync.create_in_clubos).then(|| {
                Arc::new(Propagation {
                    writer: writer.clone(),
                    config: cfg.sync.clone(),
                    region: cfg.linking.region(),
                    source: crate::webhooks::SOURCE,
                })
            }),
        };
        let app = server::router(
            surface,
            server::RouterOptions {
                max_body_bytes: cfg.server.max_body_bytes,
                playground_key: playground_key.clone(),
                cors,
            },
        );
        let relay = (!opts.clock.is_manual()).then(|| relay::spawn(writer.clone()));
        let sync = cfg.sync.links.then(|| {
            let every = Duration::from_secs(cfg.sync.interval_minutes * 60);
            sync::links::spawn(writer.clone(), cfg.linking.region(), every)
        });
        let poll = cfg
            .sync
            .clubos_poll
            .then(|| sync::clubos::spawn(writer.clone(), cfg.sync.clone(), cfg.linking.region()));
        let ghl_poll = cfg
            .sync
            .ghl_poll
            .then(|| sync::ghl_poll::spawn(writer.clone(), cfg.sync.clone(), cfg.linking.region()));
        let events_poll = cfg
            .sync
            .clubos_events_poll
            .then(|| sync::clubos_events::spawn(writer.clone(), cfg.sync.clone()));
        let backfill = readers
            .read_model
            .clone()
            .filter(|_| cfg.read_model.backfill_on_start)
            .map(|model| {
                let (r, page) = (readers.clone(), cfg.sync.clubos_page_size);
                tokio::spawn(async move {
                    match sync::backfill::run(&r.ghl, &r.clubos, &model, page).await {
                        Ok(report) => tracing::info!(?report, "backfill finished"),
                        Err(e) => tracing::warn!(code = e.code.as_str(), "backfill stopped"),
                    }
                })
            });
        let reconcile = readers
            .read_model
            .clone()
            .filter(|_| cfg.read_model.reconcile_hours > 0)
            .map(|model| {
                let every = Duration::from_secs(cfg.read_model.reconcile_hours * 3600);
                sync::reconcile::spawn(readers.clone(), model, cfg.sync.clubos_page_size, every)
            });
        let responses = match &readers.read_model {
            Some(_) if cfg.cache.responses.enabled => {
                Some(caches.clone().follow(store.clone()).await?)
            }
            _ => None,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app, async {
            let _ = rx.await;
        }));
        Ok(Self {
            readers,
            writer,
            addr,
            playground_key,
            stop: Some(tx),
            task,
            relay,
            sync,
            poll,
            ghl_poll,
            events_poll,
            backfill,
            reconcile,
            responses,
        })
    }

    /// `http://host:port` of the gateway.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `shutdown` resolves (or the server fails), then stops.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        tokio::select! {
            () = shutdown => {}
            served = &mut self.task => return served.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        }
        self.stop().await
    }

    /// Stops taking requests, lets those in flight finish, and stops the relay (a leg it
    /// held is finished by the next start, once its lease has passed).
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        for task in [
            &self.relay,
            &self.sync,
            &self.poll,
            &self.ghl_poll,
            &self.events_poll,
            &self.backfill,
            &self.reconcile,
            &self.responses,
        ]
        .into_iter()
        .flatten()
        {
            task.abort();
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// The GHL client `cfg.ghl.auth` asks for and, in OAuth mode, its token holder (the
/// install endpoints use it too).
fn ghl_client(
    cfg: &Config,
    store: &Store,
) -> Result<(GhlClient, Option<Arc<GhlOAuth>>), StartError> {
    let retry = RetryPolicy::new(cfg.retry.clone());
    Ok(match (cfg.ghl.auth, &cfg.ghl.oauth) {
        (GhlAuth::OAuth, Some(oauth)) => {
            let oauth = Arc::new(GhlOAuth::new(&cfg.ghl, oauth, store.clone())?);
            let tokens = TokenSource::OAuth(oauth.clone());
            (
                GhlClient::with_tokens(&cfg.ghl, retry, tokens)?,
                Some(oauth),
            )
        }
        _ => (GhlClient::new(&cfg.ghl, retry)?, None),
    })
}

/// The configured CORS origins plus the gateway's own: `http://127.0.0.1:{port}`,
/// `http://localhost:{port}` and the listen address itself (one served from another
/// port may not call it).
fn own_origins(configured: &CorsConfig, addr: SocketAddr) -> CorsConfig {
    let port = addr.port();
    let mut own = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    if !addr.ip().is_unspecified() {
        own.push(format!("http://{addr}"));
    }
    let mut allowed_origins = configured.allowed_origins.clone();
    for origin in own {
        if !allowed_origins.contains(&origin) {
            allowed_origins.push(origin);
        }
    }
    CorsConfig { allowed_origins }
}
