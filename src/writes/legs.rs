//! One upstream write ("leg") of a mutation: what it does, as a serialisable operation the
//! outbox can hold and the relay can run again after a crash.
//!
//! Running a leg twice must not write twice: updates and deletes are idempotent by
//! nature; a create first looks for what an earlier, possibly unanswered attempt may
//! already have created (GHL duplicate lookup, Club OS email search) before creating.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::System,
    state::AppState,
    store::LinkSource,
    upstream::{
        UpstreamError,
        clubos::{NewEvent, NewUser, UserPatch, UserSearch},
        ghl::models::{
            AppointmentPatch, ContactPatch, CustomFieldWrite, NewAppointment, NewContact, NewTask,
            NoteWrite, TaskPatch,
        },
    },
};

/// An upstream write, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LegOp {
    /// Result: `{"ghlContactId": ...}`.
    GhlCreateContact {
        contact: NewContact,
    },
    /// Result: `{"ghlContactId": ...}`. Idempotent by construction (GHL matches on
    /// email, then phone).
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
    /// Result: `{"clubOsUserId": ...}`.
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
    },
    /// Forgets the link and clears the GHL link custom field.
    Unlink {
        ghl_contact_id: String,
    },
    /// Result: `{"taskId": ...}`.
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
    /// Result: `{"noteId": ...}`.
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
    /// Result: `{"appointmentId": ...}`.
    GhlBookAppointment {
        appointment: NewAppointment,
    },
    GhlUpdateAppointment {
        contact_id: String,
        appointment_id: String,
        patch: AppointmentPatch,
    },
    /// Result: `{"clubOsEventId": ...}`.
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

/// What the earlier legs of the operation produced.
#[derive(Debug, Clone, Default)]
pub struct Prior(pub HashMap<String, Value>);

impl Prior {
    /// Collects the result objects of earlier legs.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a Option<String>>) -> Self {
        let mut m = HashMap::new();
        for r in results.into_iter().flatten() {
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(r) {
                m.extend(o);
            }
        }
        Self(m)
    }

    pub fn ghl_contact_id(&self) -> Option<String> {
        self.0
            .get("ghlContactId")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn clubos_user_id(&self) -> Option<i64> {
        self.0.get("clubOsUserId").and_then(Value::as_i64)
    }
}

