//! Club OS request and response types.
//!
//! Responses are read leniently: every field has a default and unknown fields are
//! ignored, because the v3 schema is known only from observed traffic (the Swagger
//! document is not public) and a new or missing field must not break reads. Fields that
//! were seen with more than one JSON type (role ids, phones) are read as text whatever
//! they arrive as.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Reads text that the upstream may send as a string, a number, a boolean or an object
/// with a `name` (so a status that turns out to be `{id, name}` still reads).
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Object(m)) => match m.get("name") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => Some(Value::Object(m).to_string()),
        },
        Some(v @ Value::Array(_)) => Some(v.to_string()),
    })
}

/// `lenient_text` for fields that are never absent in practice (role id).
fn lenient_text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient_text(d).map(Option::unwrap_or_default)
}

/// A v3 user's role. The id arrives as a string in most observed samples and as a
/// number in one, so it is kept as text. `"99"` is Prospect (observed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClubOsRole {
    #[serde(deserialize_with = "lenient_text_or_empty")]
    pub id: String,
    pub name: String,
}

impl ClubOsRole {
    /// The observed prospect role, the default for people created from the CRM.
    pub fn prospect() -> Self {
        Self {
            id: "99".into(),
            name: "Prospect".into(),
        }
    }

    /// Whether this is the prospect role, which callers treat as "not yet a member".
    pub fn is_prospect(&self) -> bool {
        self.id == "99" || self.name.eq_ignore_ascii_case("prospect")
    }
}

/// How a user first reached the club (`userOrigin`, observed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClubOsUserOrigin {
    pub origin_id: i64,
    pub origin_name: String,
}

/// A v3 user (prospect, member or staff: one id space). The field set is the observed
/// `POST /users` answer plus the flattened address and the membership fields the
/// simulator exposes (*inferred*; absent upstream they read as `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClubOsUser {
    pub user_id: i64,
    pub club_id: i64,
    pub location_id: i64,
    pub location_access: Option<Value>,
    pub role: Option<ClubOsRole>,
    pub email: Option<String>,
    /// Digits only as Club OS stores them; read as text even when sent as a number.
    #[serde(deserialize_with = "lenient_text")]
    pub home_phone: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub mobile_phone: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub work_phone: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub gender: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_by: Option<i64>,
    pub created_date: Option<String>,
    /// Format unknown upstream (always null in the observed samples); the simulator
    /// writes `YYYY-MM-DD`.
    #[serde(deserialize_with = "lenient_text")]
    pub birth_date: Option<String>,
    pub join_date: Option<String>,
    /// Set when the user is soft-deleted.
    pub deleted_at: Option<String>,
    pub deleted_by: Option<i64>,
    pub updated_date: Option<String>,
    pub updated_by: Option<i64>,
    pub source: Option<String>,
    pub user_name: Option<String>,
    /// In the limited view an address record id (a number); kept raw.
    pub address: Option<Value>,
    /// Flattened address, as the v1 user body has it (*inferred* for v3).
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub zip: Option<String>,
    /// Entry shape unknown upstream; kept raw.
    pub external_system_ids: Vec<Value>,
    #[serde(deserialize_with = "lenient_text")]
    pub barcode: Option<String>,
    pub time_zone: Option<String>,
    pub email_opt_out: Option<bool>,
    pub sms_opt_out: Option<bool>,
    pub profile_pic_hash: Option<String>,
    pub user_origin: Option<ClubOsUserOrigin>,
    pub referred_by: Option<Value>,
    pub submission_point: Option<i64>,
    pub salesperson_id: Option<i64>,
    pub trainer_id: Option<i64>,
    pub interests: Vec<Value>,
    #[serde(deserialize_with = "lenient_text")]
    pub pt_followup_status: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub membership_followup_status: Option<String>,
    /// *Inferred*: `ACTIVE`, `INACTIVE` or `PENDING_CANCEL`; `None` for prospects.
    #[serde(deserialize_with = "lenient_text")]
    pub membership_status: Option<String>,
    /// *Inferred*: the plan name, e.g. `Gold`.
    #[serde(deserialize_with = "lenient_text")]
    pub membership_type: Option<String>,
    pub send_response_emails: Option<bool>,
    #[serde(deserialize_with = "lenient_text")]
    pub event_reminder_method: Option<String>,
}

