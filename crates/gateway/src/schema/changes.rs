//! The change log for clients that poll (`changes`): every change to the data the gateway
//! owns, in the order it was committed, from a cursor that never skips or repeats one.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result, SimpleObject};
use serde_json::json;

use super::{
    ids::ContactRef,
    listing::{PageInfo, bad_input, decode, encode, page_size},
};
use crate::{
    clock::iso_ms,
    loaders::Loaders,
    store::{Change as StoredChange, ChangeFilter},
    writes,
};

/// The most people one `changes` query may follow.
const MAX_PERSON_IDS: usize = 100;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::ChangeKind")]
pub enum ChangeKind {
    /// A link was stored (new, or replacing another partner).
    LinkStored,
    /// A link was removed (unlinked, or replaced by a link to someone else).
    LinkRemoved,
    /// The link sweep suggested a pair for staff to decide.
    SuggestionAdded,
    /// Staff dismissed a suggestion.
    SuggestionDismissed,
    /// A record of the read model was stored new or changed.
    RecordChanged,
    /// A record is gone upstream (a tombstone).
    RecordDeleted,
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::Origin", name = "ChangeOrigin")]
pub enum ChangeOrigin {
    /// A mutation or a create through the gateway.
    Write,
    /// The sync engine: the link sweep, or the read model learning what changed upstream.
    Sync,
}

/// A type of record the read model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::RecordKind")]
pub enum RecordKind {
    /// A GHL contact.
    GhlContact,
    /// A GHL task.
    GhlTask,
    /// A GHL note.
    GhlNote,
    /// A GHL appointment.
    GhlAppointment,
    /// A Club OS user (member, prospect or staff).
    ClubOsUser,
    /// A Club OS event (a booked class or session).
    ClubOsEvent,
    /// A Club OS location.
    ClubOsLocation,
}

/// How the read model learned a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::ReadSource", name = "SyncSource")]
pub enum SyncSource {
    /// A read found it missing (or stale) and read it from the upstream.
    ReadThrough,
    /// A verified GHL webhook named it and the gateway re-read it.
    Webhook,
    /// The backfill, which reads everything once.
    Backfill,
    /// The Club OS poll found it changed.
    ClubOsPoll,
    /// The GHL poll found it changed.
    GhlPoll,
    /// A reconcile run compared it with the upstream.
    Reconcile,
}

/// One entry of the change log. It names what changed, never the values.
pub struct Change(StoredChange);

#[Object]
impl Change {
    /// Its place in the log: strictly increasing in commit order (on a SQLite file, a
    /// power cut may take back the last read-model changes and their numbers: see
    /// ARCHITECTURE.md).
    async fn seq(&self) -> i64 {
        self.0.seq
    }

    /// What changed.
    async fn kind(&self) -> ChangeKind {
        self.0.kind.into()
    }

    /// The GHL contact it is about, when there is one.
    async fn ghl_contact_id(&self) -> Option<ID> {
        self.0.ghl_contact_id.clone().map(ID)
    }

    /// The Club OS user it is about, when there is one.
    async fn club_os_user_id(&self) -> Option<ID> {
        self.0.clubos_user_id.map(|id| ID(id.to_string()))
    }

    /// The person's global id (`contact(id:)`): by the GHL contact when the change names
    /// one, else by the Club OS user.
    async fn contact_id(&self) -> Option<ID> {
        let person = match (&self.0.ghl_contact_id, self.0.clubos_user_id) {
            (Some(ghl), _) => ContactRef::Ghl(ghl.clone()),
            (None, Some(user)) => ContactRef::ClubOs(user),
            (None, None) => return None,
        };
        Some(ID(person.encode()))
    }

    /// The names of the changed fields, when the change is to a record and they are
    /// known.
    async fn fields(&self) -> &[String] {
        &self.0.fields
    }

    /// Who made the change.
    async fn origin(&self) -> ChangeOrigin {
        self.0.origin.into()
    }

    /// The kind of read-model record it is about, when it is about one.
    async fn record_kind(&self) -> Option<RecordKind> {
        self.0.record.as_ref().map(|(kind, _)| (*kind).into())
    }

    /// That record's id.
    async fn record_id(&self) -> Option<&str> {
        self.0.record.as_ref().map(|(_, id)| id.as_str())
    }

    /// How the read model learned it, for changes to the read model.
    async fn via(&self) -> Option<SyncSource> {
        self.0.via.map(Into::into)
    }

