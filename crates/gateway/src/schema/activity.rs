//! A person's tasks, notes and appointments, each saying which system it comes from.

use async_graphql::{ComplexObject, Context, Enum, ID, Result, SimpleObject};

use crate::{
    loaders::Loaders,
    read_model::Record,
    store::RecordKind,
    upstream::{
        clubos::ClubOsEvent,
        ghl::models::{GhlAppointment, GhlNote, GhlTask},
    },
};

/// A system of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::error::System")]
pub enum Source {
    /// HighLevel, the CRM.
    Ghl,
    /// Club OS, the member system.
    ClubOs,
}

/// A to-do about a person.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Task {
    /// The task's id in its system.
    pub id: ID,
    /// Where the task lives.
    pub source: Source,
    /// Short title.
    pub title: String,
    /// Details.
    pub body: Option<String>,
    /// When it is due (ISO-8601).
    pub due_date: Option<String>,
    /// Whether it is done.
    pub completed: bool,
    /// The user it is assigned to, in its system.
    pub assigned_to: Option<String>,
    #[graphql(skip)]
    pub record: RecordRef,
}

impl From<GhlTask> for Task {
    fn from(t: GhlTask) -> Self {
        Self {
            id: ID(t.id.clone()),
            source: Source::Ghl,
            title: t.title,
            body: t.body,
            due_date: t.due_date,
            completed: t.completed,
            assigned_to: t.assigned_to,
            record: (RecordKind::GhlTask, t.id.clone()),
        }
    }
}

/// A note about a person.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Note {
    /// The note's id in its system.
    pub id: ID,
    /// Where the note lives.
    pub source: Source,
    /// The text.
    pub body: String,
    /// Optional title.
    pub title: Option<String>,
    /// Whether it is pinned.
    pub pinned: bool,
    /// Who wrote it, in its system.
    pub author_id: Option<String>,
    /// When it was written (ISO-8601).
    pub created_at: Option<String>,
    #[graphql(skip)]
    pub record: RecordRef,
}

impl From<GhlNote> for Note {
    fn from(n: GhlNote) -> Self {
        Self {
            record: (RecordKind::GhlNote, n.id.clone()),
            id: ID(n.id),
            source: Source::Ghl,
            body: n.body,
            title: n.title,
            pinned: n.pinned,
            author_id: n.user_id,
            created_at: n.date_added,
        }
    }
}

/// An appointment: a GHL calendar event or a Club OS event (tour, training, class).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Appointment {
    /// The appointment's id in its system.
    pub id: ID,
    /// Where the appointment lives.
    pub source: Source,
    /// Title or subject.
    pub title: Option<String>,
    /// Start (ISO-8601).
    pub start_time: Option<String>,
    /// End (ISO-8601).
    pub end_time: Option<String>,
    /// Status in its system (GHL: `new`, `confirmed`, `cancelled`, `showed`, `noshow`;
    /// Club OS: the attendee status letter).
    pub status: Option<String>,
    /// GHL calendar id, or the Club OS event type (`4` tour, `2` training, `3` class).
    pub calendar: Option<String>,
    /// Owner: GHL user id or Club OS staff id.
    pub owner_id: Option<String>,
    /// Where it takes place.
    pub address: Option<String>,
    #[graphql(skip)]
    pub record: RecordRef,
}

impl From<GhlAppointment> for Appointment {
    fn from(a: GhlAppointment) -> Self {
        Self {
            record: (RecordKind::GhlAppointment, a.id.clone()),
            id: ID(a.id),
            source: Source::Ghl,
            title: a.title,
            start_time: a.start_time,
            end_time: a.end_time,
            status: a.appointment_status,
            calendar: a.calendar_id,
            owner_id: a.assigned_user_id,
            address: a.address,
        }
    }
}

impl Appointment {
    /// A Club OS event as read for the attendee `user_id`.
    pub fn of_event(e: ClubOsEvent, user_id: i64) -> Self {
        let owner = user_id.to_string();
        Self {
            record: (RecordKind::ClubOsEvent, e.record_id(Some(&owner))),
            id: ID(e.event_id.to_string()),
            source: Source::ClubOs,
            title: e.subject,
            start_time: Some(e.start_time),
            end_time: Some(e.end_time),
            status: e.attendee.first().map(|a| a.attendee_status.clone()),
            calendar: Some(e.event_type_id.to_string()),
            owner_id: Some(e.event_owner_id.to_string()),
            address: None,
        }
    }
}

/// Which read-model record an object was made from.
pub type RecordRef = (RecordKind, String);

/// When the read model last stored the record; null when it holds none (the read model
/// is off, or the record was read without being stored).
async fn synced_at(ctx: &Context<'_>, record: &RecordRef) -> Result<Option<String>> {
    let l = ctx.data::<Loaders>()?;
    Ok(l.synced_at(record.clone()).await.map(crate::clock::iso_ms))
}

#[ComplexObject]
impl Task {
    /// When contactgraph last stored this task from GHL (ISO-8601); null when it was
    /// read without being stored.
    async fn synced_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        synced_at(ctx, &self.record).await
    }
}

#[ComplexObject]
impl Note {
    /// When contactgraph last stored this note from GHL (ISO-8601); null when it was
    /// read without being stored.
    async fn synced_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        synced_at(ctx, &self.record).await
    }
}

#[ComplexObject]
impl Appointment {
    /// When contactgraph last stored this appointment from its system (ISO-8601); null
    /// when it was read without being stored.
    async fn synced_at(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        synced_at(ctx, &self.record).await
    }
}
