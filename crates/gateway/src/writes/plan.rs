//! What each mutation writes: pure functions from checked input and what the resolver
//! found out (who the person is in each system) to a [`Plan`]: the legs to run, in
//! order, and the systems left alone with the reason. No I/O happens here, so every
//! plan is tested without GraphQL or an upstream.
//!
//! Order matters: Club OS documents no delete, so a Club OS create comes after every
//! GHL write it could have to be undone with, and a link comes last.

use super::{ClubOsMirror, Plan, legs::LegOp};
use crate::{
    error::{GatewayError, System},
    store::{LinkSource, NewLink, Origin},
    upstream::{
        clubos::{ClubOsAttendee, NewEvent, NewUser, UserPatch},
        ghl::models::{
            AppointmentPatch, ContactPatch, NewAppointment, NewContact, NewTask, NoteWrite,
            TaskPatch,
        },
    },
    writes::input::Checked,
};

/// A person's records, as the resolver found them: the GHL contact and the Club OS user
/// (either may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub ghl: Option<String>,
    pub clubos: Option<i64>,
}

/// Why a system is left alone when the person has no record there.
const NO_GHL: &str = "the person has no GHL contact";
const NO_CLUBOS: &str = "the person has no Club OS record";

/// `createContact`: a GHL contact, then a Club OS prospect, then the link between them.
/// Club OS needs both names and an email or a phone.
pub fn create_contact(
    fields: &Checked,
    tags: Option<Vec<String>>,
    location_id: &str,
) -> Result<Plan, GatewayError> {
    let user = fields.clubos_new()?;
    Ok(Plan {
        legs: vec![
            LegOp::GhlCreateContact {
                contact: fields.ghl_new(location_id, tags),
            },
            LegOp::ClubOsCreateUser { user },
            LegOp::Link {
                ghl_contact_id: None,
                clubos_user_id: None,
                source: LinkSource::Created,
                evidence: None,
                confirmed_by: Origin::Write,
            },
        ],
        ..Plan::default()
    })
}

/// `upsertContact`: GHL's upsert, then the Club OS user `existing` (updated) or a new
/// prospect (created), then the link. `existing` is decided by the resolver, household
/// safe, before anything is written.
pub fn upsert_contact(
    fields: &Checked,
    tags: Option<Vec<String>>,
    location_id: &str,
    existing: Option<i64>,
) -> Result<Plan, GatewayError> {
    let clubos = match existing {
        Some(user_id) => LegOp::ClubOsUpdateUser {
            user_id,
            patch: fields.clubos_patch(),
        },
        None => LegOp::ClubOsCreateUser {
            user: fields.clubos_new()?,
        },
    };
    Ok(Plan {
        legs: vec![
            LegOp::GhlUpsertContact {
                contact: fields.ghl_new(location_id, tags),
            },
            clubos,
            LegOp::Link {
                ghl_contact_id: None,
                clubos_user_id: existing,
                source: LinkSource::Created,
                evidence: None,
                confirmed_by: Origin::Write,
            },
        ],
        clubos_user_id: existing,
        ..Plan::default()
    })
}

/// `updateContact`: the same fields in whichever systems hold the person.
pub fn update_contact(fields: &Checked, person: &Records) -> Plan {
    let mut plan = Plan {
        ghl_contact_id: person.ghl.clone(),
        clubos_user_id: person.clubos,
        ..Plan::default()
    };
    match &person.ghl {
        Some(id) => plan.legs.push(LegOp::GhlUpdateContact {
            contact_id: id.clone(),
            patch: fields.ghl_patch(),
        }),
        None => plan.skip(System::Ghl, "update_contact", NO_GHL),
    }
    match person.clubos {
        Some(user_id) => plan.legs.push(LegOp::ClubOsUpdateUser {
            user_id,
            patch: fields.clubos_patch(),
        }),
        None => plan.skip(System::ClubOs, "update_user", NO_CLUBOS),
    }
    plan
}

