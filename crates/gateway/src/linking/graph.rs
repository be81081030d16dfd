//! The link sweep's matcher: linking's own rules (`settle` over the proposals of
//! both sides), run over every record of both systems at once instead of through the
//! loaders. So a link the sweep confirms is exactly one a read would have shown as
//! linked, and a value shared by a household links nobody here either.
//!
//! Records that hold a stored link are settled already; the rest either link (both
//! sides propose each other) or, when a shared value makes them ambiguous, become
//! suggestions: one per (contact, user) pair, with what they share and a score.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Decision, LinkRule, Proposal, Shared, settle, shared_of_contact, shared_of_user};
use crate::{
    cache::MatchKey,
    store::{Link, LinkSource, NewLink, NewSuggestion, Origin},
    upstream::{clubos::ClubOsUser, ghl::models::GhlContact},
};

/// Everything the matcher looks at.
pub struct World<'a> {
    pub contacts: &'a [GhlContact],
    pub users: &'a [ClubOsUser],
    /// The links the store holds.
    pub links: &'a [Link],
    /// The id of GHL's link custom field, when the location has one.
    pub link_field: Option<&'a str>,
    pub region: phonenumber::country::Id,
}

/// What the sweep should store.
#[derive(Debug, Default)]
pub struct Matches {
    /// Pairs both sides propose, not stored yet.
    pub links: Vec<NewLink>,
    /// Ambiguous pairs, once each, likeliest first.
    pub suggestions: Vec<NewSuggestion>,
}

/// Who holds what, indexed once.
struct Index<'a> {
    world: &'a World<'a>,
    contacts: HashMap<&'a str, &'a GhlContact>,
    users: HashMap<i64, &'a ClubOsUser>,
    stored_ghl: HashMap<&'a str, i64>,
    stored_user: HashMap<i64, &'a str>,
    by_field: HashMap<i64, Vec<&'a GhlContact>>,
    ghl_by_key: HashMap<MatchKey, Vec<&'a GhlContact>>,
    users_by_key: HashMap<MatchKey, Vec<&'a ClubOsUser>>,
}

/// Runs linking's rules over the whole world.
pub fn sweep(world: &World<'_>) -> Matches {
    let ix = Index::new(world);
    let mut matches = Matches::default();
    let mut suggested: BTreeMap<(String, i64), NewSuggestion> = BTreeMap::new();
    let mut suggest = |c: &GhlContact, u: &ClubOsUser| {
        let s = ix.suggestion(c, u);
        let pair = (s.ghl_contact_id.clone(), s.clubos_user_id);
        suggested.entry(pair).or_insert(s);
    };
    for c in world.contacts {
        if ix.stored_ghl.contains_key(c.id.as_str()) {
            continue;
        }
        let forward = ix.propose_for_contact(c);
        let back = match &forward {
            Proposal::One(u, _) => Some(ix.propose_for_user(u)),
            _ => None,
        };
        match settle(forward, back, |o: &GhlContact| o.id == c.id) {
            Decision::Linked(u, rule) => matches.links.push(ix.link(c, &u, rule)),
            Decision::Ambiguous(users, _) => users.iter().for_each(|u| suggest(c, u)),
            Decision::Nobody => {}
        }
    }
    for u in world.users {
        if ix.stored_user.contains_key(&u.user_id) {
            continue;
        }
        let forward = ix.propose_for_user(u);
        let back = match &forward {
            Proposal::One(c, _) => Some(ix.propose_for_contact(c)),
            _ => None,
        };
        let is_me = |o: &ClubOsUser| o.user_id == u.user_id;
        if let Decision::Ambiguous(contacts, _) = settle(forward, back, is_me) {
            contacts.iter().for_each(|c| suggest(c, u));
        }
    }
    let linked_ghl: HashSet<&str> = matches
        .links
        .iter()
        .map(|l| l.ghl_contact_id.as_str())
        .collect();
    let linked_users: HashSet<i64> = matches.links.iter().map(|l| l.clubos_user_id).collect();
    let mut suggestions: Vec<NewSuggestion> = suggested
        .into_values()
        .filter(|s| {
            !linked_ghl.contains(&s.ghl_contact_id.as_str())
                && !linked_users.contains(&s.clubos_user_id)
        })
        .collect();
    suggestions.sort_by_key(|s| std::cmp::Reverse(s.score));
    matches.suggestions = suggestions;
    matches
}

