//! Loading ahead. What a query will ask of a person is requested as soon as the ids it
//! needs are known, instead of when the resolvers reach the field: GHL activity while
//! linking runs, Club OS events as soon as the person links, and the location list at
//! once. Batch endpoints then see a whole page's keys together, and no upstream stage
//! waits for the one before it unless it needs its answer. Keys with a fresh cache entry
//! cost nothing.

use async_graphql::Lookahead;

use crate::loaders::{self, Loaders};

/// What of a person's related records a query selects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wants {
    tasks: bool,
    notes: bool,
    ghl_appointments: bool,
    clubos_events: bool,
    location: bool,
}

impl Wants {
    /// What the selection set of a `Contact` asks for (fragments included).
    pub fn of(contact: Lookahead<'_>) -> Self {
        Self {
            tasks: contact.field("tasks").exists(),
            notes: contact.field("notes").exists(),
            ghl_appointments: contact.field("appointments").exists(),
            clubos_events: contact.field("appointments").exists(),
            location: contact.field("homeLocation").exists(),
        }
    }

    /// Only what depends on a person's Club OS record: for list rows, whose GHL records
    /// and the location list are loaded for the whole page at once.
    pub fn clubos_side(self) -> Self {
        Self {
            clubos_events: self.clubos_events,
            ..Self::default()
        }
    }

    /// Nothing when `skip`, else these wants: for list rows that may not be shown.
    pub fn unless(self, skip: bool) -> Self {
        if skip { Self::default() } else { self }
    }
}

/// The GHL records of these contacts: tasks (one batched search), notes and
/// appointments.
pub async fn ghl(l: &Loaders, wants: Wants, ids: &[String]) {
    let tasks = async {
        if wants.tasks {
            loaders::warm(&l.ghl_tasks, ids.iter().cloned()).await;
        }
    };
    let notes = async {
        if wants.notes {
            loaders::warm(&l.ghl_notes, ids.iter().cloned()).await;
        }
    };
    let appointments = async {
        if wants.ghl_appointments {
            loaders::warm(&l.ghl_appointments, ids.iter().cloned()).await;
        }
    };
    futures_util::join!(tasks, notes, appointments);
}

/// The Club OS records of these users: their events.
pub async fn clubos(l: &Loaders, wants: Wants, ids: &[i64]) {
    if wants.clubos_events {
        loaders::warm(&l.clubos_events, ids.iter().copied()).await;
    }
}

/// The Club OS location list, which depends on no id.
pub async fn locations(l: &Loaders, wants: Wants) {
    if wants.location {
        loaders::warm(&l.clubos_locations, [()]).await;
    }
}
