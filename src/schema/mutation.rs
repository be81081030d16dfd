//! Mutations: each is validated before any upstream write, planned as legs (one
//! upstream write each), run through [`crate::writes`], and answered with what happened
//! on each system.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, ID, InputObject, Object, Result, SimpleObject,
};
use serde::Serialize;
use serde_json::json;

use super::{Appointment, Contact, ContactRef, Note, Source, Task};
use crate::{
    error::{ErrorCode, GatewayError, System},
    linking::{LinkStatus, Person, merge::MergeConfig},
    loaders::{self, Loaders},
    store::{Leg, LegState, LinkSource},
    upstream::{
        clubos::{ClubOsAttendee, ClubOsUser, NewEvent},
        ghl::models::{
            AppointmentPatch, GhlContact, NewAppointment, NewTask, NoteWrite, TaskPatch,
        },
    },
    writes::{
        self, Idempotency, Outcome, Overall, Plan, WriteStatus as Status, Writer,
        input::{self, PersonFields},
        legs::LegOp,
    },
};

/// The `Idempotency-Key` header of the request, when it had one.
#[derive(Debug, Clone)]
pub struct IdempotencyHeader(pub String);

/// A person's fields to set. Absent fields are left as they are.
#[derive(Debug, Clone, Default, InputObject, Serialize)]
pub struct ContactInput {
    /// Given name (at most 50 characters).
    pub first_name: Option<String>,
    /// Family name (at most 50 characters).
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number in any format; stored as E.164 in GHL and digits in Club OS.
    pub phone: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Street line.
    pub address1: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Two-letter state code.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// GHL tags (creates only; use `addTags`/`removeTags` to change them later).
    pub tags: Option<Vec<String>>,
}

impl ContactInput {
    fn fields(&self) -> PersonFields {
        PersonFields {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            date_of_birth: self.date_of_birth.clone(),
            address1: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
        }
    }
}

/// A new task.
#[derive(Debug, Clone, InputObject, Serialize)]
pub struct TaskInput {
    /// Short title.
    pub title: String,
    /// Details.
    pub body: Option<String>,
    /// When it is due (ISO-8601).
    pub due_date: String,
    /// GHL user it is assigned to.
    pub assigned_to: Option<String>,
}

/// Changes to a task. Absent fields are left as they are.
#[derive(Debug, Clone, Default, InputObject, Serialize)]
pub struct TaskChanges {
    /// Short title.
    pub title: Option<String>,
    /// Details.
    pub body: Option<String>,
    /// When it is due (ISO-8601).
    pub due_date: Option<String>,
    /// GHL user it is assigned to.
    pub assigned_to: Option<String>,
    /// Whether it is done.
    pub completed: Option<bool>,
}

/// A new appointment on a GHL calendar.
#[derive(Debug, Clone, InputObject, Serialize)]
pub struct AppointmentInput {
    /// GHL calendar id.
    pub calendar_id: String,
    /// Start (ISO-8601).
    pub start_time: String,
    /// End (ISO-8601); GHL defaults to the calendar's slot length.
    pub end_time: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// The GHL user who owns it (GHL requires an owner).
    pub assigned_user_id: String,
    /// Where it takes place.
    pub address: Option<String>,
}

/// Changes to an appointment. Absent fields are left as they are.
#[derive(Debug, Clone, Default, InputObject, Serialize)]
pub struct AppointmentChanges {
    /// Start (ISO-8601).
    pub start_time: Option<String>,
    /// End (ISO-8601).
    pub end_time: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// The GHL user who owns it.
    pub assigned_user_id: Option<String>,
    /// Where it takes place.
    pub address: Option<String>,
}

/// How a tag change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
pub enum TagAction {
    /// Add the tags.
    Add,
    /// Remove the tags.
    Remove,
}

/// What happened on one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum WriteStatus {
    /// Done.
    Applied,
    /// Not attempted, for the reason in `message`.
    Skipped,
    /// Recorded; the gateway will finish it without another request.
    Pending,
    /// Not applied, or undone, for the reason in `errorCode` and `message`.
    Failed,
}

/// How a mutation went as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum MutationStatus {
    /// Every write it needed is done.
    Applied,
    /// Some writes are recorded and will finish later; none failed.
    Pending,
    /// Some writes are done and some failed: see `writes`.
    Partial,
    /// Nothing was applied (what had been was undone).
    Failed,
}

/// One system's part of a mutation.
#[derive(Debug, Clone, SimpleObject)]
pub struct SystemWrite {
    /// The system written to.
    pub system: Source,
    /// What was written, e.g. `update_contact`.
    pub operation: String,
    /// What happened.
    pub status: WriteStatus,
    /// The mutation's operation id (shared by all its writes).
    pub operation_id: ID,
    /// This write's id in the outbox (`pendingWrites`, `failedWrites`, `retryWrite`).
    pub write_id: Option<ID>,
    /// Error code when pending or failed.
    pub error_code: Option<String>,
    /// Why it was skipped or failed.
    pub message: Option<String>,
    /// For a bulk write: the GHL contact this row is about (each has its own status).
    pub contact_id: Option<ID>,
}

