//! Mutations, one module per resource, merged into one root: a resolver checks its
//! arguments, finds out whom it writes (refusing an ambiguous person before any upstream
//! write), asks [`crate::writes::plan`] for the plan, and runs it through
//! [`crate::writes`]. The answer says what happened on each system.
//!
//! Every mutation takes an `idempotencyKey` (or the `Idempotency-Key` header): a repeat
//! with the same key and input answers what the first did without writing again.

mod appointment;
mod contact;
mod link;
mod note;
mod sync;
mod task;

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, ID, MergedObject, Object, Result, SimpleObject,
};
use serde::Serialize;

use super::{Appointment, Contact, ContactRef, Note, Source, Task, outbox::OutboxMutations};
use crate::{
    error::{ErrorCode, GatewayError},
    linking::{self, LinkStatus, Person, merge::MergeConfig},
    loaders::{self, Loaders},
    writes::{self, Idempotency, Outcome, Overall, Plan, Writer, input},
};

/// Write entry points.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    contact::ContactCreation,
    appointment::AppointmentMutations,
    contact::ContactMutations,
    contact::TagMutations,
    link::LinkMutations,
    task::TaskMutations,
    note::NoteMutations,
    OutboxMutations,
    sync::SyncMutations,
);

/// The `Idempotency-Key` header of the request, when it had one.
#[derive(Debug, Clone)]
pub struct IdempotencyHeader(pub String);

/// What happened on one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::writes::WriteStatus")]
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
#[graphql(remote = "crate::writes::Overall")]
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
        self.outcome.overall().into()
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
                system: w.system.into(),
                operation: w.operation.clone(),
                status: w.status.into(),
                operation_id: ID(self.outcome.operation_id.clone()),
                write_id: w.write_id.clone().map(ID),
                error_code: w.error_code.map(|c| c.as_str().to_owned()),
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
        let (merge, region) = (ctx.data::<MergeConfig>()?, fresh.readers().phone_region);
        if let Some(id) = &self.outcome.ghl_contact_id
            && let Ok(Some(c)) = loaders::one(&fresh.ghl_contact, id.clone()).await
        {
            let p = linking::from_ghl(&fresh, region, c).await;
            return Ok(Some(Contact::new(p, merge, region)));
        }
        if let Some(id) = self.outcome.clubos_user_id
            && let Ok(Some(u)) = loaders::one(&fresh.clubos_user, id).await
        {
            let p = linking::from_clubos(&fresh, region, u).await;
            return Ok(Some(Contact::new(p, merge, region)));
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
    let l = &ctx.data::<Loaders>()?.for_writes();
    let region = l.readers().phone_region;
    let not_found = || err(GatewayError::new(ErrorCode::NotFound, "no such contact"));
    let p = match ContactRef::parse(id) {
        Some(ContactRef::Ghl(g)) => {
            let c = loaders::one(&l.ghl_contact, g)
                .await
                .map_err(err)?
                .ok_or_else(not_found)?;
            linking::from_ghl(l, region, c).await
        }
        Some(ContactRef::ClubOs(u)) => {
            let u = loaders::one(&l.clubos_user, u)
                .await
                .map_err(err)?
                .ok_or_else(not_found)?;
            linking::from_clubos(l, region, u).await
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

/// What mutations write through.
fn writer<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Writer>> {
    ctx.data::<Arc<Writer>>()
}

/// Runs a plan and answers with what it did.
async fn run(ctx: &Context<'_>, plan: Plan, key: Option<Idempotency>) -> Result<WritePayload> {
    let caller = ctx.data_opt::<crate::auth::Caller>().map(|c| c.id.as_str());
    let why = writes::Why::caller(caller, ctx.field().name());
    let outcome = writes::execute(writer(ctx)?, plan, key, why)
        .await
        .map_err(err)?;
    Ok(WritePayload { outcome })
}
