//! The two upstream simulators: real axum HTTP servers that answer as GHL and Club OS
//! do (paths, statuses, error bodies, headers, validation, paging, rate limits), over
//! deterministic seed data, with an admin surface under `/_sim/` for tests and demos.
//!
//! This crate never depends on the gateway: it knows GHL and Club OS only as their
//! documentation describes them, with its own phone rule ([`phone`]), so a gateway bug
//! cannot hide behind a simulator that shares it.

pub mod admin;
pub mod clubos;
pub mod ghl;
pub mod phone;
pub mod seed;

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub use seed::World;

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Serves `router` on `listen` (port 0 picks a free port).
    pub async fn start(listen: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"))
        })?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%err, "simulator server stopped");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What `contactgraph sim` and `contactgraph demo` start.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub people: usize,
    pub ghl_listen: SocketAddr,
    pub clubos_listen: SocketAddr,
    pub ghl: ghl::GhlSimConfig,
    pub clubos: clubos::ClubOsSimConfig,
}

impl Default for SimOptions {
    fn default() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            seed: 42,
            people: 500,
            ghl_listen: any,
            clubos_listen: any,
            ghl: ghl::GhlSimConfig::default(),
            clubos: clubos::ClubOsSimConfig::default(),
        }
    }
}

/// Both simulators, running over one generated world.
#[derive(Debug)]
pub struct Sims {
    pub ghl: SimServer,
    pub clubos: SimServer,
    pub ghl_state: Arc<ghl::GhlSim>,
    pub clubos_state: Arc<clubos::ClubOsSim>,
}

impl Sims {
    /// Generates the world and starts both servers.
    pub async fn start(opts: SimOptions) -> std::io::Result<Self> {
        let ghl_state = Arc::new(ghl::GhlSim::new(opts.seed, opts.people, opts.ghl));
        let clubos_state = Arc::new(clubos::ClubOsSim::new(opts.seed, opts.people, opts.clubos));
        let ghl = SimServer::start(opts.ghl_listen, ghl::router(ghl_state.clone())).await?;
        let clubos =
            SimServer::start(opts.clubos_listen, clubos::router(clubos_state.clone())).await?;
        Ok(Self {
            ghl,
            clubos,
            ghl_state,
            clubos_state,
        })
    }
}
