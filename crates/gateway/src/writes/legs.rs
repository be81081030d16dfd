//! One upstream write ("leg") of a mutation: what it does, as a serialisable operation the
//! outbox can hold and the relay can run again after a crash.
//!
//! Running a leg twice must not write twice: updates and deletes are idempotent by
//! nature; a create retried after an unanswered attempt first looks for the record that
//! attempt provably made (GHL duplicate lookup, Club OS email search; created after the
//! leg was first sent, every sent field equal, linked to nobody) and adopts nothing else:
//! a match that is not provably its own is refused as a duplicate, naming the record.
//! A 2xx whose body cannot be read counts as applied and is never sent again.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Writer;
use crate::{
    error::System,
    store::{LinkSource, NewLink, Origin},
    upstream::{
        UpstreamError,
        clubos::{NewEvent, NewUser, UserPatch, UserSearch},
        ghl::models::{
            AppointmentPatch, ContactPatch, CustomFieldWrite, FilterOp, NewAppointment, NewContact,
            NewTask, NoteWrite, SearchFilter, SearchRequest, TaskPatch,
        },
    },
};

/// An upstream write, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LegOp {
    /// Result: `ghl_contact_id`.
    GhlCreateContact {
        contact: NewContact,
    },
    /// Result: `ghl_contact_id`. Idempotent by construction (GHL matches on email, then
    /// phone).
    GhlUpsertContact {
        contact: NewContact,
    },
    GhlUpdateContact {
        contact_id: String,
        patch: ContactPatch,
    },
    GhlDeleteContact {
        contact_id: String,
    },
    GhlTags {
        contact_id: String,
        tags: Vec<String>,
        add: bool,
    },
    GhlBulkTags {
        contact_ids: Vec<String>,
        tags: Vec<String>,
        add: bool,
    },
    /// Result: `clubos_user_id`.
    ClubOsCreateUser {
        user: NewUser,
    },
    ClubOsUpdateUser {
        user_id: i64,
        patch: UserPatch,
    },
    /// Stores the link and mirrors it into the GHL link custom field. Missing ids come
    /// from the results of earlier legs of the same operation.
    Link {
        ghl_contact_id: Option<String>,
        clubos_user_id: Option<i64>,
        source: LinkSource,
        /// What the match rested on (the link sweep records it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
        /// Who confirmed the link; legs recorded before it was kept were all writes.
        #[serde(default)]
        confirmed_by: Origin,
    },
    /// Forgets the link and clears the GHL link custom field.
    Unlink {
        ghl_contact_id: String,
    },
    /// Result: `task_id`.
    GhlCreateTask {
        contact_id: String,
        task: NewTask,
    },
    GhlUpdateTask {
        contact_id: String,
        task_id: String,
        patch: TaskPatch,
    },
    GhlDeleteTask {
        contact_id: String,
        task_id: String,
    },
    /// Result: `note_id`.
    GhlCreateNote {
        contact_id: String,
        note: NoteWrite,
    },
    GhlUpdateNote {
        contact_id: String,
        note_id: String,
        note: NoteWrite,
    },
    GhlDeleteNote {
        contact_id: String,
        note_id: String,
    },
    /// Result: `appointment_id`.
    GhlBookAppointment {
        appointment: NewAppointment,
    },
    GhlUpdateAppointment {
        contact_id: String,
        appointment_id: String,
        patch: AppointmentPatch,
    },
    /// Result: `clubos_event_id`.
    ClubOsCreateEvent {
        event: NewEvent,
    },
}

impl LegOp {
    /// The system the leg writes to.
    pub fn system(&self) -> System {
        match self {
            Self::ClubOsCreateUser { .. }
            | Self::ClubOsUpdateUser { .. }
            | Self::ClubOsCreateEvent { .. } => System::ClubOs,
            _ => System::Ghl,
        }
    }

