//! Checking and mapping what a mutation is given, before any upstream write: emails,
//! phones (E.164 for GHL, digits for Club OS), dates, name lengths, lowercase tags.

use chrono::NaiveDate;

use crate::{
    error::{ErrorCode, GatewayError},
    phone,
    upstream::{
        clubos::{NewUser, UserPatch},
        ghl::models::{ContactPatch, NewContact},
    },
};

/// Club OS stores names in a 50-character column.
pub const MAX_NAME: usize = 50;
/// GHL search values are limited to 75 characters; tags are kept within that.
pub const MAX_TAG: usize = 75;
/// Titles and bodies of tasks and notes.
pub const MAX_TEXT: usize = 5_000;
/// Tags one request may name.
pub const MAX_TAGS: usize = 50;
/// Characters of a one-line field (street, city, postal code).
pub const MAX_LINE: usize = 200;

/// A `BAD_USER_INPUT` naming the field.
pub fn bad(field: &str, message: impl Into<String>) -> GatewayError {
    let mut e = GatewayError::new(ErrorCode::BadUserInput, message);
    e.field = Some(field.to_owned());
    e
}

/// A person's fields as a mutation gives them, before checking.
#[derive(Debug, Clone, Default)]
pub struct PersonFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
}

/// Checked fields, in the forms each system takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// `+12125550123`, for GHL.
    pub phone_e164: Option<String>,
    /// `2125550123`, for Club OS.
    pub phone_digits: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_owned())
}

/// Whether `c` may not appear in a stored text: control characters (NUL, BEL, ...; a
/// newline or tab only where `multiline`) and the bidirectional overrides and isolates
/// that make a name display as something else.
fn forbidden(c: char, multiline: bool) -> bool {
    (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Refuses a text holding a [`forbidden`] character, naming the field.
fn printable(field: &str, v: &str, multiline: bool) -> Result<(), GatewayError> {
    if v.chars().any(|c| forbidden(c, multiline)) {
        return Err(bad(
            field,
            format!("{field} holds a control or bidirectional-override character"),
        ));
    }
    Ok(())
}

/// An optional one-line text: trimmed, printable, bounded.
fn line(field: &str, v: &Option<String>) -> Result<Option<String>, GatewayError> {
    let Some(t) = trimmed(v) else {
        return Ok(None);
    };
    printable(field, &t, false)?;
    if t.chars().count() > MAX_LINE {
        return Err(bad(
            field,
            format!("{field} is longer than {MAX_LINE} characters"),
        ));
    }
    Ok(Some(t))
}

fn name(field: &str, v: &Option<String>) -> Result<Option<String>, GatewayError> {
    if let Some(n) = v {
        printable(field, n, false)?;
    }
    match trimmed(v) {
        Some(n) if n.is_empty() => Err(bad(field, format!("{field} must not be empty"))),
        Some(n) if n.chars().count() > MAX_NAME => Err(bad(
            field,
            format!("{field} is longer than {MAX_NAME} characters"),
        )),
        other => Ok(other),
    }
}

/// Whether `s` reads as an email address.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.contains(char::is_whitespace)
        && s.len() <= 254
}

impl PersonFields {
    /// Checks every field; the first problem names its field.
    pub fn check(&self, region: phonenumber::country::Id) -> Result<Checked, GatewayError> {
        let email = match trimmed(&self.email) {
            Some(e) if !is_email(&e) => return Err(bad("email", "email is not an email address")),
            other => other,
        };
        let (phone_e164, phone_digits) = match trimmed(&self.phone) {
            Some(p) => {
                let e164 = phone::to_e164(&p, region)
                    .ok_or_else(|| bad("phone", "phone is not a valid phone number"))?;
                let digits = phone::to_national_digits(&p, region)
                    .ok_or_else(|| bad("phone", "phone is not a valid phone number"))?;
                (Some(e164), Some(digits))
            }
            None => (None, None),
        };
        let date_of_birth = match trimmed(&self.date_of_birth) {
            Some(d) => {
                let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| bad("dateOfBirth", "dateOfBirth must be a date as YYYY-MM-DD"))?;
                if date > chrono::Utc::now().date_naive() {
                    return Err(bad("dateOfBirth", "dateOfBirth is in the future"));
                }
                Some(date.format("%Y-%m-%d").to_string())
            }
            None => None,
        };
        let state = match trimmed(&self.state) {
            Some(s) if s.len() != 2 || !s.chars().all(|c| c.is_ascii_alphabetic()) => {
                return Err(bad("state", "state must be a two-letter code"));
            }
            other => other.map(|s| s.to_uppercase()),
        };
        Ok(Checked {
            first_name: name("firstName", &self.first_name)?,
            last_name: name("lastName", &self.last_name)?,
            email,
            phone_e164,
            phone_digits,
            date_of_birth,
            address1: line("address1", &self.address1)?,
            city: line("city", &self.city)?,
            state,
            postal_code: line("postalCode", &self.postal_code)?,
        })
    }
}

