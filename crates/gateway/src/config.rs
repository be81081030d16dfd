//! The configuration tree: a TOML file overlaid with `CONTACTGRAPH_*` environment
//! variables (`CONTACTGRAPH_GHL__TOKEN` sets `ghl.token`; `__` separates levels).
//!
//! Every section rejects unknown keys. Errors name the key and where it came from, on one
//! line, and never carry a value: a mistyped secret must not end up in a log.

use std::path::Path;

use figment::{
    Figment,
    error::Kind,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

use crate::{
    auth::{AuthConfig, Authenticator},
    cache::CacheConfig,
    linking::{LinkingConfig, merge::MergeConfig},
    loaders::LoaderConfig,
    server::ServerConfig,
    store::StoreConfig,
    upstream::{
        RetryConfig,
        clubos::ClubOsConfig,
        ghl::{GhlAuth, GhlConfig},
    },
    webhooks::{GhlWebhooks, WebhooksConfig},
    writes::WritesConfig,
};

/// The whole configuration of `contactgraph serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gateway's own HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// HighLevel.
    pub ghl: GhlConfig,
    /// Club OS.
    pub clubos: ClubOsConfig,
    /// Read retries against both upstreams.
    #[serde(default)]
    pub retry: RetryConfig,
    /// How people are matched across the two systems.
    #[serde(default)]
    pub linking: LinkingConfig,
    /// Which system wins which field of a linked person.
    #[serde(default)]
    pub merge: MergeConfig,
    /// Read-through caches.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The gateway's own store (links; later idempotency keys and the outbox).
    #[serde(default)]
    pub store: StoreConfig,
    /// Per-request batching.
    #[serde(default)]
    pub loaders: LoaderConfig,
    /// The write path: idempotency keys, the outbox and its relay.
    #[serde(default)]
    pub writes: WritesConfig,
    /// Incoming webhooks: GHL's signing keys and the replay window.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Callers' credentials: API keys and JWT bearer tokens.
    #[serde(default)]
    pub auth: AuthConfig,
    /// What one GraphQL request may ask.
    #[serde(default)]
    pub limits: crate::limits::LimitsConfig,
    /// Work the gateway does on its own: the link sweep.
    #[serde(default)]
    pub sync: crate::sync::SyncConfig,
    /// The store's copy of the upstream records, served to reads.
    #[serde(default)]
    pub read_model: crate::read_model::ReadModelConfig,
}

/// A configuration problem, already phrased for a person: one line, key named, no value.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

const ENV_PREFIX: &str = "CONTACTGRAPH_";

impl Config {
    /// Only the `[store]` section of `path` and the environment (what `contactgraph key`
    /// needs): the rest of the file is not read, so it need not be complete.
    pub fn load_store(path: Option<&Path>) -> Result<StoreConfig, ConfigError> {
        let figment = Self::sources(path)?;
        if !figment.contains("store") {
            return Ok(StoreConfig::default());
        }
        figment.extract_inner("store").map_err(describe)
    }

