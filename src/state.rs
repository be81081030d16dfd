//! What every request shares: the upstream clients and the settings resolvers need.

use tokio::sync::OnceCell;

use crate::{
    config::Config,
    error::{GatewayError, System},
    upstream::{RetryPolicy, UpstreamError, clubos::ClubOsClient, ghl::GhlClient},
};

/// The gateway's shared state, built once at start-up.
#[derive(Debug)]
pub struct AppState {
    pub ghl: GhlClient,
    pub clubos: ClubOsClient,
    /// Region for phone numbers written without a country code.
    pub phone_region: phonenumber::country::Id,
    link_field: String,
    link_field_id: OnceCell<Option<String>>,
}

impl AppState {
    /// Builds the clients; both share one retry budget per upstream.
    pub fn new(cfg: &Config) -> Result<Self, UpstreamError> {
        Ok(Self {
            ghl: GhlClient::new(&cfg.ghl, RetryPolicy::new(cfg.retry.clone()))?,
            clubos: ClubOsClient::new(cfg.clubos.clone(), RetryPolicy::new(cfg.retry.clone()))?,
            phone_region: cfg.linking.region(),
            link_field: cfg.ghl.link_field.clone(),
            link_field_id: OnceCell::new(),
        })
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
