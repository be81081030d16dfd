//! Finding people: by any of their ids, by email, by phone, and the GHL-driven list.
//! Each is resolved across both systems (see [`crate::linking`]) with what the query
//! asks for loaded meanwhile (see [`super::prefetch`]).

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};

use super::{
    ContactFilter, ContactRef, Node,
    contact::Contact,
    listing, page_cost,
    prefetch::{self, Wants},
};
use crate::{
    error::{ErrorCode, GatewayError},
    linking::{self, merge::MergeConfig},
    loaders::{self, Loaders, email_key, phone_key},
    phone,
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
};

fn bad_input(message: &str) -> async_graphql::Error {
    GatewayError::new(ErrorCode::BadUserInput, message).extend()
}

/// Turns the matches of one lookup into at most one person.
fn only_one<T>(mut found: Vec<T>, what: &str, ids: impl Fn(&T) -> String) -> Result<Option<T>> {
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => {
            let candidates: Vec<String> = found.iter().map(ids).collect();
            Err(GatewayError::new(
                ErrorCode::Ambiguous,
                format!("{} records match this {what}", found.len()),
            )
            .extend()
            .extend_with(|_, e| e.set("candidates", candidates)))
        }
    }
}

/// Resolves a person found in GHL. What `wants` names is loaded meanwhile: GHL activity
/// and the location list while linking runs; Club OS events of the user the lookups
/// point to while linking confirms them, and of the linked user.
pub(crate) async fn person_of_ghl(
    ctx: &Context<'_>,
    c: GhlContact,
    wants: Wants,
) -> Result<Contact> {
    let state = ctx.data::<Loaders>()?.readers();
    let l = ctx.data::<Loaders>()?;
    let id = [c.id.clone()];
    // The hint's lookups are linking's own, so linking then runs on what they fetched.
    // The events of the hinted user load while linking confirms them; a loader does not
    // know keys still in flight, so the linked user's are loaded only if someone else.
    let link = async {
        let hint = linking::likely_clubos_id(l, state.phone_region, &c).await;
        let hinted = async {
            if let Some(uid) = hint {
                prefetch::clubos(l, wants, &[uid]).await;
            }
        };
        let (p, ()) =
            futures_util::join!(linking::from_ghl(l, state.phone_region, c.clone()), hinted);
        if let Some(u) = &p.clubos
            && hint != Some(u.user_id)
        {
            prefetch::clubos(l, wants, &[u.user_id]).await;
        }
        p
    };
    let (p, (), ()) = futures_util::join!(
        link,
        prefetch::ghl(l, wants, &id),
        prefetch::locations(l, wants)
    );
    Ok(Contact::new(
        p,
        ctx.data::<MergeConfig>()?,
        state.phone_region,
    ))
}

/// Resolves a person found in Club OS, loading what `wants` names as
/// [`person_of_ghl`] does.
pub(crate) async fn person_of_clubos(
    ctx: &Context<'_>,
    u: ClubOsUser,
    wants: Wants,
) -> Result<Contact> {
    let state = ctx.data::<Loaders>()?.readers();
    let l = ctx.data::<Loaders>()?;
    let id = [u.user_id];
    let link = async {
        let hint = linking::likely_ghl_id(l, &u).await;
        let hinted = async {
            if let Some(gid) = &hint {
                prefetch::ghl(l, wants, std::slice::from_ref(gid)).await;
            }
        };
        let (p, ()) = futures_util::join!(
            linking::from_clubos(l, state.phone_region, u.clone()),
            hinted
        );
        if let Some(c) = &p.ghl
            && hint.as_deref() != Some(c.id.as_str())
        {
            prefetch::ghl(l, wants, std::slice::from_ref(&c.id)).await;
        }
        p
    };
    let (p, (), ()) = futures_util::join!(
        link,
        prefetch::clubos(l, wants, &id),
        prefetch::locations(l, wants)
    );
    Ok(Contact::new(
        p,
        ctx.data::<MergeConfig>()?,
        state.phone_region,
    ))
}

/// Finding people.
#[derive(Debug, Default)]
pub struct PersonQueries;

