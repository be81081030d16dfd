//! `POST /webhooks/ghl`: GHL's webhook deliveries, verified, then turned into cache
//! invalidation and nothing else. A webhook is never a source of truth: the next read
//! fetches the record from GHL.
//!
//! A delivery is accepted when, in this order:
//! 1. its signature verifies over the raw body bytes: `X-GHL-Signature` (base64 Ed25519)
//!    against any configured key (two during a rotation), or, only when that header is
//!    absent and a legacy key is configured, `X-WH-Signature` (base64 RSA PKCS#1 v1.5
//!    with SHA-256). No usable signature is 401, never "unverified but accepted";
//! 2. the body is a JSON object with `type`, an ISO-8601 `timestamp` and a `webhookId`
//!    (else 400);
//! 3. its `timestamp` is within `tolerance_secs` of now, either way (else 401);
//! 4. its `webhookId` was not seen before (else 200 `{"status": "duplicate"}` and no
//!    effect, so that a redelivery is acknowledged without being processed twice).
//!
//! The handler invalidates and answers; with `[sync] propagate` a created or updated
//! contact is first carried to Club OS (see `sync::ghl`).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, TimeDelta, Utc};
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::{
    cache::Caches,
    error::ErrorCode,
    loaders::{self, Loaders, Readers, RequestMeta},
    read_model::ReadModel,
    store::{ReadSource, RecordKind},
    sync::ghl::Propagation,
};

/// The current signature header: base64 Ed25519 over the raw body.
pub const SIGNATURE_HEADER: &str = "x-ghl-signature";
/// The legacy signature header (deprecated by GHL from 1 July 2026): base64 RSA
/// PKCS#1 v1.5 with SHA-256 over the raw body.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-wh-signature";
/// Where GHL delivers.
pub const GHL_PATH: &str = "/webhooks/ghl";

/// GHL's webhooks as a change source, in the audit trail.
pub const SOURCE: &str = "ghl_webhooks";

/// Distinct deliveries remembered for deduplication. Past this many within the window,
/// the oldest ids would be forgotten early; one location's traffic is far below it.
const DEDUPE_CAPACITY: u64 = 100_000;

/// `[webhooks]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// GHL's Ed25519 public keys, each in PEM (`-----BEGIN PUBLIC KEY-----`, the
    /// SubjectPublicKeyInfo form GHL publishes). List the old and the new key while GHL
    /// rotates; a delivery that verifies with any of them passes. Empty: every delivery
    /// is refused.
    pub ghl_public_keys: Vec<String>,
    /// GHL's legacy RSA public key in PEM (SubjectPublicKeyInfo or PKCS#1), for
    /// deliveries that carry only `X-WH-Signature`. Absent: such deliveries are refused.
    pub ghl_legacy_rsa_public_key: Option<String>,
    /// How far a delivery's `timestamp` may lie from the gateway's clock, in the past or
    /// the future, in seconds.
    pub tolerance_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            ghl_public_keys: Vec::new(),
            ghl_legacy_rsa_public_key: None,
            tolerance_secs: 300,
        }
    }
}

/// A configured key that does not parse; names the key, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{0}` is not a valid public key in PEM")]
pub struct KeyError(pub &'static str);

/// Why a delivery was refused. Each has a stable `code` in the JSON error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No signature header the gateway can check (401).
    #[error("the delivery carries no signature the gateway can check")]
    SignatureMissing,
    /// A signature that is not base64, not a signature, or matches no configured key (401).
    #[error("the signature does not verify")]
    SignatureInvalid,
    /// Signed, but not a JSON object with `type`, an ISO-8601 `timestamp` and a
    /// `webhookId`, or a contact event without the contact's `id` (400).
    #[error("the payload is not a GHL event with type, timestamp and webhookId")]
    PayloadInvalid,
    /// The `timestamp` is further from now than the tolerance (401).
    #[error("the delivery's timestamp is outside the accepted window")]
    Stale,
}

