//! GHL tasks of a person.

use async_graphql::{Context, ID, InputObject, Object, Result};
use serde::Serialize;
use serde_json::json;

use super::{WritePayload, err, ghl_id, key, optional_text, run};
use crate::{
    upstream::ghl::models::{NewTask, TaskPatch},
    writes::{input, plan},
};

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

/// Creating, changing, completing and deleting tasks.
#[derive(Debug, Default)]
pub struct TaskMutations;

#[Object]
impl TaskMutations {
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
            body: optional_text("body", input.body.as_deref())?,
            due_date: input::instant("dueDate", &input.due_date).map_err(err)?,
            completed: false,
            assigned_to: optional_text("assignedTo", input.assigned_to.as_deref())?,
        };
        let g = ghl_id(ctx, &contact_id).await?;
        let key = key(ctx, idempotency_key, json!({"contact": g, "input": input}))?;
        run(ctx, plan::create_task(g, task), key).await
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
            title: optional_text("title", input.title.as_deref())?,
            body: optional_text("body", input.body.as_deref())?,
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
        change(ctx, contact_id, task_id, Some(patch), idempotency_key).await
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
        change(ctx, contact_id, task_id, Some(patch), idempotency_key).await
    }

    /// Deletes a GHL task.
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        task_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        change(ctx, contact_id, task_id, None, idempotency_key).await
    }
}

/// A change to a task: a patch, or `None` to delete it.
async fn change(
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
    run(ctx, plan::change_task(g, task_id.0, patch), key).await
}
