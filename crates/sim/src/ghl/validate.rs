//! Strict request DTOs, as GHL's NestJS validation pipe applies them: an unknown property
//! is a 422 `property X should not exist`, a wrong type or a missing required field a 422
//! with class-validator's wording, and every problem of a body is listed at once.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::{Map, Value};

use super::reply::Reject;

/// The JSON type a DTO property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Bool,
    Num,
    StrArray,
    Array,
    Object,
    /// An email address (a string with one `@` and a dot after it).
    Email,
}

/// A request body's allowed properties and which of them are required.
#[derive(Debug)]
pub struct Dto {
    /// Groups of properties (DTOs that extend another list the shared group once).
    pub fields: &'static [&'static [(&'static str, Ty)]],
    pub required: &'static [&'static str],
}

fn type_ok(v: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => v.is_string() || v.is_null(),
        Ty::Bool => v.is_boolean(),
        Ty::Num => v.is_number(),
        Ty::Array => v.is_array(),
        Ty::Object => v.is_object(),
        Ty::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Ty::Email => v.as_str().is_none_or(is_email) || v.is_null(),
    }
}

/// A loose check of an email address, like class-validator's `IsEmail` in spirit.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

fn type_message(name: &str, ty: Ty) -> String {
    match ty {
        Ty::Str => format!("{name} must be a string"),
        Ty::Bool => format!("{name} must be a boolean value"),
        Ty::Num => format!("{name} must be a number conforming to the specified constraints"),
        Ty::Array => format!("{name} must be an array"),
        Ty::Object => format!("{name} must be an object"),
        Ty::StrArray => format!("each value in {name} must be a string"),
        Ty::Email => format!("{name} must be an email"),
    }
}

impl Dto {
    fn all_fields(&self) -> impl Iterator<Item = &(&'static str, Ty)> {
        self.fields.iter().flat_map(|group| group.iter())
    }
}

/// Parses a JSON body and checks it against `dto`.
pub fn body(bytes: &Bytes, dto: &Dto) -> Result<Map<String, Value>, Reject> {
    let value: Value = if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            Reject::BadJson(format!(
                "Unexpected token in JSON at line {} column {}",
                e.line(),
                e.column()
            ))
        })?
    };
    let Value::Object(map) = value else {
        return Err(Reject::Unprocessable(vec!["body must be an object".into()]));
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        if !dto.all_fields().any(|(name, _)| name == key) {
            problems.push(format!("property {key} should not exist"));
        }
    }
    for (name, ty) in dto.all_fields() {
        match map.get(*name) {
            Some(v) if !type_ok(v, *ty) => problems.push(type_message(name, *ty)),
            None if dto.required.contains(name) => {
                problems.push(format!("{name} should not be empty"));
                problems.push(type_message(name, *ty));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(map)
    } else {
        Err(Reject::Unprocessable(problems))
    }
}

/// Checks that a query string holds only `allowed` keys (and the `required` ones).
pub fn query(
    q: &HashMap<String, String>,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), Reject> {
    let mut problems: Vec<String> = q
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("property {k} should not exist"))
        .collect();
    for r in required {
        if q.get(*r).is_none_or(String::is_empty) {
            problems.push(format!("{r} should not be empty"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort();
        Err(Reject::Unprocessable(problems))
    }
}

/// A string property, if present and not null.
pub fn str_of(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A string-array property, if present.
pub fn strs_of(map: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    map.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: Dto = Dto {
        fields: &[&[("body", Ty::Str), ("pinned", Ty::Bool)]],
        required: &["body"],
    };

    #[test]
    fn unknown_property_is_named() {
        let err = body(&Bytes::from(r#"{"body":"x","locationId":"l"}"#), &NOTE).unwrap_err();
        assert_eq!(
            err,
            Reject::Unprocessable(vec!["property locationId should not exist".into()])
        );
    }

    #[test]
    fn valid_body_passes() {
        let map = body(&Bytes::from(r#"{"body":"x","pinned":true}"#), &NOTE).unwrap();
        assert_eq!(str_of(&map, "body").as_deref(), Some("x"));
    }

    #[test]
    fn emails_are_checked_loosely() {
        assert!(is_email("a.b@example.com"));
        assert!(!is_email("a.b@example"));
        assert!(!is_email("no-at.example.com"));
        assert!(!is_email("a b@example.com"));
    }
}
