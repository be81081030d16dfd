//! Contract tests against GHL's official OpenAPI spec (copies in `tests/fixtures/ghl-openapi`):
//!
//! - every API route the GHL simulator serves is called over HTTP with a realistic request,
//!   and its JSON answer is validated against the schema the spec declares for that path,
//!   method and status (and the status itself is checked);
//! - every request body the GHL client sends (`src/upstream/ghl/models.rs`) is serialized and
//!   validated against the spec's request schema, strictly: GHL answers 422 to any property a
//!   DTO does not declare (ghl-api.md §3), so undeclared properties fail here too.
//!
//! Where the spec is empty or wrong, the check is not skipped: [`SPEC_FIXES`] corrects single
//! spec schemas and [`REFERENCE_SCHEMAS`] replaces whole ones with schemas written from
//! `ghl-api.md`, each with its reason; `spec_exceptions_still_point_at_real_spec_gaps` fails
//! once the published spec no longer needs one of them.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

use contactgraph::{
    sim::{
        SimServer, World,
        admin::StatsSnapshot,
        ghl::{self, GhlSim, GhlSimConfig, tokens},
        seed,
    },
    upstream::ghl::{
        VERSION_CALENDARS, VERSION_CONTACTS,
        models::{
            AppointmentPatch, BulkTagsRequest, ContactPatch, CustomFieldWrite, FilterOp,
            NewAppointment, NewContact, NewTask, NoteWrite, SearchFilter, SearchRequest,
            SearchSort, SortDirection, TaskPatch, TaskSearch,
        },
    },
};
use serde::Serialize;
use serde_json::{Value, json};

const SEED: u64 = 42;
const PEOPLE: usize = 60;
const LOCATION: &str = seed::GHL_LOCATION_ID;

/// Every API route of the simulator's router (`crates/sim/src/ghl/mod.rs`, `/_sim/*` excluded), with
/// the success status GHL answers it with (ghl-api.md §4–§7 and §2.3; the spec agrees, see
/// `documented_success_statuses_match_the_spec`).
const ROUTES: [(&str, u16); 29] = [
    ("POST /contacts/", 201),
    ("POST /contacts/upsert", 200),
    ("POST /contacts/search", 200),
    ("GET /contacts/search/duplicate", 200),
    ("POST /contacts/bulk/tags/update/{type}", 201),
    ("GET /contacts/{contactId}", 200),
    ("PUT /contacts/{contactId}", 200),
    ("DELETE /contacts/{contactId}", 200),
    ("POST /contacts/{contactId}/tags", 201),
    ("DELETE /contacts/{contactId}/tags", 200),
    ("GET /contacts/{contactId}/tasks", 200),
    ("POST /contacts/{contactId}/tasks", 201),
    ("GET /contacts/{contactId}/tasks/{taskId}", 200),
    ("PUT /contacts/{contactId}/tasks/{taskId}", 200),
    ("DELETE /contacts/{contactId}/tasks/{taskId}", 200),
    ("PUT /contacts/{contactId}/tasks/{taskId}/completed", 200),
    ("POST /locations/{locationId}/tasks/search", 200),
    ("GET /contacts/{contactId}/notes", 200),
    ("POST /contacts/{contactId}/notes", 201),
    ("GET /contacts/{contactId}/notes/{id}", 200),
    ("PUT /contacts/{contactId}/notes/{id}", 200),
    ("DELETE /contacts/{contactId}/notes/{id}", 200),
    ("GET /contacts/{contactId}/appointments", 200),
    // The spec says 200 (not 201) for creating an appointment.
    ("POST /calendars/events/appointments", 200),
    ("GET /calendars/events/appointments/{eventId}", 200),
    ("PUT /calendars/events/appointments/{eventId}", 200),
    // ... and 201 (not 200) for deleting an event.
    ("DELETE /calendars/events/{eventId}", 201),
    ("GET /locations/{locationId}/customFields", 200),
    ("POST /oauth/token", 200),
];

fn success_status(route: &str) -> u16 {
    ROUTES
        .iter()
        .find(|(r, _)| *r == route)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{route} is not in ROUTES"))
}

// ---------------------------------------------------------------------------------------
// The spec files
// ---------------------------------------------------------------------------------------

/// One official spec file (`apps/<name>.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Api {
    Contacts,
    Locations,
    Calendars,
    OAuth,
}

impl Api {
    const ALL: [Api; 4] = [Api::Contacts, Api::Locations, Api::Calendars, Api::OAuth];

    fn file(self) -> &'static str {
        match self {
            Api::Contacts => "contacts.json",
            Api::Locations => "locations.json",
            Api::Calendars => "calendars.json",
            Api::OAuth => "oauth.json",
        }
    }

    /// The spec file that documents a path.
    fn of(path: &str) -> Api {
        if path.starts_with("/calendars/") {
            Api::Calendars
        } else if path.starts_with("/locations/") {
            Api::Locations
        } else if path.starts_with("/oauth/") {
            Api::OAuth
        } else {
            Api::Contacts
        }
    }

    /// The `Version` header the endpoints of this file declare (ghl-api.md §1), which is
    /// also what the client sends.
    fn version(self) -> Option<&'static str> {
        match self {
            Api::Contacts | Api::Locations => Some(VERSION_CONTACTS),
            Api::Calendars => Some(VERSION_CALENDARS),
            Api::OAuth => None,
        }
    }
}

struct Specs {
    /// The files as published.
    raw: BTreeMap<Api, Value>,
    /// The files with [`SPEC_FIXES`] applied.
    fixed: BTreeMap<Api, Value>,
    /// `common/common-schemas.json` `components.schemas` (the 400/401/422 bodies).
    common: Value,
}

/// `apps/` of the spec copies in `tests/fixtures/ghl-openapi` (see its SOURCE.md), or
/// `$GHL_OPENAPI_DIR` to check against another snapshot.
fn spec_dir() -> PathBuf {
    std::env::var("GHL_OPENAPI_DIR").map_or_else(
        |_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/ghl-openapi/apps"
            ))
        },
        PathBuf::from,
    )
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn specs() -> &'static Specs {
    static SPECS: OnceLock<Specs> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dir = spec_dir();
        let raw: BTreeMap<Api, Value> = Api::ALL
            .iter()
            .map(|&api| (api, read_json(dir.join(api.file()))))
            .collect();
        let mut fixed = raw.clone();
        for fix in SPEC_FIXES {
            let slot = fixed
                .get_mut(&fix.api)
                .and_then(|doc| doc.pointer_mut(fix.pointer))
                .unwrap_or_else(|| panic!("spec fix target {} is gone", fix.pointer));
            *slot = serde_json::from_str(fix.replacement).expect("fix replacement is JSON");
        }
        let common =
            read_json(dir.join("../common/common-schemas.json"))["components"]["schemas"].clone();
        Specs { raw, fixed, common }
    })
}

/// `paths[path][method]` of the (fixed) spec; a route the spec does not document is a
/// finding in itself.
fn operation(method: &str, path: &str) -> &'static Value {
    let op = &specs().fixed[&Api::of(path)]["paths"][path][method.to_lowercase()];
    assert!(
        op.is_object(),
        "{} documents no {method} {path}",
        Api::of(path).file()
    );
    op
}

/// The `Version` value an operation declares, if any.
fn declared_version(op: &Value) -> Option<String> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == "Version" && p["in"] == "header")
        .and_then(|p| p["schema"]["enum"][0].as_str())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// Where the spec is wrong or empty
// ---------------------------------------------------------------------------------------

/// One spec schema replaced because the spec contradicts itself and ghl-api.md.
struct SpecFix {
    api: Api,
    /// JSON pointer into the spec file.
    pointer: &'static str,
    /// The corrected schema (OpenAPI 3.0 JSON).
    replacement: &'static str,
    why: &'static str,
}