/// What a mutation did, and the objects it produced.
#[derive(Debug, Clone)]
pub struct WritePayload {
    outcome: Outcome,
}

/// What a mutation did, and the objects it produced.
#[Object]
impl WritePayload {
    /// How the mutation went as a whole.
    async fn status(&self) -> MutationStatus {
        match self.outcome.overall() {
            Overall::Applied => MutationStatus::Applied,
            Overall::Pending => MutationStatus::Pending,
            Overall::Partial => MutationStatus::Partial,
            Overall::Failed => MutationStatus::Failed,
        }
    }

    /// The operation id; every write of the mutation carries it.
    async fn operation_id(&self) -> ID {
        ID(self.outcome.operation_id.clone())
    }

    /// Each system's write.
    async fn writes(&self) -> Vec<SystemWrite> {
        self.outcome
            .writes
            .iter()
            .map(|w| SystemWrite {
                system: if w.system == System::ClubOs.to_string() {
                    Source::ClubOs
                } else {
                    Source::Ghl
                },
                operation: w.operation.clone(),
                status: match w.status {
                    Status::Applied => WriteStatus::Applied,
                    Status::Skipped => WriteStatus::Skipped,
                    Status::Pending => WriteStatus::Pending,
                    Status::Failed => WriteStatus::Failed,
                },
                operation_id: ID(self.outcome.operation_id.clone()),
                write_id: w.write_id.clone().map(ID),
                error_code: w.error_code.clone(),
                message: w.message.clone(),
                contact_id: w.contact_id.clone().map(ID),
            })
            .collect()
    }

    /// The person as they are now (read again after the write); null when the mutation
    /// is not about one person or nothing exists any more.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>> {
        if self.outcome.overall() == Overall::Failed {
            return Ok(None);
        }
        let fresh = ctx.data::<Loaders>()?.fresh();
        let state = fresh.readers();
        if let Some(id) = &self.outcome.ghl_contact_id
            && let Ok(Some(c)) = loaders::one(&fresh.ghl_contact, id.clone()).await
        {
            let p = crate::linking::from_ghl(&fresh, state.phone_region, c).await;
            return Ok(Some(Contact::new(
                p,
                ctx.data::<MergeConfig>()?,
                state.phone_region,
            )));
        }
        if let Some(id) = self.outcome.clubos_user_id
            && let Ok(Some(u)) = loaders::one(&fresh.clubos_user, id).await
        {
            let p = crate::linking::from_clubos(&fresh, state.phone_region, u).await;
            return Ok(Some(Contact::new(
                p,
                ctx.data::<MergeConfig>()?,
                state.phone_region,
            )));
        }
        Ok(None)
    }

    /// The task a task mutation created or changed, as it is now.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let found = self.reread(ctx, |l| &l.ghl_tasks, |t| &t.id).await?;
        Ok(found.map(Task::from))
    }

    /// The appointment an appointment mutation booked or changed, as it is now.
    async fn appointment(&self, ctx: &Context<'_>) -> Result<Option<Appointment>> {
        let found = self.reread(ctx, |l| &l.ghl_appointments, |a| &a.id).await?;
        Ok(found.map(Appointment::from))
    }

    /// The note a note mutation created or changed, as it is now.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<Note>> {
        let found = self.reread(ctx, |l| &l.ghl_notes, |n| &n.id).await?;
        Ok(found.map(Note::from))
    }
}

impl WritePayload {
    /// Reads again, past the caches the write invalidated, the record of the contact's
    /// list (tasks, notes, appointments) that the mutation made or changed.
    async fn reread<V>(
        &self,
        ctx: &Context<'_>,
        list: fn(&Loaders) -> &loaders::Cached<String, Vec<V>>,
        id_of: fn(&V) -> &String,
    ) -> Result<Option<V>>
    where
        V: Clone + Send + Sync + Serialize + 'static,
    {
        let (Some(contact), Some(id)) = (&self.outcome.ghl_contact_id, &self.outcome.created_id)
        else {
            return Ok(None);
        };
        let fresh = ctx.data::<Loaders>()?.fresh();
        let all = loaders::one(list(&fresh), contact.clone())
            .await
            .map_err(|e| e.extend())?;
        Ok(all.into_iter().find(|v| id_of(v) == id))
    }
}

