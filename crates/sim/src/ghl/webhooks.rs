//! The simulator's webhook emitter (`ghl-api.md` §12): after every change it POSTs the
//! event GHL would send (`type`, `locationId`, `timestamp`, `webhookId` and the record's
//! fields) to the configured URL, signed with the simulator's own Ed25519 key in
//! `X-GHL-Signature` (base64, over the exact body bytes). Deliveries run in spawned
//! tasks and never delay the API's answer. Only a 429 is retried, after
//! `webhook_retry_delay_ms` plus up to a tenth of it as jitter, at most
//! `webhook_max_retries` times; any other answer is final, as with GHL.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::{
    Signer, SigningKey,
    pkcs8::{EncodePublicKey, spki::der::pem::LineEnding},
};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::Contact;
use crate::seed;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "X-GHL-Signature";

/// Delivery counters (`GET /_sim/webhooks`).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStats {
    /// Events sent (first attempts only).
    pub sent: u64,
    /// Deliveries the receiver answered with a 2xx.
    pub delivered: u64,
    /// Deliveries answered with a status other than 2xx and 429: final, as with GHL.
    pub refused: u64,
    /// 429 answers followed by another attempt.
    pub retried: u64,
    /// Deliveries given up: the receiver was unreachable, or still answered 429 after
    /// the last retry.
    pub failed: u64,
    /// Events sent, by `type`.
    pub by_type: BTreeMap<String, u64>,
}

impl DeliveryStats {
    /// Deliveries that reached a final state (delivered, refused or failed).
    pub fn settled(&self) -> u64 {
        self.delivered + self.refused + self.failed
    }
}

/// Where and how one event is delivered.
#[derive(Debug, Clone)]
pub struct Target {
    /// The receiver's URL.
    pub url: String,
    /// Wait before re-sending after a 429.
    pub retry_delay: Duration,
    /// Re-sends after 429 before giving up.
    pub max_retries: u32,
}

/// The signing key, an HTTP client and the counters.
#[derive(Debug)]
pub struct Emitter {
    key: SigningKey,
    http: reqwest::Client,
    stats: Arc<Mutex<DeliveryStats>>,
}

impl Emitter {
    /// A key derived from the world's seed: the same seed gives the same key pair, so a
    /// gateway configured once keeps verifying across restarts.
    pub fn new(seed: u64) -> Self {
        let digest = Sha256::digest(format!("contactgraph ghl simulator webhooks {seed}"));
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&digest);
        Self {
            key: SigningKey::from_bytes(&secret),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            stats: Arc::default(),
        }
    }

    /// The public key in PEM (SubjectPublicKeyInfo), as a receiver configures it.
    pub fn public_key_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// A copy of the counters.
    pub fn stats(&self) -> DeliveryStats {
        self.stats.lock().expect("webhook stats lock").clone()
    }

    /// Clears the counters.
    pub fn reset(&self) {
        *self.stats.lock().expect("webhook stats lock") = DeliveryStats::default();
    }

    /// Stamps `event` (which carries its `type`) with `timestamp` and `webhookId`, signs
    /// it and delivers it in the background.
    pub fn send(&self, target: Target, mut event: Value) {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(m) = event.as_object_mut() {
            m.insert(
                "timestamp".into(),
                Value::String(seed::iso_ms(chrono::Utc::now())),
            );
            m.insert("webhookId".into(), Value::String(webhook_id()));
        }
        let Ok(body) = serde_json::to_vec(&event) else {
            return;
        };
        let signature = BASE64.encode(self.key.sign(&body).to_bytes());
        {
            let mut s = self.stats.lock().expect("webhook stats lock");
            s.sent += 1;
            *s.by_type.entry(kind).or_default() += 1;
        }
        tokio::spawn(deliver(
            self.http.clone(),
            self.stats.clone(),
            target,
            body,
            signature,
        ));
    }
}

/// A random id in the UUID layout.
fn webhook_id() -> String {
    let hex = format!("{:032x}", rand::rng().random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

async fn deliver(
    http: reqwest::Client,
    stats: Arc<Mutex<DeliveryStats>>,
    target: Target,
    body: Vec<u8>,
    signature: String,
) {
    let mut retries = 0;
    loop {
        let status = http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .body(body.clone())
            .send()
            .await
            .map(|r| r.status());
        let rate_limited = status
            .as_ref()
            .is_ok_and(|s| *s == reqwest::StatusCode::TOO_MANY_REQUESTS);
        if rate_limited && retries < target.max_retries {
            retries += 1;
            stats.lock().expect("webhook stats lock").retried += 1;
            let ms = u64::try_from(target.retry_delay.as_millis()).unwrap_or(u64::MAX);
            let jitter = Duration::from_millis(rand::rng().random_range(0..=ms / 10));
            tokio::time::sleep(target.retry_delay.saturating_add(jitter)).await;
            continue;
        }
        let mut s = stats.lock().expect("webhook stats lock");
        match status {
            Ok(status) if status.is_success() => s.delivered += 1,
            Ok(_) if !rate_limited => s.refused += 1,
            _ => s.failed += 1,
        }
        return;
    }
}

/// The events a change of `before` into `after` raises: `ContactTagUpdate` when the
/// tags changed, `ContactDndUpdate` when DND did, `ContactUpdate` when anything else did.
pub fn contact_changes(before: &Contact, after: &Contact) -> Vec<Value> {
    let mut events = Vec::new();
    if before.fields_differ(after) {
        events.push(after.webhook_json("ContactUpdate"));
    }
    if before.tags != after.tags {
        events.push(after.webhook_json("ContactTagUpdate"));
    }
    if before.dnd != after.dnd {
        events.push(after.webhook_json("ContactDndUpdate"));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_seed() {
        assert_eq!(
            Emitter::new(7).public_key_pem(),
            Emitter::new(7).public_key_pem()
        );
        assert_ne!(
            Emitter::new(7).public_key_pem(),
            Emitter::new(8).public_key_pem()
        );
        assert!(
            Emitter::new(7)
                .public_key_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }

    #[test]
    fn each_kind_of_contact_change_has_its_event() {
        let before = Contact {
            id: "c1".into(),
            tags: vec!["a".into()],
            ..Contact::default()
        };
        let kinds = |after: &Contact| -> Vec<String> {
            contact_changes(&before, after)
                .iter()
                .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let mut after = before.clone();
        after.date_updated = "later".into();
        assert!(kinds(&after).is_empty());
        after.tags.push("b".into());
        after.dnd = true;
        assert_eq!(kinds(&after), ["ContactTagUpdate", "ContactDndUpdate"]);
        after.city = Some("Austin".into());
        assert_eq!(
            kinds(&after),
            ["ContactUpdate", "ContactTagUpdate", "ContactDndUpdate"]
        );
        let dnd = &contact_changes(&before, &after)[2];
        assert_eq!(dnd["dndSettings"]["SMS"]["status"], "active");
    }

    #[test]
    fn webhook_ids_look_like_uuids() {
        let id = webhook_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, webhook_id());
    }
}
