//! GHL's request and response bodies, in GHL's own vocabulary. Responses are read
//! tolerantly (unknown fields ignored, absent ones defaulted); requests carry only the
//! properties each DTO allows, since GHL answers 422 to any other.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A custom field value as GHL returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CustomFieldValue {
    pub id: String,
    #[serde(default)]
    pub value: Value,
}

/// A custom field value as GHL accepts it on writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomFieldWrite {
    pub id: String,
    pub field_value: Value,
}

/// A contact (read shape of get, update, upsert and search).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GhlContact {
    pub id: String,
    pub location_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub website: Option<String>,
    pub timezone: Option<String>,
    pub date_of_birth: Option<String>,
    pub source: Option<String>,
    pub assigned_to: Option<String>,
    pub dnd: bool,
    pub tags: Vec<String>,
    pub custom_fields: Vec<CustomFieldValue>,
    pub date_added: Option<String>,
    pub date_updated: Option<String>,
    /// The cursor of this row in a search answer.
    pub search_after: Option<Vec<Value>>,
}

impl GhlContact {
    /// The value of a custom field, as text.
    pub fn custom_field(&self, id: &str) -> Option<String> {
        self.custom_fields
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| match &f.value {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
    }
}

/// `POST /contacts/` and `POST /contacts/upsert` body (CreateContactDto): the update
/// fields plus `locationId` and `companyName`, which only a create may send.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NewContact {
    pub location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(flatten)]
    pub fields: ContactPatch,
}

/// `PUT /contacts/{contactId}` body (UpdateContactDto: no `locationId`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContactPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldWrite>>,
}

/// One search condition, or a group of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SearchFilter {
    Condition {
        field: String,
        operator: FilterOp,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    Group {
        group: GroupOp,
        filters: Vec<SearchFilter>,
    },
}

impl SearchFilter {
    /// `field operator value`.
    pub fn cond(field: &str, operator: FilterOp, value: impl Into<Value>) -> Self {
        Self::Condition {
            field: field.into(),
            operator,
            value: Some(value.into()),
        }
    }

    /// Any of `filters`.
    pub fn any(filters: Vec<SearchFilter>) -> Self {
        Self::Group {
            group: GroupOp::Or,
            filters,
        }
    }
}

/// Search operators.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    Eq,
    NotEq,
    Contains,
    NotContains,
    Exists,
    NotExists,
    Range,
}

/// How a group combines its filters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum GroupOp {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
}

/// One sort key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchSort {
    pub field: String,
    pub direction: SortDirection,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    Asc,
    Desc,
}

/// `POST /contacts/search` body (not in the spec; `ghl-api.md` §4.5).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchRequest {
    pub location_id: String,
    pub page_limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_after: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SearchFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SearchSort>,
}

/// `POST /contacts/search` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SearchResponse {
    pub contacts: Vec<GhlContact>,
    pub total: u64,
}

/// `POST /contacts/upsert` answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UpsertResult {
    pub new: bool,
    pub contact: GhlContact,
}

/// One item of the bulk tag answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BulkTagItem {
    pub contact_id: String,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
}

/// `POST /contacts/bulk/tags/update/{type}` answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BulkTagsResult {
    pub succeded: bool,
    pub error_count: u64,
    pub responses: Vec<BulkTagItem>,
}

/// `POST /contacts/bulk/tags/update/{type}` body.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BulkTagsRequest {
    pub contacts: Vec<String>,
    pub tags: Vec<String>,
    pub location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_all_tags: Option<bool>,
}

/// A task.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GhlTask {
    pub id: String,
    pub title: String,
    pub body: Option<String>,
    pub assigned_to: Option<String>,
    pub due_date: Option<String>,
    pub completed: bool,
    pub contact_id: Option<String>,
}

/// `POST /contacts/{contactId}/tasks` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewTask {
    pub title: String,
    pub due_date: String,
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// `PUT /contacts/{contactId}/tasks/{taskId}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// `POST /locations/{locationId}/tasks/search` body.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskSearch {
    #[serde(rename = "contactId", skip_serializing_if = "Vec::is_empty")]
    pub contact_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub limit: u32,
    pub skip: u32,
}

/// A note.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GhlNote {
    pub id: String,
    pub body: String,
    pub user_id: Option<String>,
    pub date_added: Option<String>,
    pub contact_id: Option<String>,
    pub title: Option<String>,
    pub pinned: bool,
}

/// `POST`/`PUT` note body (no `locationId`: GHL answers 422 to it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NoteWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
}

/// An appointment, as the contact list, the calendar get and the create/update answers
/// give it (their shapes overlap; what one lacks stays `None`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GhlAppointment {
    pub id: String,
    pub calendar_id: Option<String>,
    pub location_id: Option<String>,
    pub contact_id: Option<String>,
    pub title: Option<String>,
    pub appointment_status: Option<String>,
    pub assigned_user_id: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub date_added: Option<String>,
    pub date_updated: Option<String>,
}

/// `POST /calendars/events/appointments` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewAppointment {
    pub calendar_id: String,
    pub location_id: String,
    pub contact_id: String,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_status: Option<String>,
    pub assigned_user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_free_slot_validation: Option<bool>,
}

/// `PUT /calendars/events/appointments/{eventId}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A custom field definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GhlCustomField {
    pub id: String,
    pub name: String,
    pub field_key: String,
    pub data_type: String,
    pub model: Option<String>,
}