/// `deleteContact`: the GHL contact. Club OS documents no delete, so its record is kept
/// and the answer says so.
pub fn delete_contact(person: &Records) -> Plan {
    let mut plan = Plan::default();
    match &person.ghl {
        Some(id) => plan.legs.push(LegOp::GhlDeleteContact {
            contact_id: id.clone(),
        }),
        None => plan.skip(System::Ghl, "delete_contact", NO_GHL),
    }
    if person.clubos.is_some() {
        plan.skip(
            System::ClubOs,
            "delete_user",
            "Club OS documents no delete; its record is kept",
        );
    }
    plan
}

/// `addTags` / `removeTags`.
pub fn tags(contact_id: String, tags: Vec<String>, add: bool) -> Plan {
    on_contact(
        LegOp::GhlTags {
            contact_id: contact_id.clone(),
            tags,
            add,
        },
        contact_id,
        None,
    )
}

/// `bulkUpdateTags`: one GHL call for every contact (GHL answers each on its own).
pub fn bulk_tags(contact_ids: Vec<String>, tags: Vec<String>, add: bool) -> Plan {
    Plan {
        legs: vec![LegOp::GhlBulkTags {
            contact_ids,
            tags,
            add,
        }],
        ..Plan::default()
    }
}

/// `linkContacts`: the link, stored and mirrored into the GHL link custom field.
pub fn link(ghl_contact_id: String, clubos_user_id: i64) -> Plan {
    Plan {
        legs: vec![LegOp::Link {
            ghl_contact_id: Some(ghl_contact_id.clone()),
            clubos_user_id: Some(clubos_user_id),
            source: LinkSource::Manual,
            evidence: None,
            confirmed_by: Origin::Write,
        }],
        ghl_contact_id: Some(ghl_contact_id),
        clubos_user_id: Some(clubos_user_id),
        ..Plan::default()
    }
}

/// A link the link sweep confirmed: stored and mirrored like `linkContacts`, with the
/// rule and evidence it rested on.
pub fn confirm(link: NewLink) -> Plan {
    Plan {
        ghl_contact_id: Some(link.ghl_contact_id.clone()),
        clubos_user_id: Some(link.clubos_user_id),
        legs: vec![LegOp::Link {
            ghl_contact_id: Some(link.ghl_contact_id),
            clubos_user_id: Some(link.clubos_user_id),
            source: link.source,
            evidence: link.evidence,
            confirmed_by: link.confirmed_by,
        }],
        ..Plan::default()
    }
}

/// A Club OS user the sync engine found with no GHL contact (`sync.create_in_ghl`): the
/// GHL contact made from them, then the link between the two, as the sync engine's.
pub fn create_in_ghl(contact: NewContact, clubos_user_id: i64) -> Plan {
    Plan {
        legs: vec![
            LegOp::GhlCreateContact { contact },
            LegOp::Link {
                ghl_contact_id: None,
                clubos_user_id: Some(clubos_user_id),
                source: LinkSource::Created,
                evidence: None,
                confirmed_by: Origin::Sync,
            },
        ],
        clubos_user_id: Some(clubos_user_id),
        ..Plan::default()
    }
}

/// A GHL contact the sync engine found with no Club OS user (`sync.create_in_clubos`):
/// the Club OS prospect made from it, then the link between the two, as the sync
/// engine's.
pub fn create_in_clubos(user: NewUser, ghl_contact_id: String) -> Plan {
    Plan {
        legs: vec![
            LegOp::ClubOsCreateUser { user },
            LegOp::Link {
                ghl_contact_id: Some(ghl_contact_id.clone()),
                clubos_user_id: None,
                source: LinkSource::Created,
                evidence: None,
                confirmed_by: Origin::Sync,
            },
        ],
        ghl_contact_id: Some(ghl_contact_id),
        ..Plan::default()
    }
}