    /// The operation's name in answers and the outbox.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GhlCreateContact { .. } => "create_contact",
            Self::GhlUpsertContact { .. } => "upsert_contact",
            Self::GhlUpdateContact { .. } => "update_contact",
            Self::GhlDeleteContact { .. } => "delete_contact",
            Self::GhlTags { add: true, .. } => "add_tags",
            Self::GhlTags { add: false, .. } => "remove_tags",
            Self::GhlBulkTags { .. } => "bulk_update_tags",
            Self::ClubOsCreateUser { .. } => "create_user",
            Self::ClubOsUpdateUser { .. } => "update_user",
            Self::Link { .. } => "link",
            Self::Unlink { .. } => "unlink",
            Self::GhlCreateTask { .. } => "create_task",
            Self::GhlUpdateTask { .. } => "update_task",
            Self::GhlDeleteTask { .. } => "delete_task",
            Self::GhlCreateNote { .. } => "create_note",
            Self::GhlUpdateNote { .. } => "update_note",
            Self::GhlDeleteNote { .. } => "delete_note",
            Self::GhlBookAppointment { .. } => "book_appointment",
            Self::GhlUpdateAppointment { .. } => "update_appointment",
            Self::ClubOsCreateEvent { .. } => "create_event",
        }
    }

    /// The GHL contact and Club OS user whose cached data this leg changes.
    pub fn touches(&self, prior: &Prior) -> (Option<String>, Option<i64>) {
        match self {
            Self::GhlCreateContact { .. } | Self::GhlUpsertContact { .. } => {
                (prior.ghl_contact_id(), None)
            }
            Self::GhlBookAppointment { appointment } => {
                (Some(appointment.contact_id.clone()), None)
            }
            Self::GhlUpdateContact { contact_id, .. }
            | Self::GhlDeleteContact { contact_id }
            | Self::GhlTags { contact_id, .. }
            | Self::GhlCreateTask { contact_id, .. }
            | Self::GhlUpdateTask { contact_id, .. }
            | Self::GhlDeleteTask { contact_id, .. }
            | Self::GhlCreateNote { contact_id, .. }
            | Self::GhlUpdateNote { contact_id, .. }
            | Self::GhlDeleteNote { contact_id, .. }
            | Self::GhlUpdateAppointment { contact_id, .. } => (Some(contact_id.clone()), None),
            Self::GhlBulkTags { .. } => (None, None),
            Self::ClubOsCreateUser { .. } => (None, prior.clubos_user_id()),
            Self::ClubOsUpdateUser { user_id, .. } => (None, Some(*user_id)),
            Self::ClubOsCreateEvent { event } => {
                (None, event.attendee.first().map(|a| a.attendee_id))
            }
            Self::Link {
                ghl_contact_id,
                clubos_user_id,
                ..
            } => (
                ghl_contact_id.clone().or_else(|| prior.ghl_contact_id()),
                clubos_user_id.or_else(|| prior.clubos_user_id()),
            ),
            Self::Unlink { ghl_contact_id } => (Some(ghl_contact_id.clone()), None),
        }
    }
}

/// What an applied leg produced, as the outbox keeps it (JSON in `result`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LegResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ghl_contact_id: Option<String>,
    #[serde(rename = "clubOsUserId", skip_serializing_if = "Option::is_none")]
    pub clubos_user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<String>,
    #[serde(rename = "clubOsEventId", skip_serializing_if = "Option::is_none")]
    pub clubos_event_id: Option<i64>,
    /// The contact's tags after a tag change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The contacts of a bulk tag change that GHL refused (unknown, deleted, foreign).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_contact_ids: Option<Vec<String>>,
    /// Set when the upstream answered 2xx with a body that could not be read: applied,
    /// with what it made unknown (or settled by a lookup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

/// How an applied leg's answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// A 2xx whose body could not be read.
    Unread,
}

impl LegResult {
    /// A stored result; an absent or unreadable one reads as empty.
    pub fn stored(result: Option<&str>) -> Self {
        result
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }

    /// The form the outbox stores.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The id of the task, note or appointment the leg created.
    pub fn created_id(&self) -> Option<&str> {
        self.task_id
            .as_deref()
            .or(self.note_id.as_deref())
            .or(self.appointment_id.as_deref())
    }

