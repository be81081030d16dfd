//! What the GHL simulator stores, and how each record is rendered in the shapes the API
//! answers with (read, create, search, webhook).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A stored contact. Optional fields are omitted from answers when absent, as GHL does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    pub id: String,
    pub location_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub source: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub website: Option<String>,
    pub timezone: Option<String>,
    pub date_of_birth: Option<String>,
    pub assigned_to: Option<String>,
    pub dnd: bool,
    pub tags: Vec<String>,
    pub custom_fields: Vec<(String, Value)>,
    pub date_added: String,
    pub date_updated: String,
    /// Monotonic insertion number: the tie-breaker of every sort and of `searchAfter`.
    pub seq: u64,
}

fn put(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.to_owned(), Value::String(v.clone()));
    }
}

impl Contact {
    /// `firstName lastName`, as GHL derives `name`.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn common(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("locationId".into(), json!(self.location_id));
        put(&mut m, "firstName", &self.first_name);
        put(&mut m, "lastName", &self.last_name);
        put(
            &mut m,
            "firstNameLowerCase",
            &self.first_name.as_ref().map(|s| s.to_lowercase()),
        );
        put(
            &mut m,
            "lastNameLowerCase",
            &self.last_name.as_ref().map(|s| s.to_lowercase()),
        );
        put(&mut m, "email", &self.email);
        put(
            &mut m,
            "emailLowerCase",
            &self.email.as_ref().map(|s| s.to_lowercase()),
        );
        put(&mut m, "phone", &self.phone);
        put(&mut m, "companyName", &self.company_name);
        put(&mut m, "source", &self.source);
        put(&mut m, "address1", &self.address1);
        put(&mut m, "city", &self.city);
        put(&mut m, "state", &self.state);
        put(&mut m, "postalCode", &self.postal_code);
        put(&mut m, "country", &self.country);
        put(&mut m, "website", &self.website);
        put(&mut m, "timezone", &self.timezone);
        put(&mut m, "dateOfBirth", &self.date_of_birth);
        put(&mut m, "assignedTo", &self.assigned_to);
        m.insert("type".into(), json!("lead"));
        m.insert("dnd".into(), json!(self.dnd));
        m.insert("tags".into(), json!(self.tags));
        m.insert(
            "customFields".into(),
            Value::Array(
                self.custom_fields
                    .iter()
                    .map(|(id, value)| json!({"id": id, "value": value}))
                    .collect(),
            ),
        );
        m.insert("dateAdded".into(), json!(self.date_added));
        m.insert("dateUpdated".into(), json!(self.date_updated));
        m
    }

    /// The shape of `GET /contacts/{id}` and of update/upsert answers.
    pub fn read_json(&self) -> Value {
        let mut m = self.common();
        put(&mut m, "name", &self.full_name());
        put(
            &mut m,
            "fullNameLowerCase",
            &self.full_name().map(|s| s.to_lowercase()),
        );
        m.insert(
            "dndSettings".into(),
            json!({"Email": {"status": if self.dnd {"active"} else {"inactive"}}}),
        );
        Value::Object(m)
    }

    /// The shape of the 201 answer to `POST /contacts/`.
    pub fn create_json(&self) -> Value {
        let mut m = self.common();
        m.insert("deleted".into(), json!(false));
        Value::Object(m)
    }

    /// The slimmer row of `POST /contacts/search`, with its `searchAfter` cursor.
    pub fn search_json(&self, search_after: Value) -> Value {
        let mut m = self.common();
        m.insert("searchAfter".into(), search_after);
        Value::Object(m)
    }

    /// The flat payload of a `Contact*` webhook event; `ContactDndUpdate` adds
    /// `dndSettings` for every channel.
    pub fn webhook_json(&self, event: &str) -> Value {
        let mut m = self.common();
        m.insert("type".into(), json!(event));
        put(&mut m, "name", &self.full_name());
        m.insert("attachments".into(), json!([]));
        if event == "ContactDndUpdate" {
            let status = if self.dnd { "active" } else { "inactive" };
            let channel = json!({"status": status, "message": "", "code": ""});
            m.insert(
                "dndSettings".into(),
                ["SMS", "Call", "Email", "GMB", "FB", "WhatsApp"]
                    .into_iter()
                    .map(|c| (c.to_owned(), channel.clone()))
                    .collect(),
            );
        }
        Value::Object(m)
    }

    /// Whether anything but tags, DND and timestamps differs (what `ContactUpdate`
    /// reports; tags and DND have events of their own).
    pub fn fields_differ(&self, other: &Self) -> bool {
        let mut other = other.clone();
        other.tags.clone_from(&self.tags);
        other.dnd = self.dnd;
        other.date_updated.clone_from(&self.date_updated);
        *self != other
    }
}

