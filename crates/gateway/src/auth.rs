//! Who is calling, and what their role allows.
//!
//! A caller presents either an API key (`Authorization: Bearer cg_…` or `X-API-Key`) or a
//! JWT bearer token (HS256 or RS256, with issuer, audience and expiry checked). API keys
//! live in the store as SHA-256 hashes; a verified key is remembered for
//! `auth.key_cache_secs`, so a revocation takes effect within that time. Roles are ordered:
//! `read` runs queries, `write` also runs mutations, `admin` also sees and retries the
//! outbox. A credential may be bound to GHL and Club OS locations: used on a gateway
//! serving another location, it is refused.

use std::{fmt, time::Duration};

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoredKey};

/// What a caller may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries.
    Read,
    /// Queries and mutations.
    Write,
    /// Everything, including the outbox (`pendingWrites`, `failedWrites`, `retryWrite`).
    Admin,
}

impl Role {
    /// The stored and configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Reads a stored or configured name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The API key's id or the token's subject: scopes idempotency keys, safe to log.
    pub id: String,
    /// What the caller may do.
    pub role: Role,
    /// Where the credential may be used.
    pub binding: Binding,
}

/// The locations a credential may be used on; `None` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Binding {
    /// GHL location ids.
    #[serde(default)]
    pub ghl_locations: Option<Vec<String>>,
    /// Club OS location ids.
    #[serde(default)]
    pub clubos_locations: Option<Vec<i64>>,
}

impl Caller {
    /// Whether the credential may be used on a gateway serving these locations.
    pub fn may_use(&self, ghl_location: &str, clubos_location: i64) -> bool {
        let b = &self.binding;
        b.ghl_locations
            .as_ref()
            .is_none_or(|l| l.iter().any(|x| x == ghl_location))
            && b.clubos_locations
                .as_ref()
                .is_none_or(|l| l.contains(&clubos_location))
    }
}

/// Why a request carries no usable credential.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` or `X-API-Key` header.
    #[error("a credential is required: an API key or a bearer token")]
    Missing,
    /// A credential that is unknown, revoked, expired or badly signed. Which of these is
    /// not said, so as not to help a guesser.
    #[error("the credential is not valid")]
    Invalid,
    /// The store could not be asked about an API key.
    #[error("credentials cannot be checked right now")]
    Unavailable,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Seconds a verified API key (or an unknown one) is remembered before the store is
    /// asked again; revocations take effect within this time.
    pub key_cache_secs: u64,
    /// JWT bearer tokens; unset accepts API keys only.
    pub jwt: Option<JwtConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            key_cache_secs: 30,
            jwt: None,
        }
    }
}

/// `[auth.jwt]`: which tokens to trust. At least one of `hs256_secret` and
/// `rs256_public_key` must be set.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The required `iss` claim.
    pub issuer: String,
    /// The required `aud` claim.
    pub audience: String,
    /// Shared secret for HS256 tokens. Never printed.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// PEM public key for RS256 tokens.
    #[serde(default)]
    pub rs256_public_key: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("rs256_public_key", &self.rs256_public_key.is_some())
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// The claims a token must carry besides `iss`, `aud` and `exp`.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(flatten)]
    binding: Binding,
}

/// Checks credentials.
pub struct Authenticator {
    keys: moka::future::Cache<String, Option<Caller>>,
    jwt: Vec<(DecodingKey, Validation)>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt_keys", &self.jwt.len())
            .finish_non_exhaustive()
    }
}

/// A configuration the authenticator cannot use; names the key, never its value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(String);