    /// A 2xx whose body could not be read, with what a lookup settled.
    fn unread(self) -> Self {
        Self {
            applied: Some(Applied::Unread),
            ..self
        }
    }
}

/// What the earlier legs of the operation produced: each id from the latest leg that
/// gave one.
#[derive(Debug, Clone, Default)]
pub struct Prior(LegResult);

impl Prior {
    /// Merges the results of earlier legs, in order.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a LegResult>) -> Self {
        let mut m = LegResult::default();
        for r in results {
            m.ghl_contact_id = r.ghl_contact_id.clone().or(m.ghl_contact_id);
            m.clubos_user_id = r.clubos_user_id.or(m.clubos_user_id);
            m.task_id = r.task_id.clone().or(m.task_id);
            m.note_id = r.note_id.clone().or(m.note_id);
            m.appointment_id = r.appointment_id.clone().or(m.appointment_id);
        }
        Self(m)
    }

    /// Merges stored results, as [`Prior::of`] does.
    pub fn stored<'a>(results: impl IntoIterator<Item = &'a Option<String>>) -> Self {
        let read: Vec<LegResult> = results
            .into_iter()
            .map(|r| LegResult::stored(r.as_deref()))
            .collect();
        Self::of(&read)
    }

    pub fn ghl_contact_id(&self) -> Option<String> {
        self.0.ghl_contact_id.clone()
    }

    pub fn clubos_user_id(&self) -> Option<i64> {
        self.0.clubos_user_id
    }

    /// The id of the task, note or appointment the operation created.
    pub fn created_id(&self) -> Option<String> {
        self.0.created_id().map(str::to_owned)
    }
}

/// How far an upstream's clock may run behind the gateway's when a record's creation
/// time is compared with a leg's first attempt.
const CLOCK_SKEW_MS: i64 = 60_000;