#[Object]
impl PersonQueries {
    /// Any object by its global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        Ok(self.contact(ctx, id).await?.map(Node::Contact))
    }

    /// One person, by the gateway's global id, a GHL contact id or a Club OS user id.
    /// Null when no system has them.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>> {
        let l = ctx.data::<Loaders>()?;
        let wants = Wants::of(ctx.look_ahead());
        // The stored link is read alongside the record: linking asks for it first, and
        // with one the partner's records load beside the record itself, so that a linked
        // person takes one upstream stage; so does the partner's own stored link, which
        // linking reads back. Linking starts once both are in (a loader does not share
        // keys still in flight).
        match ContactRef::parse(&id) {
            Some(ContactRef::Ghl(gid)) => {
                let partner = async {
                    if let Ok(Some(link)) = loaders::one(&l.link_by_ghl, gid.clone()).await {
                        let uid = [link.clubos_user_id];
                        futures_util::join!(
                            loaders::warm(&l.clubos_user, uid),
                            loaders::warm(&l.link_by_clubos, uid),
                            prefetch::clubos(l, wants, &uid),
                            prefetch::ghl(l, wants, std::slice::from_ref(&gid)),
                            prefetch::locations(l, wants)
                        );
                    }
                };
                let (c, ()) =
                    futures_util::join!(loaders::one(&l.ghl_contact, gid.clone()), partner);
                match c.map_err(|e| e.extend())? {
                    Some(c) => Ok(Some(person_of_ghl(ctx, c, wants).await?)),
                    None => Ok(None),
                }
            }
            Some(ContactRef::ClubOs(uid)) => {
                let partner = async {
                    if let Ok(Some(gid)) = loaders::one(&l.link_by_clubos, uid).await {
                        let (gid, uids) = ([gid], [uid]);
                        futures_util::join!(
                            loaders::warm(&l.ghl_contact, gid.clone()),
                            loaders::warm(&l.link_by_ghl, gid.clone()),
                            prefetch::ghl(l, wants, &gid),
                            prefetch::clubos(l, wants, &uids),
                            prefetch::locations(l, wants)
                        );
                    }
                };
                let (u, ()) = futures_util::join!(loaders::one(&l.clubos_user, uid), partner);
                match u.map_err(|e| e.extend())? {
                    Some(u) => Ok(Some(person_of_clubos(ctx, u, wants).await?)),
                    None => Ok(None),
                }
            }
            None => Err(bad_input(
                "id is neither a contactgraph id, a GHL contact id nor a Club OS user id",
            )),
        }
    }

    /// The person with this email (any case). Null when nobody has it. GHL is asked first:
    /// one GHL contact with it is the answer, even when several Club OS users share the
    /// email (a household): then its `linkStatus` is `AMBIGUOUS` and `clubOsCandidates`
    /// lists them. With no GHL contact, the one Club OS user with it. Several records in
    /// the system that decides are an `AMBIGUOUS` error whose `extensions.candidates` lists
    /// their ids.
    async fn contact_by_email(&self, ctx: &Context<'_>, email: String) -> Result<Option<Contact>> {
        if !crate::writes::input::is_email(email.trim()) {
            return Err(bad_input("email is not an email address"));
        }
        let l = ctx.data::<Loaders>()?;
        let key = email_key(&email);
        let ghl = loaders::one(&l.ghl_by_email, key.clone())
            .await
            .map_err(|e| e.extend())?;
        if let Some(c) = only_one(ghl, "email", |c| c.id.clone())? {
            return Ok(Some(
                person_of_ghl(ctx, c, Wants::of(ctx.look_ahead())).await?,
            ));
        }
        let users = loaders::one(&l.clubos_by_email, key)
            .await
            .map_err(|e| e.extend())?;
        match only_one(users, "email", |u| u.user_id.to_string())? {
            Some(u) => Ok(Some(
                person_of_clubos(ctx, u, Wants::of(ctx.look_ahead())).await?,
            )),
            None => Ok(None),
        }
    }

    /// The person with this phone number, in any format (read as E.164 with the
    /// configured default region). Null when nobody has it; otherwise as `contactByEmail`
    /// (GHL first; a household sharing the phone shows as `linkStatus: AMBIGUOUS`).
    async fn contact_by_phone(&self, ctx: &Context<'_>, phone: String) -> Result<Option<Contact>> {
        let state = ctx.data::<Loaders>()?.readers();
        let Some(e164) = phone::to_e164(&phone, state.phone_region) else {
            return Err(bad_input("phone is not a valid phone number"));
        };
        let l = ctx.data::<Loaders>()?;
        let key = phone_key(&e164);
        let ghl = loaders::one(&l.ghl_by_phone, key.clone())
            .await
            .map_err(|e| e.extend())?;
        if let Some(c) = only_one(ghl, "phone", |c| c.id.clone())? {
            return Ok(Some(
                person_of_ghl(ctx, c, Wants::of(ctx.look_ahead())).await?,
            ));
        }
        let users = loaders::one(&l.clubos_by_phone, key)
            .await
            .map_err(|e| e.extend())?;
        match only_one(users, "phone", |u| u.user_id.to_string())? {
            Some(u) => Ok(Some(
                person_of_clubos(ctx, u, Wants::of(ctx.look_ahead())).await?,
            )),
            None => Ok(None),
        }
    }

    /// People, newest GHL contacts first, as a Relay connection over GHL's search (its
    /// `searchAfter` cursor). `query` is GHL's free-text search. Filtering by
    /// `linkStatus: CLUB_OS_ONLY` lists Club OS members instead, as `unlinkedMembers` does.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Page size, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Free text over names, emails, phones and tags.")] query: Option<String>,
        filter: Option<ContactFilter>,
    ) -> Result<listing::ContactConnection> {
        listing::contacts(ctx, first, after, query, filter.unwrap_or_default()).await
    }
}
