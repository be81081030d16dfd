//! Writes on a person: create and upsert (which decide, household safe, whom they
//! write), update and delete (of a person resolved from any of their ids), and GHL tags.

use async_graphql::{Context, Enum, ErrorExtensions, ID, InputObject, Object, Result};
use serde::Serialize;
use serde_json::json;

use super::{WritePayload, ambiguous, err, ghl_id, key, person, run, writer};
use crate::{
    error::{ErrorCode, GatewayError},
    linking::{self, LinkStatus},
    loaders::{self, Loaders},
    schema::ContactRef,
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
    writes::{
        input::{self, Checked, PersonFields},
        plan::{self, Records},
    },
};

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
    /// The tags of a create, checked.
    fn checked_tags(&self) -> Result<Option<Vec<String>>> {
        self.tags
            .as_deref()
            .map(|t| input::tags("tags", t))
            .transpose()
            .map_err(err)
    }

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

/// How a tag change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
pub enum TagAction {
    /// Add the tags.
    Add,
    /// Remove the tags.
    Remove,
}

/// Creating people: GHL and Club OS records made (or found by email and phone) and
/// linked.
#[derive(Debug, Default)]
pub struct ContactCreation;

#[Object]
impl ContactCreation {
    /// Creates a person in both systems: a GHL contact and a Club OS prospect, linked.
    /// Needs both names and an email or a phone. If Club OS refuses the prospect, the
    /// GHL contact is removed again and nothing is applied.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: ContactInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let l = ctx.data::<Loaders>()?;
        let checked = input
            .fields()
            .check(l.readers().phone_region)
            .map_err(err)?;
        let tags = input.checked_tags()?;
        let plan =
            plan::create_contact(&checked, tags, writer(ctx)?.ghl.location_id()).map_err(err)?;
        let key = key(ctx, idempotency_key, json!(input))?;
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
        let l = ctx.data::<Loaders>()?;
        let checked = input
            .fields()
            .check(l.readers().phone_region)
            .map_err(err)?;
        if checked.email.is_none() && checked.phone_e164.is_none() {
            return Err(err(input::bad("email", "an email or a phone is required")));
        }
        let tags = input.checked_tags()?;
        let key = key(ctx, idempotency_key, json!(input))?;
        let existing = upsert_target(&l.for_writes(), &checked).await?;
        let location = writer(ctx)?.ghl.location_id();
        let plan = plan::upsert_contact(&checked, tags, location, existing).map_err(err)?;
        run(ctx, plan, key).await
    }
}

/// Changing and deleting a person.
#[derive(Debug, Default)]
pub struct ContactMutations;

#[Object]
impl ContactMutations {
    /// Changes a person's fields in whichever systems hold them.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ContactInput,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        let l = ctx.data::<Loaders>()?;
        let checked = input
            .fields()
            .check(l.readers().phone_region)
            .map_err(err)?;
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
        run(ctx, plan::update_contact(&checked, &records(&p)), key).await
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
        run(ctx, plan::delete_contact(&records(&p)), key).await
    }
}

/// A person's records, for planning.
fn records(p: &linking::Person) -> Records {
    Records {
        ghl: p.ghl.as_ref().map(|c| c.id.clone()),
        clubos: p.clubos.as_ref().map(|u| u.user_id),
    }
}

/// GHL tags of one person or many.
#[derive(Debug, Default)]
pub struct TagMutations;

#[Object]
impl TagMutations {
    /// Adds GHL tags to a person (lowercased, as GHL stores them).
    async fn add_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        tag(ctx, id, tags, true, idempotency_key).await
    }

    /// Removes GHL tags from a person.
    async fn remove_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        idempotency_key: Option<String>,
    ) -> Result<WritePayload> {
        tag(ctx, id, tags, false, idempotency_key).await
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
        let plan = plan::bulk_tags(contact_ids, tags, action == TagAction::Add);
        run(ctx, plan, key).await
    }
}

async fn tag(
    ctx: &Context<'_>,
    id: ID,
    tags: Vec<String>,
    add: bool,
    idempotency_key: Option<String>,
) -> Result<WritePayload> {
    let tags = input::tags("tags", &tags).map_err(err)?;
    let g = ghl_id(ctx, &id).await?;
    let key = key(ctx, idempotency_key, json!({"id": g, "tags": tags}))?;
    run(ctx, plan::tags(g, tags, add), key).await
}

/// The Club OS user an upsert updates (`None`: it creates a prospect), decided before
/// any write by the rule linking uses: the email and phone must each be held by at most
/// one GHL contact and one Club OS user, and the records they name must be one person.
/// GHL's upsert updates the contact holding them, so a Club OS user who is someone
/// else's (a household member, a user linked to another contact) is refused with
/// `AMBIGUOUS`, never written to.
async fn upsert_target(l: &Loaders, checked: &Checked) -> Result<Option<i64>> {
    let region = l.readers().phone_region;
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
            let p = linking::from_ghl(l, region, c.clone()).await;
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
            let p = linking::from_clubos(l, region, u.clone()).await;
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