/// A write in the outbox.
#[derive(Debug, Clone, SimpleObject)]
pub struct OutboxWrite {
    /// The write's id (`retryWrite` takes it).
    pub id: ID,
    /// The mutation it belongs to.
    pub operation_id: ID,
    /// The system it writes to.
    pub system: Source,
    /// What it writes, e.g. `update_user`.
    pub operation: String,
    /// `PENDING`, `IN_FLIGHT`, `DONE`, `DEAD`, `COMPENSATED` or `CANCELLED`.
    pub state: String,
    /// Attempts so far that failed.
    pub attempts: i32,
    /// Times the gateway stopped (a crash or a hang) while it held this write; each counts
    /// towards `writes.max_attempts` like a failed attempt.
    pub lapses: i32,
    /// The last error's code.
    pub last_error_code: Option<String>,
    /// The gateway's message for the last error, when it recorded one.
    pub last_error_message: Option<String>,
    /// When it is next tried (epoch milliseconds).
    pub next_attempt_at_ms: i64,
    /// When it was recorded (epoch milliseconds).
    pub created_at_ms: i64,
}

impl From<Leg> for OutboxWrite {
    fn from(l: Leg) -> Self {
        Self {
            id: ID(l.id),
            operation_id: ID(l.operation_id),
            system: if l.system == System::ClubOs.to_string() {
                Source::ClubOs
            } else {
                Source::Ghl
            },
            operation: l.kind,
            state: l.state.as_str().to_uppercase(),
            attempts: l.attempts,
            lapses: l.lapses,
            last_error_code: l.last_error_code,
            last_error_message: l.last_error_message,
            next_attempt_at_ms: l.next_attempt_at_ms,
            created_at_ms: l.created_at_ms,
        }
    }
}

fn err(e: GatewayError) -> async_graphql::Error {
    e.extend()
}

/// An optional text argument, checked as [`input::text`] checks a required one.
fn optional_text(field: &str, v: Option<&str>) -> Result<Option<String>> {
    v.map(|t| input::text(field, t)).transpose().map_err(err)
}

/// Resolves a person from any of their ids, for planning. A person whose other record
/// is ambiguous is refused with `AMBIGUOUS` and the candidates, before any upstream
/// write: a write must never land on a guess.
async fn person(ctx: &Context<'_>, id: &ID) -> Result<Person> {
    let l = ctx.data::<Loaders>()?;
    let state = ctx.data::<Loaders>()?.readers();
    let not_found = || err(GatewayError::new(ErrorCode::NotFound, "no such contact"));
    let p = match ContactRef::parse(id) {
        Some(ContactRef::Ghl(g)) => {
            let c = loaders::one(&l.ghl_contact, g)
                .await
                .map_err(err)?
                .ok_or_else(not_found)?;
            crate::linking::from_ghl(l, state.phone_region, c).await
        }
        Some(ContactRef::ClubOs(u)) => {
            let u = loaders::one(&l.clubos_user, u)
                .await
                .map_err(err)?
                .ok_or_else(not_found)?;
            crate::linking::from_clubos(l, state.phone_region, u).await
        }
        None => return Err(err(input::bad("id", "id is not a contact id"))),
    };
    if p.status == LinkStatus::Ambiguous {
        return Err(ambiguous(&p));
    }
    Ok(p)
}

/// The `AMBIGUOUS` refusal of a write on a person linking cannot settle; `candidates`
/// lists every record that matched (GHL contact ids and Club OS user ids).
fn ambiguous(p: &Person) -> async_graphql::Error {
    let candidates: Vec<String> = p
        .ghl_candidates
        .iter()
        .map(|c| c.id.clone())
        .chain(p.clubos_candidates.iter().map(|u| u.user_id.to_string()))
        .collect();
    err(GatewayError::new(
        ErrorCode::Ambiguous,
        "this person's records in the other system are ambiguous (a shared email or phone): \
         link them with linkContacts first",
    ))
    .extend_with(|_, e| e.set("candidates", candidates))
}

