//! `POST /contacts/search`: filters (`eq`, `not_eq`, `contains`, `not_contains`, `exists`,
//! `not_exists`, `range`) in nested AND/OR groups, free-text `query`, `sort`, and paging by
//! `page` (first 10,000 records only) or by the `searchAfter` cursor of the last row.

use std::{cmp::Ordering, sync::Arc};

use axum::{Extension, body::Bytes, extract::State};
use chrono::DateTime;
use serde_json::{Map, Value, json};

use super::reply::{Reject, Reply, json_ok};
use super::{
    Caller, GhlSim,
    model::Contact,
    validate::{self, Dto, Ty, str_of},
    with_trace,
};
use crate::phone;

const SEARCH: Dto = Dto {
    fields: &[&[
        ("locationId", Ty::Str),
        ("pageLimit", Ty::Num),
        ("page", Ty::Num),
        ("searchAfter", Ty::Array),
        ("query", Ty::Str),
        ("filters", Ty::Array),
        ("sort", Ty::Array),
    ]],
    required: &["locationId", "pageLimit"],
};

/// Largest `pageLimit`.
pub const MAX_PAGE_LIMIT: u64 = 500;
/// Page-number paging reaches only this many records.
pub const PAGE_WINDOW: u64 = 10_000;
const MAX_VALUE_LEN: usize = 75;

const SORTABLE: &[&str] = &[
    "dateAdded",
    "dateUpdated",
    "firstNameLowerCase",
    "lastNameLowerCase",
    "email",
    "businessName",
    "companyName",
];

/// The value of a searchable field, in the form filters compare.
fn field(c: &Contact, name: &str) -> Result<Option<Value>, String> {
    let s = |v: &Option<String>| v.as_ref().map(|s| Value::String(s.to_lowercase()));
    let date = |v: &str| {
        DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|d| json!(d.timestamp_millis()))
    };
    Ok(match name {
        "id" => Some(json!(c.id)),
        "firstName" | "firstNameLowerCase" => s(&c.first_name),
        "lastName" | "lastNameLowerCase" => s(&c.last_name),
        "fullNameLowerCase" | "contactName" => s(&c.full_name()),
        "email" => s(&c.email),
        "phone" => c.phone.as_ref().map(|p| json!(p)),
        "companyName" | "businessName" => s(&c.company_name),
        "address1" | "address" => s(&c.address1),
        "city" => s(&c.city),
        "state" => s(&c.state),
        "postalCode" => s(&c.postal_code),
        "country" => s(&c.country),
        "source" => s(&c.source),
        "assignedTo" => c.assigned_to.as_ref().map(|v| json!(v)),
        "dateOfBirth" => c.date_of_birth.as_ref().map(|v| json!(v)),
        "dnd" => Some(json!(c.dnd)),
        "tags" => (!c.tags.is_empty()).then(|| json!(c.tags)),
        "dateAdded" => date(&c.date_added),
        "dateUpdated" => date(&c.date_updated),
        other => match other.strip_prefix("customFields.") {
            Some(id) => c
                .custom_fields
                .iter()
                .find(|(fid, _)| fid == id)
                .map(|(_, v)| v.clone()),
            None => return Err(format!("field {other} is not searchable")),
        },
    })
}

/// A filter value in the same form as [`field`] gives (lowercase text, epoch ms dates,
/// E.164 phones).
fn comparable(name: &str, v: &Value) -> Value {
    match (name, v) {
        ("phone", Value::String(p)) => {
            json!(phone::to_e164(p).unwrap_or_else(|| p.clone()))
        }
        ("dateAdded" | "dateUpdated", Value::String(d)) => DateTime::parse_from_rfc3339(d)
            .map(|d| json!(d.timestamp_millis()))
            .unwrap_or_else(|_| v.clone()),
        (_, Value::String(s)) if name != "id" && name != "assignedTo" => json!(s.to_lowercase()),
        _ => v.clone(),
    }
}

fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn matches_eq(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Array(items), Value::Array(ws)) => ws.iter().any(|w| items.contains(w)),
        (Value::Array(items), w) => items.contains(w),
        (a, Value::Array(ws)) => ws.contains(a),
        (a, w) => a == w,
    }
}

fn contains(actual: &Value, wanted: &str) -> bool {
    match actual {
        Value::String(s) => s.contains(wanted),
        Value::Array(items) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|s| s.contains(wanted))),
        other => other.to_string().contains(wanted),
    }
}

/// A parsed filter tree.
#[derive(Debug)]
enum Filter {
    Cond {
        field: String,
        op: String,
        value: Option<Value>,
    },
    Group {
        or: bool,
        filters: Vec<Filter>,
    },
}