impl ClubOsUser {
    /// Every phone on the user, mobile first (the one to text).
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        [&self.mobile_phone, &self.home_phone, &self.work_phone]
            .into_iter()
            .filter_map(|p| p.as_deref())
    }
}

/// One attendee of an event. `attendeeStatus` `A` is observed; the other letters are
/// inferred from the help center's status names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClubOsAttendee {
    pub attendee_id: i64,
    pub attendee_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit_type: Option<String>,
}

/// A v3 calendar event: sales appointment (type 4), personal training (2), class (3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClubOsEvent {
    pub event_id: i64,
    pub club_id: i64,
    pub location_id: i64,
    pub event_type_id: i64,
    pub event_owner_id: i64,
    pub start_time: String,
    pub end_time: String,
    pub subject: Option<String>,
    pub booking_source: Option<String>,
    pub created_by_id: Option<i64>,
    pub remind_attendee: Option<bool>,
    pub remind_owner: Option<bool>,
    pub attendee: Vec<ClubOsAttendee>,
}

/// A physical club location; `timeZone` is what local times are rendered in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClubOsLocation {
    pub club_id: i64,
    pub location_id: i64,
    pub external_ids: Vec<String>,
    pub name: String,
    pub sms_enabled: bool,
    pub time_zone: String,
}

/// Spring's page envelope. `content` and `totalPages` are observed; the rest are the
/// standard Spring fields and default to zero when absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Page<T> {
    pub content: Vec<T>,
    pub total_pages: u64,
    pub total_elements: u64,
    /// The 0-based page number.
    pub number: u64,
    pub size: u64,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            content: Vec::new(),
            total_pages: 0,
            total_elements: 0,
            number: 0,
            size: 0,
        }
    }
}

impl<T> Page<T> {
    /// Whether another page follows, so a pager knows when to stop.
    pub fn has_next(&self) -> bool {
        self.number + 1 < self.total_pages
    }
}

/// `sortDir` (documented: `ASC` or `DESC`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortDir {
    #[default]
    #[serde(rename = "ASC")]
    Asc,
    #[serde(rename = "DESC")]
    Desc,
}

impl SortDir {
    /// The query-string spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        }
    }
}

/// A v3 user search. The email, phone and updated-since filters are *inferred* (their
/// parameter names come from [`super::ClubOsConfig`]); paging and sorting are documented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    pub email: Option<String>,
    /// Any format; the upstream is expected to compare digits.
    pub phone: Option<String>,
    /// ISO-8601 instant: users updated at or after it.
    pub updated_since: Option<String>,
    pub location_id: Option<i64>,
    /// 0-based.
    pub page: u32,
    /// At most 1000 (documented); 0 leaves it to the upstream's default.
    pub size: u32,
    /// `userId`, `updatedDate`, `lastName` or `createdDate` in the simulator.
    pub sort_on: Option<String>,
    pub sort_dir: Option<SortDir>,
}

impl Default for UserSearch {
    fn default() -> Self {
        Self {
            email: None,
            phone: None,
            updated_since: None,
            location_id: None,
            page: 0,
            size: 20,
            sort_on: None,
            sort_dir: None,
        }
    }
}

/// The body of `POST /users`, shaped like the observed prospect create. `None` fields
/// are left out so the upstream applies its own defaults; the client fills `clubId` and
/// `locationId` from its configuration when they are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub club_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<ClubOsRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
}