impl<'a> Index<'a> {
    fn new(world: &'a World<'a>) -> Self {
        let mut ix = Self {
            world,
            contacts: world.contacts.iter().map(|c| (c.id.as_str(), c)).collect(),
            users: world.users.iter().map(|u| (u.user_id, u)).collect(),
            stored_ghl: HashMap::new(),
            stored_user: HashMap::new(),
            by_field: HashMap::new(),
            ghl_by_key: HashMap::new(),
            users_by_key: HashMap::new(),
        };
        for l in world.links {
            ix.stored_ghl
                .insert(l.ghl_contact_id.as_str(), l.clubos_user_id);
            ix.stored_user
                .insert(l.clubos_user_id, l.ghl_contact_id.as_str());
        }
        for c in world.contacts {
            if let Some(u) = ix.field_of(c) {
                ix.by_field.entry(u).or_default().push(c);
            }
            for s in shared_of_contact(c, world.region) {
                ix.ghl_by_key.entry(s.key).or_default().push(c);
            }
        }
        for u in world.users {
            for s in shared_of_user(u, world.region) {
                ix.users_by_key.entry(s.key).or_default().push(u);
            }
        }
        ix
    }

    /// The Club OS user id a contact's link field holds.
    fn field_of(&self, c: &GhlContact) -> Option<i64> {
        let field = self.world.link_field?;
        c.custom_field(field)?.trim().parse().ok()
    }

