//! `openapi.yaml` against the code: the documented routes are exactly the topology's
//! routes (plus the local runtime's `/_local` control routes), authorisation is declared
//! where API Gateway enforces it, and every `events/api-*.json` fixture is a documented
//! operation whose body uses only documented fields.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use orderflow_shared::topology::TOPOLOGY;
use serde_yaml::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = root().join("openapi.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    })
}

fn is_local(path: &str) -> bool {
    path == "/_local" || path.starts_with("/_local/")
}

/// Every operation as (METHOD, path, operation object).
fn operations() -> Vec<(String, String, &'static Value)> {
    let paths = spec().get("paths").and_then(Value::as_mapping).expect("openapi.yaml has a paths mapping");
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings");
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.push((method.to_ascii_uppercase(), path.to_owned(), operation));
            }
        }
    }
    out
}

fn operation(method: &str, path: &str) -> Option<&'static Value> {
    operations().into_iter().find(|(m, p, _)| m.eq_ignore_ascii_case(method) && p == path).map(|(_, _, op)| op)
}

/// Follows a local `$ref` (`#/components/schemas/X`) to what it names.
fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix("#/").unwrap_or_else(|| panic!("only local refs: {reference}"));
            let target = pointer.split('/').try_fold(spec(), |v, key| v.get(key));
            resolve(target.unwrap_or_else(|| panic!("dangling $ref {reference}")))
        }
        None => value,
    }
}

fn fixtures() -> Vec<(String, serde_json::Value)> {
    let dir = root().join("events");
    let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("api-") && name.ends_with(".json")
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()));
            (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), event)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no events/api-*.json fixtures found");
    out
}

#[test]
fn documented_api_routes_are_exactly_the_topology_routes() {
    for route in TOPOLOGY.routes {
        assert!(
            operation(route.method, route.path).is_some(),
            "{} {} is a topology route but openapi.yaml does not document it",
            route.method,
            route.path
        );
    }
    let expected: BTreeSet<(String, String)> =
        TOPOLOGY.routes.iter().map(|r| (r.method.to_ascii_uppercase(), r.path.to_owned())).collect();
    let documented: BTreeSet<(String, String)> =
        operations().into_iter().filter(|(_, path, _)| !is_local(path)).map(|(m, p, _)| (m, p)).collect();
    assert_eq!(documented, expected, "openapi.yaml operations (outside /_local) differ from TOPOLOGY.routes");
}

#[test]
fn every_route_requires_a_bearer_token_with_its_scopes_except_the_open_ones() {
    let global = spec().get("security").and_then(Value::as_sequence).expect("openapi.yaml declares global security");
    assert!(!global.is_empty(), "the global security requirement must not be empty");
    let schemes = spec().get("components").and_then(|c| c.get("securitySchemes")).and_then(Value::as_mapping);
    for requirement in global {
        for name in requirement.as_mapping().into_iter().flat_map(|m| m.keys()) {
            assert!(
                schemes.is_some_and(|s| s.contains_key(name)),
                "global security names {name:?}, which components.securitySchemes does not define"
            );
        }
    }

    for route in TOPOLOGY.routes {
        let op = operation(route.method, route.path)
            .unwrap_or_else(|| panic!("{} {} undocumented", route.method, route.path));
        let security = op.get("security");
        if route.authorized {
            let scopes: Vec<String> = security
                .and_then(Value::as_sequence)
                .and_then(|s| s.first())
                .and_then(|r| r.get("bearer"))
                .and_then(Value::as_sequence)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            let wanted: Vec<String> = route.scopes.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                scopes, wanted,
                "{} {}: `security: [bearer: [...]]` must list the route's scopes",
                route.method, route.path
            );
        } else {
            let empty = security.and_then(Value::as_sequence).is_some_and(Vec::is_empty);
            assert!(empty, "{} {} is not authorized on AWS: it must say `security: []`", route.method, route.path);
        }
    }
}

#[test]
fn local_runtime_routes_are_tagged_and_need_no_authentication() {
    let local: Vec<_> = operations().into_iter().filter(|(_, path, _)| is_local(path)).collect();
    assert!(!local.is_empty(), "the /_local routes of orderflow-local are documented");
    for (method, path, op) in local {
        let tags = op.get("tags").and_then(Value::as_sequence).cloned().unwrap_or_default();
        assert!(tags.contains(&Value::from("local runtime")), "{method} {path}: tag \"local runtime\"");
        let empty = op.get("security").and_then(Value::as_sequence).is_some_and(Vec::is_empty);
        assert!(empty, "{method} {path}: the local runtime checks no signatures, so `security: []`");
    }
}

#[test]
fn every_api_fixture_is_a_documented_operation() {
    for (name, event) in fixtures() {
        let route_key = event["routeKey"].as_str().unwrap_or_else(|| panic!("{name}: no routeKey"));
        let (method, path) = route_key.split_once(' ').unwrap_or_else(|| panic!("{name}: routeKey {route_key:?}"));
        assert!(
            operation(method, path).is_some(),
            "{name}: routeKey {route_key:?} is not an operation in openapi.yaml"
        );
    }
}

#[test]
fn order_fixtures_use_only_documented_fields_and_give_every_required_one() {
    let op = operation("POST", "/orders").expect("POST /orders documented");
    let schema = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(|c| c.get("application/json"))
        .and_then(|j| j.get("schema"))
        .map(resolve)
        .expect("POST /orders has an application/json request schema");
    let properties = schema.get("properties").and_then(Value::as_mapping).expect("the order schema lists properties");
    let required = schema.get("required").and_then(Value::as_sequence).expect("the order schema lists required fields");

    let mut checked = 0;
    for (name, event) in fixtures().into_iter().filter(|(_, e)| e["routeKey"] == "POST /orders") {
        let text = event["body"].as_str().unwrap_or_else(|| panic!("{name}: POST /orders fixture without a body"));
        let body: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        let body = body.as_object().unwrap_or_else(|| panic!("{name}: body is not an object"));
        for field in body.keys() {
            assert!(properties.contains_key(field.as_str()), "{name}: field {field:?} is not in the order schema");
        }
        for field in required.iter().filter_map(Value::as_str) {
            assert!(body.contains_key(field), "{name}: required field {field:?} is missing");
        }
        checked += 1;
    }
    assert!(checked > 0, "no POST /orders fixture found");
}

/// `scripts/api_fuzz_hooks.py` excuses a 422 (or a 400: a cursor this API did not give
/// out) for schema-valid data only when it matches one of these entries, so each must
/// sit on a 422 or 400 and say which field, which phrase of the message and which rule.
#[test]
fn refusals_beyond_the_schema_sit_on_a_422_and_name_field_message_and_rule() {
    let mut entries = 0;
    for (method, path, op) in operations() {
        let responses = op.get("responses").and_then(Value::as_mapping).into_iter().flatten();
        for (code, response) in responses {
            let Some(list) = resolve(response).get("x-refused-beyond-schema") else { continue };
            let code = code.as_str();
            assert!(
                matches!(code, Some("422" | "400")),
                "{method} {path}: x-refused-beyond-schema on a {code:?} response"
            );
            for entry in list.as_sequence().expect("x-refused-beyond-schema is a list") {
                for key in ["field", "message", "rule"] {
                    let text = entry.get(key).and_then(Value::as_str).unwrap_or_default();
                    assert!(!text.trim().is_empty(), "{method} {path}: an entry without a `{key}`: {entry:?}");
                }
                entries += 1;
            }
        }
    }
    assert!(entries > 0, "no x-refused-beyond-schema entries found");
}
