//! What every request shares: the upstream clients, the caches, the store and the
//! settings resolvers need.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use tokio::sync::OnceCell;

use crate::{
    cache::Caches,
    config::Config,
    error::{GatewayError, System},
    linking::merge::MergeConfig,
    store::Store,
    upstream::{
        RetryPolicy, UpstreamError,
        clubos::ClubOsClient,
        ghl::{GhlAuth, GhlClient, GhlOAuth, TokenSource},
    },
    webhooks::{GhlWebhooks, KeyError},
    writes::WritesConfig,
};

/// The gateway's shared state, built once at start-up.
#[derive(Debug)]
pub struct AppState {
    pub ghl: GhlClient,
    /// The GHL app's OAuth tokens, when `ghl.auth` is `oauth` (the install endpoints use
    /// it; the client holds it too).
    pub ghl_oauth: Option<Arc<GhlOAuth>>,
    pub clubos: ClubOsClient,
    pub caches: Caches,
    pub store: Store,
    /// Which system wins which field.
    pub merge: MergeConfig,
    /// Region for phone numbers written without a country code.
    pub phone_region: phonenumber::country::Id,
    /// How long a loader waits to gather keys into one batch, in microseconds.
    pub batch_delay_us: u64,
    /// One-key-per-call fetches a loader runs at once.
    pub fanout: usize,
    /// The write path's settings.
    pub writes: WritesConfig,
    /// The outbox's time: the system's, or a test's manual clock.
    pub clock: crate::clock::Clock,
    /// Verification, deduplication and counters of GHL's webhook deliveries.
    pub webhooks: GhlWebhooks,
    /// Checks callers' credentials.
    pub auth: crate::auth::Authenticator,
    /// What one GraphQL request may ask (the checks the schema does not make).
    pub limits: crate::limits::LimitsConfig,
    /// Parsed GraphQL documents by their text: clients send the same few documents, and
    /// parsing is a large part of answering from cache.
    pub parsed_queries: moka::sync::Cache<String, ExecutableDocument>,
    link_field: String,
    link_field_id: OnceCell<Option<String>>,
}

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

impl AppState {
    /// Builds the clients and caches and opens the store.
    pub async fn new(cfg: &Config) -> Result<Self, StartError> {
        let store = Store::connect(&cfg.store.url).await?;
        let ghl_retry = RetryPolicy::new(cfg.retry.clone());
        let (ghl, ghl_oauth) = match (cfg.ghl.auth, &cfg.ghl.oauth) {
            (GhlAuth::OAuth, Some(oauth)) => {
                let oauth = Arc::new(GhlOAuth::new(&cfg.ghl, oauth, store.clone())?);
                let tokens = TokenSource::OAuth(oauth.clone());
                (
                    GhlClient::with_tokens(&cfg.ghl, ghl_retry, tokens)?,
                    Some(oauth),
                )
            }
            _ => (GhlClient::new(&cfg.ghl, ghl_retry)?, None),
        };
        Ok(Self {
            ghl,
            ghl_oauth,
            clubos: ClubOsClient::new(cfg.clubos.clone(), RetryPolicy::new(cfg.retry.clone()))?,
            caches: Caches::new(&cfg.cache),
            store,
            merge: cfg.merge.clone(),
            phone_region: cfg.linking.region(),
            batch_delay_us: cfg.loaders.batch_delay_us,
            fanout: cfg.loaders.fanout,
            writes: cfg.writes.clone(),
            clock: crate::clock::Clock::system(),
            webhooks: GhlWebhooks::new(&cfg.webhooks)?,
            auth: crate::auth::Authenticator::new(&cfg.auth)?,
            limits: cfg.limits.clone(),
            parsed_queries: moka::sync::Cache::builder()
                .max_capacity(4 * 1024 * 1024)
                .weigher(|q: &String, _| u32::try_from(q.len() * 8).unwrap_or(u32::MAX))
                .build(),
            link_field: cfg.ghl.link_field.clone(),
            link_field_id: OnceCell::new(),
        })
    }

    /// Resolves the link custom field's id in the background, so that the first request
    /// does not wait for it. A failure is left for that request to retry and report.
    pub fn resolve_link_field_early(self: &Arc<Self>) {
        let state = self.clone();
        tokio::spawn(async move {
            let _ = state.link_field_id().await;
        });
    }

    /// The id of the GHL custom field that mirrors a Club OS user id, resolved from its
    /// configured id or key on first use. `None` when the location has no such field.
    pub async fn link_field_id(&self) -> Result<Option<&str>, GatewayError> {
        let id = self
            .link_field_id
            .get_or_try_init(|| async {
                let fields = self.ghl.custom_fields().await?;
                Ok::<_, UpstreamError>(
                    fields
                        .into_iter()
                        .find(|f| f.id == self.link_field || f.field_key == self.link_field)
                        .map(|f| f.id),
                )
            })
            .await
            .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        Ok(id.as_deref())
    }
}