impl Authenticator {
    /// Builds the checks `cfg` asks for.
    pub fn new(cfg: &AuthConfig) -> Result<Self, AuthConfigError> {
        let mut jwt = Vec::new();
        if let Some(j) = &cfg.jwt {
            let validation = |alg| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[&j.issuer]);
                v.set_audience(&[&j.audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v.leeway = j.leeway_secs;
                // A token that is not valid yet is refused (`nbf`, with the same leeway).
                v.validate_nbf = true;
                v
            };
            if let Some(secret) = &j.hs256_secret {
                let key =
                    DecodingKey::from_secret(secret.expose_secret().as_bytes()).map_err(|_| {
                        AuthConfigError("key `auth.jwt.hs256_secret` cannot be used".into())
                    })?;
                jwt.push((key, validation(Algorithm::HS256)));
            }
            if let Some(pem) = &j.rs256_public_key {
                let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
                    AuthConfigError(
                        "key `auth.jwt.rs256_public_key` is not an RSA PEM public key".into(),
                    )
                })?;
                jwt.push((key, validation(Algorithm::RS256)));
            }
            if jwt.is_empty() {
                return Err(AuthConfigError(
                    "section `auth.jwt` needs `hs256_secret` or `rs256_public_key`".into(),
                ));
            }
        }
        Ok(Self {
            keys: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(cfg.key_cache_secs))
                .build(),
            jwt,
        })
    }

    /// The caller a request's headers name.
    pub async fn authenticate(
        &self,
        store: &Store,
        headers: &HeaderMap,
    ) -> Result<Caller, AuthError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let credential = match (header("authorization"), header("x-api-key")) {
            (Some(auth), _) => auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .ok_or(AuthError::Invalid)?
                .trim(),
            (None, Some(key)) => key.trim(),
            (None, None) => return Err(AuthError::Missing),
        };
        if credential.starts_with(KEY_PREFIX) {
            self.api_key(store, credential).await
        } else {
            self.token(credential)
        }
    }

    async fn api_key(&self, store: &Store, key: &str) -> Result<Caller, AuthError> {
        let hash = hash_key(key);
        if let Some(known) = self.keys.get(&hash).await {
            return known.ok_or(AuthError::Invalid);
        }
        let stored = store.api_key_by_hash(&hash).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot read API keys");
            AuthError::Unavailable
        })?;
        let caller = stored.and_then(|k| {
            Some(Caller {
                role: Role::parse(&k.role)?,
                id: k.id,
                binding: Binding {
                    ghl_locations: k.ghl_locations,
                    clubos_locations: k.clubos_locations,
                },
            })
        });
        self.keys.insert(hash, caller.clone()).await;
        caller.ok_or(AuthError::Invalid)
    }

    fn token(&self, token: &str) -> Result<Caller, AuthError> {
        for (key, validation) in &self.jwt {
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, key, validation) {
                let c = data.claims;
                return Ok(Caller {
                    role: Role::parse(&c.role).ok_or(AuthError::Invalid)?,
                    id: format!("jwt:{}", c.sub),
                    binding: c.binding,
                });
            }
        }
        Err(AuthError::Invalid)
    }
}

/// What every API key starts with: tells keys from JWTs, and makes a leaked key easy to
/// find with a secret scanner.
pub const KEY_PREFIX: &str = "cg_";

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key with this role, stores its hash, and returns the key: the only time it is
/// ever shown.
pub async fn create_key(
    store: &Store,
    role: Role,
    label: &str,
    binding: Binding,
) -> Result<String, crate::store::StoreError> {
    let mut rng = rand::rng();
    let id: String = hex::encode(rng.random::<[u8; 6]>());
    let secret = URL_SAFE_NO_PAD.encode(rng.random::<[u8; 32]>());
    let key = format!("{KEY_PREFIX}{id}_{secret}");
    store
        .insert_api_key(
            &hash_key(&key),
            &StoredKey {
                id: id.clone(),
                role: role.as_str().into(),
                label: label.into(),
                ghl_locations: binding.ghl_locations,
                clubos_locations: binding.clubos_locations,
            },
        )
        .await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
        for r in [Role::Read, Role::Write, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn a_binding_limits_the_locations() {
        let mut c = Caller {
            id: "k".into(),
            role: Role::Read,
            binding: Binding::default(),
        };
        assert!(c.may_use("a", 1));
        c.binding.ghl_locations = Some(vec!["a".into()]);
        assert!(c.may_use("a", 1) && !c.may_use("b", 1));
        c.binding.clubos_locations = Some(vec![1]);
        assert!(c.may_use("a", 1) && !c.may_use("a", 2));
    }

    #[test]
    fn jwt_config_needs_a_key_and_never_prints_its_secret() {
        let cfg = AuthConfig {
            key_cache_secs: 1,
            jwt: Some(JwtConfig {
                issuer: "i".into(),
                audience: "a".into(),
                hs256_secret: None,
                rs256_public_key: None,
                leeway_secs: 0,
            }),
        };
        assert!(Authenticator::new(&cfg).is_err());
        let mut j = cfg.jwt.clone().expect("jwt");
        j.hs256_secret = Some(SecretString::from("very-secret-value-1"));
        assert!(!format!("{j:?}").contains("very-secret-value-1"));
    }
}