    /// When it was committed (ISO-8601).
    async fn at(&self) -> String {
        iso_ms(self.0.at_ms)
    }
}

/// A page of the change log (a Relay connection), oldest first.
#[derive(SimpleObject)]
pub struct ChangeConnection {
    /// The changes of this page, each with its cursor.
    pub edges: Vec<ChangeEdge>,
    /// `endCursor` is where to continue: after the last change of a full page, or, on the
    /// last page, at the head of the log as this query read it, so that a client polling
    /// with it is given only what was committed since.
    pub page_info: PageInfo,
}

/// One change of a page.
#[derive(SimpleObject)]
pub struct ChangeEdge {
    /// Pass as `after` to continue after this change.
    pub cursor: String,
    /// The change.
    pub node: Change,
}

/// The change log.
#[derive(Debug, Default)]
pub struct ChangeQueries;

#[Object]
impl ChangeQueries {
    /// The changes committed after `after`, oldest first: links stored and removed,
    /// suggestions, records of the read model changed or deleted upstream. Without
    /// `after` it starts at the log's first change. Poll with the last `endCursor`: no
    /// change is skipped or given twice.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "Page size, 1 to 100.")] first: i32,
        #[graphql(desc = "The `endCursor` (or an edge's cursor) of an earlier page.")]
        after: Option<String>,
        #[graphql(desc = "Only changes of these kinds (any kind when absent or empty).")]
        kinds: Option<Vec<ChangeKind>>,
        #[graphql(
            desc = "Only changes about these people (contact ids, GHL contact ids or Club OS user ids; at most 100). A person with a stored link is followed on both sides."
        )]
        person_ids: Option<Vec<ID>>,
    ) -> Result<ChangeConnection> {
        let size = page_size(first)?;
        let after_seq = after.as_deref().map(seq_of).transpose()?.unwrap_or(0);
        let store = &ctx.data::<Loaders>()?.readers().store;
        let unavailable = |e| writes::store_err(e).extend();
        let mut filter = ChangeFilter {
            kinds: kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            ..ChangeFilter::default()
        };
        if let Some(ids) = person_ids {
            if ids.is_empty() || ids.len() > MAX_PERSON_IDS {
                return Err(bad_input("personIds must hold 1 to 100 ids"));
            }
            for (i, id) in ids.iter().enumerate() {
                match ContactRef::parse(id) {
                    Some(ContactRef::Ghl(ghl)) => filter.ghl_contact_ids.push(ghl),
                    Some(ContactRef::ClubOs(user)) => filter.clubos_user_ids.push(user),
                    None => {
                        return Err(bad_input(&format!("personIds[{i}] is not a contact id")));
                    }
                }
            }
            let (by_ghl, by_clubos) = futures_util::try_join!(
                store.links_by_ghl(&filter.ghl_contact_ids),
                store.links_by_clubos(&filter.clubos_user_ids)
            )
            .map_err(unavailable)?;
            for link in by_ghl.into_iter().chain(by_clubos) {
                filter.clubos_user_ids.push(link.clubos_user_id);
                filter.ghl_contact_ids.push(link.ghl_contact_id);
            }
            filter.ghl_contact_ids.sort();
            filter.ghl_contact_ids.dedup();
            filter.clubos_user_ids.sort_unstable();
            filter.clubos_user_ids.dedup();
        }
        // The head is read first: every change up to it is committed (the log becomes
        // visible in order), so a last page may end there without skipping one.
        let head = store.last_change_seq().await.map_err(unavailable)?;
        let limit = i64::try_from(size + 1).unwrap_or(i64::MAX);
        let mut rows = store
            .changes_page(after_seq, head, &filter, limit)
            .await
            .map_err(unavailable)?;
        let has_next = rows.len() > size;
        rows.truncate(size);
        let edges: Vec<ChangeEdge> = rows
            .into_iter()
            .map(|c| ChangeEdge {
                cursor: cursor_at(c.seq),
                node: Change(c),
            })
            .collect();
        let end = match edges.last() {
            Some(last) if has_next => last.cursor.clone(),
            _ => cursor_at(head.max(after_seq)),
        };
        Ok(ChangeConnection {
            page_info: PageInfo {
                has_next_page: has_next,
                has_previous_page: after.is_some(),
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: Some(end),
            },
            edges,
        })
    }
}

fn cursor_at(seq: i64) -> String {
    encode(&json!({ "seq": seq }))
}

/// Reads a change cursor back.
fn seq_of(cursor: &str) -> Result<i64> {
    decode(cursor)?
        .get("seq")
        .and_then(serde_json::Value::as_i64)
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| bad_input("after is not a cursor the change log gave out"))
}