    fn contacts_with(&self, key: &MatchKey) -> Vec<&'a GhlContact> {
        self.ghl_by_key.get(key).cloned().unwrap_or_default()
    }

    fn users_with(&self, key: &MatchKey) -> Vec<&'a ClubOsUser> {
        self.users_by_key.get(key).cloned().unwrap_or_default()
    }

    /// `propose_for_ghl` over the index.
    fn propose_for_contact(&self, c: &GhlContact) -> Proposal<ClubOsUser> {
        let stored = self.stored_ghl.get(c.id.as_str()).copied();
        for (id, rule) in [
            (stored, LinkRule::Stored),
            (self.field_of(c), LinkRule::CustomField),
        ] {
            if let Some(u) = id.and_then(|id| self.users.get(&id)) {
                return Proposal::One((*u).clone(), rule);
            }
        }
        for s in shared_of_contact(c, self.world.region) {
            let users = self.users_with(&s.key);
            if users.is_empty() {
                continue;
            }
            let mut contacts = self.contacts_with(&s.key);
            contacts.retain(|o| o.id != c.id);
            if let ([u], []) = (users.as_slice(), contacts.as_slice()) {
                return Proposal::One((*u).clone(), s.rule);
            }
            let users: Vec<ClubOsUser> = users
                .into_iter()
                .filter(|u| self.stored_user.get(&u.user_id).is_none_or(|g| *g == c.id))
                .cloned()
                .collect();
            if users.is_empty() {
                continue;
            }
            return Proposal::Several {
                theirs: users,
                ours: contacts.into_iter().cloned().collect(),
            };
        }
        Proposal::Nobody
    }

    /// `propose_for_clubos` over the index.
    fn propose_for_user(&self, u: &ClubOsUser) -> Proposal<GhlContact> {
        if let Some(c) = self
            .stored_user
            .get(&u.user_id)
            .and_then(|id| self.contacts.get(id))
        {
            return Proposal::One((*c).clone(), LinkRule::Stored);
        }
        let kept: Vec<&GhlContact> = self
            .by_field
            .get(&u.user_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(|c| self.not_stored_elsewhere(c, u.user_id))
            .collect();
        match kept.as_slice() {
            [] => {}
            [c] => return Proposal::One((*c).clone(), LinkRule::CustomField),
            _ => {
                return Proposal::Several {
                    theirs: kept.into_iter().cloned().collect(),
                    ours: Vec::new(),
                };
            }
        }
        for s in shared_of_user(u, self.world.region) {
            let contacts = self.contacts_with(&s.key);
            if contacts.is_empty() {
                continue;
            }
            let mut users = self.users_with(&s.key);
            users.retain(|o| o.user_id != u.user_id);
            if let ([c], []) = (contacts.as_slice(), users.as_slice()) {
                return Proposal::One((*c).clone(), s.rule);
            }
            let contacts: Vec<GhlContact> = contacts
                .into_iter()
                .filter(|c| {
                    self.not_stored_elsewhere(c, u.user_id)
                        && self.field_of(c).is_none_or(|f| f == u.user_id)
                })
                .cloned()
                .collect();
            if contacts.is_empty() {
                continue;
            }
            return Proposal::Several {
                theirs: contacts,
                ours: users.into_iter().cloned().collect(),
            };
        }
        Proposal::Nobody
    }

    fn not_stored_elsewhere(&self, c: &GhlContact, user_id: i64) -> bool {
        self.stored_ghl
            .get(c.id.as_str())
            .is_none_or(|u| *u == user_id)
    }

    /// A confirmed pair as the link to store, with the value it rested on.
    fn link(&self, c: &GhlContact, u: &ClubOsUser, rule: LinkRule) -> NewLink {
        let (source, evidence) = match rule {
            LinkRule::Email | LinkRule::Phone => {
                let shared = self.common(c, u);
                let source = if rule == LinkRule::Email {
                    LinkSource::Email
                } else {
                    LinkSource::Phone
                };
                (source, shared.map(|s| value_of(&s.key).to_owned()))
            }
            LinkRule::CustomField | LinkRule::Stored => (
                LinkSource::CustomField,
                Some(format!("link field holds {}", u.user_id)),
            ),
        };
        NewLink {
            ghl_contact_id: c.id.clone(),
            clubos_user_id: u.user_id,
            source,
            evidence,
            confirmed_by: Origin::Sync,
        }
    }

    /// The first value (email, then phones) a contact and a user share.
    fn common(&self, c: &GhlContact, u: &ClubOsUser) -> Option<Shared> {
        let theirs = shared_of_user(u, self.world.region);
        shared_of_contact(c, self.world.region)
            .into_iter()
            .find(|s| theirs.iter().any(|t| t.key == s.key))
    }

    /// The suggestion of an ambiguous pair: what they share, who else shares it, a score.
    ///
    /// The score starts from the rule (the link field 80, an email 60, a phone 40) and adds
    /// 15 for the same first name and 10 for the same last name (any case), at most 100.
    fn suggestion(&self, c: &GhlContact, u: &ClubOsUser) -> NewSuggestion {
        let (rule, evidence, base) = match self.common(c, u) {
            Some(s) => {
                let what = if s.rule == LinkRule::Email {
                    "email"
                } else {
                    "phone"
                };
                let evidence = format!(
                    "{what} {} is held by {} GHL contact(s) and {} Club OS user(s)",
                    value_of(&s.key),
                    self.contacts_with(&s.key).len(),
                    self.users_with(&s.key).len(),
                );
                let (rule, base) = if s.rule == LinkRule::Email {
                    (LinkSource::Email, 60)
                } else {
                    (LinkSource::Phone, 40)
                };
                (rule, evidence, base)
            }
            None => (
                LinkSource::CustomField,
                format!(
                    "the link field of {} GHL contact(s) holds {}",
                    self.by_field.get(&u.user_id).map_or(0, Vec::len),
                    u.user_id
                ),
                80,
            ),
        };
        let same = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim()),
            _ => false,
        };
        let mut score = base;
        if same(c.first_name.as_deref(), u.first_name.as_deref()) {
            score += 15;
        }
        if same(c.last_name.as_deref(), u.last_name.as_deref()) {
            score += 10;
        }
        NewSuggestion {
            ghl_contact_id: c.id.clone(),
            clubos_user_id: u.user_id,
            rule,
            evidence,
            score: score.min(100),
        }
    }
}