const DATE_OF_BIRTH_WHY: &str = "the spec types dateOfBirth as `object`, but its own example is \
     \"1990-09-25\" and its description lists string formats (YYYY-MM-DD, MM/DD/YYYY, ...); \
     ghl-api.md §4.3: it is a date string";
const EVENT_TIME_WHY: &str = "CalendarEventDTO types startTime/endTime/dateAdded/dateUpdated as \
     `object`, but every example is an ISO string with offset; ghl-api.md §7.2: ISO strings";

const SPEC_FIXES: &[SpecFix] = &[
    SpecFix {
        api: Api::Contacts,
        pointer: "/components/schemas/CreateContactDto/properties/dateOfBirth",
        replacement: r#"{"type": "string", "nullable": true}"#,
        why: DATE_OF_BIRTH_WHY,
    },
    SpecFix {
        api: Api::Contacts,
        pointer: "/components/schemas/UpsertContactDto/properties/dateOfBirth",
        replacement: r#"{"type": "string", "nullable": true}"#,
        why: DATE_OF_BIRTH_WHY,
    },
    SpecFix {
        api: Api::Contacts,
        pointer: "/components/schemas/UpdateContactDto/properties/dateOfBirth",
        replacement: r#"{"type": "string", "nullable": true}"#,
        why: DATE_OF_BIRTH_WHY,
    },
    SpecFix {
        api: Api::Contacts,
        pointer: "/components/schemas/UpdateTagsResponseDTO/properties/responses/items",
        replacement: r#"{
            "type": "object",
            "required": ["contactId", "message", "type"],
            "properties": {
                "contactId": {"type": "string"},
                "message": {"type": "string"},
                "type": {"type": "string", "enum": ["success", "error"]},
                "oldTags": {"type": "array", "items": {"type": "string"}},
                "tagsAdded": {"type": "array", "items": {"type": "string"}},
                "tagsRemoved": {"type": "array", "items": {"type": "string"}}
            }
        }"#,
        why: "UpdateTagsResponseDTO types the `responses` items as strings, while its own \
              example (and the v3 spec's) shows objects {contactId, message, type, oldTags, \
              tagsAdded, tagsRemoved}; ghl-api.md §4.8 documents the objects",
    },
    SpecFix {
        api: Api::Calendars,
        pointer: "/components/schemas/CalendarEventDTO/properties/startTime",
        replacement: r#"{"type": "string"}"#,
        why: EVENT_TIME_WHY,
    },
    SpecFix {
        api: Api::Calendars,
        pointer: "/components/schemas/CalendarEventDTO/properties/endTime",
        replacement: r#"{"type": "string"}"#,
        why: EVENT_TIME_WHY,
    },
    SpecFix {
        api: Api::Calendars,
        pointer: "/components/schemas/CalendarEventDTO/properties/dateAdded",
        replacement: r#"{"type": "string"}"#,
        why: EVENT_TIME_WHY,
    },
    SpecFix {
        api: Api::Calendars,
        pointer: "/components/schemas/CalendarEventDTO/properties/dateUpdated",
        replacement: r#"{"type": "string"}"#,
        why: EVENT_TIME_WHY,
    },
];

/// A request body or a response of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Request,
    Response(u16),
}

/// A whole schema written from ghl-api.md, used instead of the spec's.
struct ReferenceSchema {
    method: &'static str,
    path: &'static str,
    part: Part,
    /// The spec file whose `components` the schema may `$ref`.
    components: Api,
    /// A JSON Schema 2020-12 document (no OpenAPI conversion is applied to it).
    schema: fn() -> Value,
    why: &'static str,
    /// Whether the published spec still lacks this schema (given the spec's schema there,
    /// `$ref` resolved, or `None` when it declares none).
    spec_lacks_it: fn(Option<&Value>) -> bool,
}

const REFERENCE_SCHEMAS: &[ReferenceSchema] = &[
    ReferenceSchema {
        method: "POST",
        path: "/contacts/search",
        part: Part::Request,
        components: Api::Contacts,
        schema: search_body_schema,
        why: "§4.5: the spec's body (SearchBodyV2DTO) is an empty object; locationId and \
              pageLimit (≤ 500) are required, plus page | searchAfter, query, filters, sort",
        spec_lacks_it: |s| {
            s.is_none_or(|s| s["properties"].as_object().is_none_or(|p| p.is_empty()))
        },
    },
    ReferenceSchema {
        method: "POST",
        path: "/contacts/search",
        part: Part::Response(200),
        components: Api::Contacts,
        schema: search_response_schema,
        why: "§4.5: the spec declares no response body; {contacts, total, traceId}, each row \
              with its searchAfter cursor",
        spec_lacks_it: |s| s.is_none(),
    },
    ReferenceSchema {
        method: "GET",
        path: "/contacts/search/duplicate",
        part: Part::Response(200),
        components: Api::Contacts,
        schema: duplicate_response_schema,
        why: "§4.7: the spec declares no response body; {contact} with the contact's read \
              shape, or a null contact when nothing matches",
        spec_lacks_it: |s| s.is_none(),
    },
    ReferenceSchema {
        method: "POST",
        path: "/locations/{locationId}/tasks/search",
        part: Part::Response(200),
        components: Api::Contacts,
        schema: task_search_response_schema,
        why: "§5: the spec's items are malformed (`{\"type\": \"array\"}`, an array of \
              arrays); the items are tasks (contacts.json TaskSchema) that carry contactId",
        spec_lacks_it: |s| {
            s.is_none_or(|s| s["properties"]["tasks"]["items"] == json!({"type": "array"}))
        },
    },
];

/// Path parameters a route uses that its operation does not declare.
const UNDECLARED_PATH_PARAMS: &[(&str, &str, &str)] = &[(
    "POST /contacts/bulk/tags/update/{type}",
    "type",
    "ghl-api.md §4.8: `{type}` (add | remove) is not declared in the spec's parameters; it is \
     implied by the removeAllTags note",
)];

/// The `{name}`s of a path template.
fn path_params(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

/// Whether an operation declares a parameter.
fn declares(op: &Value, location: &str, name: &str) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == location && p["name"] == name))
}

/// §4.5 search body.
fn search_body_schema() -> Value {
    json!({
        "type": "object",
        "required": ["locationId", "pageLimit"],
        "additionalProperties": false,
        "properties": {
            "locationId": {"type": "string", "minLength": 1},
            "pageLimit": {"type": "integer", "minimum": 1, "maximum": 500},
            "page": {"type": "integer", "minimum": 1},
            "searchAfter": {"type": "array", "minItems": 1},
            "query": {"type": "string", "maxLength": 75},
            "filters": {"type": "array", "items": {"$ref": "#/$defs/filter"}},
            "sort": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "direction"],
                    "additionalProperties": false,
                    "properties": {
                        "field": {"type": "string", "minLength": 1},
                        "direction": {"enum": ["asc", "desc"]}
                    }
                }
            }
        },
        // "do not send page with searchAfter"
        "not": {"required": ["page", "searchAfter"]},
        "$defs": {
            "filter": {"oneOf": [{"$ref": "#/$defs/condition"}, {"$ref": "#/$defs/group"}]},
            "condition": {
                "type": "object",
                "required": ["field", "operator"],
                "additionalProperties": false,
                "properties": {
                    "field": {"type": "string", "minLength": 1},
                    "operator": {"enum": [
                        "eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"
                    ]},
                    "value": {"maxLength": 75}
                },
                "allOf": [
                    {
                        "if": {"properties": {"operator": {"enum": ["exists", "not_exists"]}}},
                        "then": {"not": {"required": ["value"]}},
                        "else": {"required": ["value"]}
                    },
                    {
                        "if": {"properties": {"operator": {"const": "range"}}},
                        "then": {"properties": {"value": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": false,
                            "properties": {"gt": {}, "gte": {}, "lt": {}, "lte": {}}
                        }}}
                    },
                    {
                        "if": {"properties": {"operator": {"enum": ["contains", "not_contains"]}}},
                        "then": {"properties": {"value": {"type": "string"}}}
                    }
                ]
            },
            "group": {
                "type": "object",
                "required": ["group", "filters"],
                "additionalProperties": false,
                "properties": {
                    "group": {"enum": ["AND", "OR"]},
                    "filters": {"type": "array", "items": {"$ref": "#/$defs/filter"}}
                }
            }
        }
    })
}

