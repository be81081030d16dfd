//! Deterministic seed data shared by both simulators: the same `(seed, people)` always
//! gives the same club, so tests, benchmarks and the demo can name ids in advance.
//!
//! The people look like a real club's: most are in both systems (GHL stores E.164
//! phones, Club OS digits only; some emails differ in case; some members changed their
//! surname in Club OS; some GHL contacts carry the stored link in a custom field), some
//! are only in one system, and some GHL contacts match two Club OS users (a family
//! sharing an email), which linking must report as ambiguous.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{RngExt, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde::Serialize;
use serde_json::json;

use super::{clubos::model as c, ghl::model as g};

/// The GHL location the seeded contacts live in, and a second one (for 403 tests).
pub const GHL_LOCATION_ID: &str = "ve9EPM428h8vShlRW1KT";
/// A second GHL location with its own token and no contacts.
pub const GHL_OTHER_LOCATION_ID: &str = "oTh3rLocat10nXyZ9aQ1";
/// Custom field mirroring the Club OS user id of a linked contact.
pub const CLUBOS_LINK_FIELD_ID: &str = "cLuBoSmEmBeRiDfIeLd1";
/// The custom field sync writes a member's Club OS join date to.
pub const CLUBOS_JOIN_DATE_FIELD_ID: &str = "cLuBoSjOiNdAtEfIeLd2";
pub const CLUBOS_JOIN_DATE_FIELD_KEY: &str = "contact.clubos_join_date";
/// The key of that custom field.
pub const CLUBOS_LINK_FIELD_KEY: &str = "contact.clubos_member_id";
/// The seeded calendar.
pub const GHL_CALENDAR_ID: &str = "cAlEnDaRtOuRs0000001";
/// Seeded GHL users (task assignees, appointment owners).
pub const GHL_USER_IDS: [&str; 2] = ["uSeRcOaChAnNa0000001", "uSeRfRoNtDeSk0000002"];
/// The Club OS club (tenant) id.
pub const CLUBOS_CLUB_ID: i64 = 600;
/// Club OS location ids: the home club and a second site.
pub const CLUBOS_LOCATION_IDS: [i64; 2] = [4500, 4501];
/// The salesperson who owns seeded Club OS events.
pub const CLUBOS_SALESPERSON_ID: i64 = 130_000_001;
const CLUBOS_FIRST_USER_ID: i64 = 170_000_001;

const FIRST: &[&str] = &[
    "Avery", "Jordan", "Maria", "James", "Priya", "Chen", "Olivia", "Liam", "Sofia", "Noah",
    "Amara", "Lucas", "Hannah", "Mateo", "Grace", "Ethan", "Zara", "Owen", "Leah", "Isaac", "Nina",
    "Caleb", "Ruby", "Diego", "Maya", "Felix", "Ivy", "Omar", "Clara", "Hugo",
];
const LAST: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Brown", "Nguyen", "Patel", "Kim", "Lopez", "Miller", "Davis",
    "Wilson", "Moore", "Taylor", "Thomas", "Jackson", "White", "Harris", "Martin", "Clark",
    "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green",
];
const DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];
const AREA_CODES: &[&str] = &["212", "312", "415", "512", "617", "303", "206", "404"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
    ("Seattle", "WA", "98101"),
];
const TAGS: &[&str] = &[
    "member",
    "lead",
    "vip",
    "pt-interest",
    "newsletter",
    "trial",
];
const TASKS: &[&str] = &[
    "Call about renewal",
    "Book a tour",
    "Follow up on PT package",
    "Send class schedule",
];
const NOTES: &[&str] = &[
    "Prefers morning classes.",
    "Asked about family plan pricing.",
    "Injured knee last year; check with trainer.",
    "Interested in the swim program.",
];
const PLANS: &[&str] = &["Gold", "Silver", "Student", "Family"];

