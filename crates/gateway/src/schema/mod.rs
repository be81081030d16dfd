//! The GraphQL schema. It knows nothing of HTTP: the server mounts it and gives each
//! request its [`crate::loaders::Loaders`]; tests and `contactgraph schema` use it directly.

mod activity;
mod changes;
mod contact;
mod identity;
mod ids;
mod listing;
mod mutation;
mod outbox;
mod person;
mod prefetch;
mod sync;

use std::sync::Arc;

use async_graphql::{
    Context, EmptySubscription, ErrorExtensions, ID, Interface, MergedObject, Result, Schema,
};

pub use activity::{Appointment, Note, Source, Task};
pub use contact::{ClubOsView, Contact, GhlView, LinkStatus, MembershipStatus};
pub use ids::ContactRef;
pub use listing::ContactFilter;
pub use mutation::{IdempotencyHeader, MutationRoot};
use outbox::OutboxQueries;
use person::PersonQueries;

use crate::{
    auth::{Caller, Role},
    error::{ErrorCode, GatewayError},
    limits::LimitsConfig,
    linking::merge::MergeConfig,
    sync::SyncConfig,
    writes::Writer,
};

/// The schema type the server serves.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over the writer its mutations write through and the rule of which
/// system wins which field (`merge`), with the operation
/// limits of `limits` (the ones async-graphql enforces during validation;
/// [`crate::limits`] checks the others). Reads go through each request's
/// [`crate::loaders::Loaders`].
pub fn build(
    writer: Arc<Writer>,
    merge: MergeConfig,
    sync: SyncConfig,
    limits: &LimitsConfig,
) -> AppSchema {
    let mut b = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(writer)
    .data(merge)
    .data(sync)
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_recursive_depth)
    .limit_directives(limits.max_directives_per_field);
    if !limits.introspection {
        b = b.disable_introspection();
    }
    if !limits.suggestions {
        b = b.disable_suggestions();
    }
    b.finish()
}

/// The cost of a page: its rows' cost times the page size asked for.
fn page_cost(first: i32, child_complexity: usize) -> usize {
    usize::try_from(first.max(1))
        .unwrap_or(1)
        .saturating_mul(child_complexity)
}

/// Lets a field run only for callers with at least this role; others get `FORBIDDEN`
/// before the resolver starts.
pub struct RoleGuard(pub Role);

impl async_graphql::Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        match ctx.data_opt::<Caller>() {
            Some(c) if c.role >= self.0 => Ok(()),
            _ => Err(GatewayError::new(
                ErrorCode::Forbidden,
                format!("this needs the `{}` role", self.0),
            )
            .extend()),
        }
    }
}

/// The SDL of the schema, as `schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .finish()
    .sdl()
}

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global id."))]
pub enum Node {
    /// A person.
    Contact(Contact),
}

/// Read entry points.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    PersonQueries,
    OutboxQueries,
    listing::LinkQueries,
    identity::IdentityQueries,
    sync::SyncQueries,
    changes::ChangeQueries,
);