/// §4.5 search answer: the slimmer contact row, with `searchAfter`.
fn search_response_schema() -> Value {
    let mut row = serde_json::Map::new();
    for text in [
        "id",
        "locationId",
        "firstName",
        "lastName",
        "firstNameLowerCase",
        "lastNameLowerCase",
        "email",
        "phone",
        "phoneLabel",
        "companyName",
        "businessName",
        "address",
        "city",
        "state",
        "country",
        "source",
        "type",
        "dateAdded",
        "dateUpdated",
        "dateOfBirth",
        "assignedTo",
    ] {
        row.insert(text.into(), json!({"type": "string"}));
    }
    row.insert("dnd".into(), json!({"type": "boolean"}));
    row.insert("validEmail".into(), json!({"type": "boolean"}));
    row.insert(
        "tags".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    for list in ["followers", "additionalEmails", "additionalPhones"] {
        row.insert(list.into(), json!({"type": "array"}));
    }
    row.insert(
        "customFields".into(),
        json!({"type": "array", "items": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "value": {"type": ["string", "number", "array", "object"]}
            }
        }}),
    );
    row.insert(
        "searchAfter".into(),
        json!({"type": "array", "minItems": 1}),
    );
    json!({
        "type": "object",
        "required": ["contacts", "total"],
        "properties": {
            "contacts": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "locationId", "searchAfter"],
                "properties": row
            }},
            "total": {"type": "integer", "minimum": 0},
            "traceId": {"type": "string"}
        }
    })
}

/// §4.7 duplicate lookup answer.
fn duplicate_response_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "contact": {"anyOf": [
                {"$ref": "#/components/schemas/GetContectByIdSchema"},
                {"type": "null"}
            ]}
        }
    })
}

/// §5 location-wide task search answer.
fn task_search_response_schema() -> Value {
    json!({
        "type": "object",
        "required": ["tasks"],
        "properties": {
            "tasks": {"type": "array", "items": {
                "allOf": [{"$ref": "#/components/schemas/TaskSchema"}],
                "required": ["id", "contactId"]
            }}
        }
    })
}

// ---------------------------------------------------------------------------------------
// From the spec to a validator
// ---------------------------------------------------------------------------------------

/// The schema a body must match, and where it comes from.
struct Contract {
    schema: Value,
    components: Api,
    origin: String,
    /// OpenAPI 3.0 (converted before use) rather than a hand-written JSON Schema.
    from_spec: bool,
}

fn media_type(part: Part, method: &str, path: &str) -> &'static str {
    if part == Part::Request && method == "POST" && path == "/oauth/token" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    }
}

/// The spec's schema for a part of an operation, as published or fixed.
fn spec_schema(fixed: bool, method: &str, path: &str, part: Part) -> Option<&'static Value> {
    let specs = specs();
    let doc = if fixed { &specs.fixed } else { &specs.raw };
    let op = &doc[&Api::of(path)]["paths"][path][method.to_lowercase()];
    let media = media_type(part, method, path);
    let schema = match part {
        Part::Request => &op["requestBody"]["content"][media]["schema"],
        Part::Response(status) => &op["responses"][status.to_string()]["content"][media]["schema"],
    };
    (!schema.is_null()).then_some(schema)
}

/// Follows `$ref`s within one spec file (and into the common error schemas).
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema["$ref"].as_str() {
        schema = match r.strip_prefix(COMMON_REF) {
            Some(name) => &specs().common[name],
            None => doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}")),
        };
    }
    schema
}

fn contract(method: &str, path: &str, part: Part) -> Contract {
    if let Some(r) = REFERENCE_SCHEMAS
        .iter()
        .find(|r| r.method == method && r.path == path && r.part == part)
    {
        return Contract {
            schema: (r.schema)(),
            components: r.components,
            origin: format!("ghl-api.md schema ({})", r.why),
            from_spec: false,
        };
    }
    let schema = spec_schema(true, method, path, part).unwrap_or_else(|| {
        panic!(
            "{} declares no {} schema for the {part:?} of {method} {path}: add a REFERENCE_SCHEMAS \
             entry written from ghl-api.md",
            Api::of(path).file(),
            media_type(part, method, path)
        )
    });
    let name = schema["$ref"]
        .as_str()
        .map_or("inline schema", |r| r.rsplit('/').next().unwrap_or(r));
    Contract {
        schema: schema.clone(),
        components: Api::of(path),
        origin: format!("{} {name}", Api::of(path).file()),
        from_spec: true,
    }
}

const COMMON_REF: &str = "../common/common-schemas.json#/components/schemas/";

/// OpenAPI 3.0 schema → JSON Schema 2020-12: `nullable: true` becomes a `null` type,
/// `example(s)` go (annotations only; `format` stays, and is not asserted). With `strict`,
/// objects reject properties they do not declare, as GHL's DTO validation does.
fn to_json_schema(schema: &mut Value, strict: bool) {
    let Value::Object(m) = schema else { return };
    m.remove("example");
    m.remove("examples");
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(children)) = m.get_mut(key) {
            children
                .values_mut()
                .for_each(|c| to_json_schema(c, strict));
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = m.get_mut(key) {
            to_json_schema(child, strict);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = m.get_mut(key) {
            children.iter_mut().for_each(|c| to_json_schema(c, strict));
        }
    }
    if strict && m.contains_key("properties") && !m.contains_key("additionalProperties") {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    if m.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(Value::Array(choices)) = m.get_mut("enum") {
            choices.push(Value::Null);
        }
        match m.get("type").cloned() {
            Some(Value::String(t)) => {
                m.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(mut types)) => {
                types.push(json!("null"));
                m.insert("type".into(), Value::Array(types));
            }
            _ => {
                let inner = std::mem::take(m);
                *schema = json!({"anyOf": [inner, {"type": "null"}]});
            }
        }
    }
}

/// Points the spec's `../common/common-schemas.json#/...` refs at a local copy.
fn localise_common_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::String(r) if k == "$ref" => {
                        if let Some(name) = r.strip_prefix(COMMON_REF) {
                            *r = format!("#/components/x-common/{name}");
                        }
                    }
                    _ => localise_common_refs(child),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(localise_common_refs),
        _ => {}
    }
}

/// A validator for a contract: the schema at the root of a document that also holds the
/// spec file's `components` (so `#/components/schemas/X` resolves) and the common schemas.
fn compile(c: &Contract, strict: bool) -> jsonschema::Validator {
    let specs = specs();
    let mut components = specs.fixed[&c.components]["components"].clone();
    components["x-common"] = specs.common.clone();
    for section in ["schemas", "x-common"] {
        if let Some(Value::Object(schemas)) = components.get_mut(section) {
            schemas.values_mut().for_each(|s| to_json_schema(s, strict));
        }
    }
    let mut root = c.schema.clone();
    if c.from_spec {
        to_json_schema(&mut root, strict);
    }
    let Value::Object(mut doc) = root else {
        panic!("{}: the schema is not an object", c.origin)
    };
    doc.insert("components".into(), components);
    let mut doc = Value::Object(doc);
    localise_common_refs(&mut doc);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&doc)
        .unwrap_or_else(|e| panic!("{}: the schema does not compile: {e}", c.origin))
}

