//! Appointments on GHL calendars, mirrored into Club OS events when configured.

use async_graphql::{Context, ID, InputObject, Object, Result};
use serde::Serialize;
use serde_json::json;

use super::{WritePayload, err, ghl_id, key, optional_text, person, run, writer};
use crate::{
    error::{ErrorCode, GatewayError},
    upstream::ghl::models::{AppointmentPatch, NewAppointment},
    writes::{input, plan},
};

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

/// Booking, moving and cancelling appointments.
#[derive(Debug, Default)]
pub struct AppointmentMutations;

#[Object]
impl AppointmentMutations {
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
        let p = person(ctx, &contact_id).await?;
        let Some(g) = p.ghl.as_ref().map(|c| c.id.clone()) else {
            return Err(err(GatewayError::new(
                ErrorCode::NotFound,
                "this person has no GHL contact",
            )));
        };
        let key = key(ctx, idempotency_key, json!({"contact": g, "input": input}))?;
        let writer = writer(ctx)?;
        let appointment = NewAppointment {
            calendar_id: calendar,
            location_id: writer.ghl.location_id().to_owned(),
            contact_id: g,
            start_time: start,
            end_time: end,
            title,
            appointment_status: Some("confirmed".into()),
            assigned_user_id: owner,
            address,
            ignore_free_slot_validation: Some(true),
        };
        let mirror = writer.config.clubos_mirror;
        let plan = plan::book_appointment(appointment, mirror, p.clubos.map(|u| u.user_id));
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
        change(ctx, contact_id, appointment_id, patch, idempotency_key).await
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
        change(ctx, contact_id, appointment_id, patch, idempotency_key).await
    }
}

async fn change(
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
    run(
        ctx,
        plan::change_appointment(g, appointment_id.0, patch),
        key,
    )
    .await
}
