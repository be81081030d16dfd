//! Which system wins for which field of a linked person, and where the two disagree.

use serde::{Deserialize, Serialize};

use super::Person;
use crate::phone;

/// A system of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Ghl,
    Clubos,
}

/// `[merge]`: the winning system per field. The other system's value is used when the
/// winner has none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MergeConfig {
    pub first_name: Side,
    pub last_name: Side,
    pub email: Side,
    pub phone: Side,
    pub address: Side,
    pub date_of_birth: Side,
}

impl Default for MergeConfig {
    /// Club OS is the member system of record for identity (names, address, birth date:
    /// what the front desk checks); GHL is where the club messages people, so its email
    /// and phone win.
    fn default() -> Self {
        Self {
            first_name: Side::Clubos,
            last_name: Side::Clubos,
            email: Side::Ghl,
            phone: Side::Ghl,
            address: Side::Clubos,
            date_of_birth: Side::Clubos,
        }
    }
}

/// A field on which the two systems disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub field: &'static str,
    pub ghl: String,
    pub clubos: String,
    pub chosen: Side,
}

/// The merged person's scalar fields, with every disagreement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub date_of_birth: Option<String>,
    pub conflicts: Vec<Conflict>,
}

fn present(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Picks one value and records a conflict when both sides have differing ones.
/// `same` compares values in their normalised form (case, phone format).
fn pick(
    field: &'static str,
    winner: Side,
    ghl: Option<String>,
    clubos: Option<String>,
    same: fn(&str, &str) -> bool,
    conflicts: &mut Vec<Conflict>,
) -> Option<String> {
    let (ghl, clubos) = (present(ghl), present(clubos));
    if let (Some(g), Some(c)) = (&ghl, &clubos)
        && !same(g, c)
    {
        conflicts.push(Conflict {
            field,
            ghl: g.clone(),
            clubos: c.clone(),
            chosen: winner,
        });
    }
    match winner {
        Side::Ghl => ghl.or(clubos),
        Side::Clubos => clubos.or(ghl),
    }
}

fn same_text(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn same_exact(a: &str, b: &str) -> bool {
    a == b
}

/// Merges the two records of a person by the configured precedence.
pub fn merge(p: &Person, cfg: &MergeConfig, region: phonenumber::country::Id) -> Merged {
    let g = p.ghl.as_ref();
    let u = p.clubos.as_ref();
    let gs = |f: fn(&crate::upstream::ghl::models::GhlContact) -> &Option<String>| {
        g.and_then(|c| f(c).clone())
    };
    let us = |f: fn(&crate::upstream::clubos::ClubOsUser) -> &Option<String>| {
        u.and_then(|c| f(c).clone())
    };
    let ghl_phone = gs(|c| &c.phone).and_then(|p| phone::to_e164(&p, region));
    let clubos_phone = u.and_then(|u| u.phones().find_map(|p| phone::to_e164(p, region)));
    let mut conflicts = Vec::new();
    let mut m = Merged {
        first_name: pick(
            "firstName",
            cfg.first_name,
            gs(|c| &c.first_name),
            us(|c| &c.first_name),
            same_text,
            &mut conflicts,
        ),
        last_name: pick(
            "lastName",
            cfg.last_name,
            gs(|c| &c.last_name),
            us(|c| &c.last_name),
            same_text,
            &mut conflicts,
        ),
        email: pick(
            "email",
            cfg.email,
            gs(|c| &c.email),
            us(|c| &c.email),
            same_text,
            &mut conflicts,
        ),
        phone: pick(
            "phone",
            cfg.phone,
            ghl_phone,
            clubos_phone,
            same_exact,
            &mut conflicts,
        ),
        date_of_birth: pick(
            "dateOfBirth",
            cfg.date_of_birth,
            gs(|c| &c.date_of_birth),
            us(|c| &c.birth_date).map(|d| d.chars().take(10).collect()),
            same_exact,
            &mut conflicts,
        ),
        ..Merged::default()
    };
    let address = [
        ("address1", gs(|c| &c.address1), us(|c| &c.address1)),
        ("city", gs(|c| &c.city), us(|c| &c.city)),
        ("state", gs(|c| &c.state), us(|c| &c.state)),
        ("postalCode", gs(|c| &c.postal_code), us(|c| &c.zip)),
    ];
    let mut parts = address
        .into_iter()
        .map(|(field, a, b)| pick(field, cfg.address, a, b, same_text, &mut conflicts));
    m.address1 = parts.next().flatten();
    m.city = parts.next().flatten();
    m.state = parts.next().flatten();
    m.postal_code = parts.next().flatten();
    m.conflicts = conflicts;
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        linking::{LinkStatus, Person},
        upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
    };

    fn person(ghl: GhlContact, clubos: ClubOsUser) -> Person {
        Person {
            ghl: Some(ghl),
            clubos: Some(clubos),
            status: LinkStatus::Linked,
            rule: None,
            clubos_candidates: Vec::new(),
            ghl_candidates: Vec::new(),
            ghl_error: None,
            clubos_error: None,
        }
    }

    #[test]
    fn precedence_picks_per_field_and_reports_disagreements() {
        let g = GhlContact {
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email: Some("Ann.Lee@example.com".into()),
            phone: Some("+12125550123".into()),
            ..GhlContact::default()
        };
        let u = ClubOsUser {
            first_name: Some("Ann".into()),
            last_name: Some("Lee-Park".into()),
            email: Some("ann.lee@example.com".into()),
            mobile_phone: Some("2125550123".into()),
            ..ClubOsUser::default()
        };
        let m = merge(
            &person(g, u),
            &MergeConfig::default(),
            phonenumber::country::US,
        );
        assert_eq!(
            m.last_name.as_deref(),
            Some("Lee-Park"),
            "Club OS wins names"
        );
        assert_eq!(
            m.email.as_deref(),
            Some("Ann.Lee@example.com"),
            "GHL wins email"
        );
        assert_eq!(
            m.conflicts.len(),
            1,
            "case and phone format are not conflicts"
        );
        assert_eq!(m.conflicts[0].field, "lastName");
        assert_eq!(m.conflicts[0].chosen, Side::Clubos);
    }

    #[test]
    fn the_other_side_fills_what_the_winner_lacks() {
        let g = GhlContact {
            email: Some("a@example.com".into()),
            ..GhlContact::default()
        };
        let u = ClubOsUser {
            first_name: Some("Ann".into()),
            ..ClubOsUser::default()
        };
        let cfg = MergeConfig {
            first_name: Side::Ghl,
            email: Side::Clubos,
            ..MergeConfig::default()
        };
        let m = merge(&person(g, u), &cfg, phonenumber::country::US);
        assert_eq!(m.first_name.as_deref(), Some("Ann"));
        assert_eq!(m.email.as_deref(), Some("a@example.com"));
        assert!(m.conflicts.is_empty());
    }
}
