//! The GHL (HighLevel API v2) client, its models, and its credentials: a Private
//! Integration token or a Marketplace app's OAuth tokens ([`oauth`], [`token`]).

mod answer;
mod client;
mod link_field;
pub mod models;
pub mod oauth;
pub mod token;

pub use client::{GhlClient, VERSION_CALENDARS, VERSION_CONTACTS};
pub use link_field::LinkField;
pub use oauth::{GhlOAuth, OAuthConfig};
use secrecy::SecretString;
use serde::Deserialize;
pub use token::TokenSource;

use super::ratelimit::ClientRateLimit;

/// How to reach GHL (config section `[ghl]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GhlConfig {
    /// API root; the real one is `https://services.leadconnectorhq.com`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The sub-account (location) this gateway serves.
    pub location_id: String,
    /// How the gateway authenticates to GHL.
    #[serde(default)]
    pub auth: GhlAuth,
    /// A Private Integration token or location access token (`auth = "private_integration"`).
    /// Never printed.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The Marketplace app (`auth = "oauth"`).
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Whole-request timeout.
    #[serde(default = "crate::upstream::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout.
    #[serde(default = "crate::upstream::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Calls in flight at once.
    #[serde(default = "crate::upstream::default_max_concurrency")]
    pub max_concurrency: usize,
    /// GHL's limits and the share of them this gateway may use.
    #[serde(default)]
    pub rate_limit: ClientRateLimit,
    /// The custom field that mirrors a contact's Club OS user id (id or key).
    #[serde(default = "default_link_field")]
    pub link_field: String,
}

/// `ghl.auth`: which credential the gateway sends GHL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum GhlAuth {
    /// `ghl.token`, sent as it is (the default).
    #[default]
    #[serde(rename = "private_integration")]
    PrivateIntegration,
    /// A Marketplace app's OAuth tokens (`[ghl.oauth]`), from the install at
    /// `/oauth/ghl/callback`, kept in the store and refreshed before they expire.
    #[serde(rename = "oauth")]
    OAuth,
}

fn default_base_url() -> String {
    "https://services.leadconnectorhq.com".into()
}
fn default_link_field() -> String {
    "contact.clubos_member_id".into()
}