/// Every violation of `instance` against the contract, one line each.
fn violations(c: &Contract, strict: bool, instance: &Value) -> Vec<String> {
    compile(c, strict)
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{e} (at `{}`)", if at.is_empty() { "/" } else { &at })
        })
        .collect()
}

/// The top-level properties a contract's root schema declares (empty = any).
fn declared_properties(c: &Contract) -> BTreeSet<String> {
    let doc = &specs().fixed[&c.components];
    let root = if c.from_spec {
        resolve(doc, &c.schema)
    } else {
        &c.schema
    };
    root["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Calling the simulator
// ---------------------------------------------------------------------------------------

/// One simulator, an HTTP client, and the violations found so far (all are reported at
/// the end rather than stopping at the first).
struct Ctx {
    _server: SimServer,
    base: String,
    http: reqwest::Client,
    failures: Mutex<Vec<String>>,
    /// `METHOD /template` of every call answered with its success status and checked.
    checked: Mutex<BTreeSet<String>>,
}

impl Ctx {
    async fn start() -> Self {
        let sim = Arc::new(GhlSim::new(SEED, PEOPLE, GhlSimConfig::default()));
        let server = SimServer::start("127.0.0.1:0".parse().expect("address"), ghl::router(sim))
            .await
            .expect("the GHL simulator starts");
        Self {
            base: server.url(),
            _server: server,
            http: reqwest::Client::new(),
            failures: Mutex::new(Vec::new()),
            checked: Mutex::new(BTreeSet::new()),
        }
    }

    fn fail(&self, message: String) {
        eprintln!("contract violation: {message}");
        self.failures.lock().expect("failures lock").push(message);
    }

    /// Checks a body the client sends against the request contract of its route.
    fn check_request(&self, method: &str, path: &str, body: &Value) {
        let c = contract(method, path, Part::Request);
        for v in violations(&c, true, body) {
            self.fail(format!("{method} {path} request body vs {}: {v}", c.origin));
        }
    }

    fn req(&self, method: &'static str, template: &'static str) -> Req<'_> {
        Req {
            ctx: self,
            method,
            template,
            path: template.to_owned(),
            query: Vec::new(),
            body: None,
            form: None,
            check_body: true,
            status: success_status(&format!("{method} {template}")),
            envelope: &[],
            allow_extra: &[],
            version: true,
            token: tokens::LOCATION.to_owned(),
        }
    }

    async fn stats(&self) -> StatsSnapshot {
        self.http
            .get(format!("{}/_sim/stats", self.base))
            .send()
            .await
            .expect("stats answer")
            .json()
            .await
            .expect("stats are JSON")
    }

    fn assert_clean(&self) {
        let failures = self.failures.lock().expect("failures lock");
        assert!(
            failures.is_empty(),
            "{} contract violation(s):\n- {}",
            failures.len(),
            failures.join("\n- ")
        );
    }
}

/// One call, described by its route template; `send` validates request and answer.
struct Req<'c> {
    ctx: &'c Ctx,
    method: &'static str,
    template: &'static str,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    form: Option<Vec<(String, String)>>,
    check_body: bool,
    status: u16,
    /// Top-level properties ghl-api.md says the answer carries (the spec rarely marks
    /// anything required).
    envelope: &'static [&'static str],
    /// Top-level properties allowed beyond those the schema declares.
    allow_extra: &'static [&'static str],
    version: bool,
    token: String,
}

impl Req<'_> {
    /// Fills the template's `{param}` segments, in order.
    fn params<S: AsRef<str>>(mut self, values: &[S]) -> Self {
        let mut values = values.iter();
        self.path = self
            .template
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    values
                        .next()
                        .unwrap_or_else(|| panic!("too few params for {}", self.template))
                        .as_ref()
                        .to_owned()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        self
    }

    fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self
    }

    fn body(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).expect("body serializes"));
        self
    }

    /// A body that is wrong on purpose (error cases): sent without checking it.
    fn invalid_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self.check_body = false;
        self
    }

    fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.form = Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self
    }

    fn envelope(mut self, keys: &'static [&'static str]) -> Self {
        self.envelope = keys;
        self
    }

    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn allow_extra(mut self, keys: &'static [&'static str]) -> Self {
        self.allow_extra = keys;
        self
    }

    fn without_version(mut self) -> Self {
        self.version = false;
        self
    }

    fn token(mut self, token: &str) -> Self {
        token.clone_into(&mut self.token);
        self
    }

    async fn send(self) -> Value {
        let ctx = self.ctx;
        let route = format!("{} {}", self.method, self.template);
        let op = operation(self.method, self.template);
        let api = Api::of(self.template);
        let url = format!("{}{}", ctx.base, self.path);
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).expect("method");
        let mut rb = ctx.http.request(method, url);

        let declared = declared_version(op);
        if declared.as_deref() != api.version() {
            ctx.fail(format!(
                "{route}: the spec declares Version {declared:?}, ghl-api.md §1 and the client use {:?}",
                api.version()
            ));
        }
        if let Some(v) = declared.filter(|_| self.version) {
            rb = rb.header("Version", v);
        }
        if api != Api::OAuth {
            rb = rb.bearer_auth(&self.token);
        }
        self.check_query(op, &route);
        for name in path_params(self.template) {
            let excused = UNDECLARED_PATH_PARAMS
                .iter()
                .any(|(r, n, _)| *r == route && *n == name);
            if !declares(op, "path", name) && !excused {
                ctx.fail(format!(
                    "{route}: path parameter {name} is not declared by the spec"
                ));
            }
        }
        if !self.query.is_empty() {
            rb = rb.query(&self.query);
        }
        if let Some(body) = &self.body {
            if self.check_body {
                ctx.check_request(self.method, self.template, body);
            }
            rb = rb.json(body);
        }
        if let Some(form) = &self.form {
            let as_json: serde_json::Map<String, Value> = form
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            ctx.check_request(self.method, self.template, &Value::Object(as_json));
            rb = rb.form(form);
        }

        let resp = rb.send().await.expect("the simulator answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.expect("a body");
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            ctx.fail(format!("{route} ({status}): the body is not JSON: {text}"));
            return Value::Null;
        };
        if status != self.status {
            ctx.fail(format!(
                "{route}: answered {status}, the spec/ghl-api.md say {}; body {text}",
                self.status
            ));
            return body;
        }
        if !content_type.starts_with("application/json") {
            ctx.fail(format!(
                "{route}: Content-Type {content_type:?}, the spec says application/json"
            ));
        }
        self.check_response(&route, &body);
        if status == success_status(&route) {
            ctx.checked.lock().expect("checked lock").insert(route);
        }
        body
    }

    /// GHL answers 422 to a query property the operation does not declare (ghl-api.md §3).
    fn check_query(&self, op: &Value, route: &str) {
        let declared: BTreeMap<&str, bool> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| Some((p["name"].as_str()?, p["required"] == true)))
            .collect();
        for (k, _) in &self.query {
            if !declared.contains_key(k.as_str()) {
                self.ctx.fail(format!(
                    "{route}: query parameter {k} is not declared by the spec"
                ));
            }
        }
        for (name, required) in &declared {
            if *required && !self.query.iter().any(|(k, _)| k == name) {
                self.ctx.fail(format!(
                    "{route}: required query parameter {name} is missing"
                ));
            }
        }
    }

    fn check_response(&self, route: &str, body: &Value) {
        let ctx = self.ctx;
        let c = contract(self.method, self.template, Part::Response(self.status));
        for v in violations(&c, false, body) {
            ctx.fail(format!(
                "{route} ({}) answer vs {}: {v}",
                self.status, c.origin
            ));
        }
        for key in self.envelope {
            if body.get(*key).is_none() {
                ctx.fail(format!(
                    "{route} ({}): the answer lacks `{key}`, which ghl-api.md documents",
                    self.status
                ));
            }
        }
        let declared = declared_properties(&c);
        if let (false, Some(fields)) = (declared.is_empty(), body.as_object()) {
            for key in fields.keys() {
                if !declared.contains(key) && !self.allow_extra.contains(&key.as_str()) {
                    ctx.fail(format!(
                        "{route} ({}): top-level `{key}` is not in {} (declared: {declared:?})",
                        self.status, c.origin
                    ));
                }
            }
        }
    }
}

