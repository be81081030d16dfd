//! Opaque global ids: `base64url("Contact:ghl:<id>")` or `base64url("Contact:clubos:<id>")`.
//! `contact(id:)` also takes a raw GHL contact id or Club OS user id, so that ids copied
//! from either system work in the playground.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Which record an id points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Ghl(String),
    ClubOs(i64),
}

impl ContactRef {
    /// The global id.
    pub fn encode(&self) -> String {
        let raw = match self {
            Self::Ghl(id) => format!("Contact:ghl:{id}"),
            Self::ClubOs(id) => format!("Contact:clubos:{id}"),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a global id, `ghl:<id>` / `clubos:<id>`, or a raw upstream id.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        let decoded = URL_SAFE_NO_PAD
            .decode(input)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let text = decoded
            .as_deref()
            .and_then(|d| d.strip_prefix("Contact:"))
            .unwrap_or(input);
        if let Some(id) = text.strip_prefix("ghl:") {
            return is_ghl_id(id).then(|| Self::Ghl(id.to_owned()));
        }
        if let Some(id) = text.strip_prefix("clubos:") {
            return id.parse().ok().filter(|n| *n > 0).map(Self::ClubOs);
        }
        if let Ok(n) = text.parse::<i64>() {
            return (n > 0).then_some(Self::ClubOs(n));
        }
        is_ghl_id(text).then(|| Self::Ghl(text.to_owned()))
    }
}

fn is_ghl_id(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip() {
        for r in [
            ContactRef::Ghl("ve9EPM428h8vShlRW1KT".into()),
            ContactRef::ClubOs(170000001),
        ] {
            assert_eq!(ContactRef::parse(&r.encode()), Some(r));
        }
    }

    #[test]
    fn raw_upstream_ids_are_accepted() {
        assert_eq!(
            ContactRef::parse("170000001"),
            Some(ContactRef::ClubOs(170000001))
        );
        assert_eq!(
            ContactRef::parse("sx6wyHhbFdRXh302LLNR"),
            Some(ContactRef::Ghl("sx6wyHhbFdRXh302LLNR".into()))
        );
        assert_eq!(ContactRef::parse("not an id!"), None);
        assert_eq!(ContactRef::parse("-5"), None);
    }
}