/// A stored task.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    pub due_date: String,
    pub completed: bool,
    pub contact_id: String,
    #[serde(skip)]
    pub date_added: String,
}

impl Task {
    /// The flat payload of a `Task*` webhook event.
    pub fn webhook_json(&self, event: &str, location_id: &str) -> Value {
        let mut v = json!({
            "type": event, "locationId": location_id, "id": self.id,
            "contactId": self.contact_id, "title": self.title,
            "dueDate": self.due_date, "dateAdded": self.date_added,
        });
        let m = v.as_object_mut().expect("object literal");
        put(m, "body", &self.body);
        put(m, "assignedTo", &self.assigned_to);
        v
    }
}

/// A stored note.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub date_added: String,
    pub contact_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    pub pinned: bool,
}

impl Note {
    /// The flat payload of a `Note*` webhook event.
    pub fn webhook_json(&self, event: &str, location_id: &str) -> Value {
        json!({
            "type": event, "locationId": location_id, "id": self.id, "body": self.body,
            "contactId": self.contact_id, "dateAdded": self.date_added,
        })
    }
}

/// A stored calendar event (appointment).
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub calendar_id: String,
    pub location_id: String,
    pub contact_id: String,
    pub title: String,
    pub appointment_status: String,
    pub assigned_user_id: String,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub description: Option<String>,
    pub meeting_location_type: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub date_added: String,
    pub date_updated: String,
}

impl Event {
    /// `{"event": ...}` of `GET /calendars/events/appointments/{eventId}`.
    pub fn calendar_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "title": self.title, "calendarId": self.calendar_id,
            "locationId": self.location_id, "contactId": self.contact_id,
            "groupId": "", "appointmentStatus": self.appointment_status,
            "assignedUserId": self.assigned_user_id, "users": [],
            "startTime": self.start_time, "endTime": self.end_time,
            "dateAdded": self.date_added, "dateUpdated": self.date_updated,
            "isRecurring": false,
            "createdBy": {"userId": self.assigned_user_id, "source": "public_api"},
        });
        let m = v.as_object_mut().expect("object literal");
        put(m, "address", &self.address);
        put(m, "notes", &self.notes);
        put(m, "description", &self.description);
        v
    }

    /// The flat answer to appointment create and update.
    pub fn flat_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "calendarId": self.calendar_id, "locationId": self.location_id,
            "contactId": self.contact_id, "startTime": self.start_time,
            "endTime": self.end_time, "title": self.title,
            "appointmentStatus": self.appointment_status,
            "assignedUserId": self.assigned_user_id, "isRecurring": false,
        });
        let m = v.as_object_mut().expect("object literal");
        put(m, "address", &self.address);
        put(m, "meetingLocationType", &self.meeting_location_type);
        v
    }

    /// The payload of an `Appointment*` webhook event: the appointment nested.
    pub fn webhook_json(&self, event: &str) -> Value {
        let mut appointment = json!({
            "id": self.id, "title": self.title, "calendarId": self.calendar_id,
            "contactId": self.contact_id, "groupId": "",
            "appointmentStatus": self.appointment_status,
            "assignedUserId": self.assigned_user_id, "users": [],
            "source": "public_api", "startTime": self.start_time, "endTime": self.end_time,
            "dateAdded": self.date_added, "dateUpdated": self.date_updated,
        });
        let m = appointment.as_object_mut().expect("object literal");
        put(m, "address", &self.address);
        put(m, "notes", &self.notes);
        json!({"type": event, "locationId": self.location_id, "appointment": appointment})
    }

    /// An item of `GET /contacts/{contactId}/appointments`.
    pub fn contact_list_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "calendarId": self.calendar_id, "status": "booked",
            "title": self.title, "assignedUserId": self.assigned_user_id,
            "startTime": self.start_time, "endTime": self.end_time,
            "locationId": self.location_id, "contactId": self.contact_id,
            "groupId": "", "appointmentStatus": self.appointment_status, "users": [],
            "dateAdded": self.date_added, "dateUpdated": self.date_updated,
            "assignedResources": [],
        });
        let m = v.as_object_mut().expect("object literal");
        put(m, "notes", &self.notes);
        put(m, "address", &self.address);
        v
    }
}

/// A location custom field definition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomField {
    pub id: String,
    pub name: String,
    pub field_key: String,
    pub data_type: String,
    pub position: u32,
    pub location_id: String,
    pub model: String,
    pub placeholder: String,
}
