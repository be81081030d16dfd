//! GHL to Club OS: a verified GHL webhook naming a contact (created or updated) makes the
//! gateway re-read the contact (payloads are partial) and, when a stored link names its
//! Club OS user, write to Club OS whatever differs under `[sync.fields]` (the fields GHL
//! is the authority of, or the newest record's when GHL's changed later), through the
//! outbox. As the other way, values are compared, so the echo writes nothing.

use std::sync::Arc;

use super::{SyncConfig, mapping};
use crate::{
    error::{GatewayError, System},
    writes::{self, Overall, Writer, plan},
};

/// What a webhook-driven propagation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Club OS was written.
    Written,
    /// Club OS already agreed.
    Unchanged,
    /// No stored link (or one side is gone): nothing to carry to.
    Unlinked,
    /// The write failed; the outbox holds it for the relay.
    Failed,
}

/// Carries GHL changes to Club OS, when `[sync] propagate` is on.
#[derive(Debug, Clone)]
pub struct Propagation {
    pub writer: Arc<Writer>,
    pub config: SyncConfig,
    pub region: phonenumber::country::Id,
    /// The change source that saw the change (`ghl_webhooks` or the GHL poll's), for the
    /// audit trail.
    pub source: &'static str,
}

impl Propagation {
    /// Carries the contact `ghl_id`, which GHL says changed, to its linked Club OS user.
    pub async fn contact_changed(&self, ghl_id: &str) -> Result<Carried, GatewayError> {
        let w = &self.writer;
        let links = w
            .store
            .links_by_ghl(&[ghl_id.to_owned()])
            .await
            .map_err(writes::store_err)?;
        let Some(link) = links.into_iter().next() else {
            return Ok(Carried::Unlinked);
        };
        let (contact, user) = futures_util::join!(
            w.ghl.get_contact(ghl_id),
            w.clubos.get_user(link.clubos_user_id)
        );
        let contact = contact.map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        let user = user.map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
        let (Some(contact), Some(user)) = (contact, user) else {
            return Ok(Carried::Unlinked);
        };
        let recency = super::recency(w, &user, &contact);
        let changes =
            mapping::clubos_changes(&contact, &user, &self.config.fields, self.region, recency);
        if changes.fields.is_empty() {
            return Ok(Carried::Unchanged);
        }
        let fields: Vec<&str> = changes.fields.iter().map(|f| f.field).collect();
        let plan = plan::propagate_to_clubos(user.user_id, contact.id.clone(), changes.patch);
        let why = writes::Why::sync(
            self.source,
            "propagateToClubOs",
            self.config.fields.reason("GHL", &fields),
        );
        match writes::execute(w, plan, None, why).await {
            Ok(outcome) if outcome.overall() == Overall::Applied => {
                tracing::info!(contact = %contact.id, user = user.user_id, ?fields, "GHL change carried to Club OS");
                Ok(Carried::Written)
            }
            Ok(_) | Err(_) => {
                tracing::warn!(contact = %contact.id, user = user.user_id, "GHL change not carried to Club OS yet");
                Ok(Carried::Failed)
            }
        }
    }
}