/// A Club OS change carried to its linked GHL contact by the sync engine: the fields to
/// change, then the tags to add and to remove (each part only when it changes anything).
pub fn propagate(
    ghl_contact_id: String,
    clubos_user_id: i64,
    patch: ContactPatch,
    add_tags: Vec<String>,
    remove_tags: Vec<String>,
) -> Plan {
    let mut legs = Vec::new();
    if patch != ContactPatch::default() {
        legs.push(LegOp::GhlUpdateContact {
            contact_id: ghl_contact_id.clone(),
            patch,
        });
    }
    for (tags, add) in [(add_tags, true), (remove_tags, false)] {
        if !tags.is_empty() {
            legs.push(LegOp::GhlTags {
                contact_id: ghl_contact_id.clone(),
                tags,
                add,
            });
        }
    }
    Plan {
        legs,
        ghl_contact_id: Some(ghl_contact_id),
        clubos_user_id: Some(clubos_user_id),
        ..Plan::default()
    }
}

/// A GHL change carried to its linked Club OS user by the sync engine.
pub fn propagate_to_clubos(clubos_user_id: i64, ghl_contact_id: String, patch: UserPatch) -> Plan {
    Plan {
        legs: vec![LegOp::ClubOsUpdateUser {
            user_id: clubos_user_id,
            patch,
        }],
        ghl_contact_id: Some(ghl_contact_id),
        clubos_user_id: Some(clubos_user_id),
        ..Plan::default()
    }
}

/// `unlinkContact`.
pub fn unlink(ghl_contact_id: String) -> Plan {
    on_contact(
        LegOp::Unlink {
            ghl_contact_id: ghl_contact_id.clone(),
        },
        ghl_contact_id,
        None,
    )
}

/// `createTask`.
pub fn create_task(contact_id: String, task: NewTask) -> Plan {
    on_contact(
        LegOp::GhlCreateTask {
            contact_id: contact_id.clone(),
            task,
        },
        contact_id,
        None,
    )
}

/// `updateTask` and `completeTask` (a patch), `deleteTask` (none).
pub fn change_task(contact_id: String, task_id: String, patch: Option<TaskPatch>) -> Plan {
    let op = match patch {
        Some(patch) => LegOp::GhlUpdateTask {
            contact_id: contact_id.clone(),
            task_id: task_id.clone(),
            patch,
        },
        None => LegOp::GhlDeleteTask {
            contact_id: contact_id.clone(),
            task_id: task_id.clone(),
        },
    };
    on_contact(op, contact_id, Some(task_id))
}

/// `createNote`.
pub fn create_note(contact_id: String, note: NoteWrite) -> Plan {
    on_contact(
        LegOp::GhlCreateNote {
            contact_id: contact_id.clone(),
            note,
        },
        contact_id,
        None,
    )
}

/// `updateNote`.
pub fn update_note(contact_id: String, note_id: String, note: NoteWrite) -> Plan {
    on_contact(
        LegOp::GhlUpdateNote {
            contact_id: contact_id.clone(),
            note_id: note_id.clone(),
            note,
        },
        contact_id,
        Some(note_id),
    )
}

/// `deleteNote`.
pub fn delete_note(contact_id: String, note_id: String) -> Plan {
    on_contact(
        LegOp::GhlDeleteNote {
            contact_id: contact_id.clone(),
            note_id,
        },
        contact_id,
        None,
    )
}

/// How long a mirrored Club OS event lasts when the booking gives no end (Club OS needs
/// one; GHL takes the calendar's slot length).
const MIRROR_MINUTES: i64 = 30;