/// How one seeded person appears across the two systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// In both; matched by email (sometimes differing in case) and phone.
    Linked,
    /// In both; GHL carries the Club OS id in the link custom field.
    StoredLink,
    /// In both; Club OS has a different surname.
    ChangedSurname,
    /// In both; no usable email in common, only the phone.
    PhoneOnly,
    /// Only a GHL contact (a lead).
    GhlOnly,
    /// Only a Club OS user.
    ClubOsOnly,
    /// One GHL contact whose email two Club OS users share.
    Ambiguous,
}

/// The GHL side of the seed.
#[derive(Debug, Clone, Default)]
pub struct GhlSeed {
    pub contacts: Vec<g::Contact>,
    pub tasks: Vec<g::Task>,
    pub notes: Vec<g::Note>,
    pub events: Vec<g::Event>,
    pub custom_fields: Vec<g::CustomField>,
}

/// The Club OS side of the seed.
#[derive(Debug, Clone, Default)]
pub struct ClubOsSeed {
    pub users: Vec<c::User>,
    pub events: Vec<c::Event>,
    pub locations: Vec<c::Location>,
}

/// A seeded person, for tests and the demo to pick from.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub kind: Kind,
    pub ghl_contact_id: Option<String>,
    pub clubos_user_ids: Vec<i64>,
    pub email: Option<String>,
}

/// Both systems' data, generated together so that they agree.
#[derive(Debug, Clone)]
pub struct World {
    pub ghl: GhlSeed,
    pub clubos: ClubOsSeed,
    pub people: Vec<Example>,
}

/// The fixed instant seeded dates count from, so output never depends on the wall clock.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("valid constant date")
}

