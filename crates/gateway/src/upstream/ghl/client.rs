//! The GHL client: one `reqwest::Client`, the `Version` header each endpoint declares,
//! the bearer token from a [`TokenSource`], the location's limiter before every call,
//! retries for reads only, and GHL's statuses and bodies mapped to [`UpstreamError`].
//!
//! A call GHL answers 401 is sent once more with a refreshed token when the token is an
//! OAuth one (GHL refuses a stale token before doing anything, so a write sent again this
//! way is still applied at most once); a second 401 is the caller's error.

use std::{sync::Arc, time::Duration};

use reqwest::{
    Method,
    header::{ACCEPT, AUTHORIZATION},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{
    GhlConfig,
    models::*,
    token::{Bearer, TokenSource},
};
use crate::upstream::{
    RetryPolicy, UpstreamError,
    ratelimit::{BudgetUsage, LocationLimiter},
};

/// `Version` of contacts, tasks, notes, tags, locations.
pub const VERSION_CONTACTS: &str = "2021-07-28";
/// `Version` of every calendars endpoint.
pub const VERSION_CALENDARS: &str = "2021-04-15";

/// A GHL API client for one location.
#[derive(Clone)]
pub struct GhlClient {
    http: reqwest::Client,
    base: String,
    location_id: String,
    tokens: TokenSource,
    retry: RetryPolicy,
    limiter: Arc<LocationLimiter>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for GhlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GhlClient")
            .field("base", &self.base)
            .field("location_id", &self.location_id)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// One request, described before it is sent (so that a retry can send it again).
struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    version: &'static str,
    read: bool,
}

impl Call {
    fn new(method: Method, path: impl Into<String>) -> Self {
        let read = method == Method::GET;
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            version: VERSION_CONTACTS,
            read,
        }
    }

    fn body(mut self, body: &impl Serialize) -> Result<Self, UpstreamError> {
        self.body = Some(
            serde_json::to_value(body)
                .map_err(|e| UpstreamError::Transport(format!("request body: {e}")))?,
        );
        Ok(self)
    }

    /// A POST that only reads (search): safe to retry.
    fn reading(mut self) -> Self {
        self.read = true;
        self
    }

    fn calendars(mut self) -> Self {
        self.version = VERSION_CALENDARS;
        self
    }
}

use super::answer::{error_for, header_num, refuses_a_scope};

impl GhlClient {
    /// Builds the client with `ghl.token` as a fixed bearer token; fails when no token is
    /// configured or the TLS backend cannot start.
    pub fn new(cfg: &GhlConfig, retry: RetryPolicy) -> Result<Self, UpstreamError> {
        let token = cfg
            .token
            .as_ref()
            .ok_or_else(|| UpstreamError::Unauthorized {
                message: "no GHL token is configured".into(),
            })?;
        Self::with_tokens(cfg, retry, TokenSource::fixed(token)?)
    }

