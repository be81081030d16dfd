//! GHL notes of a person.

use async_graphql::{Context, ID, Object, Result};
use serde_json::json;

use super::{WritePayload, err, ghl_id, key, optional_text, run};
use crate::{
    upstream::ghl::models::NoteWrite,
    writes::{input, plan},
};

/// Adding, changing and deleting notes.
#[derive(Debug, Default)]
pub struct NoteMutations;

#[Object]
impl NoteMutations {
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
            title: optional_text("title", title.as_deref())?,
            ..NoteWrite::default()
        };
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(
            ctx,
            idempotency_key,
            json!({"contact": g, "body": body, "title": title}),
        )?;
        run(ctx, plan::create_note(g, note), key).await
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
        run(ctx, plan::update_note(g, note_id.0, note), key).await
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
        run(ctx, plan::delete_note(g, note_id.0), key).await
    }
}
