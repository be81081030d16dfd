//! GHL to Club OS: a verified GHL webhook naming a contact (created or updated) makes the
//! gateway re-read the contact (payloads are partial) and, when a stored link names its
//! Club OS user, write to Club OS whatever differs under `[sync.fields]` (the fields GHL
//! is the authority of, or the newest record's when GHL's changed later), through the
//! outbox. As the other way, values are compared, so the echo writes nothing.
//!
//! With `sync.create_in_clubos`, a contact with no stored link whom no Club OS user may
//! already be (by email, phone or the link field) gets a Club OS prospect made from it,
//! linked, at most once per contact and content.

use std::sync::Arc;

use super::{SyncConfig, mapping};
use crate::{
    error::{GatewayError, System},
    upstream::{
        clubos::{ClubOsUser, NewUser, UserSearch},
        ghl::models::GhlContact,
    },
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
    /// No stored link and nobody in Club OS: a prospect was made and linked
    /// (`[sync] create_in_clubos`).
    Created,
    /// Linked, but `[sync] propagate` is off: nothing carried.
    Held,
    /// The write failed; the outbox holds it for the relay.
    Failed,
}

/// Carries GHL changes to Club OS, when `[sync] propagate` is on, and makes Club OS
/// prospects for new contacts, when `[sync] create_in_clubos` is.
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
            if self.config.create_in_clubos {
                return self.create_in_clubos(ghl_id).await;
            }
            return Ok(Carried::Unlinked);
        };
        if !self.config.propagate {
            return Ok(Carried::Held);
        }
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

impl Propagation {
    /// Makes the Club OS prospect of the contact `ghl_id`, which has no stored link, and
    /// links the two: only when the contact has both names and an email or phone, its
    /// link field names nobody, no Club OS user holds its email or phone (so that
    /// nobody Club OS may already hold, a household member included, is doubled), and
    /// no write of the gateway's that makes a Club OS user is still owed.
    async fn create_in_clubos(&self, ghl_id: &str) -> Result<Carried, GatewayError> {
        let w = &self.writer;
        let contact = w
            .ghl
            .get_contact(ghl_id)
            .await
            .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        let Some(contact) = contact else {
            return Ok(Carried::Unlinked);
        };
        let Some(user) = self.prospect_of(&contact) else {
            return Ok(Carried::Unlinked);
        };
        let field = w
            .link_field
            .id()
            .await
            .map_err(|e| GatewayError::upstream(System::Ghl, &e))?;
        if field
            .and_then(|f| contact.custom_field(f))
            .is_some_and(|v| !v.trim().is_empty())
        {
            return Ok(Carried::Unlinked);
        }
        // A write of the gateway's that makes a Club OS user (`createContact`, say) may
        // be this very person, its GHL contact made and its Club OS user not yet: Club
        // OS's search cannot show them, so nothing is made while such a write is owed.
        // Its link, once stored (and mirrored into the link field, which GHL announces),
        // settles the contact.
        if w.store
            .owes_leg_of_kind("create_user")
            .await
            .map_err(writes::store_err)?
            || self.held_in_clubos(&user).await?
        {
            return Ok(Carried::Unlinked);
        }
        let why = writes::Why::sync(
            self.source,
            "createInClubOs",
            "a GHL contact with no Club OS user, and nobody in Club OS holds their email or \
             phone ([sync] create_in_clubos)",
        );
        // Keyed by the contact and what is sent, as `createInGhl` is: Club OS's search may
        // not show a user made a moment ago, so the same create is done once; a contact
        // changed since a refused create is tried again. One scope for both of GHL's change
        // sources, so that a webhook and a poll seeing the same new contact make one.
        let input = serde_json::json!({"contact": ghl_id, "user": &user});
        let mut once = writes::Idempotency::new("ghl", "createInClubOs", "", &input);
        once.key = format!("{ghl_id}:{}", once.fingerprint);
        match writes::execute(
            w,
            plan::create_in_clubos(user, ghl_id.to_owned()),
            Some(once),
            why,
        )
        .await
        {
            Ok(outcome) if outcome.overall() != Overall::Failed => {
                tracing::info!(contact = ghl_id, user = ?outcome.clubos_user_id, "Club OS prospect made for a GHL contact");
                Ok(Carried::Created)
            }
            Ok(_) | Err(_) => {
                tracing::warn!(
                    contact = ghl_id,
                    "no Club OS prospect could be made for a GHL contact"
                );
                Ok(Carried::Failed)
            }
        }
    }

    /// The prospect a contact makes under the creation rules, when Club OS would take
    /// it: both names and an email or a phone.
    fn prospect_of(&self, contact: &GhlContact) -> Option<NewUser> {
        let changes = mapping::clubos_changes(
            contact,
            &ClubOsUser::default(),
            &self.config.fields.for_creation_in_clubos(),
            self.region,
            mapping::Recency::of(None, contact.date_updated.as_deref()),
        );
        let p = changes.patch;
        let named = |n: Option<String>| n.filter(|n| !n.trim().is_empty());
        let (first_name, last_name) = (named(p.first_name)?, named(p.last_name)?);
        if p.email.is_none() && p.mobile_phone.is_none() {
            return None;
        }
        Some(NewUser {
            first_name,
            last_name,
            email: p.email,
            mobile_phone: p.mobile_phone,
            birth_date: p.birth_date,
            source: Some("contactgraph".into()),
            ..NewUser::default()
        })
    }

    /// Whether any Club OS user holds the prospect's email or phone.
    async fn held_in_clubos(&self, user: &NewUser) -> Result<bool, GatewayError> {
        let searches = [
            user.email.clone().map(|email| UserSearch {
                email: Some(email),
                ..UserSearch::default()
            }),
            user.mobile_phone.clone().map(|digits| UserSearch {
                phone: Some(digits),
                ..UserSearch::default()
            }),
        ];
        for search in searches.into_iter().flatten() {
            let found = self
                .writer
                .clubos
                .search_users(&search)
                .await
                .map_err(|e| GatewayError::upstream(System::ClubOs, &e))?;
            if !found.content.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