    /// Reads `path` (when given) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::sources(path)?)
    }

    /// The file at `path` (when given) under the environment's `CONTACTGRAPH_*` keys.
    fn sources(path: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // CONTACTGRAPH_CONFIG, CONTACTGRAPH_LOG and CONTACTGRAPH_LOG_FORMAT are read by the
        // command line, not here.
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&["config", "log", "log_format"]);
        Ok(figment.merge(env))
    }

    /// Extracts and checks a configuration from any figment (tests pass their own).
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        // The cache kinds' defaults differ per kind, so a partial `[cache.activity]` takes
        // the rest from that kind's defaults (joined: what was given wins).
        let figment = figment.join(figment::providers::Serialized::default(
            "cache",
            CacheConfig::default(),
        ));
        let cfg: Self = figment.extract().map_err(describe)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let empty = [
            ("ghl.location_id", self.ghl.location_id.is_empty()),
            ("ghl.base_url", self.ghl.base_url.is_empty()),
            ("clubos.base_url", self.clubos.base_url.is_empty()),
        ];
        if let Some((key, _)) = empty.iter().find(|(_, e)| *e) {
            return Err(ConfigError(format!("key `{key}` must not be empty")));
        }
        for (key, url) in [
            ("ghl.base_url", &self.ghl.base_url),
            ("clubos.base_url", &self.clubos.base_url),
            ("clubos.v1_base_url", &self.clubos.v1_base_url),
        ] {
            if url::Url::parse(url).is_err() {
                return Err(ConfigError(format!("key `{key}` is not a valid URL")));
            }
        }
        if self
            .linking
            .phone_region
            .parse::<phonenumber::country::Id>()
            .is_err()
        {
            return Err(ConfigError(
                "key `linking.phone_region` is not an ISO 3166 region code".into(),
            ));
        }
        if self.webhooks.tolerance_secs == 0 {
            return Err(ConfigError(
                "key `webhooks.tolerance_secs` must be at least 1".into(),
            ));
        }
        self.server.cors.check().map_err(ConfigError)?;
        self.ghl.rate_limit.check().map_err(ConfigError)?;
        self.writes.check().map_err(ConfigError)?;
        self.sync.check().map_err(ConfigError)?;
        if self.sync.clubos_events_poll && !self.read_model.enabled {
            return Err(ConfigError(
                "key `sync.clubos_events_poll` needs `read_model.enabled` (it keeps the read model's copies)"
                    .into(),
            ));
        }
        GhlWebhooks::new(&self.webhooks).map_err(|e| ConfigError(e.to_string()))?;
        Authenticator::new(&self.auth).map_err(|e| ConfigError(e.to_string()))?;
        self.check_ghl_auth()
    }

    /// `ghl.token` in `private_integration` mode, `[ghl.oauth]` in `oauth` mode, and never
    /// the other mode's keys, so that a half-switched configuration does not start.
    fn check_ghl_auth(&self) -> Result<(), ConfigError> {
        match self.ghl.auth {
            GhlAuth::PrivateIntegration => {
                if self.ghl.token.is_none() {
                    return Err(missing("ghl.token"));
                }
                if self.ghl.oauth.is_some() {
                    return Err(ConfigError(
                        "key `ghl.oauth` is only read when `ghl.auth` is \"oauth\"".into(),
                    ));
                }
            }
            GhlAuth::OAuth => {
                if self.ghl.token.is_some() {
                    return Err(ConfigError(
                        "key `ghl.token` is not used when `ghl.auth` is \"oauth\"; remove it"
                            .into(),
                    ));
                }
                let Some(oauth) = &self.ghl.oauth else {
                    return Err(missing("ghl.oauth.client_id"));
                };
                if oauth.client_id.is_empty() {
                    return Err(ConfigError(
                        "key `ghl.oauth.client_id` must not be empty".into(),
                    ));
                }
                for (key, url) in [
                    ("ghl.oauth.redirect_uri", &oauth.redirect_uri),
                    ("ghl.oauth.authorize_url", &oauth.authorize_url),
                ] {
                    if url::Url::parse(url).is_err() {
                        return Err(ConfigError(format!("key `{key}` is not a valid URL")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A required key that is absent, with the variable that would set it.
fn missing(key: &str) -> ConfigError {
    ConfigError(format!(
        "missing required key `{key}`: set it in the config file or as {}",
        env_name(key)
    ))
}

/// The environment variable that sets `key` (e.g. `CONTACTGRAPH_GHL__TOKEN`).
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

fn describe(errors: figment::Error) -> ConfigError {
    let count = errors.count();
    let first = errors.into_iter().next();
    let Some(e) = first else {
        return ConfigError("invalid configuration".into());
    };
    let parent = e.path.join(".");
    let key_of = |leaf: &str| {
        if parent.is_empty() {
            leaf.to_owned()
        } else {
            format!("{parent}.{leaf}")
        }
    };
    let source = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    let mut line = match &e.kind {
        Kind::MissingField(field) => missing(&key_of(field)).0,
        Kind::UnknownField(field, expected) => {
            format!(
                "unknown key `{}`{source}; expected one of: {}",
                if e.path.last() == Some(field) {
                    parent.clone()
                } else {
                    key_of(field)
                },
                expected.join(", ")
            )
        }
        Kind::InvalidType(_, expected) => {
            format!("key `{parent}` has the wrong type{source}: expected {expected}")
        }
        Kind::InvalidValue(_, expected) => {
            format!("key `{parent}` has an invalid value{source}: expected {expected}")
        }
        Kind::UnknownVariant(_, expected) => {
            format!(
                "key `{parent}` has an unknown value{source}; expected one of: {}",
                expected.join(", ")
            )
        }
        _ => format!("key `{parent}` is invalid{source}"),
    };
    if count > 1 {
        line.push_str(&format!(" (and {} more problem(s))", count - 1));
    }
    ConfigError(line)
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    fn with(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(Figment::new().merge(Toml::string(toml)))
    }

    const VALID: &str = r#"
        [ghl]
        location_id = "loc"
        token = "pit-secret-value-123"
        [clubos]
        api_key = "clubos-secret-value-456"
        club_id = 600
        location_id = 4500
    "#;

    #[test]
    fn a_partial_cache_kind_takes_that_kinds_defaults_for_the_rest() {
        let cfg = with(&format!("{VALID}\n[cache.activity]\nmax_bytes = 1024\n"))
            .expect("a partial section loads");
        assert_eq!(cfg.cache.activity.max_bytes, 1024);
        assert_eq!(
            cfg.cache.activity.ttl_secs,
            CacheConfig::default().activity.ttl_secs
        );
        assert_eq!(cfg.cache.contacts, CacheConfig::default().contacts);
    }

    #[test]
    fn a_complete_config_loads() {
        let cfg = with(VALID).expect("valid");
        assert_eq!(cfg.ghl.location_id, "loc");
        assert_eq!(cfg.server.listen.port(), 8080);
    }

    #[test]
    fn a_missing_secret_names_the_key_and_its_variable() {
        let err = with(
            "[ghl]\nlocation_id = \"loc\"\n[clubos]\napi_key = \"k\"\nclub_id = 1\nlocation_id = 2",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`ghl.token`"), "{err}");
        assert!(err.contains("CONTACTGRAPH_GHL__TOKEN"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }

    /// Every default of the configuration, from a file that sets only what is required:
    /// a changed default shows in review. Secrets print redacted.
    #[test]
    fn the_defaults_are_these() {
        insta::assert_debug_snapshot!(with(VALID).expect("valid"), @r#"
        Config {
            server: ServerConfig {
                listen: 127.0.0.1:8080,
                max_body_bytes: 1048576,
                cors: CorsConfig {
                    allowed_origins: [],
                },
            },
            ghl: GhlConfig {
                base_url: "https://services.leadconnectorhq.com",
                location_id: "loc",
                auth: PrivateIntegration,
                token: Some(
                    SecretBox<str>([REDACTED]),
                ),
                oauth: None,
                timeout_ms: 10000,
                connect_timeout_ms: 3000,
                max_concurrency: 16,
                rate_limit: ClientRateLimit {
                    max_per_interval: 100,
                    interval_ms: 10000,
                    daily: 200000,
                    headroom: 0.9,
                    background_share: 0.5,
                    background_daily_share: 0.5,
                },
                link_field: "contact.clubos_member_id",
            },
            clubos: ClubOsConfig {
                base_url: "https://api.club-os.io",
                v1_base_url: "https://api.club-os.com",
                api_key: SecretBox<str>([REDACTED]),
                v1_username: None,
                v1_password: None,
                club_id: 600,
                location_id: 4500,
                timeout_ms: 10000,
                connect_timeout_ms: 3000,
                max_concurrency: 16,
                email_param: "email",
                phone_param: "phone",
                updated_since_param: "updatedSince",
            },
            retry: RetryConfig {
                max_attempts: 3,
                base_delay_ms: 100,
                max_delay_ms: 2000,
                retry_after_cap_ms: 10000,
                budget_ratio: 0.2,
                budget_reserve: 10,
                deadline_ms: 10000,
            },
            linking: LinkingConfig {
                phone_region: "US",
            },
            merge: MergeConfig {
                first_name: Clubos,
                last_name: Clubos,
                email: Ghl,
                phone: Ghl,
                address: Clubos,
                date_of_birth: Clubos,
            },
            cache: CacheConfig {
                stale_if_error_secs: 3600,
                contacts: KindConfig {
                    ttl_secs: 300,
                    max_bytes: 67108864,
                },
                members: KindConfig {
                    ttl_secs: 300,
                    max_bytes: 67108864,
                },
                activity: KindConfig {
                    ttl_secs: 120,
                    max_bytes: 67108864,
                },
                lookups: KindConfig {
                    ttl_secs: 300,
                    max_bytes: 16777216,
                },
                responses: ResponseCacheConfig {
                    enabled: true,
                    max_bytes: 33554432,
                },
            },
            store: StoreConfig {
                url: "sqlite://contactgraph.db",
            },
            loaders: LoaderConfig {
                batch_delay_us: 200,
                fanout: 16,
            },
            writes: WritesConfig {
                idempotency_retention_secs: 86400,
                lease_secs: 30,
                key_wait_ms: 10000,
                relay_poll_ms: 500,
                max_attempts: 8,
                retry_base_ms: 1000,
                retry_max_ms: 300000,
                clubos_mirror: None,
                audit_retention_days: 90,
            },
            webhooks: WebhooksConfig {
                ghl_public_keys: [],
                ghl_legacy_rsa_public_key: None,
                tolerance_secs: 300,
            },
            auth: AuthConfig {
                key_cache_secs: 30,
                jwt: None,
            },
            limits: LimitsConfig {
                max_depth: 15,
                max_complexity: 20000,
                max_recursive_depth: 32,
                max_directives_per_field: 5,
                max_aliases: 20,
                max_root_fields: 10,
                max_mutation_root_fields: 5,
                max_query_bytes: 32768,
                max_batch: 10,
                introspection: true,
                suggestions: true,
            },
            sync: SyncConfig {
                links: false,
                clubos_poll: false,
                ghl_poll: false,
                clubos_events_poll: false,
                events_days_back: 1,
                events_days_ahead: 30,
                propagate: false,
                create_in_ghl: false,
                create_in_clubos: false,
                interval_minutes: 5,
                clubos_page_size: 200,
                join_date_field: "contact.clubos_join_date",
                fields: FieldMap {
                    first_name: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                    last_name: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                    email: FieldRule {
                        authority: Newest,
                        propagate: true,
                    },
                    phone: FieldRule {
                        authority: Newest,
                        propagate: true,
                    },
                    date_of_birth: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                    membership: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                    home_club: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                    join_date: FieldRule {
                        authority: Clubos,
                        propagate: true,
                    },
                },
            },
            read_model: ReadModelConfig {
                enabled: false,
                untrusted_max_age_secs: 300,
                backfill_on_start: true,
                reconcile_hours: 24,
            },
        }
        "#);
    }

    /// Each kind of configuration error is one line naming the key (and its variable),
    /// never its value.
    #[test]
    fn configuration_errors_are_one_line_each() {
        let lines: Vec<String> = [
            format!("{VALID}\n[retry]\nmax_atempts = 3"),
            VALID.replace("token = \"pit-secret-value-123\"", ""),
            VALID.replace("token = \"pit-secret-value-123\"", "token = 5"),
            format!("{VALID}\n[server]\nlisten = \"not an address\""),
            format!("{VALID}\n[sync]\ninterval_minutes = 0"),
            format!("{VALID}\n[sync]\ninterval_minutes = 16"),
            format!("{VALID}\n[sync]\nlink = true"),
            format!("{VALID}\n[sync.fields.membership]\nauthority = \"ghl\"\npropagate = true"),
            format!("{VALID}\n[sync.fields.emial]\nauthority = \"ghl\"\npropagate = true"),
            format!("{VALID}\n[ghl.rate_limit]\nbackground_share = 0"),
            format!("{VALID}\n[writes]\naudit_retention_days = 0"),
            format!("{VALID}\n[sync]\nevents_days_ahead = 0"),
            format!("{VALID}\n[sync]\nclubos_events_poll = true"),
        ]
        .iter()
        .map(|toml| with(toml).unwrap_err().to_string())
        .collect();
        insta::assert_snapshot!(lines.join("\n"), @r#"
        configuration error: unknown key `retry.max_atempts` (from TOML source string); expected one of: max_attempts, base_delay_ms, max_delay_ms, retry_after_cap_ms, budget_ratio, budget_reserve, deadline_ms
        configuration error: missing required key `ghl.token`: set it in the config file or as CONTACTGRAPH_GHL__TOKEN
        configuration error: key `ghl.token` has the wrong type (from TOML source string): expected a string
        configuration error: key `server.listen` is invalid (from TOML source string)
        configuration error: key `sync.interval_minutes` must be between 1 and 15
        configuration error: key `sync.interval_minutes` must be between 1 and 15
        configuration error: unknown key `sync.link` (from TOML source string); expected one of: links, clubos_poll, ghl_poll, clubos_events_poll, events_days_back, events_days_ahead, propagate, create_in_ghl, create_in_clubos, interval_minutes, clubos_page_size, join_date_field, fields
        configuration error: key `sync.fields.membership.authority` must be "clubos": GHL cannot write a Club OS membership
        configuration error: unknown key `sync.fields.emial` (from TOML source string); expected one of: first_name, last_name, email, phone, date_of_birth, membership, home_club, join_date
        configuration error: key `ghl.rate_limit.background_share` must be above 0 and at most 1
        configuration error: key `writes.audit_retention_days` must be at least 1 and cover `writes.idempotency_retention_secs`
        configuration error: key `sync.events_days_ahead` must be between 1 and 365
        configuration error: key `sync.clubos_events_poll` needs `read_model.enabled` (it keeps the read model's copies)
        "#);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = with(&format!("{VALID}\n[retry]\nmax_atempts = 3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`retry.max_atempts`"), "{err}");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let figment = Figment::new()
            .merge(Toml::string(VALID))
            .merge(Serialized::default("ghl.token", 987_654_321_u64));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("`ghl.token`"), "{err}");
        assert!(!err.contains("987654321"), "{err}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contactgraph.example.toml"
        );
        let cfg = Config::from_figment(Figment::new().merge(Toml::file_exact(path)))
            .expect("example config loads");
        assert_eq!(cfg.clubos.location_id, 4500);
        assert_eq!(cfg.webhooks.ghl_public_keys.len(), 1);
    }

    #[test]
    fn the_example_config_in_oauth_mode_is_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contactgraph.example.toml"
        );
        let example = std::fs::read_to_string(path).expect("example config");
        let mut in_block = false;
        let oauth: Vec<String> = example
            .lines()
            .filter(|line| !line.starts_with("token = "))
            .map(|line| {
                in_block = (in_block || line == "# [ghl.oauth]") && !line.is_empty();
                let line = line.replace("auth = \"private_integration\"", "auth = \"oauth\"");
                match line.strip_prefix("# ") {
                    Some(uncommented) if in_block => uncommented.to_owned(),
                    _ => line,
                }
            })
            .collect();
        let cfg = with(&oauth.join("\n")).expect("example config in oauth mode loads");
        assert_eq!(cfg.ghl.auth, GhlAuth::OAuth);
        let app = cfg.ghl.oauth.expect("the commented [ghl.oauth] block");
        assert_eq!(app.refresh_skew_secs, 300);
        assert_eq!(app.scopes.len(), 6);
    }

    #[test]
    fn a_webhook_key_that_does_not_parse_is_named() {
        let err = with(&format!(
            "{VALID}\n[webhooks]\nghl_public_keys = [\"not-a-pem-key-789\"]"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("`webhooks.ghl_public_keys`"), "{err}");
        assert!(!err.contains("not-a-pem-key-789"), "{err}");
    }

    const OAUTH: &str = r#"
        [ghl]
        location_id = "loc"
        auth = "oauth"
        [ghl.oauth]
        client_id = "app-id"
        client_secret = "oauth-secret-value-789"
        redirect_uri = "https://gateway.example/oauth/ghl/callback"
        [clubos]
        api_key = "clubos-secret-value-456"
        club_id = 600
        location_id = 4500
    "#;

    #[test]
    fn oauth_mode_needs_the_app_and_no_token() {
        let cfg = with(OAUTH).expect("valid");
        assert_eq!(cfg.ghl.auth, GhlAuth::OAuth);
        let oauth = cfg.ghl.oauth.as_ref().expect("oauth");
        assert_eq!(oauth.refresh_skew_secs, 300);
        assert!(oauth.require_state);
        assert!(!format!("{cfg:?}").contains("oauth-secret-value-789"));

        let with_token = OAUTH.replace("auth = \"oauth\"", "auth = \"oauth\"\ntoken = \"pit-x\"");
        let err = with(&with_token).unwrap_err().to_string();
        assert!(
            err.contains("`ghl.token`") && !err.contains("pit-x"),
            "{err}"
        );

        let without_app = "[ghl]\nlocation_id = \"loc\"\nauth = \"oauth\"\n[clubos]\napi_key = \"k\"\nclub_id = 1\nlocation_id = 2";
        let err = with(without_app).unwrap_err().to_string();
        assert!(err.contains("`ghl.oauth.client_id`"), "{err}");
        assert!(err.contains("CONTACTGRAPH_GHL__OAUTH__CLIENT_ID"), "{err}");

        let bad_redirect = OAUTH.replace("https://gateway.example/oauth/ghl/callback", "not a url");
        let err = with(&bad_redirect).unwrap_err().to_string();
        assert!(err.contains("`ghl.oauth.redirect_uri`"), "{err}");
    }

    #[test]
    fn private_integration_mode_refuses_oauth_keys() {
        let err = with(&format!(
            "{VALID}\n[ghl.oauth]\nclient_id = \"a\"\nclient_secret = \"b\"\nredirect_uri = \"https://x/cb\""
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("`ghl.oauth`"), "{err}");
    }

    #[test]
    fn cors_origins_are_exact_and_never_a_wildcard() {
        let cors = |origins: &str| {
            with(&format!(
                "[server.cors]\nallowed_origins = {origins}\n{VALID}"
            ))
        };
        assert!(
            cors("[]")
                .expect("none")
                .server
                .cors
                .allowed_origins
                .is_empty()
        );
        let cfg = cors(r#"["http://localhost:3000", "https://app.example"]"#).expect("valid");
        assert_eq!(cfg.server.cors.allowed_origins.len(), 2);

        let err = cors(r#"["*"]"#).unwrap_err().to_string();
        assert!(
            err.contains("`server.cors.allowed_origins`") && err.contains("`*`"),
            "{err}"
        );
        for bad in [
            "http://localhost:3000/",
            "https://app.example/path",
            "localhost:3000",
            "ftp://files.example",
            "https://app.example:443",
        ] {
            let err = cors(&format!("[\"{bad}\"]")).unwrap_err().to_string();
            assert!(err.contains("is not an origin"), "{bad}: {err}");
            assert!(!err.contains(bad), "{err}");
        }
    }

    #[test]
    fn secrets_do_not_print_in_debug() {
        let cfg = with(VALID).expect("valid");
        let dump = format!("{cfg:?}");
        assert!(!dump.contains("pit-secret-value-123"));
        assert!(!dump.contains("clubos-secret-value-456"));
    }
}
