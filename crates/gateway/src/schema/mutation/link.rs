//! Links between a GHL contact and a Club OS user: set and forgotten by hand, suggestions
//! dismissed, and the link sweep run on demand.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use futures_util::FutureExt;
use serde_json::json;

use super::{WritePayload, err, ghl_id, key, run, writer};
use crate::{
    auth::Role,
    error::{ErrorCode, GatewayError},
    loaders::{self, Loaders},
    schema::{ContactRef, RoleGuard},
    sync::links::{self, SweepReport},
    writes::{self, input, plan},
};

/// What one link sweep did.
#[derive(Debug, Clone, SimpleObject)]
pub struct LinkSweep {
    /// GHL contacts read.
    pub contacts: u64,
    /// Club OS users read.
    pub users: u64,
    /// Links stored before the sweep.
    pub already_linked: u64,
    /// Links the sweep stored (and mirrored into GHL's link custom field).
    pub linked: u64,
    /// Links it confirmed whose write failed; the next sweep tries them again.
    pub failed: u64,
    /// Suggestions waiting for staff afterwards (`linkSuggestions`).
    pub suggestions: u64,
}

impl From<SweepReport> for LinkSweep {
    fn from(r: SweepReport) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            contacts: n(r.contacts),
            users: n(r.users),
            already_linked: n(r.already_linked),
            linked: n(r.linked),
            failed: n(r.failed),
            suggestions: n(r.suggestions),
        }
    }
}

/// The two ids of a pair, checked.
fn pair(ghl_contact_id: &ID, club_os_user_id: &ID) -> Result<(String, i64)> {
    let Some(ContactRef::Ghl(g)) = ContactRef::parse(ghl_contact_id) else {
        return Err(err(input::bad("ghlContactId", "not a GHL contact id")));
    };
    let Some(ContactRef::ClubOs(u)) = ContactRef::parse(club_os_user_id) else {
        return Err(err(input::bad("clubOsUserId", "not a Club OS user id")));
    };
    Ok((g, u))
}

/// Linking and unlinking.
#[derive(Debug, Default)]
pub struct LinkMutations;

#[Object]
impl LinkMutations {
    /// Links a GHL contact and a Club OS user as one person (stored by the gateway and
    /// mirrored into the GHL link custom field). Their suggestions, if any, are resolved.
    async fn link_contacts(
        &self,
        ctx: &Context<'_>,
        ghl_contact_id: ID,
        club_os_user_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let l = ctx.data::<Loaders>()?;
        let (g, u) = pair(&ghl_contact_id, &club_os_user_id)?;
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

    /// Turns down a suggestion (`linkSuggestions`): the pair is remembered as two people,
    /// and no later sweep suggests it again. True once the pair is dismissed (again or for
    /// the first time); `NOT_FOUND` when nothing suggested it. Changes only the gateway's
    /// store.
    async fn dismiss_link_suggestion(
        &self,
        ctx: &Context<'_>,
        ghl_contact_id: ID,
        club_os_user_id: ID,
    ) -> Result<bool> {
        let (g, u) = pair(&ghl_contact_id, &club_os_user_id)?;
        let store = &writer(ctx)?.store;
        if store
            .dismiss_suggestion(&g, u)
            .await
            .map_err(|e| err(writes::store_err(e)))?
        {
            return Ok(true);
        }
        Err(err(GatewayError::new(
            ErrorCode::NotFound,
            "no suggestion links these two records",
        )))
    }

    /// Runs the link sweep now: reads every GHL contact and Club OS user, stores each link
    /// linking's rules confirm from both sides (mirrored into GHL's link custom field),
    /// and refreshes the suggestions. Needs the `admin` role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn sync_links(&self, ctx: &Context<'_>) -> Result<LinkSweep> {
        let region = ctx.data::<Loaders>()?.readers().phone_region;
        // Boxed: the sweep's future is deep, and the schema's own is deep enough.
        let sweep = links::sweep(writer(ctx)?.clone(), region).boxed();
        let report = sweep.await.map_err(err)?;
        Ok(report.into())
    }
}
