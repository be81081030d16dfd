//! Links between a GHL contact and a Club OS user, set and forgotten by hand.

use async_graphql::{Context, ID, Object, Result};
use serde_json::json;

use super::{WritePayload, err, ghl_id, key, run};
use crate::{
    error::{ErrorCode, GatewayError},
    loaders::{self, Loaders},
    schema::ContactRef,
    writes::{input, plan},
};

/// Linking and unlinking.
#[derive(Debug, Default)]
pub struct LinkMutations;

#[Object]
impl LinkMutations {
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
        run(ctx, plan::link(g, u), key).await
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
        run(ctx, plan::unlink(g), key).await
    }
}
