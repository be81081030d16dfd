//! GHL's OAuth 2 for a Marketplace app (`ghl-api.md` §2.2–2.3): the authorization-code
//! exchange of an install, and access tokens kept fresh from the store.
//!
//! - The tokens live in the store ([`Store::ghl_oauth_tokens`]), one row per location, so
//!   that a restarted gateway, or another replica sharing the store, carries on with them.
//! - An access token is refreshed `refresh_skew_secs` before it expires, or at once when GHL
//!   answers 401 to it. GHL rotates the refresh token on every use, so a refresh records the
//!   new pair with [`Store::rotate_ghl_oauth_tokens`], conditioned on the refresh token it
//!   spent; a gateway that loses that race reads the winner's pair back.
//! - One refresh at a time per location: callers that find the token due wait on one lock,
//!   and whoever gets it after a refresh finished takes the new token instead of refreshing
//!   again.
//! - Tokens are `SecretString`s and the header carrying them is marked sensitive; nothing
//!   here prints one, and errors carry GHL's error code at most, never a token.

use crate::store::now_ms;
use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use reqwest::{
    StatusCode,
    header::{ACCEPT, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::GhlConfig;
use crate::{
    store::{GhlOAuthTokens, Store, StoreError},
    upstream::UpstreamError,
};

/// How often the store is read after GHL refused a refresh token, in case another gateway
/// spent it and is storing the new pair.
const GRANT_RACE_READS: u32 = 5;
/// The pause between those reads.
const GRANT_RACE_PAUSE: Duration = Duration::from_millis(100);

/// `[ghl.oauth]`: the Marketplace app's credentials and how the gateway uses them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The app's client id (`<appId>-<suffix>`).
    pub client_id: String,
    /// The app's client secret. Never printed.
    pub client_secret: SecretString,
    /// Where GHL sends the installing admin back with the code: this gateway's
    /// `/oauth/ghl/callback`, exactly as registered with the app.
    pub redirect_uri: String,
    /// GHL's consent page, where `/oauth/ghl/install` sends the admin.
    #[serde(default = "default_authorize_url")]
    pub authorize_url: String,
    /// The scopes the install asks for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// How long before its expiry an access token is refreshed, in seconds.
    #[serde(default = "default_refresh_skew_secs")]
    pub refresh_skew_secs: u64,
    /// Refuse a callback without the `state` that `/oauth/ghl/install` set. Off only for
    /// installs started from the Marketplace listing, which carry no `state`.
    #[serde(default = "default_require_state")]
    pub require_state: bool,
}

fn default_authorize_url() -> String {
    "https://marketplace.gohighlevel.com/v2/oauth/chooselocation".into()
}

fn default_scopes() -> Vec<String> {
    [
        "contacts.readonly",
        "contacts.write",
        "calendars/events.readonly",
        "calendars/events.write",
        "locations/tasks.readonly",
        "locations/customFields.readonly",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn default_refresh_skew_secs() -> u64 {
    300
}

fn default_require_state() -> bool {
    true
}

/// Why an install did not complete. Each has a stable code for the callback's answer.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// GHL refused the authorization code (unknown, used or expired).
    #[error("GHL refused the authorization code")]
    CodeRejected,
    /// GHL refused the app's client id or secret: the gateway is misconfigured.
    #[error("GHL refused the app's client credentials")]
    ClientRejected,
    /// The code was for another location than the one this gateway serves (or for an
    /// agency): the tokens were dropped.
    #[error("the authorization is not for the location this gateway serves")]
    WrongLocation,
    /// GHL's token endpoint failed or could not be reached.
    #[error("GHL's token endpoint is unavailable: {0}")]
    Upstream(UpstreamError),
    /// The tokens could not be stored.
    #[error("the tokens could not be stored: {0}")]
    Store(#[from] StoreError),
}

/// What an install stored (no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The location the app was installed in.
    pub location_id: String,
    /// The scopes GHL granted.
    pub scopes: Vec<String>,
    /// When the first access token expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

/// A failed call to `POST /oauth/token`.
#[derive(Debug)]
enum TokenError {
    /// 400/401/422: the code or refresh token was refused.
    Grant,
    /// 401 `invalid_client`.
    Client,
    /// Anything else: GHL could not be reached or answered something unusable.
    Upstream(UpstreamError),
}

/// The 200 answer of `POST /oauth/token` (the fields the gateway keeps).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    refresh_token: SecretString,
    expires_in: i64,
    #[serde(default)]
    scope: String,
    #[serde(rename = "locationId")]
    location_id: Option<String>,
    #[serde(rename = "companyId")]
    company_id: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

impl TokenAnswer {
    fn into_tokens(self, location_id: String, now_ms: i64) -> GhlOAuthTokens {
        GhlOAuthTokens {
            location_id,
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_at_ms: now_ms.saturating_add(self.expires_in.saturating_mul(1000)),
            scopes: self.scope.split_whitespace().map(str::to_owned).collect(),
            company_id: self.company_id,
            user_id: self.user_id,
        }
    }
}

/// An access token in use: the stored tokens and the `Authorization` value built from
/// them. Compared by identity (`Arc::ptr_eq`) to tell whether a refresh happened since a
/// caller read it.
pub struct Issued {
    pub(super) header: HeaderValue,
    tokens: GhlOAuthTokens,
}

/// The OAuth token manager of one location.
pub struct GhlOAuth {
    http: reqwest::Client,
    token_url: String,
    location_id: String,
    cfg: OAuthConfig,
    skew_ms: i64,
    store: Store,
    current: RwLock<Option<Arc<Issued>>>,
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for GhlOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GhlOAuth")
            .field("token_url", &self.token_url)
            .field("location_id", &self.location_id)
            .field("client_id", &self.cfg.client_id)
            .finish_non_exhaustive()
    }
}

impl GhlOAuth {
    /// The manager for `ghl.location_id`, calling `{ghl.base_url}/oauth/token`.
    pub fn new(ghl: &GhlConfig, cfg: &OAuthConfig, store: Store) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(ghl.timeout_ms))
            .connect_timeout(Duration::from_millis(ghl.connect_timeout_ms))
            .user_agent(concat!("contactgraph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(UpstreamError::from_reqwest)?;
        Ok(Self {
            http,
            token_url: format!("{}/oauth/token", ghl.base_url.trim_end_matches('/')),
            location_id: ghl.location_id.clone(),
            cfg: cfg.clone(),
            skew_ms: i64::try_from(cfg.refresh_skew_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            store,
            current: RwLock::new(None),
            refreshing: Mutex::new(()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OAuthConfig {
        &self.cfg
    }

    /// GHL's consent page for this app, carrying `state` back to the callback.
    pub fn authorize_url(&self, state: &str) -> Result<String, url::ParseError> {
        let mut url = url::Url::parse(&self.cfg.authorize_url)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.cfg.redirect_uri)
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("scope", &self.cfg.scopes.join(" "))
            .append_pair("state", state);
        Ok(url.into())
    }

    /// Exchanges an authorization code and stores the tokens, replacing the location's.
    /// A code for another location is refused and nothing is stored.
    pub async fn install(&self, code: &str) -> Result<Installed, InstallError> {
        let answer = self
            .token_call(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.cfg.redirect_uri),
            ])
            .await
            .map_err(|e| match e {
                TokenError::Grant => InstallError::CodeRejected,
                TokenError::Client => InstallError::ClientRejected,
                TokenError::Upstream(e) => InstallError::Upstream(e),
            })?;
        if answer.location_id.as_deref() != Some(self.location_id.as_str()) {
            return Err(InstallError::WrongLocation);
        }
        let now = now_ms();
        let tokens = answer.into_tokens(self.location_id.clone(), now);
        let installed = Installed {
            location_id: tokens.location_id.clone(),
            scopes: tokens.scopes.clone(),
            expires_at_ms: tokens.expires_at_ms,
        };
        let _one = self.refreshing.lock().await;
        self.store.put_ghl_oauth_tokens(&tokens, now).await?;
        self.adopt(tokens).map_err(InstallError::Upstream)?;
        Ok(installed)
    }

    /// A token to call GHL with: the one in use while it is not due, else (one caller at a
    /// time) the stored one or a refreshed one.
    pub(super) async fn bearer(&self) -> Result<Arc<Issued>, UpstreamError> {
        let seen = self.cached();
        if let Some(issued) = &seen
            && !self.due(issued.tokens.expires_at_ms)
        {
            return Ok(issued.clone());
        }
        let _one = self.refreshing.lock().await;
        if let Some(current) = self.cached()
            && !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &current))
        {
            return Ok(current);
        }
        self.renew_locked(seen.as_ref(), false).await
    }

    /// A token to replace `refused`, which GHL answered 401 to: a newer one if some caller
    /// already refreshed, else a refreshed one.
    pub(super) async fn renew(&self, refused: &Arc<Issued>) -> Result<Arc<Issued>, UpstreamError> {
        let _one = self.refreshing.lock().await;
        if let Some(current) = self.cached()
            && !Arc::ptr_eq(&current, refused)
        {
            return Ok(current);
        }
        self.renew_locked(Some(refused), true).await
    }

    /// With the refresh lock held: replaces `stale` (due, refused by GHL, or `None` when
    /// nothing is loaded yet) with the stored tokens when another gateway already put newer
    /// ones there, else refreshes.
    async fn renew_locked(
        &self,
        stale: Option<&Arc<Issued>>,
        refused: bool,
    ) -> Result<Arc<Issued>, UpstreamError> {
        let stored = self.load().await?;
        let newer = stale.is_none_or(|s| {
            s.tokens.access_token.expose_secret() != stored.access_token.expose_secret()
        });
        if newer && (refused || !self.due(stored.expires_at_ms)) {
            return self.adopt(stored);
        }
        let refreshed = self
            .token_call(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", stored.refresh_token.expose_secret()),
            ])
            .await;
        match refreshed {
            Ok(answer) => {
                let now = now_ms();
                let mut rotated = answer.into_tokens(self.location_id.clone(), now);
                if rotated.scopes.is_empty() {
                    rotated.scopes.clone_from(&stored.scopes);
                }
                rotated.company_id.clone_from(&stored.company_id);
                rotated.user_id.clone_from(&stored.user_id);
                match self
                    .store
                    .rotate_ghl_oauth_tokens(&stored.refresh_token, &rotated, now)
                    .await
                {
                    Ok(true) => {
                        tracing::debug!(location = %self.location_id, "GHL access token refreshed");
                        self.adopt(rotated)
                    }
                    Ok(false) => {
                        tracing::debug!(
                            location = %self.location_id,
                            "another gateway rotated the GHL tokens first; using theirs"
                        );
                        let winner = self.load().await?;
                        self.adopt(winner)
                    }
                    Err(e) => {
                        tracing::error!(
                            location = %self.location_id,
                            error = %e,
                            "the rotated GHL tokens could not be stored; they serve this \
                             process only, and the app may need installing again"
                        );
                        self.adopt(rotated)
                    }
                }
            }
            Err(TokenError::Grant) => {
                // Another gateway may have spent the token a moment ago and still be
                // storing the new pair: look again for a while before giving up.
                for round in 0..GRANT_RACE_READS {
                    if round > 0 {
                        tokio::time::sleep(GRANT_RACE_PAUSE).await;
                    }
                    let again = self.load().await?;
                    if again.refresh_token.expose_secret() != stored.refresh_token.expose_secret() {
                        return self.adopt(again);
                    }
                }
                tracing::warn!(location = %self.location_id, "GHL refused the stored refresh token");
                Err(UpstreamError::Unauthorized {
                    message: "GHL refused the stored refresh token; install the app again".into(),
                })
            }
            Err(TokenError::Client) => Err(UpstreamError::Unauthorized {
                message: "GHL refused the app's client credentials".into(),
            }),
            Err(TokenError::Upstream(e)) if !refused && stored.expires_at_ms > now_ms() => {
                tracing::warn!(
                    location = %self.location_id,
                    error = %e,
                    "GHL token refresh failed; the access token in hand is used until it expires"
                );
                self.adopt(stored)
            }
            Err(TokenError::Upstream(e)) => Err(e),
        }
    }

    fn due(&self, expires_at_ms: i64) -> bool {
        expires_at_ms.saturating_sub(self.skew_ms) <= now_ms()
    }

    fn cached(&self) -> Option<Arc<Issued>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `tokens` the ones in use.
    fn adopt(&self, tokens: GhlOAuthTokens) -> Result<Arc<Issued>, UpstreamError> {
        let mut header =
            HeaderValue::from_str(&format!("Bearer {}", tokens.access_token.expose_secret()))
                .map_err(|_| UpstreamError::Unauthorized {
                    message: "the GHL access token has characters a header cannot carry".into(),
                })?;
        header.set_sensitive(true);
        let issued = Arc::new(Issued { header, tokens });
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(issued.clone());
        Ok(issued)
    }

    /// The stored tokens of the location.
    async fn load(&self) -> Result<GhlOAuthTokens, UpstreamError> {
        match self.store.ghl_oauth_tokens(&self.location_id).await {
            Ok(Some(tokens)) => Ok(tokens),
            Ok(None) => Err(UpstreamError::Unauthorized {
                message: "the GHL app is not installed for this location".into(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the GHL tokens from the store");
                Err(UpstreamError::Transport(
                    "the GHL tokens cannot be read from the store".into(),
                ))
            }
        }
    }

    /// `POST /oauth/token`, form-encoded, with the app's credentials and `grant`.
    async fn token_call(&self, grant: &[(&str, &str)]) -> Result<TokenAnswer, TokenError> {
        let mut form = vec![
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", self.cfg.client_secret.expose_secret()),
            ("user_type", "Location"),
        ];
        form.extend_from_slice(grant);
        let upstream = |e| TokenError::Upstream(UpstreamError::from_reqwest(e));
        let resp = self
            .http
            .post(&self.token_url)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(upstream)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(upstream)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| {
                TokenError::Upstream(UpstreamError::Decode(
                    "the token answer is not the JSON GHL documents".into(),
                ))
            });
        }
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|b| b.get("error").and_then(|e| e.as_str()).map(str::to_owned));
        Err(match status {
            StatusCode::UNAUTHORIZED if error.as_deref() == Some("invalid_client") => {
                TokenError::Client
            }
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::UNPROCESSABLE_ENTITY => TokenError::Grant,
            StatusCode::TOO_MANY_REQUESTS => TokenError::Upstream(UpstreamError::RateLimited {
                retry_after: None,
                daily_exhausted: false,
            }),
            s => TokenError::Upstream(UpstreamError::Unavailable { status: s.as_u16() }),
        })
    }
}