/// `bookAppointment`: the GHL appointment and, when `writes.clubos_mirror` is set and the
/// person has a Club OS record, a Club OS event with them as attendee.
pub fn book_appointment(
    appointment: NewAppointment,
    mirror: Option<ClubOsMirror>,
    clubos_user: Option<i64>,
) -> Plan {
    let contact_id = appointment.contact_id.clone();
    let event = match (mirror, clubos_user) {
        (Some(mirror), Some(user_id)) => Ok(NewEvent {
            event_type_id: mirror.event_type_id,
            event_owner_id: Some(mirror.owner_id),
            start_time: appointment.start_time.clone(),
            end_time: appointment
                .end_time
                .clone()
                .unwrap_or_else(|| after_minutes(&appointment.start_time, MIRROR_MINUTES)),
            subject: appointment.title.clone(),
            booking_source: Some("contactgraph".into()),
            attendee: vec![ClubOsAttendee {
                attendee_id: user_id,
                attendee_status: "A".into(),
                visit_type: None,
            }],
            ..NewEvent::default()
        }),
        (Some(_), None) => Err(NO_CLUBOS),
        (None, _) => Err("appointments are not mirrored into Club OS (writes.clubos_mirror)"),
    };
    let mut plan = on_contact(LegOp::GhlBookAppointment { appointment }, contact_id, None);
    match event {
        Ok(event) => plan.legs.push(LegOp::ClubOsCreateEvent { event }),
        Err(why) => plan.skip(System::ClubOs, "create_event", why),
    }
    plan
}

/// `updateAppointment` and `cancelAppointment`.
pub fn change_appointment(
    contact_id: String,
    appointment_id: String,
    patch: AppointmentPatch,
) -> Plan {
    on_contact(
        LegOp::GhlUpdateAppointment {
            contact_id: contact_id.clone(),
            appointment_id: appointment_id.clone(),
            patch,
        },
        contact_id,
        Some(appointment_id),
    )
}

/// A plan of one GHL leg about `contact_id`, changing the record `record_id` names.
fn on_contact(op: LegOp, contact_id: String, record_id: Option<String>) -> Plan {
    Plan {
        legs: vec![op],
        ghl_contact_id: Some(contact_id),
        record_id,
        ..Plan::default()
    }
}