/// The Club OS user an upsert updates (`None`: it creates a prospect), decided before
/// any write by the rule linking uses: the email and phone must each be held by at most
/// one GHL contact and one Club OS user, and the records they name must be one person.
/// GHL's upsert updates the contact holding them, so a Club OS user who is someone
/// else's (a household member, a user linked to another contact) is refused with
/// `AMBIGUOUS`, never written to.
async fn upsert_target(ctx: &Context<'_>, checked: &input::Checked) -> Result<Option<i64>> {
    let l = ctx.data::<Loaders>()?;
    let state = ctx.data::<Loaders>()?.readers();
    let mut contacts: Vec<GhlContact> = Vec::new();
    let mut users: Vec<ClubOsUser> = Vec::new();
    let keys = [
        checked.email.as_deref().map(loaders::email_key),
        checked.phone_e164.as_deref().map(loaders::phone_key),
    ];
    for (i, key) in keys.into_iter().enumerate() {
        let Some(key) = key else { continue };
        let (ghl, clubos) = if i == 0 {
            futures_util::join!(
                loaders::one(&l.ghl_by_email, key.clone()),
                loaders::one(&l.clubos_by_email, key)
            )
        } else {
            futures_util::join!(
                loaders::one(&l.ghl_by_phone, key.clone()),
                loaders::one(&l.clubos_by_phone, key)
            )
        };
        for c in ghl.map_err(err)? {
            if !contacts.iter().any(|o| o.id == c.id) {
                contacts.push(c);
            }
        }
        for u in clubos.map_err(err)? {
            if !users.iter().any(|o| o.user_id == u.user_id) {
                users.push(u);
            }
        }
    }
    let several = || {
        err(GatewayError::new(
            ErrorCode::Ambiguous,
            "several records hold this email or phone (a household?): link the person first",
        ))
        .extend_with(|_, e| {
            let ids: Vec<String> = contacts
                .iter()
                .map(|c| c.id.clone())
                .chain(users.iter().map(|u| u.user_id.to_string()))
                .collect();
            e.set("candidates", ids)
        })
    };
    if contacts.len() > 1 || users.len() > 1 {
        return Err(several());
    }
    // Who the GHL contact GHL will update is, and who the Club OS user is: one person.
    let of_contact = match contacts.first() {
        Some(c) => {
            let p = crate::linking::from_ghl(l, state.phone_region, c.clone()).await;
            if p.status == LinkStatus::Ambiguous {
                return Err(ambiguous(&p));
            }
            if let Some(e) = p.clubos_error.filter(|_| p.clubos.is_none()) {
                return Err(err(e));
            }
            p.clubos.map(|u| u.user_id)
        }
        None => None,
    };
    let of_user = match users.first() {
        Some(u) => {
            let p = crate::linking::from_clubos(l, state.phone_region, u.clone()).await;
            if p.status == LinkStatus::Ambiguous {
                return Err(ambiguous(&p));
            }
            if let Some(e) = p.ghl_error.filter(|_| p.ghl.is_none()) {
                return Err(err(e));
            }
            let partner = p.ghl.map(|c| c.id);
            if partner.is_some() && partner != contacts.first().map(|c| c.id.clone()) {
                return Err(several());
            }
            Some(u.user_id)
        }
        None => None,
    };
    match (of_contact, of_user) {
        (Some(a), Some(b)) if a != b => Err(several()),
        (a, b) => Ok(a.or(b)),
    }
}

/// The GHL contact id of a person, or a clear error. The person is resolved even when
/// the id is a GHL id, so that an ambiguous person is refused.
async fn ghl_id(ctx: &Context<'_>, id: &ID) -> Result<String> {
    if ContactRef::parse(id).is_none() {
        return Err(err(input::bad(
            "contactId",
            "contactId is not a contact id",
        )));
    }
    person(ctx, id).await?.ghl.map(|c| c.id).ok_or_else(|| {
        err(GatewayError::new(
            ErrorCode::NotFound,
            "this person has no GHL contact",
        ))
    })
}

/// The idempotency key of a mutation: the argument, else the header. Its scope is the
/// caller and the mutation's field name (whatever alias the document gives it).
fn key(
    ctx: &Context<'_>,
    arg: Option<String>,
    input: serde_json::Value,
) -> Result<Option<Idempotency>> {
    let mutation = ctx.field().name();
    let Some(k) = arg.or_else(|| ctx.data_opt::<IdempotencyHeader>().map(|h| h.0.clone())) else {
        return Ok(None);
    };
    let trimmed = k.trim();
    if trimmed.is_empty() || k.len() > 255 || !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(input::bad(
            "idempotencyKey",
            "idempotencyKey must be 1 to 255 visible ASCII characters",
        )));
    }
    let scope = ctx
        .data_opt::<crate::auth::Caller>()
        .map_or("anonymous", |c| c.id.as_str());
    Ok(Some(Idempotency::new(scope, mutation, k.trim(), &input)))
}

async fn run(ctx: &Context<'_>, plan: Plan, key: Option<Idempotency>) -> Result<WritePayload> {
    let writer = ctx.data::<Arc<Writer>>()?;
    let outcome = writes::execute(writer, plan, key).await.map_err(err)?;
    Ok(WritePayload { outcome })
}

/// Write entry points. Every mutation takes an `idempotencyKey` (or the
/// `Idempotency-Key` header): a repeat with the same key and input answers what the
/// first did without writing again.
#[derive(Debug, Default)]
pub struct MutationRoot;

