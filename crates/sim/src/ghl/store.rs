//! The simulator's in-memory records and credentials.

use std::collections::{HashMap, HashSet};

use rand::{SeedableRng, rngs::StdRng};
use tokio::time::Instant;

use super::reply::Reject;
use super::{
    Caller,
    model::{Contact, CustomField, Event, Note, Task},
    tokens,
};
use crate::seed::{self, GhlSeed};

/// Every scope a full-access token carries.
pub const ALL_SCOPES: [&str; 8] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.readonly",
    "calendars/events.write",
    "locations/tasks.readonly",
    "locations/customFields.readonly",
    "locations/tags.readonly",
    "locations.readonly",
];

/// What a bearer token stands for.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub location_id: String,
    pub scopes: Vec<String>,
    /// OAuth access tokens expire; Private Integration tokens do not.
    pub expires_at: Option<Instant>,
}

/// A refresh token's grant (rotated on every use).
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub location_id: String,
}

/// Records and credentials.
#[derive(Debug)]
pub struct Store {
    pub contacts: HashMap<String, Contact>,
    pub tasks: HashMap<String, Task>,
    pub notes: HashMap<String, Note>,
    pub events: HashMap<String, Event>,
    pub custom_fields: Vec<CustomField>,
    pub tokens: HashMap<String, TokenInfo>,
    pub codes: HashSet<String>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub rng: StdRng,
    pub seq: u64,
}

fn pit(location: &str, scopes: &[&str]) -> TokenInfo {
    TokenInfo {
        location_id: location.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at: None,
    }
}

impl Store {
    /// A store holding the seed, with the fixed Private Integration tokens.
    pub fn new(seed: GhlSeed, seed_number: u64) -> Self {
        let seq = seed.contacts.iter().map(|c| c.seq).max().unwrap_or(0);
        let tokens = HashMap::from([
            (
                tokens::LOCATION.to_owned(),
                pit(seed::GHL_LOCATION_ID, &ALL_SCOPES),
            ),
            (
                tokens::READONLY.to_owned(),
                pit(seed::GHL_LOCATION_ID, &["contacts.readonly"]),
            ),
            (
                tokens::OTHER_LOCATION.to_owned(),
                pit(seed::GHL_OTHER_LOCATION_ID, &ALL_SCOPES),
            ),
        ]);
        Self {
            contacts: seed
                .contacts
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            tasks: seed.tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
            notes: seed.notes.into_iter().map(|n| (n.id.clone(), n)).collect(),
            events: seed.events.into_iter().map(|e| (e.id.clone(), e)).collect(),
            custom_fields: seed.custom_fields,
            tokens,
            codes: HashSet::new(),
            refresh_tokens: HashMap::new(),
            rng: StdRng::seed_from_u64(seed_number ^ 0x5151_5151),
            seq,
        }
    }

    /// A new 20-character id.
    pub fn new_id(&mut self) -> String {
        seed::firebase_id(&mut self.rng)
    }

    /// The next insertion number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A contact the caller may see: 400 when unknown, 403 when in another location.
    pub fn contact(&self, caller: &Caller, id: &str) -> Result<&Contact, Reject> {
        let c = self
            .contacts
            .get(id)
            .ok_or_else(|| Reject::BadRequest(format!("Contact with id {id} not found")))?;
        if c.location_id != caller.location_id {
            return Err(Reject::Forbidden);
        }
        Ok(c)
    }

    /// Mutable form of [`Store::contact`].
    pub fn contact_mut(&mut self, caller: &Caller, id: &str) -> Result<&mut Contact, Reject> {
        self.contact(caller, id)?;
        Ok(self.contacts.get_mut(id).expect("checked just above"))
    }

    /// Another contact of `location` with the same email (any case) or phone.
    pub fn duplicate_of(
        &self,
        location: &str,
        email: Option<&str>,
        phone: Option<&str>,
        except: Option<&str>,
    ) -> Option<(&Contact, &'static str)> {
        let others = || {
            self.contacts
                .values()
                .filter(move |c| c.location_id == location && Some(c.id.as_str()) != except)
        };
        if let Some(email) = email {
            let email = email.to_lowercase();
            if let Some(c) = others()
                .filter(|c| c.email.as_deref().map(str::to_lowercase) == Some(email.clone()))
                .min_by_key(|c| c.seq)
            {
                return Some((c, "email"));
            }
        }
        if let Some(phone) = phone
            && let Some(c) = others()
                .filter(|c| c.phone.as_deref() == Some(phone))
                .min_by_key(|c| c.seq)
        {
            return Some((c, "phone"));
        }
        None
    }

    /// The id of a custom field given by id or by key.
    pub fn custom_field_id(&self, location: &str, id_or_key: &str) -> Option<String> {
        self.custom_fields
            .iter()
            .find(|f| f.location_id == location && (f.id == id_or_key || f.field_key == id_or_key))
            .map(|f| f.id.clone())
    }
}

/// The current time as GHL writes it.
pub fn now_iso() -> String {
    seed::iso_ms(chrono::Utc::now())
}
