//! Where the GHL client's bearer token comes from: a fixed Private Integration token, or
//! the OAuth tokens of an installed Marketplace app, refreshed as they come due.

use std::sync::Arc;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::oauth::{GhlOAuth, Issued};
use crate::upstream::UpstreamError;

/// The source of the `Authorization` header of every GHL call.
#[derive(Clone)]
pub enum TokenSource {
    /// A Private Integration token (or any static token): sent as it is, never refreshed.
    Fixed(HeaderValue),
    /// OAuth: the stored tokens, refreshed before expiry and after a 401.
    OAuth(Arc<GhlOAuth>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(_) => f.write_str("TokenSource::Fixed"),
            Self::OAuth(oauth) => f.debug_tuple("TokenSource::OAuth").field(oauth).finish(),
        }
    }
}

/// The token one call is sent with; handed back to [`TokenSource::after_refusal`] when
/// GHL answers 401 to it.
pub(super) enum Bearer {
    Fixed(HeaderValue),
    OAuth(Arc<Issued>),
}

impl Bearer {
    /// The `Authorization` value (marked sensitive).
    pub(super) fn header(&self) -> &HeaderValue {
        match self {
            Self::Fixed(header) => header,
            Self::OAuth(issued) => &issued.header,
        }
    }
}

impl TokenSource {
    /// A fixed token, e.g. a Private Integration token.
    pub fn fixed(token: &SecretString) -> Result<Self, UpstreamError> {
        let mut header = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| UpstreamError::Unauthorized {
                message: "the GHL token has characters a header cannot carry".into(),
            })?;
        header.set_sensitive(true);
        Ok(Self::Fixed(header))
    }

    /// The token for the next call.
    pub(super) async fn bearer(&self) -> Result<Bearer, UpstreamError> {
        match self {
            Self::Fixed(header) => Ok(Bearer::Fixed(header.clone())),
            Self::OAuth(oauth) => oauth.bearer().await.map(Bearer::OAuth),
        }
    }

    /// After GHL answered 401 to `refused`: the token to send the call once more with, or
    /// `None` when there is nothing to refresh (a fixed token).
    pub(super) async fn after_refusal(
        &self,
        refused: &Bearer,
    ) -> Result<Option<Bearer>, UpstreamError> {
        match (self, refused) {
            (Self::OAuth(oauth), Bearer::OAuth(issued)) => {
                oauth.renew(issued).await.map(|i| Some(Bearer::OAuth(i)))
            }
            _ => Ok(None),
        }
    }
}
