//! The GHL (HighLevel API v2) client and its models.

mod client;
pub mod models;

pub use client::{GhlClient, VERSION_CALENDARS, VERSION_CONTACTS};
use secrecy::SecretString;
use serde::Deserialize;

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
    /// A Private Integration token or location access token. Never printed.
    pub token: SecretString,
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

fn default_base_url() -> String {
    "https://services.leadconnectorhq.com".into()
}
fn default_link_field() -> String {
    "contact.clubos_member_id".into()
}