/// Runs a leg. `retry` says an earlier attempt may have been applied without an answer,
/// so creates look before they create.
pub async fn run(
    s: &AppState,
    op: &LegOp,
    prior: &Prior,
    retry: bool,
) -> Result<Option<Value>, UpstreamError> {
    match op {
        LegOp::GhlCreateContact { contact } => {
            if retry
                && let Some(found) = s
                    .ghl
                    .find_duplicate(
                        contact.fields.email.as_deref(),
                        contact.fields.phone.as_deref(),
                    )
                    .await?
            {
                return Ok(Some(json!({"ghlContactId": found.id})));
            }
            match s.ghl.create_contact(contact).await {
                Ok(c) => Ok(Some(json!({"ghlContactId": c.id}))),
                Err(e) => Err(e),
            }
        }
        LegOp::GhlUpsertContact { contact } => {
            let r = s.ghl.upsert_contact(contact).await?;
            Ok(Some(json!({"ghlContactId": r.contact.id})))
        }
        LegOp::GhlBookAppointment { appointment } => {
            let a = s.ghl.create_appointment(appointment).await?;
            Ok(Some(json!({"appointmentId": a.id})))
        }
        LegOp::GhlUpdateAppointment {
            appointment_id,
            patch,
            ..
        } => {
            s.ghl.update_appointment(appointment_id, patch).await?;
            Ok(None)
        }
        LegOp::ClubOsCreateEvent { event } => {
            let e = s.clubos.create_event(event).await?;
            Ok(Some(json!({"clubOsEventId": e.event_id})))
        }
        LegOp::GhlUpdateContact { contact_id, patch } => {
            s.ghl.update_contact(contact_id, patch).await?;
            Ok(None)
        }
        LegOp::GhlDeleteContact { contact_id } => match s.ghl.delete_contact(contact_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
        LegOp::GhlTags {
            contact_id,
            tags,
            add,
        } => {
            let now = if *add {
                s.ghl.add_tags(contact_id, tags).await?
            } else {
                s.ghl.remove_tags(contact_id, tags).await?
            };
            Ok(Some(json!({"tags": now})))
        }
        LegOp::GhlBulkTags {
            contact_ids,
            tags,
            add,
        } => {
            let r = s
                .ghl
                .bulk_update_tags(*add, contact_ids.clone(), tags.clone())
                .await?;
            let failed: Vec<&str> = r
                .responses
                .iter()
                .filter(|i| i.kind == "error")
                .map(|i| i.contact_id.as_str())
                .collect();
            Ok(Some(json!({"failedContactIds": failed})))
        }
        LegOp::ClubOsCreateUser { user } => {
            if retry && let Some(id) = existing_user(s, user).await? {
                return Ok(Some(json!({"clubOsUserId": id})));
            }
            match s.clubos.create_user(user).await {
                Ok(u) => Ok(Some(json!({"clubOsUserId": u.user_id}))),
                Err(e) => Err(e),
            }
        }
        LegOp::ClubOsUpdateUser { user_id, patch } => {
            s.clubos.update_user(*user_id, patch).await?;
            Ok(None)
        }
        LegOp::Link {
            ghl_contact_id,
            clubos_user_id,
            source,
        } => {
            let (Some(ghl), Some(user)) = (
                ghl_contact_id.clone().or_else(|| prior.ghl_contact_id()),
                clubos_user_id.or_else(|| prior.clubos_user_id()),
            ) else {
                return Err(UpstreamError::Invalid {
                    messages: vec!["nothing to link: an earlier leg produced no id".into()],
                });
            };
            s.store
                .put_link(&ghl, user, *source)
                .await
                .map_err(|e| UpstreamError::Transport(format!("store: {e}")))?;
            mirror_link(s, &ghl, json!(user.to_string())).await?;
            Ok(Some(json!({"ghlContactId": ghl, "clubOsUserId": user})))
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
            let t = s.ghl.create_task(contact_id, task).await?;
            Ok(Some(json!({"taskId": t.id})))
        }
        LegOp::GhlUpdateTask {
            contact_id,
            task_id,
            patch,
        } => {
            s.ghl.update_task(contact_id, task_id, patch).await?;
            Ok(None)
        }
        LegOp::GhlDeleteTask {
            contact_id,
            task_id,
        } => match s.ghl.delete_task(contact_id, task_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
        LegOp::GhlCreateNote { contact_id, note } => {
            let n = s.ghl.create_note(contact_id, note).await?;
            Ok(Some(json!({"noteId": n.id})))
        }
        LegOp::GhlUpdateNote {
            contact_id,
            note_id,
            note,
        } => {
            s.ghl.update_note(contact_id, note_id, note).await?;
            Ok(None)
        }
        LegOp::GhlDeleteNote {
            contact_id,
            note_id,
        } => match s.ghl.delete_note(contact_id, note_id).await {
            Ok(()) | Err(UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Writes the link custom field, when the location has one.
async fn mirror_link(s: &AppState, ghl: &str, value: Value) -> Result<(), UpstreamError> {
    let field = s
        .link_field_id()
        .await
        .map_err(|e| UpstreamError::Transport(e.message))?;
    if let Some(field) = field {
        let patch = ContactPatch {
            custom_fields: Some(vec![CustomFieldWrite {
                id: field.to_owned(),
                field_value: value,
            }]),
            ..ContactPatch::default()
        };
        s.ghl.update_contact(ghl, &patch).await?;
    }
    Ok(())
}

/// A Club OS user an earlier attempt of this create may have made: same email, same
/// names.
async fn existing_user(s: &AppState, user: &NewUser) -> Result<Option<i64>, UpstreamError> {
    let Some(email) = user.email.clone() else {
        return Ok(None);
    };
    let page = s
        .clubos
        .search_users(&UserSearch {
            email: Some(email),
            ..UserSearch::default()
        })
        .await?;
    Ok(page
        .content
        .iter()
        .find(|u| {
            u.first_name.as_deref().map(str::to_lowercase) == Some(user.first_name.to_lowercase())
                && u.last_name.as_deref().map(str::to_lowercase)
                    == Some(user.last_name.to_lowercase())
        })
        .map(|u| u.user_id))
}

/// The undo of an applied leg, when it has one (a created GHL contact is deleted).
/// Club OS documents no delete, so its creates cannot be undone: plans put them last.
pub fn compensation(op: &LegOp, result: Option<&str>) -> Option<LegOp> {
    match op {
        LegOp::GhlCreateContact { .. } => Prior::of([&result.map(str::to_owned)])
            .ghl_contact_id()
            .map(|contact_id| LegOp::GhlDeleteContact { contact_id }),
        LegOp::GhlCreateTask { contact_id, .. } => {
            let prior = Prior::of([&result.map(str::to_owned)]);
            prior
                .0
                .get("taskId")
                .and_then(Value::as_str)
                .map(|t| LegOp::GhlDeleteTask {
                    contact_id: contact_id.clone(),
                    task_id: t.to_owned(),
                })
        }
        _ => None,
    }
}