fn parse_filters(items: &[Value], path: &str, problems: &mut Vec<String>) -> Vec<Filter> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}.{i}");
        let Some(obj) = item.as_object() else {
            problems.push(format!("{at} must be an object"));
            continue;
        };
        if let Some(group) = obj.get("group") {
            let or = match group.as_str() {
                Some("AND") => false,
                Some("OR") => true,
                _ => {
                    problems.push(format!(
                        "{at}.group must be one of the following values: AND, OR"
                    ));
                    continue;
                }
            };
            let inner = obj.get("filters").and_then(Value::as_array);
            let Some(inner) = inner else {
                problems.push(format!("{at}.filters must be an array"));
                continue;
            };
            out.push(Filter::Group {
                or,
                filters: parse_filters(inner, &format!("{at}.filters"), problems),
            });
            continue;
        }
        let (Some(field_name), Some(op)) = (
            obj.get("field").and_then(Value::as_str),
            obj.get("operator").and_then(Value::as_str),
        ) else {
            problems.push(format!("{at} must have a field and an operator"));
            continue;
        };
        let value = obj.get("value").cloned();
        let ok = match op {
            "eq" | "not_eq" => value.is_some(),
            "contains" | "not_contains" => value.as_ref().is_some_and(|v| {
                v.as_str().is_some_and(|s| {
                    s.chars()
                        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
                })
            }),
            "exists" | "not_exists" => value.is_none(),
            "range" => value.as_ref().is_some_and(|v| {
                v.as_object().is_some_and(|m| {
                    !m.is_empty()
                        && m.keys()
                            .all(|k| matches!(k.as_str(), "gt" | "gte" | "lt" | "lte"))
                })
            }),
            _ => {
                problems.push(format!(
                    "{at}.operator must be one of the following values: eq, not_eq, contains, not_contains, exists, not_exists, range"
                ));
                continue;
            }
        };
        if !ok {
            problems.push(format!("{at}.value is not valid for operator {op}"));
            continue;
        }
        if value
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|s| s.chars().count() > MAX_VALUE_LEN)
        {
            problems.push(format!(
                "{at}.value must be shorter than or equal to {MAX_VALUE_LEN} characters"
            ));
        }
        if let Err(e) = field(&Contact::default(), field_name) {
            problems.push(format!("{at}.{e}"));
        }
        out.push(Filter::Cond {
            field: field_name.to_owned(),
            op: op.to_owned(),
            value,
        });
    }
    out
}

fn eval(f: &Filter, c: &Contact) -> bool {
    match f {
        Filter::Group { or: true, filters } => filters.iter().any(|f| eval(f, c)),
        Filter::Group { or: false, filters } => filters.iter().all(|f| eval(f, c)),
        Filter::Cond {
            field: name,
            op,
            value,
        } => {
            let actual = field(c, name).ok().flatten();
            let wanted = value.as_ref().map(|v| match v {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|i| comparable(name, i)).collect())
                }
                other => comparable(name, other),
            });
            match (op.as_str(), actual, wanted) {
                ("exists", a, _) => a.is_some(),
                ("not_exists", a, _) => a.is_none(),
                ("eq", Some(a), Some(w)) => matches_eq(&a, &w),
                ("eq", None, _) => false,
                ("not_eq", Some(a), Some(w)) => !matches_eq(&a, &w),
                ("not_eq", None, _) => true,
                ("contains", Some(a), Some(Value::String(w))) => contains(&a, &w),
                ("not_contains", Some(a), Some(Value::String(w))) => !contains(&a, &w),
                ("not_contains", None, _) => true,
                ("range", Some(a), Some(Value::Object(bounds))) => bounds.iter().all(|(k, b)| {
                    let o = order(&a, &comparable(name, b));
                    match k.as_str() {
                        "gt" => o == Ordering::Greater,
                        "gte" => o != Ordering::Less,
                        "lt" => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    }
                }),
                _ => false,
            }
        }
    }
}

fn matches_query(c: &Contact, q: &str) -> bool {
    let q = q.to_lowercase();
    [
        c.full_name(),
        c.email.clone(),
        c.phone.clone(),
        c.company_name.clone(),
    ]
    .iter()
    .flatten()
    .any(|v| v.to_lowercase().contains(&q))
        || c.tags.iter().any(|t| t.contains(&q))
}

