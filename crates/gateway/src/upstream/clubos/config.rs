//! `[clubos]`: where Club OS is, the credentials, and the names of the *inferred* v3
//! search parameters (configurable, so that they can follow the real Swagger).

use secrecy::SecretString;
use serde::Deserialize;

fn default_base_url() -> String {
    "https://api.club-os.io".into()
}
fn default_v1_base_url() -> String {
    "https://api.club-os.com".into()
}
fn default_email_param() -> String {
    "email".into()
}
fn default_phone_param() -> String {
    "phone".into()
}
fn default_updated_since_param() -> String {
    "updatedSince".into()
}

/// Club OS settings (config section `[clubos]`). The key and password are secrets: they
/// never appear in `Debug` output, logs or errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClubOsConfig {
    /// v3 base URL. Not documented; Club OS's own front end uses `https://api.club-os.io`
    /// (`https://test-api.club-os.io` for test).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// v1 base URL (documented).
    #[serde(default = "default_v1_base_url")]
    pub v1_base_url: String,
    /// The v3 partner key, sent as `x-api-key` (documented).
    pub api_key: SecretString,
    /// v1 Basic user name; without it `email_match` is unavailable.
    #[serde(default)]
    pub v1_username: Option<String>,
    /// v1 Basic password.
    #[serde(default)]
    pub v1_password: Option<SecretString>,
    /// The club (tenant) this gateway serves; filled into creates that leave it out.
    pub club_id: i64,
    /// The home location: `clubLocationId` of v1 calls and the default of creates.
    pub location_id: i64,
    /// Whole-request timeout.
    #[serde(default = "crate::upstream::default_timeout_ms")]
    pub timeout_ms: u64,
    /// TCP/TLS connect timeout.
    #[serde(default = "crate::upstream::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Calls in flight at once; more wait, so a burst of loads cannot flood Club OS.
    #[serde(default = "crate::upstream::default_max_concurrency")]
    pub max_concurrency: usize,
    /// `GET /users` parameter for the email filter. *Inferred*: no v3 user-search filter
    /// is documented, so the name is configurable to follow the real Swagger.
    #[serde(default = "default_email_param")]
    pub email_param: String,
    /// `GET /users` parameter for the phone filter. *Inferred* and configurable.
    #[serde(default = "default_phone_param")]
    pub phone_param: String,
    /// `GET /users` parameter for the updated-since filter. *Inferred* and configurable.
    #[serde(default = "default_updated_since_param")]
    pub updated_since_param: String,
}

impl ClubOsConfig {
    /// A configuration with every optional setting at its default, for code (tests, the
    /// demo) that builds one without a config file.
    pub fn new(api_key: SecretString, club_id: i64, location_id: i64) -> Self {
        Self {
            base_url: default_base_url(),
            v1_base_url: default_v1_base_url(),
            api_key,
            v1_username: None,
            v1_password: None,
            club_id,
            location_id,
            timeout_ms: crate::upstream::default_timeout_ms(),
            connect_timeout_ms: crate::upstream::default_connect_timeout_ms(),
            max_concurrency: crate::upstream::default_max_concurrency(),
            email_param: default_email_param(),
            phone_param: default_phone_param(),
            updated_since_param: default_updated_since_param(),
        }
    }
}