/// An RFC 3339 instant `minutes` later, in UTC with milliseconds (empty if unreadable:
/// input checking has read it already).
fn after_minutes(start: &str, minutes: i64) -> String {
    chrono::DateTime::parse_from_rfc3339(start)
        .map(|t| {
            (t + chrono::Duration::minutes(minutes))
                .to_utc()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        error::ErrorCode,
        writes::{WriteStatus, input::PersonFields},
    };

    fn checked(first: Option<&str>, email: Option<&str>) -> Checked {
        PersonFields {
            first_name: first.map(str::to_owned),
            last_name: Some("Rivera".into()),
            email: email.map(str::to_owned),
            ..PersonFields::default()
        }
        .check(phonenumber::country::Id::US)
        .expect("valid fields")
    }

    fn kinds(plan: &Plan) -> Vec<(System, &'static str)> {
        plan.legs.iter().map(|l| (l.system(), l.kind())).collect()
    }

    fn skipped(plan: &Plan) -> Vec<(System, String, String)> {
        plan.skipped
            .iter()
            .map(|w| {
                assert_eq!(w.status, WriteStatus::Skipped);
                (
                    w.system,
                    w.operation.clone(),
                    w.message.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_new_person_is_created_in_ghl_first_then_club_os_then_linked() {
        let fields = checked(Some("Ana"), Some("ana@example.com"));
        let plan = create_contact(&fields, Some(vec!["vip".into()]), "loc1").expect("a plan");
        assert_eq!(
            kinds(&plan),
            [
                (System::Ghl, "create_contact"),
                (System::ClubOs, "create_user"),
                (System::Ghl, "link"),
            ]
        );
        let LegOp::GhlCreateContact { contact } = &plan.legs[0] else {
            panic!("a GHL create first");
        };
        assert_eq!(contact.location_id, "loc1");
        assert_eq!(contact.fields.tags, Some(vec!["vip".to_owned()]));
        assert_eq!(
            plan.legs[2],
            LegOp::Link {
                ghl_contact_id: None,
                clubos_user_id: None,
                source: LinkSource::Created,
                evidence: None,
                confirmed_by: Origin::Write,
            }
        );
    }

    #[test]
    fn a_new_person_without_a_first_name_is_refused_before_any_leg() {
        let fields = checked(None, Some("ana@example.com"));
        let refused = create_contact(&fields, None, "loc1").expect_err("refused");
        assert_eq!(refused.code, ErrorCode::BadUserInput);
        assert_eq!(refused.field.as_deref(), Some("firstName"));
    }

    #[test]
    fn an_upsert_updates_the_club_os_user_it_was_given_and_links_it() {
        let fields = checked(Some("Ana"), Some("ana@example.com"));
        let plan = upsert_contact(&fields, None, "loc1", Some(42)).expect("a plan");
        assert_eq!(
            kinds(&plan),
            [
                (System::Ghl, "upsert_contact"),
                (System::ClubOs, "update_user"),
                (System::Ghl, "link"),
            ]
        );
        assert!(matches!(
            plan.legs[1],
            LegOp::ClubOsUpdateUser { user_id: 42, .. }
        ));
        assert!(matches!(
            plan.legs[2],
            LegOp::Link {
                clubos_user_id: Some(42),
                ..
            }
        ));
        assert_eq!(plan.clubos_user_id, Some(42));
    }

    #[test]
    fn an_upsert_without_a_club_os_user_creates_a_prospect() {
        let fields = checked(Some("Ana"), Some("ana@example.com"));
        let plan = upsert_contact(&fields, None, "loc1", None).expect("a plan");
        assert_eq!(plan.legs[1].kind(), "create_user");
        assert_eq!(plan.clubos_user_id, None);
    }

    #[test]
    fn an_update_writes_each_system_that_holds_the_person_and_says_which_it_skipped() {
        let fields = checked(Some("Ana"), None);
        let both = Records {
            ghl: Some("g1".into()),
            clubos: Some(7),
        };
        let plan = update_contact(&fields, &both);
        assert_eq!(
            kinds(&plan),
            [
                (System::Ghl, "update_contact"),
                (System::ClubOs, "update_user")
            ]
        );
        assert!(plan.skipped.is_empty());

        let ghl_only = Records {
            ghl: Some("g1".into()),
            clubos: None,
        };
        let plan = update_contact(&fields, &ghl_only);
        assert_eq!(kinds(&plan), [(System::Ghl, "update_contact")]);
        assert_eq!(
            skipped(&plan),
            [(System::ClubOs, "update_user".into(), NO_CLUBOS.into())]
        );
    }

    #[test]
    fn a_delete_removes_the_ghl_contact_and_keeps_the_club_os_record() {
        let plan = delete_contact(&Records {
            ghl: Some("g1".into()),
            clubos: Some(7),
        });
        assert_eq!(kinds(&plan), [(System::Ghl, "delete_contact")]);
        assert_eq!(skipped(&plan)[0].1, "delete_user");

        let plan = delete_contact(&Records {
            ghl: None,
            clubos: Some(7),
        });
        assert!(plan.legs.is_empty());
        assert_eq!(skipped(&plan).len(), 2);
    }

    fn booking(end: Option<&str>) -> NewAppointment {
        NewAppointment {
            calendar_id: "cal".into(),
            location_id: "loc1".into(),
            contact_id: "g1".into(),
            start_time: "2026-12-07T16:00:00+01:00".into(),
            end_time: end.map(str::to_owned),
            title: Some("Tour".into()),
            appointment_status: Some("confirmed".into()),
            assigned_user_id: "coach".into(),
            address: None,
            ignore_free_slot_validation: Some(true),
        }
    }

    #[test]
    fn a_booking_is_mirrored_into_club_os_with_a_default_length() {
        let mirror = ClubOsMirror {
            event_type_id: 4,
            owner_id: 9,
        };
        let plan = book_appointment(booking(None), Some(mirror), Some(7));
        assert_eq!(
            kinds(&plan),
            [
                (System::Ghl, "book_appointment"),
                (System::ClubOs, "create_event")
            ]
        );
        let LegOp::ClubOsCreateEvent { event } = &plan.legs[1] else {
            panic!("a Club OS event second");
        };
        assert_eq!(event.end_time, "2026-12-07T15:30:00.000Z");
        assert_eq!((event.event_type_id, event.event_owner_id), (4, Some(9)));
        assert_eq!(event.attendee[0].attendee_id, 7);
        assert_eq!(event.subject.as_deref(), Some("Tour"));
        assert_eq!(plan.ghl_contact_id.as_deref(), Some("g1"));
    }

    #[test]
    fn a_booking_is_not_mirrored_without_the_setting_or_a_club_os_record() {
        let plan = book_appointment(booking(Some("2026-12-07T17:00:00Z")), None, Some(7));
        assert_eq!(kinds(&plan), [(System::Ghl, "book_appointment")]);
        assert!(skipped(&plan)[0].2.contains("writes.clubos_mirror"));

        let mirror = ClubOsMirror {
            event_type_id: 4,
            owner_id: 9,
        };
        let plan = book_appointment(booking(None), Some(mirror), None);
        assert_eq!(skipped(&plan)[0].2, NO_CLUBOS);
    }

    fn task() -> NewTask {
        NewTask {
            title: "Call back".into(),
            body: None,
            due_date: "2026-12-08T09:00:00Z".into(),
            completed: false,
            assigned_to: None,
        }
    }

    #[test]
    fn a_change_to_a_task_note_or_appointment_names_the_record_it_changes() {
        let patch = TaskPatch {
            completed: Some(true),
            ..TaskPatch::default()
        };
        let plan = change_task("g1".into(), "t1".into(), Some(patch));
        assert_eq!(plan.legs[0].kind(), "update_task");
        assert_eq!(plan.record_id.as_deref(), Some("t1"));
        assert_eq!(
            change_task("g1".into(), "t1".into(), None).legs[0].kind(),
            "delete_task"
        );
        let note = update_note("g1".into(), "n1".into(), NoteWrite::default());
        assert_eq!(note.record_id.as_deref(), Some("n1"));
        let moved = change_appointment("g1".into(), "a1".into(), AppointmentPatch::default());
        assert_eq!(moved.record_id.as_deref(), Some("a1"));
        assert_eq!(
            create_task("g1".into(), task()).record_id,
            None,
            "a create learns its record's id from GHL's answer"
        );
    }

    #[test]
    fn a_manual_link_names_both_records() {
        let plan = link("g1".into(), 7);
        assert_eq!(
            plan.legs,
            [LegOp::Link {
                ghl_contact_id: Some("g1".into()),
                clubos_user_id: Some(7),
                source: LinkSource::Manual,
                evidence: None,
                confirmed_by: Origin::Write,
            }]
        );
        assert_eq!(
            (plan.ghl_contact_id.as_deref(), plan.clubos_user_id),
            (Some("g1"), Some(7))
        );
    }

    #[test]
    fn a_propagation_writes_only_the_parts_that_change() {
        let patch = ContactPatch {
            email: Some("new@example.com".into()),
            ..ContactPatch::default()
        };
        let plan = propagate(
            "g1".into(),
            7,
            patch.clone(),
            vec![],
            vec!["clubos-plan-gold".into()],
        );
        assert_eq!(
            plan.legs,
            [
                LegOp::GhlUpdateContact {
                    contact_id: "g1".into(),
                    patch,
                },
                LegOp::GhlTags {
                    contact_id: "g1".into(),
                    tags: vec!["clubos-plan-gold".into()],
                    add: false,
                },
            ]
        );
        assert_eq!(plan.clubos_user_id, Some(7));
        let tags_only = propagate(
            "g1".into(),
            7,
            ContactPatch::default(),
            vec!["t".into()],
            vec![],
        );
        assert!(matches!(
            tags_only.legs.as_slice(),
            [LegOp::GhlTags { add: true, .. }]
        ));
    }
}