fn text_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

// ---------------------------------------------------------------------------------------
// Request bodies, as the client builds them
// ---------------------------------------------------------------------------------------

fn new_contact(email: &str, phone: &str) -> NewContact {
    NewContact {
        location_id: LOCATION.into(),
        company_name: Some("Northside Physio".into()),
        fields: ContactPatch {
            first_name: Some("Riley".into()),
            last_name: Some("Contract".into()),
            email: Some(email.into()),
            phone: Some(phone.into()),
            address1: Some("12 Congress Ave".into()),
            city: Some("Austin".into()),
            state: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: Some("US".into()),
            timezone: Some("America/Chicago".into()),
            date_of_birth: Some("1990-09-25".into()),
            source: Some("contactgraph".into()),
            tags: Some(vec!["Trial".into(), "newsletter".into()]),
            custom_fields: Some(vec![CustomFieldWrite {
                id: seed::CLUBOS_LINK_FIELD_ID.into(),
                field_value: json!("170000123"),
            }]),
        },
    }
}

fn contact_patch() -> ContactPatch {
    ContactPatch {
        first_name: Some("Riley".into()),
        last_name: Some("Contract-Smith".into()),
        email: Some("riley.contract@example.com".into()),
        phone: Some("(512) 555-0142".into()),
        address1: Some("14 Congress Ave".into()),
        city: Some("Austin".into()),
        state: Some("TX".into()),
        postal_code: Some("78702".into()),
        country: Some("US".into()),
        timezone: Some("America/Chicago".into()),
        date_of_birth: Some("09/25/1990".into()),
        tags: Some(vec!["member".into()]),
        source: Some("contactgraph".into()),
        custom_fields: Some(vec![CustomFieldWrite {
            id: seed::CLUBOS_LINK_FIELD_ID.into(),
            field_value: json!("170000124"),
        }]),
    }
}

/// The `{tags: [...]}` body of `POST`/`DELETE /contacts/{contactId}/tags` (client.rs builds it
/// with `json!`).
fn tags_body(tags: &[&str]) -> Value {
    json!({ "tags": tags })
}

fn bulk_tags(contacts: Vec<String>, remove_all_tags: Option<bool>) -> BulkTagsRequest {
    BulkTagsRequest {
        contacts,
        tags: vec!["vip".into(), "pt-interest".into()],
        location_id: LOCATION.into(),
        remove_all_tags,
    }
}

fn search_first_page() -> SearchRequest {
    SearchRequest {
        location_id: LOCATION.into(),
        page_limit: 5,
        page: Some(1),
        search_after: None,
        query: None,
        filters: vec![
            SearchFilter::Condition {
                field: "email".into(),
                operator: FilterOp::Exists,
                value: None,
            },
            SearchFilter::any(vec![
                SearchFilter::cond("tags", FilterOp::Eq, "member"),
                SearchFilter::cond(
                    "dateAdded",
                    FilterOp::Range,
                    json!({"gte": "2020-01-01T00:00:00.000Z"}),
                ),
            ]),
        ],
        sort: vec![SearchSort {
            field: "dateAdded".into(),
            direction: SortDirection::Desc,
        }],
    }
}

fn search_next_page(cursor: Vec<Value>) -> SearchRequest {
    SearchRequest {
        location_id: LOCATION.into(),
        page_limit: 5,
        page: None,
        search_after: Some(cursor),
        query: Some("example".into()),
        filters: vec![SearchFilter::cond("dnd", FilterOp::Eq, false)],
        sort: vec![SearchSort {
            field: "dateAdded".into(),
            direction: SortDirection::Desc,
        }],
    }
}

fn new_task() -> NewTask {
    NewTask {
        title: "Call about renewal".into(),
        due_date: "2026-10-01T15:00:00.000Z".into(),
        completed: false,
        body: Some("Membership ends this month".into()),
        assigned_to: Some(seed::GHL_USER_IDS[0].into()),
    }
}

fn task_patch() -> TaskPatch {
    TaskPatch {
        title: Some("Call about renewal (2nd try)".into()),
        body: Some("Left a voicemail".into()),
        due_date: Some("2026-10-03T15:00:00.000Z".into()),
        completed: Some(false),
        assigned_to: Some(seed::GHL_USER_IDS[1].into()),
    }
}

/// The `{completed}` body of `PUT .../tasks/{taskId}/completed` (client.rs builds it with
/// `json!`).
fn completed_body(completed: bool) -> Value {
    json!({ "completed": completed })
}

fn task_search(contact_ids: Vec<String>) -> TaskSearch {
    TaskSearch {
        contact_ids,
        completed: Some(false),
        query: Some("call".into()),
        limit: 25,
        skip: 0,
    }
}

fn note_write(body: Option<&str>) -> NoteWrite {
    NoteWrite {
        body: body.map(str::to_owned),
        user_id: Some(seed::GHL_USER_IDS[0].into()),
        title: Some("Front desk".into()),
        pinned: Some(true),
    }
}

fn new_appointment(contact_id: &str) -> NewAppointment {
    NewAppointment {
        calendar_id: seed::GHL_CALENDAR_ID.into(),
        location_id: LOCATION.into(),
        contact_id: contact_id.into(),
        start_time: "2026-10-05T10:00:00-05:00".into(),
        end_time: Some("2026-10-05T10:30:00-05:00".into()),
        title: Some("Club tour".into()),
        appointment_status: Some("confirmed".into()),
        assigned_user_id: seed::GHL_USER_IDS[0].into(),
        address: Some("Front desk".into()),
        ignore_free_slot_validation: Some(true),
    }
}

fn appointment_patch() -> AppointmentPatch {
    AppointmentPatch {
        start_time: Some("2026-10-05T11:00:00-05:00".into()),
        end_time: Some("2026-10-05T11:30:00-05:00".into()),
        title: Some("Club tour (moved)".into()),
        appointment_status: Some("showed".into()),
        assigned_user_id: Some(seed::GHL_USER_IDS[1].into()),
        address: Some("Studio 2".into()),
    }
}

// ---------------------------------------------------------------------------------------
// The calls, route by route
// ---------------------------------------------------------------------------------------

/// Seeded ids the calls start from.
struct Seeded {
    /// A contact that stores a custom field value.
    with_field: String,
    /// An email a seeded contact has.
    email: String,
    /// (contactId, taskId), (contactId, noteId), (contactId, eventId).
    task: (String, String),
    note: (String, String),
    event: (String, String),
}

fn seeded() -> Seeded {
    let w = World::generate(SEED, PEOPLE);
    let with_field = w
        .ghl
        .contacts
        .iter()
        .find(|c| !c.custom_fields.is_empty())
        .expect("a seeded contact stores the Club OS link");
    let task = w.ghl.tasks.first().expect("seeded tasks");
    let note = w.ghl.notes.first().expect("seeded notes");
    let event = w.ghl.events.first().expect("seeded events");
    Seeded {
        with_field: with_field.id.clone(),
        email: with_field
            .email
            .clone()
            .expect("seeded contacts have emails"),
        task: (task.contact_id.clone(), task.id.clone()),
        note: (note.contact_id.clone(), note.id.clone()),
        event: (event.contact_id.clone(), event.id.clone()),
    }
}

