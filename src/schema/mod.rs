//! The GraphQL schema. It knows nothing of HTTP: the server mounts it, tests and
//! `contactgraph schema` use it directly.

mod contact;
mod ids;

use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, ID, Object, Result, Schema,
};

pub use contact::{ClubOsView, Contact, GhlView, LinkStatus};
pub use ids::ContactRef;

use crate::{
    error::{ErrorCode, GatewayError, System},
    linking,
    state::AppState,
};

/// The schema type the server serves.
pub type AppSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Builds the schema over the shared state.
pub fn build(state: Arc<AppState>) -> AppSchema {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .data(state)
        .finish()
}

/// The SDL of the schema, as `schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}

/// Read entry points.
#[derive(Debug, Default)]
pub struct QueryRoot;

/// Read entry points.
#[Object]
impl QueryRoot {
    /// One person, by the gateway's global id, a GHL contact id or a Club OS user id.
    /// Null when no system has them.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>> {
        let state = ctx.data::<Arc<AppState>>()?;
        let Some(r) = ContactRef::parse(&id) else {
            return Err(GatewayError::new(
                ErrorCode::BadUserInput,
                "id is neither a contactgraph id, a GHL contact id nor a Club OS user id",
            )
            .extend());
        };
        let person = match r {
            ContactRef::Ghl(gid) => match state.ghl.get_contact(&gid).await {
                Ok(Some(c)) => linking::from_ghl(state, c).await,
                Ok(None) => return Ok(None),
                Err(e) => return Err(GatewayError::upstream(System::Ghl, &e).extend()),
            },
            ContactRef::ClubOs(uid) => match state.clubos.get_user(uid).await {
                Ok(Some(u)) => linking::from_clubos(state, u).await,
                Ok(None) => return Ok(None),
                Err(e) => return Err(GatewayError::upstream(System::ClubOs, &e).extend()),
            },
        };
        Ok(Some(Contact::new(person, state.phone_region)))
    }
}