/// Runs a leg. `first_sent_ms` is set when an earlier attempt (recorded at that time)
/// may have been applied without an answer: creates then look for a record that attempt
/// provably made before they create again. A 2xx whose body cannot be read means the
/// write was applied: it is never sent again (a create settles its id by the same look).
pub async fn run(
    s: &Writer,
    op: &LegOp,
    prior: &Prior,
    first_sent_ms: Option<i64>,
) -> Result<Option<LegResult>, UpstreamError> {
    let contact = |id: Option<String>| LegResult {
        ghl_contact_id: id,
        ..LegResult::default()
    };
    let user = |id: Option<i64>| LegResult {
        clubos_user_id: id,
        ..LegResult::default()
    };
    match op {
        LegOp::GhlCreateContact { contact: new } => {
            if let Some(since) = first_sent_ms
                && let Some(id) = created_contact(s, new, since).await?
            {
                return Ok(Some(contact(Some(id))));
            }
            let sent_at = first_sent_ms.unwrap_or_else(crate::store::now_ms);
            match s.ghl.create_contact(new).await {
                Ok(c) => Ok(Some(contact(Some(c.id)))),
                Err(UpstreamError::Decode(_)) => {
                    let id = created_contact(s, new, sent_at).await.ok().flatten();
                    Ok(Some(contact(id).unread()))
                }
                Err(e) => Err(e),
            }
        }
        LegOp::GhlUpsertContact { contact: new } => {
            let r = applied(s.ghl.upsert_contact(new).await)?;
            Ok(Some(contact(r.map(|r| r.contact.id))))
        }
        LegOp::GhlBookAppointment { appointment } => {
            let a = applied(s.ghl.create_appointment(appointment).await)?;
            Ok(Some(LegResult {
                appointment_id: a.map(|a| a.id),
                ..LegResult::default()
            }))
        }
        LegOp::GhlUpdateAppointment {
            appointment_id,
            patch,
            ..
        } => {
            applied(s.ghl.update_appointment(appointment_id, patch).await)?;
            Ok(None)
        }
        LegOp::ClubOsCreateEvent { event } => {
            let e = applied(s.clubos.create_event(event).await)?;
            Ok(Some(LegResult {
                clubos_event_id: e.map(|e| e.event_id),
                ..LegResult::default()
            }))
        }
        LegOp::GhlUpdateContact { contact_id, patch } => {
            if let Some(c) = applied(s.ghl.update_contact(contact_id, patch).await)? {
                s.own_writes.wrote_contact(&c);
            }
            Ok(None)
        }
        LegOp::GhlDeleteContact { contact_id } => match s.ghl.delete_contact(contact_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. } | UpstreamError::Decode(_)) => Ok(None),
            Err(e) => Err(e),
        },
        LegOp::GhlTags {
            contact_id,
            tags,
            add,
        } => {
            let now = applied(if *add {
                s.ghl.add_tags(contact_id, tags).await
            } else {
                s.ghl.remove_tags(contact_id, tags).await
            })?;
            Ok(now.map(|now| LegResult {
                tags: Some(now),
                ..LegResult::default()
            }))
        }
        LegOp::GhlBulkTags {
            contact_ids,
            tags,
            add,
        } => {
            let r = applied(
                s.ghl
                    .bulk_update_tags(*add, contact_ids.clone(), tags.clone())
                    .await,
            )?;
            let Some(r) = r else {
                return Ok(Some(LegResult::default().unread()));
            };
            let failed = r
                .responses
                .into_iter()
                .filter(|i| i.kind == "error")
                .map(|i| i.contact_id)
                .collect();
            Ok(Some(LegResult {
                failed_contact_ids: Some(failed),
                ..LegResult::default()
            }))
        }
        LegOp::ClubOsCreateUser { user: new } => {
            if let Some(since) = first_sent_ms
                && let Some(id) = created_user(s, new, since).await?
            {
                return Ok(Some(user(Some(id))));
            }
            let sent_at = first_sent_ms.unwrap_or_else(crate::store::now_ms);
            match s.clubos.create_user(new).await {
                Ok(u) => Ok(Some(user(Some(u.user_id)))),
                Err(UpstreamError::Decode(_)) => {
                    let id = created_user(s, new, sent_at).await.ok().flatten();
                    Ok(Some(user(id).unread()))
                }
                Err(e) => Err(e),
            }
        }
        LegOp::ClubOsUpdateUser { user_id, patch } => {
            if let Some(u) = applied(s.clubos.update_user(*user_id, patch).await)? {
                s.own_writes.wrote_user(&u);
            }
            Ok(None)
        }
        LegOp::Link {
            ghl_contact_id,
            clubos_user_id,
            source,
            evidence,
            confirmed_by,
        } => {
            let (Some(ghl), Some(user)) = (
                ghl_contact_id.clone().or_else(|| prior.ghl_contact_id()),
                clubos_user_id.or_else(|| prior.clubos_user_id()),
            ) else {
                return Err(UpstreamError::Invalid {
                    messages: vec!["nothing to link: an earlier leg produced no id".into()],
                });
            };
            let link = NewLink {
                ghl_contact_id: ghl.clone(),
                clubos_user_id: user,
                source: *source,
                evidence: evidence.clone(),
                confirmed_by: *confirmed_by,
            };
            let stored = s
                .store
                .put_link(&link)
                .await
                .map_err(|e| UpstreamError::Transport(format!("store: {e}")))?;
            if !stored {
                // The sweep's match is older than a link someone stored since: it is
                // refused for good, and the next sweep decides again.
                return Err(UpstreamError::Invalid {
                    messages: vec!["one of the records is linked to someone else now".into()],
                });
            }
            // A link found by the link field needs no mirror: the field already holds it.
            if *source != LinkSource::CustomField {
                mirror_link(s, &ghl, json!(user.to_string())).await?;
            }
            Ok(Some(LegResult {
                ghl_contact_id: Some(ghl),
                clubos_user_id: Some(user),
                ..LegResult::default()
            }))
        }
        LegOp::Unlink { ghl_contact_id } => {
            s.store
                .remove_link_by_ghl(ghl_contact_id)
                .await
                .map_err(|e| UpstreamError::Transport(format!("store: {e}")))?;
            mirror_link(s, ghl_contact_id, json!("")).await?;
            Ok(None)
        }
        LegOp::GhlCreateTask { contact_id, task } => {
            let t = applied(s.ghl.create_task(contact_id, task).await)?;
            Ok(Some(LegResult {
                task_id: t.map(|t| t.id),
                ..LegResult::default()
            }))
        }
        LegOp::GhlUpdateTask {
            contact_id,
            task_id,
            patch,
        } => {
            applied(s.ghl.update_task(contact_id, task_id, patch).await)?;
            Ok(None)
        }
        LegOp::GhlDeleteTask {
            contact_id,
            task_id,
        } => match s.ghl.delete_task(contact_id, task_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. } | UpstreamError::Decode(_)) => Ok(None),
            Err(e) => Err(e),
        },
        LegOp::GhlCreateNote { contact_id, note } => {
            let n = applied(s.ghl.create_note(contact_id, note).await)?;
            Ok(Some(LegResult {
                note_id: n.map(|n| n.id),
                ..LegResult::default()
            }))
        }
        LegOp::GhlUpdateNote {
            contact_id,
            note_id,
            note,
        } => {
            applied(s.ghl.update_note(contact_id, note_id, note).await)?;
            Ok(None)
        }
        LegOp::GhlDeleteNote {
            contact_id,
            note_id,
        } => match s.ghl.delete_note(contact_id, note_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. } | UpstreamError::Decode(_)) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// A write whose 2xx answer could not be read was applied all the same: it is done, with