impl Rejection {
    /// The code answered (its HTTP status with it).
    pub fn code(self) -> ErrorCode {
        match self {
            Self::SignatureMissing => ErrorCode::WebhookSignatureMissing,
            Self::SignatureInvalid => ErrorCode::WebhookSignatureInvalid,
            Self::PayloadInvalid => ErrorCode::WebhookPayloadInvalid,
            Self::Stale => ErrorCode::WebhookStale,
        }
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Verified, new, and its caches invalidated.
    Accepted,
    /// Verified and new, but of a type that touches nothing the gateway caches.
    Ignored,
    /// Verified, but its `webhookId` was seen before: not processed again.
    Duplicate,
    /// Refused.
    Rejected(Rejection),
}

const OUTCOMES: [Outcome; 7] = [
    Outcome::Accepted,
    Outcome::Ignored,
    Outcome::Duplicate,
    Outcome::Rejected(Rejection::SignatureMissing),
    Outcome::Rejected(Rejection::SignatureInvalid),
    Outcome::Rejected(Rejection::PayloadInvalid),
    Outcome::Rejected(Rejection::Stale),
];

impl Outcome {
    fn index(self) -> usize {
        OUTCOMES.iter().position(|o| *o == self).unwrap_or(0)
    }

    /// The `outcome` label of `contactgraph_webhooks_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
            Self::Rejected(Rejection::SignatureMissing) => "signature_missing",
            Self::Rejected(Rejection::SignatureInvalid) => "signature_invalid",
            Self::Rejected(Rejection::PayloadInvalid) => "payload_invalid",
            Self::Rejected(Rejection::Stale) => "stale",
        }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Accepted => (StatusCode::OK, json!({"status": "accepted"})),
            Self::Ignored => (StatusCode::OK, json!({"status": "ignored"})),
            Self::Duplicate => (StatusCode::OK, json!({"status": "duplicate"})),
            Self::Rejected(r) => (
                r.code().http_status(),
                json!({"code": r.code().as_str(), "message": r.to_string()}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

/// What a verified event asks of the caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A contact changed (`Contact*`): forget it and every lookup that may name it.
    Contact(String),
    /// Tasks of a contact changed; `None` when the event does not say whose (live
    /// `TaskCreate` payloads sometimes lack `contactId`): every contact's task list.
    Tasks(Option<String>),
    /// Notes of a contact (or of everyone, when the event does not say whose).
    Notes(Option<String>),
    /// Appointments of a contact (or of everyone, when the event does not say whose).
    Appointments(Option<String>),
}

impl Effect {
    /// What an event of type `kind` invalidates; `Ok(None)` for types the gateway
    /// does not cache anything for.
    pub fn of(kind: &str, event: &Map<String, Value>) -> Result<Option<Self>, Rejection> {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let contact_id = || text(event.get("contactId"));
        Ok(Some(match kind {
            "ContactCreate" | "ContactUpdate" | "ContactDelete" | "ContactDndUpdate"
            | "ContactTagUpdate" => {
                Self::Contact(text(event.get("id")).ok_or(Rejection::PayloadInvalid)?)
            }
            "TaskCreate" | "TaskComplete" | "TaskDelete" => Self::Tasks(contact_id()),
            "NoteCreate" | "NoteUpdate" | "NoteDelete" => Self::Notes(contact_id()),
            "AppointmentCreate" | "AppointmentUpdate" | "AppointmentDelete" => Self::Appointments(
                text(event.get("appointment").and_then(|a| a.get("contactId"))),
            ),
            _ => return Ok(None),
        }))
    }

    /// Invalidates what the event changed.
    pub async fn apply(&self, caches: &Caches) {
        match self {
            Self::Contact(id) => caches.invalidate_ghl_contact(id).await,
            Self::Tasks(id) => caches.invalidate_ghl_tasks(id.as_deref()).await,
            Self::Notes(id) => caches.invalidate_ghl_notes(id.as_deref()).await,
            Self::Appointments(id) => caches.invalidate_ghl_appointments(id.as_deref()).await,
        }
    }

    /// Re-reads what the event names from GHL (payloads are partial) and stores it in the
    /// read model; a contact GHL no longer has becomes a tombstone. When the event does
    /// not say whose records changed, every collection of its kind is marked to be read
    /// through instead. Returns once the copy is stored: GHL does not deliver an accepted
    /// event again, so it is answered only when a crash can no longer lose it.
    pub async fn refresh(&self, readers: &Arc<Readers>, read_model: &ReadModel) {
        self.reread(readers, read_model).await;
        read_model.settled().await;
    }

    async fn reread(&self, readers: &Arc<Readers>, read_model: &ReadModel) {
        let l = Loaders::new(
            readers.clone(),
            Arc::new(RequestMeta::rereading_for(ReadSource::Webhook)),
        );
        let (kind, owner) = match self {
            Self::Contact(id) => {
                if let Err(e) = loaders::one(&l.ghl_contact, id.clone()).await {
                    tracing::warn!(code = e.code.as_str(), "webhook: contact not re-read");
                }
                return;
            }
            Self::Tasks(owner) => (RecordKind::GhlTask, owner),
            Self::Notes(owner) => (RecordKind::GhlNote, owner),
            Self::Appointments(owner) => (RecordKind::GhlAppointment, owner),
        };
        let reread = match (kind, owner) {
            (_, None) => Ok(()),
            (RecordKind::GhlTask, Some(id)) => {
                loaders::one(&l.ghl_tasks, id.clone()).await.map(drop)
            }
            (RecordKind::GhlNote, Some(id)) => {
                loaders::one(&l.ghl_notes, id.clone()).await.map(drop)
            }
            (_, Some(id)) => loaders::one(&l.ghl_appointments, id.clone())
                .await
                .map(drop),
        };
        let unread = owner.is_none() || reread.is_err();
        if unread {
            // A copy read before the event, stored after the mark, would clear it.
            read_model.settled().await;
        }
        if unread
            && let Err(e) = read_model
                .store()
                .mark_sets_stale(kind, owner.as_deref())
                .await
        {
            tracing::warn!(error = %e, "webhook: read model not marked");
        }
    }
}

/// A delivery that passed every check, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// First time this `webhookId` is seen; its effect, if any, is due.
    Fresh {
        /// The event's `type`.
        kind: String,
        /// What to invalidate.
        effect: Option<Effect>,
    },
    /// Seen before within the window.
    Duplicate,
}

/// GHL webhook verification, deduplication and counters, shared by every delivery.
pub struct GhlWebhooks {
    keys: Vec<ed25519_dalek::VerifyingKey>,
    legacy: Option<rsa::PublicKey>,
    tolerance: TimeDelta,
    /// `webhookId`s already admitted. Per process: gateways behind a load balancer each
    /// keep their own, so a replay reaching another replica is processed once more
    /// there (harmless: processing invalidates caches, and a propagation compares values,
    /// so a second one writes nothing).
    seen: moka::sync::Cache<String, ()>,
    counts: [AtomicU64; OUTCOMES.len()],
}

impl std::fmt::Debug for GhlWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GhlWebhooks")
            .field("keys", &self.keys.len())
            .field("legacy", &self.legacy.is_some())
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl GhlWebhooks {
    /// Parses the configured keys.
    pub fn new(cfg: &WebhooksConfig) -> Result<Self, KeyError> {
        let keys = cfg
            .ghl_public_keys
            .iter()
            .map(|pem| {
                ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
                    .map_err(|_| KeyError("webhooks.ghl_public_keys"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let legacy = cfg
            .ghl_legacy_rsa_public_key
            .as_deref()
            .map(|pem| {
                use rsa::{pkcs1::DecodeRsaPublicKey, pkcs8::DecodePublicKey};
                let pem = pem.trim();
                rsa::PublicKey::from_public_key_pem(pem)
                    .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem))
                    .map_err(|_| KeyError("webhooks.ghl_legacy_rsa_public_key"))
            })
            .transpose()?;
        let tolerance = i64::try_from(cfg.tolerance_secs)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX);
        Ok(Self {
            keys,
            legacy,
            tolerance,
            seen: moka::sync::Cache::builder()
                .max_capacity(DEDUPE_CAPACITY)
                .time_to_live(dedupe_ttl(cfg.tolerance_secs))
                .build(),
            counts: Default::default(),
        })
    }

    /// Checks a delivery received at `now` and, when it passes, records its
    /// `webhookId`. Nothing is recorded for a refused delivery.
    pub fn admit(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Admitted, Rejection> {
        self.verify_signature(headers, body)?;
        let event: Map<String, Value> =
            serde_json::from_slice(body).map_err(|_| Rejection::PayloadInvalid)?;
        let field = |key: &str| {
            event
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(Rejection::PayloadInvalid)
        };
        let kind = field("type")?;
        let webhook_id = field("webhookId")?;
        let sent_at = DateTime::parse_from_rfc3339(field("timestamp")?)
            .map_err(|_| Rejection::PayloadInvalid)?
            .with_timezone(&Utc);
        if (now - sent_at).abs() > self.tolerance {
            return Err(Rejection::Stale);
        }
        let effect = Effect::of(kind, &event)?;
        if !self
            .seen
            .entry(webhook_id.to_owned())
            .or_insert(())
            .is_fresh()
        {
            return Ok(Admitted::Duplicate);
        }
        Ok(Admitted::Fresh {
            kind: kind.to_owned(),
            effect,
        })
    }

    fn verify_signature(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let decoded = |name: &str| {
            headers.get(name).map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|s| BASE64.decode(s.trim()).ok())
                    .ok_or(Rejection::SignatureInvalid)
            })
        };
        if let Some(sig) = decoded(SIGNATURE_HEADER) {
            let sig = ed25519_dalek::Signature::from_slice(&sig?)
                .map_err(|_| Rejection::SignatureInvalid)?;
            return if self
                .keys
                .iter()
                .any(|k| k.verify_strict(body, &sig).is_ok())
            {
                Ok(())
            } else {
                Err(Rejection::SignatureInvalid)
            };
        }
        match (&self.legacy, decoded(LEGACY_SIGNATURE_HEADER)) {
            (Some(key), Some(sig)) => key
                .pkcs1v15_verify::<Sha256>(body, &sig?)
                .map_err(|_| Rejection::SignatureInvalid),
            _ => Err(Rejection::SignatureMissing),
        }
    }