/// ISO-8601 UTC with milliseconds, as GHL writes timestamps.
pub fn iso_ms(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// ISO-8601 UTC without fraction, as Club OS writes timestamps.
pub fn iso_s(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A 20-character alphanumeric id in GHL's (Firebase) style.
pub fn firebase_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

struct Person {
    first: String,
    last: String,
    email: String,
    digits: String,
    dob: String,
    city: (&'static str, &'static str, &'static str),
    address: String,
}

impl World {
    /// Generates `people` people from `seed`.
    pub fn generate(seed: u64, people: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = Gen {
            world: World {
                ghl: GhlSeed::default(),
                clubos: ClubOsSeed::default(),
                people: Vec::new(),
            },
            next_user: CLUBOS_FIRST_USER_ID,
            seq: 0,
        };
        w.world.ghl.custom_fields.push(g::CustomField {
            id: CLUBOS_LINK_FIELD_ID.into(),
            name: "Club OS Member ID".into(),
            field_key: CLUBOS_LINK_FIELD_KEY.into(),
            data_type: "TEXT".into(),
            position: 0,
            location_id: GHL_LOCATION_ID.into(),
            model: "contact".into(),
            placeholder: "Club OS user id".into(),
        });
        w.world.ghl.custom_fields.push(g::CustomField {
            id: CLUBOS_JOIN_DATE_FIELD_ID.into(),
            name: "Club OS Join Date".into(),
            field_key: CLUBOS_JOIN_DATE_FIELD_KEY.into(),
            data_type: "DATE".into(),
            position: 1,
            location_id: GHL_LOCATION_ID.into(),
            model: "contact".into(),
            placeholder: "YYYY-MM-DD".into(),
        });
        w.world.clubos.locations = CLUBOS_LOCATION_IDS
            .iter()
            .zip(["Downtown", "Northside"])
            .map(|(&id, name)| c::Location {
                club_id: CLUBOS_CLUB_ID,
                location_id: id,
                external_ids: vec![format!("ABC{id}")],
                name: name.into(),
                sms_enabled: true,
                time_zone: "America/Chicago".into(),
            })
            .collect();
        for i in 0..people {
            let person = w.person(&mut rng, i);
            let kind = match rng.random_range(0..100) {
                0..=34 => Kind::Linked,
                35..=49 => Kind::StoredLink,
                50..=54 => Kind::ChangedSurname,
                55..=59 => Kind::PhoneOnly,
                60..=74 => Kind::GhlOnly,
                75..=94 => Kind::ClubOsOnly,
                _ => Kind::Ambiguous,
            };
            w.add(&mut rng, kind, &person);
        }
        w.world
    }

    /// The first seeded person of a kind.
    pub fn example(&self, kind: Kind) -> Option<&Example> {
        self.people.iter().find(|p| p.kind == kind)
    }
}

struct Gen {
    world: World,
    next_user: i64,
    seq: u64,
}

impl Gen {
    fn person(&mut self, rng: &mut StdRng, i: usize) -> Person {
        let first = FIRST.choose(rng).expect("non-empty").to_string();
        let last = LAST.choose(rng).expect("non-empty").to_string();
        let email = format!(
            "{}.{}{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            i,
            DOMAINS.choose(rng).expect("non-empty")
        );
        let digits = format!(
            "{}{}{:04}",
            AREA_CODES.choose(rng).expect("non-empty"),
            rng.random_range(201..=989),
            i % 10_000
        );
        let dob = format!(
            "{}-{:02}-{:02}",
            rng.random_range(1960..=2006),
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        );
        let city = *CITIES.choose(rng).expect("non-empty");
        let address = format!("{} Main St", rng.random_range(1..=999));
        Person {
            first,
            last,
            email,
            digits,
            dob,
            city,
            address,
        }
    }

    fn add(&mut self, rng: &mut StdRng, kind: Kind, p: &Person) {
        let mut example = Example {
            kind,
            ghl_contact_id: None,
            clubos_user_ids: Vec::new(),
            email: Some(p.email.clone()),
        };
        let in_ghl = kind != Kind::ClubOsOnly;
        let in_clubos = kind != Kind::GhlOnly;
        if in_clubos {
            let mut user = self.user(rng, p);
            match kind {
                Kind::ChangedSurname => {
                    user.last_name = format!("{}-{}", p.last, LAST.choose(rng).expect("non-empty"))
                }
                Kind::PhoneOnly => user.email = None,
                Kind::Linked if rng.random_bool(0.4) => {
                    user.email = Some(capitalise_email(&p.email))
                }
                _ => {}
            }
            example.clubos_user_ids.push(user.user_id);
            self.world.clubos.users.push(user);
            if kind == Kind::Ambiguous {
                let mut sibling = self.user(rng, p);
                sibling.first_name = FIRST.choose(rng).expect("non-empty").to_string();
                sibling.mobile_phone = Some(format!("{}0", &p.digits[..9]));
                example.clubos_user_ids.push(sibling.user_id);
                self.world.clubos.users.push(sibling);
            }
        }
        if in_ghl {
            let mut contact = self.contact(rng, p);
            if kind == Kind::PhoneOnly {
                contact.email = Some(format!(
                    "{}.{}@{}",
                    p.first.to_lowercase(),
                    rng.random_range(100..999),
                    DOMAINS[0]
                ));
                example.email = contact.email.clone();
            }
            if kind == Kind::Ambiguous {
                contact.phone = None;
            }
            if kind == Kind::StoredLink {
                contact.custom_fields.push((
                    CLUBOS_LINK_FIELD_ID.into(),
                    json!(example.clubos_user_ids[0].to_string()),
                ));
            }
            example.ghl_contact_id = Some(contact.id.clone());
            self.ghl_children(rng, &contact);
            self.world.ghl.contacts.push(contact);
        }
        for &uid in &example.clubos_user_ids {
            self.clubos_events(rng, uid);
        }
        self.world.people.push(example);
    }

    fn contact(&mut self, rng: &mut StdRng, p: &Person) -> g::Contact {
        let added = epoch() - Duration::days(rng.random_range(30..700));
        let updated = added + Duration::days(rng.random_range(0..30));
        self.seq += 1;
        let mut tags: Vec<String> = TAGS
            .iter()
            .filter(|_| rng.random_bool(0.3))
            .map(|t| t.to_string())
            .collect();
        tags.sort();
        g::Contact {
            id: firebase_id(rng),
            location_id: GHL_LOCATION_ID.into(),
            first_name: Some(p.first.clone()),
            last_name: Some(p.last.clone()),
            email: Some(p.email.clone()),
            phone: Some(format!("+1{}", p.digits)),
            source: Some(["website", "walk-in", "referral"][rng.random_range(0..3)].into()),
            address1: Some(p.address.clone()),
            city: Some(p.city.0.into()),
            state: Some(p.city.1.into()),
            postal_code: Some(p.city.2.into()),
            country: Some("US".into()),
            timezone: Some("America/Chicago".into()),
            date_of_birth: rng.random_bool(0.7).then(|| p.dob.clone()),
            assigned_to: Some(GHL_USER_IDS[rng.random_range(0..2)].into()),
            tags,
            date_added: iso_ms(added),
            date_updated: iso_ms(updated),
            seq: self.seq,
            ..Default::default()
        }
    }

    fn ghl_children(&mut self, rng: &mut StdRng, contact: &g::Contact) {
        for _ in 0..rng.random_range(0..=3) {
            let due = epoch() + Duration::days(rng.random_range(-20..40));
            self.world.ghl.tasks.push(g::Task {
                id: firebase_id(rng),
                title: TASKS.choose(rng).expect("non-empty").to_string(),
                body: Some(format!("For {}", contact.full_name().unwrap_or_default())),
                assigned_to: contact.assigned_to.clone(),
                due_date: iso_ms(due),
                completed: rng.random_bool(0.3),
                contact_id: contact.id.clone(),
                date_added: contact.date_added.clone(),
            });
        }
        for _ in 0..rng.random_range(0..=3) {
            let at = epoch() - Duration::days(rng.random_range(0..300));
            self.world.ghl.notes.push(g::Note {
                id: firebase_id(rng),
                body: NOTES.choose(rng).expect("non-empty").to_string(),
                user_id: Some(GHL_USER_IDS[0].into()),
                date_added: iso_ms(at),
                contact_id: contact.id.clone(),
                title: None,
                color: None,
                pinned: false,
            });
        }
        for _ in 0..rng.random_range(0..=2) {
            let start = epoch() + Duration::hours(rng.random_range(-24 * 30..24 * 30));
            let status = ["confirmed", "new", "showed", "cancelled"][rng.random_range(0..4)];
            self.world.ghl.events.push(g::Event {
                id: firebase_id(rng),
                calendar_id: GHL_CALENDAR_ID.into(),
                location_id: GHL_LOCATION_ID.into(),
                contact_id: contact.id.clone(),
                title: "Club tour".into(),
                appointment_status: status.into(),
                assigned_user_id: GHL_USER_IDS[0].into(),
                address: Some("Front desk".into()),
                notes: None,
                description: None,
                meeting_location_type: Some("custom".into()),
                start_time: start.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
                end_time: (start + Duration::minutes(30))
                    .format("%Y-%m-%dT%H:%M:%S+00:00")
                    .to_string(),
                date_added: iso_ms(start - Duration::days(3)),
                date_updated: iso_ms(start - Duration::days(3)),
            });
        }
    }

    fn user(&mut self, rng: &mut StdRng, p: &Person) -> c::User {
        let user_id = self.next_user;
        self.next_user += 1;
        let member = rng.random_bool(0.75);
        let created = epoch() - Duration::days(rng.random_range(30..900));
        let (status, followup) = if !member {
            (None, "Lead")
        } else {
            match rng.random_range(0..10) {
                0 => (Some("INACTIVE"), "Lost Join"),
                1 => (Some("PENDING_CANCEL"), "Member - Pending Cancel"),
                _ => (Some("ACTIVE"), "Member"),
            }
        };
        let mobile = rng.random_bool(0.85);
        c::User {
            user_id,
            club_id: CLUBOS_CLUB_ID,
            location_id: CLUBOS_LOCATION_IDS[usize::from(rng.random_bool(0.2))],
            role: if member {
                c::Role::member()
            } else {
                c::Role::prospect()
            },
            email: Some(p.email.clone()),
            home_phone: (!mobile).then(|| p.digits.clone()),
            mobile_phone: mobile.then(|| p.digits.clone()),
            work_phone: None,
            gender: ["M", "F"][rng.random_range(0..2)].into(),
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            created_by: Some(CLUBOS_SALESPERSON_ID),
            created_date: iso_s(created),
            birth_date: rng.random_bool(0.8).then(|| p.dob.clone()),
            join_date: member.then(|| iso_s(created + Duration::days(7))),
            deleted_at: None,
            updated_date: Some(iso_s(created + Duration::days(rng.random_range(7..30)))),
            source: Some("walk-in".into()),
            address1: Some(p.address.clone()),
            address2: None,
            city: Some(p.city.0.into()),
            state: Some(p.city.1.into()),
            zip: Some(p.city.2.into()),
            barcode: member.then(|| format!("{:010}", 4_000_000_000_i64 + user_id)),
            time_zone: "America/Chicago".into(),
            email_opt_out: false,
            sms_opt_out: rng.random_bool(0.1),
            user_origin: None,
            salesperson_id: Some(CLUBOS_SALESPERSON_ID),
            membership_followup_status: Some(followup.into()),
            membership_status: status.map(str::to_owned),
            membership_type: member.then(|| PLANS.choose(rng).expect("non-empty").to_string()),
            external_system_ids: Vec::new(),
        }
    }

    fn clubos_events(&mut self, rng: &mut StdRng, user_id: i64) {
        for _ in 0..rng.random_range(0..=2) {
            let start = epoch() + Duration::hours(rng.random_range(-24 * 30..24 * 30));
            let event_type = [4, 2, 3][rng.random_range(0..3)];
            self.world.clubos.events.push(c::Event {
                event_id: 900_000_000 + self.world.clubos.events.len() as i64,
                club_id: CLUBOS_CLUB_ID,
                location_id: CLUBOS_LOCATION_IDS[0],
                event_type_id: event_type,
                event_owner_id: CLUBOS_SALESPERSON_ID,
                start_time: iso_s(start),
                end_time: iso_s(start + Duration::minutes(30)),
                subject: Some(
                    match event_type {
                        4 => "Tour",
                        2 => "Personal training",
                        _ => "Group class",
                    }
                    .into(),
                ),
                booking_source: Some("Front desk".into()),
                attendee: vec![c::Attendee {
                    attendee_id: user_id,
                    attendee_status: "A".into(),
                    visit_type: Some("A".into()),
                }],
            });
        }
    }
}

fn capitalise_email(email: &str) -> String {
    let mut out = String::with_capacity(email.len());
    let mut upper = true;
    for ch in email.chars() {
        out.extend(if upper {
            ch.to_uppercase().collect::<Vec<_>>()
        } else {
            vec![ch]
        });
        upper = matches!(ch, '.' | '@');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_world() {
        let a = World::generate(7, 50);
        let b = World::generate(7, 50);
        assert_eq!(a.ghl.contacts[0].id, b.ghl.contacts[0].id);
        assert_eq!(a.people.len(), 50);
        assert_ne!(
            World::generate(8, 50).ghl.contacts[0].id,
            a.ghl.contacts[0].id
        );
    }

    #[test]
    fn default_world_has_every_kind() {
        let w = World::generate(42, 500);
        for kind in [
            Kind::Linked,
            Kind::StoredLink,
            Kind::ChangedSurname,
            Kind::PhoneOnly,
            Kind::GhlOnly,
            Kind::ClubOsOnly,
            Kind::Ambiguous,
        ] {
            assert!(w.example(kind).is_some(), "{kind:?} missing");
        }
        let amb = w.example(Kind::Ambiguous).expect("ambiguous");
        assert_eq!(amb.clubos_user_ids.len(), 2);
    }

    #[test]
    fn capitalises_email_parts() {
        assert_eq!(
            capitalise_email("ann.lee1@example.com"),
            "Ann.Lee1@Example.Com"
        );
    }
}