/// The value of a match key (`email:…` or `phone:…`).
fn value_of(key: &str) -> &str {
    key.split_once(':').map_or(key, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::upstream::ghl::models::CustomFieldValue;

    fn contact(id: &str, first: &str, email: &str, phone: &str) -> GhlContact {
        GhlContact {
            id: id.into(),
            first_name: Some(first.into()),
            email: (!email.is_empty()).then(|| email.into()),
            phone: (!phone.is_empty()).then(|| phone.into()),
            ..GhlContact::default()
        }
    }

    fn user(id: i64, first: &str, email: &str, phone: &str) -> ClubOsUser {
        ClubOsUser {
            user_id: id,
            first_name: Some(first.into()),
            email: (!email.is_empty()).then(|| email.into()),
            mobile_phone: (!phone.is_empty()).then(|| phone.into()),
            ..ClubOsUser::default()
        }
    }

    fn run(contacts: &[GhlContact], users: &[ClubOsUser], links: &[Link]) -> Matches {
        sweep(&World {
            contacts,
            users,
            links,
            link_field: Some("f-link"),
            region: phonenumber::country::US,
        })
    }

    fn pairs(m: &Matches) -> Vec<(String, i64, LinkSource)> {
        m.links
            .iter()
            .map(|l| (l.ghl_contact_id.clone(), l.clubos_user_id, l.source))
            .collect()
    }

    #[test]
    fn a_value_unique_on_both_sides_links_and_a_shared_one_suggests() {
        let contacts = [
            contact("g-ann", "Ann", "ann@example.com", ""),
            contact("g-lee", "Lee", "lees@example.com", ""),
            contact("g-bo", "Bo", "", "(512) 555-0101"),
        ];
        let users = [
            user(1, "Ann", "ANN@example.com", ""),
            user(2, "Lee", "lees@example.com", ""),
            user(3, "Kim", "lees@example.com", ""),
            user(4, "Bo", "", "5125550101"),
        ];
        let m = run(&contacts, &users, &[]);
        assert_eq!(
            pairs(&m),
            [
                ("g-ann".into(), 1, LinkSource::Email),
                ("g-bo".into(), 4, LinkSource::Phone),
            ]
        );
        assert_eq!(m.links[0].evidence.as_deref(), Some("ann@example.com"));
        assert_eq!(m.links[0].confirmed_by, Origin::Sync);
        let suggested: Vec<(&str, i64, i64)> = m
            .suggestions
            .iter()
            .map(|s| (s.ghl_contact_id.as_str(), s.clubos_user_id, s.score))
            .collect();
        assert_eq!(suggested, [("g-lee", 2, 75), ("g-lee", 3, 60)]);
        assert_eq!(
            m.suggestions[0].evidence,
            "email lees@example.com is held by 1 GHL contact(s) and 2 Club OS user(s)"
        );
    }

    #[test]
    fn stored_links_and_the_link_field_outrank_a_shared_email() {
        let mut by_field = contact("g-field", "Ann", "fam@example.com", "");
        by_field.custom_fields = vec![CustomFieldValue {
            id: "f-link".into(),
            value: json!("2"),
        }];
        let contacts = [by_field, contact("g-stored", "Lee", "x@example.com", "")];
        let users = [
            user(1, "Lee", "fam@example.com", ""),
            user(2, "Ann", "fam@example.com", ""),
        ];
        let stored = Link {
            ghl_contact_id: "g-stored".into(),
            clubos_user_id: 1,
            source: LinkSource::Manual,
            evidence: None,
            confirmed_by: Origin::Write,
            linked_at_ms: 0,
            updated_at_ms: 0,
        };
        let m = run(&contacts, &users, &[stored]);
        assert_eq!(pairs(&m), [("g-field".into(), 2, LinkSource::CustomField)]);
        assert!(m.suggestions.is_empty(), "{:?}", m.suggestions);
    }
}
