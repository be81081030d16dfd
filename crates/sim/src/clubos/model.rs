//! What the Club OS simulator stores, rendered as the v3 API's JSON.
//!
//! The v3 user shape follows the object observed in Club OS's own client code
//! (`clubos-api.md` §4.2). Fields marked *inferred* below are not documented anywhere;
//! they are how this simulator exposes membership data that the v3 overview advertises.

use serde::{Deserialize, Serialize};

/// The role object of a v3 user. Observed values: `"99"` Prospect; the member role id
/// was never seen, so `"98"` Member is *inferred*.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
}

impl Role {
    pub fn member() -> Self {
        Self {
            id: "98".into(),
            name: "Member".into(),
        }
    }
    pub fn prospect() -> Self {
        Self {
            id: "99".into(),
            name: "Prospect".into(),
        }
    }
}

/// `userOrigin` of a v3 user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOrigin {
    pub origin_id: i64,
    pub origin_name: String,
}

/// A v3 user: prospect, member or staff share one id space.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: i64,
    pub club_id: i64,
    pub location_id: i64,
    pub role: Role,
    pub email: Option<String>,
    pub home_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub work_phone: Option<String>,
    pub gender: String,
    pub first_name: String,
    pub last_name: String,
    pub created_by: Option<i64>,
    pub created_date: String,
    /// `YYYY-MM-DD`. The observed samples only ever had null here: the format is *inferred*.
    pub birth_date: Option<String>,
    pub join_date: Option<String>,
    pub deleted_at: Option<String>,
    pub updated_date: Option<String>,
    pub source: Option<String>,
    /// Street address fields flattened on the user, as the v1 user body has them
    /// (*inferred* for v3, whose limited view only shows an address record id).
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub barcode: Option<String>,
    pub time_zone: String,
    pub email_opt_out: bool,
    pub sms_opt_out: bool,
    pub user_origin: Option<UserOrigin>,
    pub salesperson_id: Option<i64>,
    pub membership_followup_status: Option<String>,
    /// *Inferred*: `ACTIVE`, `INACTIVE` or `PENDING_CANCEL`; null for prospects.
    pub membership_status: Option<String>,
    /// *Inferred*: the agreement's plan name, e.g. `Gold`.
    pub membership_type: Option<String>,
    pub external_system_ids: Vec<String>,
}

impl User {
    /// Every phone the user has, in the digits-only form Club OS stores.
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        [&self.mobile_phone, &self.home_phone, &self.work_phone]
            .into_iter()
            .filter_map(|p| p.as_deref())
    }
}

/// One attendee of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub attendee_id: i64,
    /// One-letter status; `A` is observed, the others (`C`, `N`, `D`) are *inferred*.
    pub attendee_status: String,
    #[serde(default)]
    pub visit_type: Option<String>,
}

/// A v3 calendar event (sales appointment, personal training, class).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_id: i64,
    pub club_id: i64,
    pub location_id: i64,
    /// Observed: 4 sales appointment / tour; 2 personal training, 3 group class (v1 docs).
    pub event_type_id: i64,
    pub event_owner_id: i64,
    pub start_time: String,
    pub end_time: String,
    pub subject: Option<String>,
    pub booking_source: Option<String>,
    pub attendee: Vec<Attendee>,
}

/// A club location.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub club_id: i64,
    pub location_id: i64,
    pub external_ids: Vec<String>,
    pub name: String,
    pub sms_enabled: bool,
    pub time_zone: String,
}