/// its result unknown, and never sent again.
fn applied<T>(r: Result<T, UpstreamError>) -> Result<Option<T>, UpstreamError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(UpstreamError::Decode(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the link custom field, when the location has one.
async fn mirror_link(s: &Writer, ghl: &str, value: Value) -> Result<(), UpstreamError> {
    let field = s.link_field.id().await?;
    if let Some(field) = field {
        let patch = ContactPatch {
            custom_fields: Some(vec![CustomFieldWrite {
                id: field.to_owned(),
                field_value: value,
            }]),
            ..ContactPatch::default()
        };
        let c = s.ghl.update_contact(ghl, &patch).await?;
        s.own_writes.wrote_contact(&c);
    }
    Ok(())
}

/// Whether an RFC 3339 creation time is at or after `since` (less the clock skew).
fn created_since(date: Option<&str>, since: i64) -> bool {
    date.and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .is_some_and(|t| t.timestamp_millis() >= since - CLOCK_SKEW_MS)
}

fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |v: Option<&str>| v.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
    norm(a) == norm(b)
}

/// The GHL contact an earlier attempt of this create provably made: among the contacts
/// with the sent email or phone (GHL's duplicate lookup and its search), the one created
/// after the leg was first sent, holding exactly the names, email and phone that were
/// sent, linked to nobody (no stored link, an empty link field). Any other match is
/// someone else's: it is refused as a first-try duplicate is, naming it, and is never
/// adopted (nor deleted by a compensation).
async fn created_contact(
    s: &Writer,
    contact: &NewContact,
    since: i64,
) -> Result<Option<String>, UpstreamError> {
    let sent = &contact.fields;
    let conditions: Vec<SearchFilter> = [("email", &sent.email), ("phone", &sent.phone)]
        .into_iter()
        .filter_map(|(field, v)| {
            v.clone()
                .map(|v| SearchFilter::cond(field, FilterOp::Eq, v))
        })
        .collect();
    if conditions.is_empty() {
        return Ok(None);
    }
    let search = SearchRequest {
        page_limit: 100,
        filters: vec![SearchFilter::any(conditions)],
        ..SearchRequest::default()
    };
    let (duplicate, found) = futures_util::join!(
        s.ghl
            .find_duplicate(sent.email.as_deref(), sent.phone.as_deref()),
        s.ghl.search_contacts(&search)
    );
    let mut candidates = found?.contacts;
    let duplicate = duplicate?;
    if let Some(d) = &duplicate
        && !candidates.iter().any(|c| c.id == d.id)
    {
        candidates.push(d.clone());
    }
    let Some(named) = duplicate.or_else(|| candidates.first().cloned()) else {
        return Ok(None);
    };
    let ids: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
    let stored = s
        .store
        .links_by_ghl(&ids)
        .await
        .map_err(|e| UpstreamError::Transport(format!("store: {e}")))?;
    let field = s.link_field.id().await.ok().flatten();
    let mut ours = candidates.iter().filter(|c| {
        let linked = field.is_some_and(|f| c.custom_field(f).is_some_and(|v| !v.trim().is_empty()))
            || stored.iter().any(|l| l.ghl_contact_id == c.id);
        created_since(c.date_added.as_deref(), since)
            && same_text(c.first_name.as_deref(), sent.first_name.as_deref())
            && same_text(c.last_name.as_deref(), sent.last_name.as_deref())
            && same_text(c.email.as_deref(), sent.email.as_deref())
            && same_text(c.phone.as_deref(), sent.phone.as_deref())
            && !linked
    });
    match (ours.next(), ours.next()) {
        (Some(c), None) => Ok(Some(c.id.clone())),
        _ => Err(UpstreamError::Duplicate {
            existing_id: Some(named.id),
            matching_field: None,
        }),
    }
}

/// The Club OS user an earlier attempt of this create provably made, as
/// [`created_contact`] proves it: the users with the sent email (else the sent mobile
/// phone), of whom exactly one was created after the leg was first sent with exactly
/// the sent names, email and phones, and is linked to nobody. A household member who
/// merely shares the email is someone else's: refused as a duplicate, never adopted.
async fn created_user(
    s: &Writer,
    user: &NewUser,
    since: i64,
) -> Result<Option<i64>, UpstreamError> {
    let search = match (&user.email, &user.mobile_phone) {
        (Some(email), _) => UserSearch {
            email: Some(email.clone()),
            ..UserSearch::default()
        },
        (None, Some(phone)) => UserSearch {
            phone: Some(phone.clone()),
            ..UserSearch::default()
        },
        (None, None) => return Ok(None),
    };
    let found = s.clubos.search_users(&search).await?.content;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let ids: Vec<i64> = found.iter().map(|u| u.user_id).collect();
    let linked = s
        .store
        .links_by_clubos(&ids)
        .await
        .map_err(|e| UpstreamError::Transport(format!("store: {e}")))?;
    let mut ours = found.iter().filter(|u| {
        created_since(u.created_date.as_deref(), since)
            && same_text(u.first_name.as_deref(), Some(&user.first_name))
            && same_text(u.last_name.as_deref(), Some(&user.last_name))
            && same_text(u.email.as_deref(), user.email.as_deref())
            && same_text(u.mobile_phone.as_deref(), user.mobile_phone.as_deref())
            && !linked.iter().any(|l| l.clubos_user_id == u.user_id)
    });
    match (ours.next(), ours.next()) {
        (Some(u), None) => Ok(Some(u.user_id)),
        _ => Err(UpstreamError::Duplicate {
            existing_id: Some(first.user_id.to_string()),
            matching_field: Some(
                if user.email.is_some() {
                    "email"
                } else {
                    "mobilePhone"
                }
                .into(),
            ),
        }),
    }
}

/// The undo of an applied leg, when it has one (a created GHL contact or task is
/// deleted). Club OS documents no delete, so its creates cannot be undone: plans put
/// them last.
pub fn compensation(op: &LegOp, result: &LegResult) -> Option<LegOp> {
    match op {
        LegOp::GhlCreateContact { .. } => result
            .ghl_contact_id
            .clone()
            .map(|contact_id| LegOp::GhlDeleteContact { contact_id }),
        LegOp::GhlCreateTask { contact_id, .. } => {
            result.task_id.clone().map(|task_id| LegOp::GhlDeleteTask {
                contact_id: contact_id.clone(),
                task_id,
            })
        }
        _ => None,
    }
}
