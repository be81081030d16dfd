//! The sync engine: work the gateway does on its own, beside the requests it serves.
//! Today that is the link sweep ([`links`]), which stores the links linking's rules
//! confirm and queues the rest as suggestions.

pub mod links;

use serde::{Deserialize, Serialize};

/// `[sync]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Run the link sweep once at start and then every `interval_minutes`. Off by default:
    /// each link it confirms is also written to GHL's link custom field (a write to GHL),
    /// so an operator turns it on knowingly. `syncLinks` runs one sweep on demand either
    /// way.
    pub links: bool,
    /// Minutes between two sweeps, 1 to 15.
    pub interval_minutes: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            links: false,
            interval_minutes: 5,
        }
    }
}

impl SyncConfig {
    /// The one-line problem with these settings, naming the key, when there is one.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.interval_minutes) {
            return Err("key `sync.interval_minutes` must be between 1 and 15".into());
        }
        Ok(())
    }
}