async fn contact_calls(ctx: &Ctx, s: &Seeded) {
    ctx.req("GET", "/contacts/{contactId}")
        .params(&[&s.with_field])
        .envelope(&["contact"])
        .send()
        .await;

    let created = ctx
        .req("POST", "/contacts/")
        .body(&new_contact(
            "riley.contract@example.com",
            "+1 512-555-0142",
        ))
        .envelope(&["contact"])
        .send()
        .await;
    let id = text_at(&created, "/contact/id").to_owned();

    ctx.req("PUT", "/contacts/{contactId}")
        .params(&[&id])
        .body(&contact_patch())
        .envelope(&["succeded", "contact"])
        .send()
        .await;

    // Matches the contact above by email (an update), then creates a new one.
    ctx.req("POST", "/contacts/upsert")
        .body(&new_contact(
            "riley.contract@example.com",
            "+1 512-555-0142",
        ))
        .envelope(&["new", "contact", "traceId"])
        .send()
        .await;
    let fresh = ctx
        .req("POST", "/contacts/upsert")
        .body(&new_contact(
            "quinn.contract@example.com",
            "+1 512-555-0143",
        ))
        .envelope(&["new", "contact", "traceId"])
        .send()
        .await;
    let fresh_id = text_at(&fresh, "/contact/id").to_owned();

    ctx.req("POST", "/contacts/{contactId}/tags")
        .params(&[&id])
        .body(&tags_body(&["PT-Interest", "vip"]))
        .envelope(&["tags"])
        .send()
        .await;
    ctx.req("DELETE", "/contacts/{contactId}/tags")
        .params(&[&id])
        .body(&tags_body(&["vip"]))
        .envelope(&["tags"])
        .send()
        .await;

    // One good id, and a malformed one as in the spec's example (an error item).
    let targets = vec![id.clone(), "abcdef".to_owned()];
    ctx.req("POST", "/contacts/bulk/tags/update/{type}")
        .params(&["add"])
        .body(&bulk_tags(targets.clone(), None))
        .envelope(&["succeded", "errorCount", "responses"])
        .send()
        .await;
    ctx.req("POST", "/contacts/bulk/tags/update/{type}")
        .params(&["remove"])
        .body(&bulk_tags(targets, Some(false)))
        .envelope(&["succeded", "errorCount", "responses"])
        .send()
        .await;

    let page = ctx
        .req("POST", "/contacts/search")
        .body(&search_first_page())
        .envelope(&["contacts", "total", "traceId"])
        .send()
        .await;
    match page["contacts"]
        .as_array()
        .and_then(|rows| rows.last())
        .and_then(|row| row["searchAfter"].as_array())
    {
        Some(cursor) => {
            ctx.req("POST", "/contacts/search")
                .body(&search_next_page(cursor.clone()))
                .envelope(&["contacts", "total", "traceId"])
                .send()
                .await;
        }
        None => ctx.fail(format!(
            "POST /contacts/search: no row with a searchAfter cursor, rows untested: {page}"
        )),
    }

    ctx.req("GET", "/contacts/search/duplicate")
        .query(&[("locationId", LOCATION), ("email", s.email.as_str())])
        .envelope(&["contact"])
        .send()
        .await;
    ctx.req("GET", "/contacts/search/duplicate")
        .query(&[("locationId", LOCATION), ("number", "+1 212-555-0199")])
        .send()
        .await;

    for contact in [&id, &fresh_id] {
        ctx.req("DELETE", "/contacts/{contactId}")
            .params(&[contact])
            .envelope(&["succeded"])
            .send()
            .await;
    }
}

async fn task_calls(ctx: &Ctx, s: &Seeded) {
    let (contact, task) = &s.task;
    ctx.req("GET", "/contacts/{contactId}/tasks")
        .params(&[contact])
        .envelope(&["tasks"])
        .send()
        .await;
    ctx.req("GET", "/contacts/{contactId}/tasks/{taskId}")
        .params(&[contact, task])
        .envelope(&["task"])
        .send()
        .await;

    let created = ctx
        .req("POST", "/contacts/{contactId}/tasks")
        .params(&[contact])
        .body(&new_task())
        .envelope(&["task"])
        .send()
        .await;
    let id = text_at(&created, "/task/id").to_owned();
    ctx.req("PUT", "/contacts/{contactId}/tasks/{taskId}")
        .params(&[contact, &id])
        .body(&task_patch())
        .envelope(&["task"])
        .send()
        .await;
    ctx.req("PUT", "/contacts/{contactId}/tasks/{taskId}/completed")
        .params(&[contact, &id])
        .body(&completed_body(true))
        .envelope(&["task"])
        .send()
        .await;

    // Filtered as the gateway does, then broad (so that seeded items are checked too).
    ctx.req("POST", "/locations/{locationId}/tasks/search")
        .params(&[LOCATION])
        .body(&task_search(vec![contact.clone()]))
        .envelope(&["tasks"])
        .send()
        .await;
    let all = ctx
        .req("POST", "/locations/{locationId}/tasks/search")
        .params(&[LOCATION])
        .body(&TaskSearch {
            limit: 10,
            ..TaskSearch::default()
        })
        .envelope(&["tasks"])
        .send()
        .await;
    if all["tasks"].as_array().is_none_or(Vec::is_empty) {
        ctx.fail("POST /locations/{locationId}/tasks/search: no items to check".into());
    }

    ctx.req("DELETE", "/contacts/{contactId}/tasks/{taskId}")
        .params(&[contact, &id])
        .envelope(&["succeded"])
        .send()
        .await;
}

async fn note_calls(ctx: &Ctx, s: &Seeded) {
    let (contact, note) = &s.note;
    ctx.req("GET", "/contacts/{contactId}/notes")
        .params(&[contact])
        .envelope(&["notes"])
        .send()
        .await;
    ctx.req("GET", "/contacts/{contactId}/notes/{id}")
        .params(&[contact, note])
        .envelope(&["note"])
        .send()
        .await;

    let created = ctx
        .req("POST", "/contacts/{contactId}/notes")
        .params(&[contact])
        .body(&note_write(Some("Asked about the family plan")))
        .envelope(&["note"])
        .send()
        .await;
    let id = text_at(&created, "/note/id").to_owned();
    ctx.req("PUT", "/contacts/{contactId}/notes/{id}")
        .params(&[contact, &id])
        .body(&note_write(Some(
            "Asked about the family plan; sent prices",
        )))
        .envelope(&["note"])
        .send()
        .await;
    ctx.req("DELETE", "/contacts/{contactId}/notes/{id}")
        .params(&[contact, &id])
        .envelope(&["succeded"])
        .send()
        .await;
}

async fn appointment_calls(ctx: &Ctx, s: &Seeded) {
    let (contact, event) = &s.event;
    ctx.req("GET", "/contacts/{contactId}/appointments")
        .params(&[contact])
        .envelope(&["events"])
        .send()
        .await;
    ctx.req("GET", "/calendars/events/appointments/{eventId}")
        .params(&[event])
        .envelope(&["event"])
        .send()
        .await;

    let created = ctx
        .req("POST", "/calendars/events/appointments")
        .body(&new_appointment(contact))
        .send()
        .await;
    let id = text_at(&created, "/id").to_owned();
    ctx.req("PUT", "/calendars/events/appointments/{eventId}")
        .params(&[&id])
        .body(&appointment_patch())
        .send()
        .await;
    ctx.req("GET", "/calendars/events/appointments/{eventId}")
        .params(&[&id])
        .envelope(&["event"])
        .send()
        .await;
    // The spec declares an (empty) JSON body as required here; ghl-api.md §7.2 says it is
    // optional, and the client sends none, so neither does this call.
    ctx.req("DELETE", "/calendars/events/{eventId}")
        .params(&[&id])
        .envelope(&["succeeded"])
        .send()
        .await;
}