impl Checked {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The GHL update body.
    pub fn ghl_patch(&self) -> ContactPatch {
        ContactPatch {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone_e164.clone(),
            address1: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
            date_of_birth: self.date_of_birth.clone(),
            ..ContactPatch::default()
        }
    }

    /// The GHL create body.
    pub fn ghl_new(&self, location_id: &str, tags: Option<Vec<String>>) -> NewContact {
        let mut fields = self.ghl_patch();
        fields.tags = tags;
        fields.source = Some("contactgraph".into());
        NewContact {
            location_id: location_id.to_owned(),
            company_name: None,
            fields,
        }
    }

    /// The Club OS update body.
    pub fn clubos_patch(&self) -> UserPatch {
        UserPatch {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            mobile_phone: self.phone_digits.clone(),
            address1: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            zip: self.postal_code.clone(),
            birth_date: self.date_of_birth.clone(),
            ..UserPatch::default()
        }
    }

    /// The Club OS prospect body. Club OS requires both names and an email or a phone.
    pub fn clubos_new(&self) -> Result<NewUser, GatewayError> {
        let first = self
            .first_name
            .clone()
            .ok_or_else(|| bad("firstName", "firstName is required"))?;
        let last = self
            .last_name
            .clone()
            .ok_or_else(|| bad("lastName", "lastName is required"))?;
        if self.email.is_none() && self.phone_digits.is_none() {
            return Err(bad("email", "an email or a phone is required"));
        }
        Ok(NewUser {
            first_name: first,
            last_name: last,
            email: self.email.clone(),
            mobile_phone: self.phone_digits.clone(),
            birth_date: self.date_of_birth.clone(),
            address1: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            zip: self.postal_code.clone(),
            source: Some("contactgraph".into()),
            ..NewUser::default()
        })
    }
}

/// Tags as GHL stores them: trimmed, lowercase, no repeats, none empty or over-long.
pub fn tags(field: &str, tags: &[String]) -> Result<Vec<String>, GatewayError> {
    if tags.len() > MAX_TAGS {
        return Err(bad(field, format!("give at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        printable(field, t, false)?;
        let t = t.trim().to_lowercase();
        if t.is_empty() {
            return Err(bad(field, "tags must not be empty"));
        }
        if t.chars().count() > MAX_TAG {
            return Err(bad(
                field,
                format!("a tag is longer than {MAX_TAG} characters"),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(bad(field, "give at least one tag"));
    }
    Ok(out)
}

/// A required, bounded text.
pub fn text(field: &str, v: &str) -> Result<String, GatewayError> {
    printable(field, v, true)?;
    let v = v.trim();
    if v.is_empty() {
        return Err(bad(field, format!("{field} must not be empty")));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(bad(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// An ISO-8601 instant, normalised to UTC with milliseconds.
pub fn instant(field: &str, v: &str) -> Result<String, GatewayError> {
    chrono::DateTime::parse_from_rfc3339(v.trim())
        .map(|d| d.to_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .map_err(|_| bad(field, format!("{field} must be an ISO-8601 instant")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: PersonFields) -> Result<Checked, GatewayError> {
        f.check(phonenumber::country::US)
    }

    #[test]
    fn phones_map_to_both_forms() {
        let c = check(PersonFields {
            phone: Some("(212) 555-0123".into()),
            ..PersonFields::default()
        })
        .expect("valid");
        assert_eq!(c.phone_e164.as_deref(), Some("+12125550123"));
        assert_eq!(c.phone_digits.as_deref(), Some("2125550123"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                PersonFields {
                    email: Some("nope".into()),
                    ..PersonFields::default()
                },
                "email",
            ),
            (
                PersonFields {
                    phone: Some("12".into()),
                    ..PersonFields::default()
                },
                "phone",
            ),
            (
                PersonFields {
                    date_of_birth: Some("03/07/1990".into()),
                    ..PersonFields::default()
                },
                "dateOfBirth",
            ),
            (
                PersonFields {
                    first_name: Some("x".repeat(51)),
                    ..PersonFields::default()
                },
                "firstName",
            ),
        ];
        for (fields, field) in cases {
            let e = check(fields).expect_err(field);
            assert_eq!(e.code, ErrorCode::BadUserInput);
            assert_eq!(e.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn tags_are_lowercased_and_deduplicated() {
        assert_eq!(
            tags("tags", &["VIP".into(), " vip".into(), "Trial".into()]).expect("valid"),
            vec!["vip".to_owned(), "trial".to_owned()]
        );
        assert!(tags("tags", &[]).is_err());
    }

    #[test]
    fn a_prospect_needs_names_and_a_way_to_reach_them() {
        let c = check(PersonFields {
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            ..PersonFields::default()
        })
        .expect("valid");
        assert_eq!(
            c.clubos_new().expect_err("no contact").field.as_deref(),
            Some("email")
        );
    }
}