fn sort_spec(items: &[Value], problems: &mut Vec<String>) -> Vec<(String, bool)> {
    let mut spec = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let name = s.get("field").and_then(Value::as_str).unwrap_or_default();
        let desc = match s.get("direction").and_then(Value::as_str) {
            Some("asc") | None => false,
            Some("desc") => true,
            Some(_) => {
                problems.push(format!(
                    "sort.{i}.direction must be one of the following values: asc, desc"
                ));
                continue;
            }
        };
        if !SORTABLE.contains(&name) {
            problems.push(format!(
                "sort.{i}.field must be one of the following values: {}",
                SORTABLE.join(", ")
            ));
            continue;
        }
        spec.push((name.to_owned(), desc));
    }
    if spec.is_empty() {
        spec.push(("dateAdded".into(), true));
    }
    spec
}

/// The sort key of a row; the last element (insertion number) breaks ties.
fn sort_key(c: &Contact, spec: &[(String, bool)]) -> Vec<Value> {
    spec.iter()
        .map(|(f, _)| field(c, f).ok().flatten().unwrap_or(Value::Null))
        .chain(std::iter::once(json!(c.seq)))
        .collect()
}

fn cmp_keys(a: &[Value], b: &[Value], spec: &[(String, bool)]) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let desc = spec.get(i).is_some_and(|(_, d)| *d);
        let o = order(x, y);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn as_u64(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key)
        .and_then(Value::as_f64)
        .map(|f| f.max(0.0) as u64)
}

/// `POST /contacts/search` → `{contacts, total, traceId}`.
pub async fn search(
    State(sim): State<Arc<GhlSim>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Reply {
    let map = validate::body(&body, &SEARCH)?;
    if str_of(&map, "locationId").as_deref() != Some(caller.location_id.as_str()) {
        return Err(Reject::Forbidden);
    }
    let mut problems = Vec::new();
    let limit = as_u64(&map, "pageLimit").unwrap_or(0);
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        problems.push(format!("pageLimit must be between 1 and {MAX_PAGE_LIMIT}"));
    }
    let page = as_u64(&map, "page");
    let after = map.get("searchAfter").and_then(Value::as_array).cloned();
    if page.is_some() && after.is_some() {
        problems.push("page should not be sent with searchAfter".into());
    }
    if page == Some(0) {
        problems.push("page must not be less than 1".into());
    }
    if str_of(&map, "query").is_some_and(|q| q.chars().count() > MAX_VALUE_LEN) {
        problems.push(format!(
            "query must be shorter than or equal to {MAX_VALUE_LEN} characters"
        ));
    }
    let filters = parse_filters(
        map.get("filters")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice),
        "filters",
        &mut problems,
    );
    let spec = sort_spec(
        map.get("sort")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(Reject::Unprocessable(problems));
    }
    let page = page.unwrap_or(1);
    if after.is_none() && page * limit > PAGE_WINDOW {
        return Err(Reject::BadRequest(format!(
            "Page based pagination is limited to {PAGE_WINDOW} records, use searchAfter to fetch more"
        )));
    }
    let query = str_of(&map, "query").filter(|q| !q.is_empty());
    let indexed_until = indexed_until(sim.config().search_lag_ms);
    let store = sim.store();
    let mut rows: Vec<(Vec<Value>, &Contact)> = store
        .contacts
        .values()
        .filter(|c| c.location_id == caller.location_id)
        .filter(|c| {
            indexed_until
                .as_deref()
                .is_none_or(|until| c.date_added.as_str() <= until)
        })
        .filter(|c| query.as_deref().is_none_or(|q| matches_query(c, q)))
        .filter(|c| filters.iter().all(|f| eval(f, c)))
        .map(|c| (sort_key(c, &spec), c))
        .collect();
    rows.sort_by(|a, b| cmp_keys(&a.0, &b.0, &spec));
    let total = rows.len();
    let start = match &after {
        Some(cursor) => rows
            .iter()
            .position(|(k, _)| cmp_keys(k, cursor, &spec) == Ordering::Greater)
            .unwrap_or(total),
        None => usize::try_from((page - 1) * limit)
            .unwrap_or(usize::MAX)
            .min(total),
    };
    let contacts: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(k, c)| c.search_json(Value::Array(k.clone())))
        .collect();
    json_ok(with_trace(json!({"contacts": contacts, "total": total})))
}

/// The latest `dateAdded` the search index holds with a lag of `lag_ms` (none: no lag;
/// empty: a lag beyond every date, nothing indexed).
/// Both sides are the same ISO format, so they compare as text.
fn indexed_until(lag_ms: u64) -> Option<String> {
    (lag_ms > 0).then(|| {
        let lag = chrono::Duration::try_milliseconds(i64::try_from(lag_ms).unwrap_or(i64::MAX))
            .unwrap_or(chrono::Duration::MAX);
        chrono::Utc::now()
            .checked_sub_signed(lag)
            .map_or_else(String::new, crate::seed::iso_ms)
    })
}
