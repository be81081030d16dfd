//! The composition root: a gateway built from a [`Config`] and served on a listener, with
//! its relay. `contactgraph serve`, the demo, the tests and the bench all start one here;
//! nothing else wires the parts together.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    auth::{self, Role},
    clock::Clock,
    config::{Config, CorsConfig},
    schema, server,
    state::AppState,
    writes::relay,
};

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
    /// The shared state (store, caches, clients), for tests and benchmarks to inspect.
    pub state: Arc<AppState>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The key the playground sends, with [`Options::playground_admin_key`].
    pub playground_key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    relay: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Builds the state from `cfg` (clients, caches, store), starts the relay, and serves
    /// the router on `listener`.
    pub async fn start(cfg: &Config, listener: TcpListener, opts: Options) -> anyhow::Result<Self> {
        let mut state = AppState::new(cfg).await?;
        state.clock = opts.clock.clone();
        let state = Arc::new(state);
        if opts.warm_up {
            state.resolve_link_field_early();
        }
        let addr = listener.local_addr()?;
        let playground_key = if opts.playground_admin_key {
            Some(auth::create_key(&state.store, Role::Admin, "demo", Default::default()).await?)
        } else {
            None
        };
        let cors = if opts.allow_own_origins {
            own_origins(&cfg.server.cors, addr)
        } else {
            cfg.server.cors.clone()
        };
        let app = server::router(
            schema::build(state.clone(), &cfg.limits),
            state.clone(),
            server::RouterOptions {
                max_body_bytes: cfg.server.max_body_bytes,
                playground_key: playground_key.clone(),
                cors,
            },
        );
        let relay = (!opts.clock.is_manual()).then(|| relay::spawn(state.clone()));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app, async {
            let _ = rx.await;
        }));
        Ok(Self {
            state,
            addr,
            playground_key,
            stop: Some(tx),
            task,
            relay,
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
        if let Some(relay) = &self.relay {
            relay.abort();
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
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