async fn custom_field_calls(ctx: &Ctx) {
    let answer = ctx
        .req("GET", "/locations/{locationId}/customFields")
        .params(&[LOCATION])
        .query(&[("model", "contact")])
        .envelope(&["customFields"])
        .send()
        .await;
    if answer["customFields"].as_array().is_none_or(Vec::is_empty) {
        ctx.fail("GET /locations/{locationId}/customFields: no items to check".into());
    }
}

/// The authorization-code exchange, a refresh with the rotated refresh token, and a call
/// with the refreshed access token.
async fn oauth_calls(ctx: &Ctx, s: &Seeded) {
    let cfg = GhlSimConfig::default();
    let code: Value = ctx
        .http
        .post(format!("{}/_sim/oauth/code", ctx.base))
        .send()
        .await
        .expect("a code")
        .json()
        .await
        .expect("JSON");
    let envelope: &[&str] = &[
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "userType",
        "locationId",
        "userId",
    ];
    let granted = ctx
        .req("POST", "/oauth/token")
        .form(&[
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
            ("grant_type", "authorization_code"),
            ("code", text_at(&code, "/code")),
            ("user_type", "Location"),
            (
                "redirect_uri",
                "https://contactgraph.example/oauth/callback",
            ),
        ])
        .envelope(envelope)
        .send()
        .await;
    let refreshed = ctx
        .req("POST", "/oauth/token")
        .form(&[
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", text_at(&granted, "/refresh_token")),
            ("user_type", "Location"),
        ])
        .envelope(envelope)
        .send()
        .await;
    ctx.req("GET", "/contacts/{contactId}")
        .params(&[&s.with_field])
        .token(text_at(&refreshed, "/access_token"))
        .envelope(&["contact"])
        .send()
        .await;
}