    /// Counts one delivery's outcome.
    pub fn count(&self, outcome: Outcome) {
        self.counts[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format, for `GET /metrics`.
    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP contactgraph_webhooks_total GHL webhook deliveries received, by outcome.\n\
             # TYPE contactgraph_webhooks_total counter\n",
        );
        for outcome in OUTCOMES {
            out.push_str(&format!(
                "contactgraph_webhooks_total{{outcome=\"{}\"}} {}\n",
                outcome.label(),
                self.counts[outcome.index()].load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// How long a `webhookId` is remembered: a delivery stays acceptable while its
/// timestamp is within the tolerance either way, so up to twice the tolerance after it
/// is first seen; a minute more absorbs clock jitter.
fn dedupe_ttl(tolerance_secs: u64) -> Duration {
    Duration::from_secs(tolerance_secs.saturating_mul(2).saturating_add(60))
}

/// What a verified delivery acts on: the caches it invalidates, the read model it
/// refreshes and, with `[sync] propagate`, the propagation of a changed contact to
/// Club OS.
#[derive(Clone)]
struct Receiver {
    webhooks: Arc<GhlWebhooks>,
    readers: Arc<Readers>,
    propagation: Option<Arc<Propagation>>,
}

/// The webhook routes: deliveries are checked by `webhooks`, invalidate the caches of
/// `readers` and refresh its read model, and a created or updated contact is carried to
/// Club OS by `propagation` when there is one.
pub fn router(
    webhooks: Arc<GhlWebhooks>,
    readers: Arc<Readers>,
    propagation: Option<Arc<Propagation>>,
) -> Router {
    Router::new()
        .route(GHL_PATH, post(receive_ghl))
        .with_state(Receiver {
            webhooks,
            readers,
            propagation,
        })
}

/// `POST /webhooks/ghl`: takes the raw body, so the signature is checked over the exact
/// bytes GHL signed.
async fn receive_ghl(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Outcome {
    let webhooks = &r.webhooks;
    let outcome = match webhooks.admit(&headers, &body, Utc::now()) {
        Ok(Admitted::Fresh { kind, effect }) => match effect {
            Some(effect) => {
                effect.apply(&r.readers.caches).await;
                if let Some(rm) = &r.readers.read_model {
                    effect.refresh(&r.readers, rm).await;
                }
                tracing::debug!(event = %kind, "webhook: caches invalidated");
                if let (Some(p), Effect::Contact(id)) = (&r.propagation, &effect)
                    && matches!(kind.as_str(), "ContactCreate" | "ContactUpdate")
                {
                    // Answered after the propagation, so that a delivery GHL saw accepted
                    // has been carried (or recorded for the relay).
                    if let Err(e) = p.contact_changed(id).await {
                        tracing::warn!(
                            code = e.code.as_str(),
                            "webhook: GHL change not carried to Club OS"
                        );
                    }
                }
                Outcome::Accepted
            }
            None => {
                tracing::debug!(event = %kind, "webhook: nothing cached for this type");
                Outcome::Ignored
            }
        },
        Ok(Admitted::Duplicate) => Outcome::Duplicate,
        Err(rejection) => {
            tracing::warn!(code = rejection.code().as_str(), "webhook refused");
            Outcome::Rejected(rejection)
        }
    };
    webhooks.count(outcome);
    outcome
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey, pkcs8::EncodePublicKey, pkcs8::spki::der::pem};

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn pem_of(k: &SigningKey) -> String {
        k.verifying_key()
            .to_public_key_pem(pem::LineEnding::LF)
            .expect("pem")
    }

    fn hooks(keys: &[&SigningKey]) -> GhlWebhooks {
        GhlWebhooks::new(&WebhooksConfig {
            ghl_public_keys: keys.iter().map(|k| pem_of(k)).collect(),
            ..WebhooksConfig::default()
        })
        .expect("keys parse")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn body(kind: &str, at: DateTime<Utc>, id: &str, extra: Value) -> Vec<u8> {
        let mut v = json!({"type": kind, "locationId": "loc", "timestamp": at.to_rfc3339(),
                           "webhookId": id});
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        serde_json::to_vec(&v).expect("json")
    }

    fn signed(k: &SigningKey, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let sig = BASE64.encode(k.sign(body).to_bytes());
        h.insert(SIGNATURE_HEADER, sig.parse().expect("header"));
        h
    }

    #[test]
    fn the_timestamp_window_holds_both_ways_at_its_edges() {
        let k = key(1);
        let h = hooks(&[&k]);
        for (i, (offset, ok)) in [(-300, true), (-301, false), (300, true), (301, false)]
            .into_iter()
            .enumerate()
        {
            let b = body(
                "ContactUpdate",
                now() + TimeDelta::seconds(offset),
                &format!("w{i}"),
                json!({"id": "c1"}),
            );
            let got = h.admit(&signed(&k, &b), &b, now());
            assert_eq!(got.is_ok(), ok, "offset {offset}: {got:?}");
            if !ok {
                assert_eq!(got, Err(Rejection::Stale));
            }
        }
    }

    #[test]
    fn a_task_event_without_its_contact_invalidates_every_task_list() {
        let event = json!({"id": "t1", "title": "Call"});
        assert_eq!(
            Effect::of("TaskCreate", event.as_object().expect("object")),
            Ok(Some(Effect::Tasks(None)))
        );
        let nested = json!({"appointment": {"id": "a1", "contactId": "c9"}});
        assert_eq!(
            Effect::of("AppointmentDelete", nested.as_object().expect("object")),
            Ok(Some(Effect::Appointments(Some("c9".into()))))
        );
        assert_eq!(Effect::of("AppInstall", &Map::new()), Ok(None));
        assert_eq!(
            Effect::of("ContactDelete", &Map::new()),
            Err(Rejection::PayloadInvalid)
        );
    }

    #[test]
    fn a_signed_body_without_id_or_timestamp_is_a_bad_payload() {
        let k = key(2);
        let h = hooks(&[&k]);
        for b in [
            br#"{"type":"ContactUpdate","id":"c1","timestamp":"2026-03-01T12:00:00Z"}"#.to_vec(),
            br#"{"type":"ContactUpdate","id":"c1","webhookId":"w"}"#.to_vec(),
            br#"{"type":"ContactUpdate","webhookId":"w","timestamp":"yesterday"}"#.to_vec(),
            b"not json".to_vec(),
        ] {
            assert_eq!(
                h.admit(&signed(&k, &b), &b, now()),
                Err(Rejection::PayloadInvalid)
            );
        }
    }

    #[test]
    fn a_refused_delivery_does_not_burn_its_webhook_id() {
        let (good, bad) = (key(3), key(4));
        let h = hooks(&[&good]);
        let b = body("NoteCreate", now(), "same", json!({"contactId": "c1"}));
        assert_eq!(
            h.admit(&signed(&bad, &b), &b, now()),
            Err(Rejection::SignatureInvalid)
        );
        assert!(matches!(
            h.admit(&signed(&good, &b), &b, now()),
            Ok(Admitted::Fresh { .. })
        ));
        assert_eq!(
            h.admit(&signed(&good, &b), &b, now()),
            Ok(Admitted::Duplicate)
        );
    }

    #[test]
    fn without_keys_nothing_verifies() {
        let k = key(5);
        let h = hooks(&[]);
        let b = body("ContactCreate", now(), "w", json!({"id": "c1"}));
        assert_eq!(
            h.admit(&signed(&k, &b), &b, now()),
            Err(Rejection::SignatureInvalid)
        );
        assert_eq!(
            h.admit(&HeaderMap::new(), &b, now()),
            Err(Rejection::SignatureMissing)
        );
    }

    #[test]
    fn the_dedupe_memory_outlives_the_window() {
        assert!(dedupe_ttl(300) >= Duration::from_secs(600));
    }

    #[test]
    fn a_bad_key_is_named_without_its_value() {
        let err = GhlWebhooks::new(&WebhooksConfig {
            ghl_public_keys: vec!["not-a-key-xyz".into()],
            ..WebhooksConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("webhooks.ghl_public_keys"), "{err}");
        assert!(!err.contains("not-a-key-xyz"), "{err}");
    }
}