    /// Builds the client with its bearer tokens from `tokens`; fails only if the TLS
    /// backend cannot start.
    pub fn with_tokens(
        cfg: &GhlConfig,
        retry: RetryPolicy,
        tokens: TokenSource,
    ) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .user_agent(concat!("contactgraph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(UpstreamError::from_reqwest)?;
        Ok(Self {
            http,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
            location_id: cfg.location_id.clone(),
            tokens,
            retry,
            limiter: Arc::new(LocationLimiter::new(cfg.rate_limit)),
            in_flight: Arc::new(Semaphore::new(cfg.max_concurrency.max(1))),
        })
    }

    /// The location this client works in.
    pub fn location_id(&self) -> &str {
        &self.location_id
    }

    /// How long GHL's pause of this location has left, when it outlasts a request's
    /// deadline: until then every call that needs GHL fails at once as rate limited (a
    /// shorter pause is pacing the limiter absorbs, and is not reported).
    pub fn paused(&self) -> Option<Duration> {
        self.limiter
            .paused_for(&self.location_id)
            .filter(|left| *left > self.retry.deadline())
    }

    /// GHL's budget for this location and what the current day used of it.
    pub fn budget(&self) -> BudgetUsage {
        self.limiter.usage(&self.location_id)
    }

    async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, UpstreamError> {
        if call.read {
            self.retry.run(|| self.authorized(&call)).await
        } else {
            self.authorized(&call).await
        }
    }

    /// One attempt with the current token, and one more with a refreshed token when GHL
    /// refused the first (OAuth only).
    async fn authorized<T: DeserializeOwned>(&self, call: &Call) -> Result<T, UpstreamError> {
        let bearer = self.tokens.bearer().await?;
        match self.attempt(call, &bearer).await {
            Err(err @ UpstreamError::Unauthorized { .. }) if !refuses_a_scope(&err) => {
                match self.tokens.after_refusal(&bearer).await? {
                    Some(fresh) => self.attempt(call, &fresh).await,
                    None => Err(err),
                }
            }
            other => other,
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        bearer: &Bearer,
    ) -> Result<T, UpstreamError> {
        self.limiter
            .acquire(&self.location_id, self.retry.deadline())
            .await?;
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| UpstreamError::Transport("client is shutting down".into()))?;
        let mut req = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path))
            .header(AUTHORIZATION, bearer.header().clone())
            .header("Version", call.version)
            .header(ACCEPT, "application/json");
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(UpstreamError::from_reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let remaining = header_num::<u32>(&headers, "x-ratelimit-remaining");
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| match UpstreamError::from_reqwest(e) {
                // A broken body after a 2xx is an unreadable answer; after anything else, the
                // call failed.
                UpstreamError::Decode(m) if !status.is_success() => UpstreamError::Transport(m),
                other => other,
            })?;
        if status.is_success() {
            self.limiter.observe(&self.location_id, remaining, None);
            return serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::Decode(e.to_string()));
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let err = error_for(status, &headers, &body);
        self.limiter
            .observe(&self.location_id, remaining, err.retry_after());
        tracing::debug!(route = %call.path_template(), status = status.as_u16(), error = %err, "GHL call failed");
        Err(err)
    }

    /// `GET /contacts/{contactId}`; `None` when GHL says it does not exist.
    pub async fn get_contact(&self, id: &str) -> Result<Option<GhlContact>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            contact: GhlContact,
        }
        match self
            .send::<R>(Call::new(Method::GET, format!("/contacts/{}", seg(id))))
            .await
        {
            Ok(r) => Ok(Some(r.contact)),
            Err(UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /contacts/` (201). A duplicate comes back as [`UpstreamError::Duplicate`].
    pub async fn create_contact(&self, new: &NewContact) -> Result<GhlContact, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            contact: GhlContact,
        }
        let r: R = self
            .send(Call::new(Method::POST, "/contacts/").body(new)?)
            .await?;
        Ok(r.contact)
    }

    /// `PUT /contacts/{contactId}`; `tags`, when given, replace the whole list.
    pub async fn update_contact(
        &self,
        id: &str,
        patch: &ContactPatch,
    ) -> Result<GhlContact, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            contact: GhlContact,
        }
        let r: R = self
            .send(Call::new(Method::PUT, format!("/contacts/{}", seg(id))).body(patch)?)
            .await?;
        Ok(r.contact)
    }

    /// `DELETE /contacts/{contactId}`.
    pub async fn delete_contact(&self, id: &str) -> Result<(), UpstreamError> {
        let _: Value = self
            .send(Call::new(Method::DELETE, format!("/contacts/{}", seg(id))))
            .await?;
        Ok(())
    }

    /// `POST /contacts/upsert`.
    pub async fn upsert_contact(&self, new: &NewContact) -> Result<UpsertResult, UpstreamError> {
        self.send(Call::new(Method::POST, "/contacts/upsert").body(new)?)
            .await
    }

    /// `POST /contacts/search` (a read: retried like one). `locationId` is filled in.
    pub async fn search_contacts(
        &self,
        req: &SearchRequest,
    ) -> Result<SearchResponse, UpstreamError> {
        let mut req = req.clone();
        req.location_id.clone_from(&self.location_id);
        self.send(
            Call::new(Method::POST, "/contacts/search")
                .body(&req)?
                .reading(),
        )
        .await
    }

    /// `GET /contacts/search/duplicate`: the contact GHL would treat as this one's duplicate.
    pub async fn find_duplicate(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<GhlContact>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            contact: Option<GhlContact>,
        }
        let mut call = Call::new(Method::GET, "/contacts/search/duplicate");
        call.query.push(("locationId", self.location_id.clone()));
        if let Some(e) = email {
            call.query.push(("email", e.to_owned()));
        }
        if let Some(p) = phone {
            call.query.push(("number", p.to_owned()));
        }
        Ok(self.send::<R>(call).await?.contact)
    }

    /// `POST /contacts/{contactId}/tags`: the tags after adding.
    pub async fn add_tags(&self, id: &str, tags: &[String]) -> Result<Vec<String>, UpstreamError> {
        self.tags(Method::POST, id, tags).await
    }

    /// `DELETE /contacts/{contactId}/tags`: the tags that remain.
    pub async fn remove_tags(
        &self,
        id: &str,
        tags: &[String],
    ) -> Result<Vec<String>, UpstreamError> {
        self.tags(Method::DELETE, id, tags).await
    }

    async fn tags(
        &self,
        method: Method,
        id: &str,
        tags: &[String],
    ) -> Result<Vec<String>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            tags: Vec<String>,
        }
        let call = Call::new(method, format!("/contacts/{}/tags", seg(id)))
            .body(&json!({"tags": tags}))?;
        Ok(self.send::<R>(call).await?.tags)
    }

    /// `POST /contacts/bulk/tags/update/{add|remove}`: many contacts in one call.
    pub async fn bulk_update_tags(
        &self,
        add: bool,
        contacts: Vec<String>,
        tags: Vec<String>,
    ) -> Result<BulkTagsResult, UpstreamError> {
        let body = BulkTagsRequest {
            contacts,
            tags,
            location_id: self.location_id.clone(),
            remove_all_tags: None,
        };
        let kind = if add { "add" } else { "remove" };
        self.send(
            Call::new(Method::POST, format!("/contacts/bulk/tags/update/{kind}")).body(&body)?,
        )
        .await
    }

    /// `GET /contacts/{contactId}/tasks`.
    pub async fn list_tasks(&self, contact_id: &str) -> Result<Vec<GhlTask>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            tasks: Vec<GhlTask>,
        }
        let call = Call::new(Method::GET, format!("/contacts/{}/tasks", seg(contact_id)));
        Ok(self.send::<R>(call).await?.tasks)
    }

    /// `GET /contacts/{contactId}/tasks/{taskId}`.
    pub async fn get_task(
        &self,
        contact_id: &str,
        task_id: &str,
    ) -> Result<GhlTask, UpstreamError> {
        self.task_call(Call::new(
            Method::GET,
            format!("/contacts/{}/tasks/{}", seg(contact_id), seg(task_id)),
        ))
        .await
    }

    /// `POST /contacts/{contactId}/tasks` (201).
    pub async fn create_task(
        &self,
        contact_id: &str,
        task: &NewTask,
    ) -> Result<GhlTask, UpstreamError> {
        self.task_call(
            Call::new(Method::POST, format!("/contacts/{}/tasks", seg(contact_id))).body(task)?,
        )
        .await
    }

    /// `PUT /contacts/{contactId}/tasks/{taskId}`.
    pub async fn update_task(
        &self,
        contact_id: &str,
        task_id: &str,
        patch: &TaskPatch,
    ) -> Result<GhlTask, UpstreamError> {
        self.task_call(
            Call::new(
                Method::PUT,
                format!("/contacts/{}/tasks/{}", seg(contact_id), seg(task_id)),
            )
            .body(patch)?,
        )
        .await
    }

    /// `PUT /contacts/{contactId}/tasks/{taskId}/completed`.
    pub async fn complete_task(
        &self,
        contact_id: &str,
        task_id: &str,
        completed: bool,
    ) -> Result<GhlTask, UpstreamError> {
        self.task_call(
            Call::new(
                Method::PUT,
                format!(
                    "/contacts/{}/tasks/{}/completed",
                    seg(contact_id),
                    seg(task_id)
                ),
            )
            .body(&json!({"completed": completed}))?,
        )
        .await
    }

    async fn task_call(&self, call: Call) -> Result<GhlTask, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            task: GhlTask,
        }
        Ok(self.send::<R>(call).await?.task)
    }

    /// `DELETE /contacts/{contactId}/tasks/{taskId}`.
    pub async fn delete_task(&self, contact_id: &str, task_id: &str) -> Result<(), UpstreamError> {
        let _: Value = self
            .send(Call::new(
                Method::DELETE,
                format!("/contacts/{}/tasks/{}", seg(contact_id), seg(task_id)),
            ))
            .await?;
        Ok(())
    }

    /// `POST /locations/{locationId}/tasks/search`: the tasks of many contacts in one call.
    pub async fn search_tasks(&self, search: &TaskSearch) -> Result<Vec<GhlTask>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            tasks: Vec<GhlTask>,
        }
        let call = Call::new(
            Method::POST,
            format!("/locations/{}/tasks/search", seg(&self.location_id)),
        )
        .body(search)?
        .reading();
        Ok(self.send::<R>(call).await?.tasks)
    }

    /// `GET /contacts/{contactId}/notes`.
    pub async fn list_notes(&self, contact_id: &str) -> Result<Vec<GhlNote>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            notes: Vec<GhlNote>,
        }
        let call = Call::new(Method::GET, format!("/contacts/{}/notes", seg(contact_id)));
        Ok(self.send::<R>(call).await?.notes)
    }

    /// `GET /contacts/{contactId}/notes/{id}`.
    pub async fn get_note(
        &self,
        contact_id: &str,
        note_id: &str,
    ) -> Result<GhlNote, UpstreamError> {
        self.note_call(Call::new(
            Method::GET,
            format!("/contacts/{}/notes/{}", seg(contact_id), seg(note_id)),
        ))
        .await
    }

    /// `POST /contacts/{contactId}/notes` (201).
    pub async fn create_note(
        &self,
        contact_id: &str,
        note: &NoteWrite,
    ) -> Result<GhlNote, UpstreamError> {
        self.note_call(
            Call::new(Method::POST, format!("/contacts/{}/notes", seg(contact_id))).body(note)?,
        )
        .await
    }

    /// `PUT /contacts/{contactId}/notes/{id}`.
    pub async fn update_note(
        &self,
        contact_id: &str,
        note_id: &str,
        note: &NoteWrite,
    ) -> Result<GhlNote, UpstreamError> {
        self.note_call(
            Call::new(
                Method::PUT,
                format!("/contacts/{}/notes/{}", seg(contact_id), seg(note_id)),
            )
            .body(note)?,
        )
        .await
    }

    async fn note_call(&self, call: Call) -> Result<GhlNote, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            note: GhlNote,
        }
        Ok(self.send::<R>(call).await?.note)
    }

    /// `DELETE /contacts/{contactId}/notes/{id}`.
    pub async fn delete_note(&self, contact_id: &str, note_id: &str) -> Result<(), UpstreamError> {
        let _: Value = self
            .send(Call::new(
                Method::DELETE,
                format!("/contacts/{}/notes/{}", seg(contact_id), seg(note_id)),
            ))
            .await?;
        Ok(())
    }

    /// `GET /contacts/{contactId}/appointments`.
    pub async fn contact_appointments(
        &self,
        contact_id: &str,
    ) -> Result<Vec<GhlAppointment>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            events: Vec<GhlAppointment>,
        }
        let call = Call::new(
            Method::GET,
            format!("/contacts/{}/appointments", seg(contact_id)),
        );
        Ok(self.send::<R>(call).await?.events)
    }

    /// `POST /calendars/events/appointments` (flat answer).
    pub async fn create_appointment(
        &self,
        new: &NewAppointment,
    ) -> Result<GhlAppointment, UpstreamError> {
        self.send(
            Call::new(Method::POST, "/calendars/events/appointments")
                .body(new)?
                .calendars(),
        )
        .await
    }

    /// `GET /calendars/events/appointments/{eventId}`; `None` when unknown.
    pub async fn get_appointment(&self, id: &str) -> Result<Option<GhlAppointment>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            event: GhlAppointment,
        }
        let call = Call::new(
            Method::GET,
            format!("/calendars/events/appointments/{}", seg(id)),
        )
        .calendars();
        match self.send::<R>(call).await {
            Ok(r) => Ok(Some(r.event)),
            Err(UpstreamError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /calendars/events/appointments/{eventId}` (flat answer).
    pub async fn update_appointment(
        &self,
        id: &str,
        patch: &AppointmentPatch,
    ) -> Result<GhlAppointment, UpstreamError> {
        self.send(
            Call::new(
                Method::PUT,
                format!("/calendars/events/appointments/{}", seg(id)),
            )
            .body(patch)?
            .calendars(),
        )
        .await
    }

    /// `DELETE /calendars/events/{eventId}` (201).
    pub async fn delete_event(&self, id: &str) -> Result<(), UpstreamError> {
        let _: Value = self
            .send(Call::new(Method::DELETE, format!("/calendars/events/{}", seg(id))).calendars())
            .await?;
        Ok(())
    }

    /// `GET /locations/{locationId}/customFields?model=contact`.
    pub async fn custom_fields(&self) -> Result<Vec<GhlCustomField>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(rename = "customFields")]
            custom_fields: Vec<GhlCustomField>,
        }
        let mut call = Call::new(
            Method::GET,
            format!("/locations/{}/customFields", seg(&self.location_id)),
        );
        call.query.push(("model", "contact".into()));
        Ok(self.send::<R>(call).await?.custom_fields)
    }
}

impl Call {
    /// The path with ids blanked, for logs (ids are not secret, but keep lines short).
    fn path_template(&self) -> String {
        self.path
            .split('/')
            .map(|s| if s.len() >= 16 { "{id}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