/// The 400 / 401 / 422 bodies, against the common error schemas the spec declares for them;
/// ghl-api.md §10 adds the fields it documents and allows the appended `traceId`.
async fn error_calls(ctx: &Ctx, s: &Seeded) {
    ctx.req("GET", "/contacts/{contactId}")
        .params(&["nOsUcHcOnTaCt0000000"])
        .status(400)
        .envelope(&["statusCode", "message"])
        .allow_extra(&["traceId"])
        .send()
        .await;
    ctx.req("GET", "/contacts/{contactId}")
        .params(&[&s.with_field])
        .without_version()
        .status(401)
        .envelope(&["statusCode", "message", "error"])
        .send()
        .await;
    // `locationId` is not a NotesDTO property (ghl-api.md §13 item 8).
    ctx.req("POST", "/contacts/{contactId}/notes")
        .params(&[&s.note.0])
        .invalid_body(json!({"body": "x", "locationId": LOCATION}))
        .status(422)
        .envelope(&["statusCode", "message", "error"])
        .allow_extra(&["traceId"])
        .send()
        .await;
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn contact_routes_answer_with_the_spec_shapes_and_statuses() {
    let ctx = Ctx::start().await;
    contact_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn task_routes_answer_with_the_spec_shapes_and_statuses() {
    let ctx = Ctx::start().await;
    task_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn note_routes_answer_with_the_spec_shapes_and_statuses() {
    let ctx = Ctx::start().await;
    note_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn appointment_routes_answer_with_the_spec_shapes_and_statuses() {
    let ctx = Ctx::start().await;
    appointment_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn custom_field_route_answers_with_the_spec_shape() {
    let ctx = Ctx::start().await;
    custom_field_calls(&ctx).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn oauth_code_exchange_and_refresh_answer_with_the_spec_shape() {
    let ctx = Ctx::start().await;
    oauth_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

#[tokio::test]
async fn error_bodies_match_the_spec_error_schemas() {
    let ctx = Ctx::start().await;
    error_calls(&ctx, &seeded()).await;
    ctx.assert_clean();
}

/// Runs every call on one simulator, then reads the simulator's own counters (keyed by the
/// router's templates): each route was hit and answered its documented success status, and
/// the calls' templates are the router's.
#[tokio::test]
async fn every_simulated_route_is_called_and_checked_against_its_contract() {
    let ctx = Ctx::start().await;
    let s = seeded();
    contact_calls(&ctx, &s).await;
    task_calls(&ctx, &s).await;
    note_calls(&ctx, &s).await;
    appointment_calls(&ctx, &s).await;
    custom_field_calls(&ctx).await;
    oauth_calls(&ctx, &s).await;
    ctx.assert_clean();

    let stats = ctx.stats().await;
    assert_eq!(
        stats.rate_limited, 0,
        "the calls stay under the burst limit"
    );
    let checked = ctx.checked.lock().expect("checked lock").clone();
    for (route, status) in ROUTES {
        assert!(stats.count(route) >= 1, "{route} was never called");
        assert!(
            stats.routes[route].statuses.contains_key(&status),
            "{route} never answered {status}: {:?}",
            stats.routes[route].statuses
        );
        assert!(
            checked.contains(route),
            "{route} was not checked against a contract"
        );
    }
    let called: BTreeSet<&str> = stats.routes.keys().map(String::as_str).collect();
    let listed: BTreeSet<&str> = ROUTES.iter().map(|(r, _)| *r).collect();
    assert_eq!(called, listed, "routes called vs ROUTES");
}

/// Keeps [`ROUTES`] in step with the router: a route added to `crates/sim/src/ghl/mod.rs` without
/// a contract check fails here.
#[test]
fn route_list_matches_the_simulator_router() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/sim/src/ghl/mod.rs"
    ))
    .expect("the router source");
    let router = &source[source.find("pub fn router(").expect("fn router")..];
    let mut found = BTreeSet::new();
    let mut rest = router;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = call
            .char_indices()
            .find_map(|(i, ch)| {
                match ch {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("balanced parentheses");
        let (args, after) = call.split_at(end);
        let path = args.split('"').nth(1).expect("a path literal");
        if !path.starts_with("/_sim/") {
            for method in ["get", "post", "put", "delete", "patch"] {
                let token = format!("{method}(");
                let used = args.match_indices(&token).any(|(i, _)| {
                    !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if used {
                    found.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        rest = after;
    }
    let listed: BTreeSet<String> = ROUTES.iter().map(|(r, _)| (*r).to_owned()).collect();
    assert_eq!(found, listed, "router routes vs ROUTES");
}

#[test]
fn documented_success_statuses_match_the_spec() {
    for (route, status) in ROUTES {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        let declared: Vec<&String> = operation(method, path)["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .filter(|s| s.starts_with('2'))
            .collect();
        assert_eq!(declared, [&status.to_string()], "{route}");
    }
}

#[test]
fn client_version_headers_are_the_ones_the_spec_declares() {
    assert_eq!(VERSION_CONTACTS, "2021-07-28");
    assert_eq!(VERSION_CALENDARS, "2021-04-15");
    for (route, _) in ROUTES {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        assert_eq!(
            declared_version(operation(method, path)).as_deref(),
            Api::of(path).version(),
            "{route}"
        );
    }
}

/// Every body type the client sends, filled in, against the spec's request schema of each
/// route that takes it (strictly: no undeclared properties).
#[test]
fn client_request_bodies_match_the_spec_request_schemas() {
    let contact = "sx6wyHhbFdRXh302LLNR".to_owned();
    let bodies: Vec<(&str, &str, Value)> = vec![
        (
            "POST",
            "/contacts/",
            json!(new_contact("a@example.com", "+1 212 555 0123")),
        ),
        (
            "POST",
            "/contacts/upsert",
            json!(new_contact("a@example.com", "+1 212 555 0123")),
        ),
        ("PUT", "/contacts/{contactId}", json!(contact_patch())),
        ("POST", "/contacts/search", json!(search_first_page())),
        (
            "POST",
            "/contacts/search",
            json!(search_next_page(vec![
                json!(1_700_000_000_000_i64),
                json!(7)
            ])),
        ),
        (
            "POST",
            "/contacts/{contactId}/tags",
            tags_body(&["vip", "member"]),
        ),
        ("DELETE", "/contacts/{contactId}/tags", tags_body(&["vip"])),
        (
            "POST",
            "/contacts/bulk/tags/update/{type}",
            json!(bulk_tags(vec![contact.clone()], None)),
        ),
        (
            "POST",
            "/contacts/bulk/tags/update/{type}",
            json!(bulk_tags(vec![contact.clone()], Some(true))),
        ),
        ("POST", "/contacts/{contactId}/tasks", json!(new_task())),
        (
            "PUT",
            "/contacts/{contactId}/tasks/{taskId}",
            json!(task_patch()),
        ),
        (
            "PUT",
            "/contacts/{contactId}/tasks/{taskId}/completed",
            completed_body(true),
        ),
        (
            "POST",
            "/locations/{locationId}/tasks/search",
            json!(task_search(vec![contact.clone()])),
        ),
        (
            "POST",
            "/contacts/{contactId}/notes",
            json!(note_write(Some("Called back"))),
        ),
        (
            "PUT",
            "/contacts/{contactId}/notes/{id}",
            json!(note_write(Some("Called back twice"))),
        ),
        (
            "PUT",
            "/contacts/{contactId}/notes/{id}",
            json!(note_write(None)),
        ),
        (
            "POST",
            "/calendars/events/appointments",
            json!(new_appointment(&contact)),
        ),
        (
            "PUT",
            "/calendars/events/appointments/{eventId}",
            json!(appointment_patch()),
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body) in &bodies {
        let c = contract(method, path, Part::Request);
        failures.extend(
            violations(&c, true, body)
                .into_iter()
                .map(|v| format!("{method} {path} vs {}: {v}\n  body: {body}", c.origin)),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The strict request check does catch what GHL rejects, and the reference search schema
/// catches the §4.5 mistakes, so the passing tests above mean something.
#[test]
fn request_checks_reject_what_ghl_rejects() {
    let note = contract("POST", "/contacts/{contactId}/notes", Part::Request);
    assert!(!violations(&note, true, &json!({"body": "x", "locationId": LOCATION})).is_empty());
    assert!(!violations(&note, true, &json!({"title": "no body"})).is_empty());
    let contact = contract("PUT", "/contacts/{contactId}", Part::Request);
    assert!(!violations(&contact, true, &json!({"locationId": LOCATION})).is_empty());
    assert!(
        violations(&contact, true, &json!({"email": null})).is_empty(),
        "nullable"
    );
    let search = contract("POST", "/contacts/search", Part::Request);
    for bad in [
        json!({"locationId": LOCATION}),
        json!({"pageLimit": 10}),
        json!({"locationId": LOCATION, "pageLimit": 501}),
        json!({"locationId": LOCATION, "pageLimit": 10, "page": 2, "searchAfter": [1]}),
        json!({"locationId": LOCATION, "pageLimit": 10, "filters": [{"field": "email", "operator": "exists", "value": "x"}]}),
        json!({"locationId": LOCATION, "pageLimit": 10, "filters": [{"field": "dateAdded", "operator": "range", "value": {"after": 1}}]}),
        json!({"locationId": LOCATION, "pageLimit": 10, "filters": [{"group": "XOR", "filters": []}]}),
    ] {
        assert!(
            !violations(&search, true, &bad).is_empty(),
            "accepted {bad}"
        );
    }
    let deleted = contract("DELETE", "/contacts/{contactId}", Part::Response(200));
    assert!(!violations(&deleted, false, &json!({"succeded": "yes"})).is_empty());
}

/// The response checks do catch malformed answers, through `$ref`s, the OpenAPI conversion,
/// the spec fixes and the reference schemas alike.
#[test]
fn response_checks_reject_malformed_answers() {
    let rejects = |method: &str, path: &str, status: u16, body: Value| {
        let c = contract(method, path, Part::Response(status));
        assert!(
            !violations(&c, false, &body).is_empty(),
            "{method} {path} ({status}) vs {} accepted {body}",
            c.origin
        );
    };
    let accepts = |method: &str, path: &str, status: u16, body: Value| {
        let c = contract(method, path, Part::Response(status));
        let v = violations(&c, false, &body);
        assert!(
            v.is_empty(),
            "{method} {path} ({status}) vs {}: {v:?}",
            c.origin
        );
    };
    rejects(
        "GET",
        "/contacts/{contactId}",
        200,
        json!({"contact": {"dndSettings": {"SMS": {}}}}),
    );
    rejects(
        "GET",
        "/contacts/{contactId}",
        200,
        json!({"contact": {"tags": "vip"}}),
    );
    accepts(
        "GET",
        "/contacts/{contactId}",
        200,
        json!({"contact": {"attributionSource": {"url": "x", "campaign": null}}}),
    );
    rejects(
        "GET",
        "/calendars/events/appointments/{eventId}",
        200,
        json!({"event": {"id": "e"}}),
    );
    rejects(
        "POST",
        "/calendars/events/appointments",
        200,
        json!({"id": "e", "calendarId": "c"}),
    );
    rejects(
        "POST",
        "/contacts/bulk/tags/update/{type}",
        201,
        json!({"succeded": true, "errorCount": 0, "responses": ["Tags updated"]}),
    );
    rejects(
        "POST",
        "/contacts/search",
        200,
        json!({"contacts": [{"id": "c"}], "total": 1}),
    );
    rejects(
        "GET",
        "/contacts/search/duplicate",
        200,
        json!({"contact": "c"}),
    );
    accepts(
        "GET",
        "/contacts/search/duplicate",
        200,
        json!({"contact": null}),
    );
    rejects(
        "POST",
        "/locations/{locationId}/tasks/search",
        200,
        json!({"tasks": [{"id": "t", "title": "x"}]}),
    );
    rejects("POST", "/oauth/token", 200, json!({"access_token": "a"}));
    rejects(
        "POST",
        "/contacts/{contactId}/tasks",
        422,
        json!({"statusCode": 422, "message": "x"}),
    );
}

/// Each exception to the published spec is still needed: the fixed schema is still wrong
/// in the published file, and each reference schema still stands in for an empty or
/// malformed one.
#[test]
fn spec_exceptions_still_point_at_real_spec_gaps() {
    let specs = specs();
    for fix in SPEC_FIXES {
        let published = specs.raw[&fix.api]
            .pointer(fix.pointer)
            .unwrap_or_else(|| panic!("{} is gone from {}", fix.pointer, fix.api.file()));
        let replacement: Value = serde_json::from_str(fix.replacement).expect("JSON");
        assert_ne!(
            published["type"],
            replacement["type"],
            "{} {} is fixed upstream; drop the exception ({})",
            fix.api.file(),
            fix.pointer,
            fix.why
        );
    }
    for (route, name, why) in UNDECLARED_PATH_PARAMS {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        assert!(
            !declares(operation(method, path), "path", name),
            "{route} now declares {name}; drop the exception ({why})"
        );
    }
    for r in REFERENCE_SCHEMAS {
        let published = spec_schema(false, r.method, r.path, r.part)
            .map(|s| resolve(&specs.raw[&Api::of(r.path)], s));
        assert!(
            (r.spec_lacks_it)(published),
            "{} {} {:?}: the spec now documents it; drop the reference schema ({})",
            r.method,
            r.path,
            r.part,
            r.why
        );
    }
}