/// Write entry points.
#[Object]
impl MutationRoot {
    /// Creates a person in both systems: a GHL contact and a Club OS prospect, linked.
    /// Needs both names and an email or a phone. If Club OS refuses the prospect, the
    /// GHL contact is removed again and nothing is applied.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: ContactInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let state = ctx.data::<Loaders>()?.readers();
        let checked = input.fields().check(state.phone_region).map_err(err)?;
        let tags = input
            .tags
            .as_deref()
            .map(|t| input::tags("tags", t))
            .transpose()
            .map_err(err)?;
        let user = checked.clubos_new().map_err(err)?;
        let key = key(ctx, idempotency_key, json!(input))?;
        let plan = Plan {
            legs: vec![
                LegOp::GhlCreateContact {
                    contact: checked.ghl_new(state.ghl.location_id(), tags),
                },
                LegOp::ClubOsCreateUser { user },
                LegOp::Link {
                    ghl_contact_id: None,
                    clubos_user_id: None,
                    source: LinkSource::Created,
                },
            ],
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Creates or updates a person by email (then phone): GHL's upsert, and the Club OS
    /// user with that email or phone (updated) or a new prospect (created), linked.
    async fn upsert_contact(
        &self,
        ctx: &Context<'_>,
        input: ContactInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let state = ctx.data::<Loaders>()?.readers();
        let checked = input.fields().check(state.phone_region).map_err(err)?;
        if checked.email.is_none() && checked.phone_e164.is_none() {
            return Err(err(input::bad("email", "an email or a phone is required")));
        }
        let tags = input
            .tags
            .as_deref()
            .map(|t| input::tags("tags", t))
            .transpose()
            .map_err(err)?;
        let key = key(ctx, idempotency_key, json!(input))?;
        let existing = upsert_target(ctx, &checked).await?;
        let mut plan = Plan {
            legs: vec![LegOp::GhlUpsertContact {
                contact: checked.ghl_new(state.ghl.location_id(), tags),
            }],
            ..Plan::default()
        };
        let user = match existing {
            Some(user_id) => {
                plan.legs.push(LegOp::ClubOsUpdateUser {
                    user_id,
                    patch: checked.clubos_patch(),
                });
                Some(user_id)
            }
            None => {
                plan.legs.push(LegOp::ClubOsCreateUser {
                    user: checked.clubos_new().map_err(err)?,
                });
                None
            }
        };
        plan.legs.push(LegOp::Link {
            ghl_contact_id: None,
            clubos_user_id: user,
            source: LinkSource::Created,
        });
        plan.clubos_user_id = user;
        run(ctx, plan, key).await
    }

    /// Books an appointment for a person on a GHL calendar.
    async fn book_appointment(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        input: AppointmentInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let start = input::instant("startTime", &input.start_time).map_err(err)?;
        let end = input
            .end_time
            .as_deref()
            .map(|e| input::instant("endTime", e))
            .transpose()
            .map_err(err)?;
        if end.as_ref().is_some_and(|e| *e <= start) {
            return Err(err(input::bad(
                "endTime",
                "endTime must be after startTime",
            )));
        }
        let owner = input::text("assignedUserId", &input.assigned_user_id).map_err(err)?;
        let title = optional_text("title", input.title.as_deref())?;
        let address = optional_text("address", input.address.as_deref())?;
        let calendar = input::text("calendarId", &input.calendar_id).map_err(err)?;
        let state = ctx.data::<Loaders>()?.readers();
        let p = person(ctx, &contact_id).await?;
        let Some(g) = p.ghl.as_ref().map(|c| c.id.clone()) else {
            return Err(err(GatewayError::new(
                ErrorCode::NotFound,
                "this person has no GHL contact",
            )));
        };
        let key = key(ctx, idempotency_key, json!({"contact": g, "input": input}))?;
        let mirror_end = end.clone().unwrap_or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&start)
                .map(|t| {
                    (t + chrono::Duration::minutes(30))
                        .to_utc()
                        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string()
                })
                .unwrap_or_default()
        });
        let mut plan = Plan {
            legs: vec![LegOp::GhlBookAppointment {
                appointment: NewAppointment {
                    calendar_id: calendar,
                    location_id: state.ghl.location_id().to_owned(),
                    contact_id: g.clone(),
                    start_time: start.clone(),
                    end_time: end,
                    title: title.clone(),
                    appointment_status: Some("confirmed".into()),
                    assigned_user_id: owner,
                    address,
                    ignore_free_slot_validation: Some(true),
                },
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        let mirror = ctx.data::<Arc<Writer>>()?.config.clubos_mirror;
        match (mirror, &p.clubos) {
            (Some(mirror), Some(u)) => plan.legs.push(LegOp::ClubOsCreateEvent {
                event: NewEvent {
                    event_type_id: mirror.event_type_id,
                    event_owner_id: Some(mirror.owner_id),
                    start_time: start,
                    end_time: mirror_end,
                    subject: title,
                    booking_source: Some("contactgraph".into()),
                    attendee: vec![ClubOsAttendee {
                        attendee_id: u.user_id,
                        attendee_status: "A".into(),
                        visit_type: None,
                    }],
                    ..NewEvent::default()
                },
            }),
            (Some(_), None) => plan.skip(
                System::ClubOs,
                "create_event",
                "the person has no Club OS record",
            ),
            (None, _) => plan.skip(
                System::ClubOs,
                "create_event",
                "appointments are not mirrored into Club OS (writes.clubos_mirror)",
            ),
        }
        run(ctx, plan, key).await
    }

    /// Moves or renames an appointment.
    async fn update_appointment(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        appointment_id: ID,
        input: AppointmentChanges,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let patch = AppointmentPatch {
            start_time: input
                .start_time
                .as_deref()
                .map(|t| input::instant("startTime", t))
                .transpose()
                .map_err(err)?,
            end_time: input
                .end_time
                .as_deref()
                .map(|t| input::instant("endTime", t))
                .transpose()
                .map_err(err)?,
            title: optional_text("title", input.title.as_deref())?,
            assigned_user_id: optional_text("assignedUserId", input.assigned_user_id.as_deref())?,
            address: optional_text("address", input.address.as_deref())?,
            ..AppointmentPatch::default()
        };
        if patch == AppointmentPatch::default() {
            return Err(err(input::bad("input", "nothing to change")));
        }
        self.appointment_write(ctx, contact_id, appointment_id, patch, idempotency_key)
            .await
    }

    /// Cancels an appointment (its status becomes `cancelled`; GHL keeps the record).
    async fn cancel_appointment(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        appointment_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let patch = AppointmentPatch {
            appointment_status: Some("cancelled".into()),
            ..AppointmentPatch::default()
        };
        self.appointment_write(ctx, contact_id, appointment_id, patch, idempotency_key)
            .await
    }

    /// Changes a person's fields in whichever systems hold them.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ContactInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let state = ctx.data::<Loaders>()?.readers();
        let checked = input.fields().check(state.phone_region).map_err(err)?;
        if input.tags.is_some() {
            return Err(err(input::bad(
                "tags",
                "use addTags or removeTags to change tags",
            )));
        }
        if checked.is_empty() {
            return Err(err(input::bad("input", "nothing to change")));
        }
        let key = key(ctx, idempotency_key, json!({"id": id.0, "input": input}))?;
        let p = person(ctx, &id).await?;
        if let Some(e) = p.clubos_error.as_ref().filter(|_| p.clubos.is_none()) {
            // Club OS could not be asked who the person is there: writing only to GHL
            // would leave the systems apart without saying so.
            return Err(err(e.clone()));
        }
        let mut plan = Plan {
            ghl_contact_id: p.ghl.as_ref().map(|c| c.id.clone()),
            clubos_user_id: p.clubos.as_ref().map(|u| u.user_id),
            ..Plan::default()
        };
        match &p.ghl {
            Some(c) => plan.legs.push(LegOp::GhlUpdateContact {
                contact_id: c.id.clone(),
                patch: checked.ghl_patch(),
            }),
            None => plan.skip(
                System::Ghl,
                "update_contact",
                "the person has no GHL contact",
            ),
        }
        match &p.clubos {
            Some(u) => plan.legs.push(LegOp::ClubOsUpdateUser {
                user_id: u.user_id,
                patch: checked.clubos_patch(),
            }),
            None => plan.skip(
                System::ClubOs,
                "update_user",
                "the person has no Club OS record",
            ),
        }
        run(ctx, plan, key).await
    }

    /// Deletes the person's GHL contact. Club OS documents no delete, so its record is
    /// left and the answer says SKIPPED.
    async fn delete_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let key = key(ctx, idempotency_key, json!({"id": id.0}))?;
        let p = person(ctx, &id).await?;
        let mut plan = Plan::default();
        match &p.ghl {
            Some(c) => plan.legs.push(LegOp::GhlDeleteContact {
                contact_id: c.id.clone(),
            }),
            None => plan.skip(
                System::Ghl,
                "delete_contact",
                "the person has no GHL contact",
            ),
        }
        if p.clubos.is_some() {
            plan.skip(
                System::ClubOs,
                "delete_user",
                "Club OS documents no delete; its record is kept",
            );
        }
        run(ctx, plan, key).await
    }

    /// Adds GHL tags to a person (lowercased, as GHL stores them).
    async fn add_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        self.tag(ctx, id, tags, true, idempotency_key).await
    }

    /// Removes GHL tags from a person.
    async fn remove_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        self.tag(ctx, id, tags, false, idempotency_key).await
    }

    /// Adds or removes tags on many GHL contacts in one GHL call.
    async fn bulk_update_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "GHL contact ids or contactgraph ids, at most 100.")] ids: Vec<ID>,
        tags: Vec<String>,
        action: TagAction,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let tags = input::tags("tags", &tags).map_err(err)?;
        if ids.is_empty() || ids.len() > 100 {
            return Err(err(input::bad("ids", "give 1 to 100 ids")));
        }
        let mut contact_ids = Vec::with_capacity(ids.len());
        for id in &ids {
            match ContactRef::parse(id) {
                Some(ContactRef::Ghl(g)) => contact_ids.push(g),
                _ => {
                    return Err(err(input::bad(
                        "ids",
                        format!("{} is not a GHL contact id", id.0),
                    )));
                }
            }
        }
        let key = key(
            ctx,
            idempotency_key,
            json!({"ids": contact_ids, "tags": tags, "action": action}),
        )?;
        let plan = Plan {
            legs: vec![LegOp::GhlBulkTags {
                contact_ids,
                tags,
                add: action == TagAction::Add,
            }],
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Links a GHL contact and a Club OS user as one person (stored by the gateway and
    /// mirrored into the GHL link custom field).
    async fn link_contacts(
        &self,
        ctx: &Context<'_>,
        ghl_contact_id: ID,
        club_os_user_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let l = ctx.data::<Loaders>()?;
        let Some(ContactRef::Ghl(g)) = ContactRef::parse(&ghl_contact_id) else {
            return Err(err(input::bad("ghlContactId", "not a GHL contact id")));
        };
        let Some(ContactRef::ClubOs(u)) = ContactRef::parse(&club_os_user_id) else {
            return Err(err(input::bad("clubOsUserId", "not a Club OS user id")));
        };
        let not_found = |what: &str| {
            err(GatewayError::new(
                ErrorCode::NotFound,
                format!("no such {what}"),
            ))
        };
        loaders::one(&l.ghl_contact, g.clone())
            .await
            .map_err(err)?
            .ok_or_else(|| not_found("GHL contact"))?;
        loaders::one(&l.clubos_user, u)
            .await
            .map_err(err)?
            .ok_or_else(|| not_found("Club OS user"))?;
        let key = key(ctx, idempotency_key, json!({"ghl": g, "clubos": u}))?;
        let plan = Plan {
            legs: vec![LegOp::Link {
                ghl_contact_id: Some(g.clone()),
                clubos_user_id: Some(u),
                source: LinkSource::Manual,
            }],
            ghl_contact_id: Some(g),
            clubos_user_id: Some(u),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Forgets a stored link (and clears the GHL link custom field). Matching by email
    /// or phone may still link the records afterwards.
    async fn unlink_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let g = ghl_id(ctx, &id).await?;
        let key = key(ctx, idempotency_key, json!({"id": g}))?;
        let plan = Plan {
            legs: vec![LegOp::Unlink {
                ghl_contact_id: g.clone(),
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Creates a GHL task for a person.
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        input: TaskInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let task = NewTask {
            title: input::text("title", &input.title).map_err(err)?,
            body: input
                .body
                .as_deref()
                .map(|b| input::text("body", b))
                .transpose()
                .map_err(err)?,
            due_date: input::instant("dueDate", &input.due_date).map_err(err)?,
            completed: false,
            assigned_to: optional_text("assignedTo", input.assigned_to.as_deref())?,
        };
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(ctx, idempotency_key, json!({"contact": g, "input": input}))?;
        let plan = Plan {
            legs: vec![LegOp::GhlCreateTask {
                contact_id: g.clone(),
                task,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Changes a GHL task.
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        task_id: ID,
        input: TaskChanges,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let patch = TaskPatch {
            title: input
                .title
                .as_deref()
                .map(|t| input::text("title", t))
                .transpose()
                .map_err(err)?,
            body: input
                .body
                .as_deref()
                .map(|b| input::text("body", b))
                .transpose()
                .map_err(err)?,
            due_date: input
                .due_date
                .as_deref()
                .map(|d| input::instant("dueDate", d))
                .transpose()
                .map_err(err)?,
            completed: input.completed,
            assigned_to: optional_text("assignedTo", input.assigned_to.as_deref())?,
        };
        if patch == TaskPatch::default() {
            return Err(err(input::bad("input", "nothing to change")));
        }
        self.task_write(ctx, contact_id, task_id, Some(patch), idempotency_key)
            .await
    }

    /// Marks a GHL task done (or not done with `completed: false`).
    async fn complete_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        task_id: ID,
        #[graphql(default = true)] completed: bool,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let patch = TaskPatch {
            completed: Some(completed),
            ..TaskPatch::default()
        };
        self.task_write(ctx, contact_id, task_id, Some(patch), idempotency_key)
            .await
    }

    /// Deletes a GHL task.
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        task_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        self.task_write(ctx, contact_id, task_id, None, idempotency_key)
            .await
    }

    /// Adds a GHL note to a person.
    async fn create_note(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        body: String,
        title: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let note = NoteWrite {
            body: Some(input::text("body", &body).map_err(err)?),
            title: title
                .as_deref()
                .map(|t| input::text("title", t))
                .transpose()
                .map_err(err)?,
            ..NoteWrite::default()
        };
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "body": body, "title": title}),
        )?;
        let plan = Plan {
            legs: vec![LegOp::GhlCreateNote {
                contact_id: g.clone(),
                note,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Changes a GHL note's text.
    async fn update_note(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        note_id: ID,
        body: String,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let note = NoteWrite {
            body: Some(input::text("body", &body).map_err(err)?),
            ..NoteWrite::default()
        };
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "note": note_id.0, "body": body}),
        )?;
        let plan = Plan {
            legs: vec![LegOp::GhlUpdateNote {
                contact_id: g.clone(),
                note_id: note_id.0.clone(),
                note,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        let mut payload = run(ctx, plan, key).await?;
        payload.outcome.created_id = Some(note_id.0);
        Ok(payload)
    }

    /// Deletes a GHL note.
    async fn delete_note(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        note_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "note": note_id.0}),
        )?;
        let plan = Plan {
            legs: vec![LegOp::GhlDeleteNote {
                contact_id: g.clone(),
                note_id: note_id.0,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    /// Puts a dead-lettered write back in the queue (it is tried again at once). Needs the
    /// `admin` role.
    #[graphql(guard = "super::RoleGuard(crate::auth::Role::Admin)")]
    async fn retry_write(&self, ctx: &Context<'_>, id: ID) -> Result<OutboxWrite> {
        let state = ctx.data::<Arc<Writer>>()?;
        let store_err = |_| {
            err(GatewayError::new(
                ErrorCode::StoreUnavailable,
                "the gateway's store is unavailable",
            ))
        };
        if !state
            .store
            .retry_leg(&id, state.clock.now_ms())
            .await
            .map_err(store_err)?
        {
            return Err(err(input::bad(
                "id",
                "only a dead-lettered write can be retried",
            )));
        }
        let leg = state.store.leg(&id).await.map_err(store_err)?;
        leg.map(OutboxWrite::from)
            .ok_or_else(|| err(GatewayError::new(ErrorCode::NotFound, "no such write")))
    }
}

impl MutationRoot {
    async fn appointment_write(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        appointment_id: ID,
        patch: AppointmentPatch,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "appointment": appointment_id.0, "patch": patch}),
        )?;
        let plan = Plan {
            legs: vec![LegOp::GhlUpdateAppointment {
                contact_id: g.clone(),
                appointment_id: appointment_id.0.clone(),
                patch,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        let mut payload = run(ctx, plan, key).await?;
        payload.outcome.created_id = Some(appointment_id.0);
        Ok(payload)
    }

    async fn tag(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        add: bool,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let tags = input::tags("tags", &tags).map_err(err)?;
        let g = ghl_id(ctx, &id).await?;
        let key = key(ctx, idempotency_key, json!({"id": g, "tags": tags}))?;
        let plan = Plan {
            legs: vec![LegOp::GhlTags {
                contact_id: g.clone(),
                tags,
                add,
            }],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        run(ctx, plan, key).await
    }

    async fn task_write(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        task_id: ID,
        patch: Option<TaskPatch>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "task": task_id.0, "patch": patch}),
        )?;
        let op = match patch {
            Some(patch) => LegOp::GhlUpdateTask {
                contact_id: g.clone(),
                task_id: task_id.0.clone(),
                patch,
            },
            None => LegOp::GhlDeleteTask {
                contact_id: g.clone(),
                task_id: task_id.0.clone(),
            },
        };
        let plan = Plan {
            legs: vec![op],
            ghl_contact_id: Some(g),
            ..Plan::default()
        };
        let mut payload = run(ctx, plan, key).await?;
        payload.outcome.created_id = Some(task_id.0);
        Ok(payload)
    }
}

/// Outbox queries (operations staff).
pub async fn writes_in_state(
    ctx: &Context<'_>,
    state: LegState,
    first: i32,
) -> Result<Vec<OutboxWrite>> {
    let app = ctx.data::<Loaders>()?.readers();
    if !(1..=500).contains(&first) {
        return Err(err(input::bad("first", "first must be 1 to 500")));
    }
    let limit = i64::from(first);
    let legs = app.store.legs_in_state(state, limit).await.map_err(|_| {
        err(GatewayError::new(
            ErrorCode::StoreUnavailable,
            "the gateway's store is unavailable",
        ))
    })?;
    Ok(legs.into_iter().map(OutboxWrite::from).collect())
}