/// The body of `PUT /users/{userId}` (*inferred* endpoint): only the `Some` fields are
/// sent, so the rest stay as they are upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
}

impl UserPatch {
    /// Whether the patch changes nothing, so callers can skip the call.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The body of `POST /events`, shaped like the observed appointment booking. The client
/// fills `clubId` and `locationId` from its configuration when they are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub club_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    pub event_type_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_owner_id: Option<i64>,
    /// ISO-8601 UTC, e.g. `2026-01-05T16:00:00Z`.
    pub start_time: String,
    pub end_time: String,
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remind_attendee: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remind_owner: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_source: Option<String>,
    pub attendee: Vec<ClubOsAttendee>,
}

/// A v3 event search (*inferred* endpoint; parameter names from the observed
/// availability calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSearch {
    /// Matches attendees and the owner.
    pub user_id: Option<i64>,
    pub location_id: Option<i64>,
    /// ISO-8601: events starting at or after.
    pub start_time_start: Option<String>,
    /// ISO-8601: events starting before.
    pub start_time_end: Option<String>,
    /// Any of these types; empty means all.
    pub event_type_ids: Vec<i64>,
    pub page: u32,
    /// At most 1000; 0 leaves it to the upstream's default.
    pub size: u32,
    pub sort_on: Option<String>,
    pub sort_dir: Option<SortDir>,
}

impl Default for EventSearch {
    fn default() -> Self {
        Self {
            user_id: None,
            location_id: None,
            start_time_start: None,
            start_time_end: None,
            event_type_ids: Vec::new(),
            page: 0,
            size: 20,
            sort_on: None,
            sort_dir: None,
        }
    }
}

/// A v1 `/emailmatch` UserResponse (documented). `id` is the Club OS user id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailMatch {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// `Client` for members and prospects, `Trainer` etc. for staff.
    pub role: Option<String>,
    pub has_workouts: bool,
    pub has_nutrition: bool,
    pub workout_grade: i64,
    pub nutrition_grade: i64,
    pub workout_goal: i64,
    /// Staff only: their clients.
    pub clients: Vec<EmailMatch>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn user_reads_numbers_as_text_and_tolerates_missing_and_unknown_fields() {
        let user: ClubOsUser = serde_json::from_value(json!({
            "userId": 170000001,
            "role": {"id": 99, "name": "Prospect"},
            "mobilePhone": 5555550100_i64,
            "address": 12345,
            "somethingNew": {"nested": true},
            "membershipFollowupStatus": {"id": 3, "name": "Lead"}
        }))
        .expect("lenient read");
        assert_eq!(user.user_id, 170000001);
        assert!(user.role.as_ref().is_some_and(ClubOsRole::is_prospect));
        assert_eq!(user.mobile_phone.as_deref(), Some("5555550100"));
        assert_eq!(user.membership_followup_status.as_deref(), Some("Lead"));
        assert_eq!(user.email, None);
        assert!(user.external_system_ids.is_empty());
    }

    #[test]
    fn writes_leave_out_what_is_not_set() {
        let patch = UserPatch {
            city: Some("Austin".into()),
            ..UserPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"city": "Austin"})
        );
        assert!(UserPatch::default().is_empty());
        let new = NewUser {
            first_name: "Pat".into(),
            last_name: "Doe".into(),
            role: Some(ClubOsRole::prospect()),
            ..NewUser::default()
        };
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            json!({"firstName": "Pat", "lastName": "Doe", "role": {"id": "99", "name": "Prospect"}})
        );
    }

    #[test]
    fn page_knows_whether_more_follow() {
        let page: Page<ClubOsLocation> =
            serde_json::from_value(json!({"content": [], "totalPages": 3, "number": 1})).unwrap();
        assert!(page.has_next());
        let last: Page<ClubOsLocation> =
            serde_json::from_value(json!({"content": [], "totalPages": 3, "number": 2})).unwrap();
        assert!(!last.has_next());
    }
}
