//! The admin API's OpenAPI description (`server/openapi.json`) against the
//! real server: it is what the server serves at `/admin/v1/openapi.json`,
//! it documents exactly the routes the server has, every `$ref` in it
//! resolves, and real answers of the endpoints have the shape it
//! documents (a structural check: types, required properties, array
//! items, enums).

use std::collections::BTreeSet;

use chrono::Utc;
use doorstep_e2e::{VILLAGE_A, World};
use doorstep_server::store::{NewUser, Role};
use serde_json::{Value, json};

fn spec() -> Value {
    serde_json::from_str(doorstep_server::api::OPENAPI).expect("openapi.json is JSON")
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves"));
            resolve(spec, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}

/// Problems of `value` against `schema`, each with its JSON path.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, value) => {
            problems.push(format!("{at}: {value} is not {name}"));
            return;
        }
        Some(Value::Array(names))
            if !names
                .iter()
                .any(|name| type_matches(name.as_str().unwrap_or_default(), value)) =>
        {
            problems.push(format!("{at}: {value} is none of {names:?}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        problems.push(format!("{at}: {value} is not {constant}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().expect("a name");
            if !object.contains_key(name) {
                problems.push(format!("{at}: {name} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => check(spec, property, item, &format!("{at}.{name}"), problems),
                None if properties.is_some() => {
                    problems.push(format!("{at}.{name} is not documented"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(spec, items, item, &format!("{at}[{index}]"), problems);
        }
    }
}

/// Every `$ref` anywhere in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(reference)) => found.push(reference.clone()),
                    _ => references(item, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn the_description_documents_exactly_the_served_routes() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .expect("operations")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = doorstep_server::route_table()
        .into_iter()
        .filter(|route| route.path.starts_with("/admin/v1/"))
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
    let mut found = Vec::new();
    references(&spec, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference.strip_prefix('#').expect("a local $ref");
        assert!(spec.pointer(pointer).is_some(), "{reference} resolves");
    }
    // Every operation documents its refusals.
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let public = operation.get("security") == Some(&json!([]));
            assert!(
                public || operation["responses"].get("401").is_some(),
                "{method} {path} documents 401"
            );
        }
    }
}

#[test]
fn real_answers_have_the_documented_shape() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let _device = world.raw_enrollment(cadre);
    let admin = NewUser {
        name: "operator".into(),
        role: Role::Admin,
        area_code: None,
    };
    world.store.add_user(&admin, Utc::now()).expect("admin");
    let (token, _) = world
        .store
        .issue_api_token("operator", "openapi test", Utc::now())
        .expect("token");
    let client = doorstep_e2e::raw_client("127.0.0.1".parse().expect("address"));
    let url = world.url();
    let served: Value = serde_json::from_str(
        &client
            .get(format!("{url}/admin/v1/openapi.json"))
            .send()
            .expect("answered")
            .text()
            .expect("text"),
    )
    .expect("JSON");
    let spec = spec();
    assert_eq!(served, spec, "the server serves the checked-in description");

    let calls: Vec<(&str, String, String, Option<Value>)> = vec![
        ("get", "/admin/v1/me".into(), "/admin/v1/me".into(), None),
        (
            "get",
            "/admin/v1/cadres".into(),
            "/admin/v1/cadres".into(),
            None,
        ),
        (
            "get",
            "/admin/v1/cadres/{id}".into(),
            format!("/admin/v1/cadres/{cadre}"),
            None,
        ),
        (
            "post",
            "/admin/v1/cadres".into(),
            "/admin/v1/cadres".into(),
            Some(json!({"name": "新干部"})),
        ),
        (
            "post",
            "/admin/v1/cadres/{id}/enrol-codes".into(),
            format!("/admin/v1/cadres/{cadre}/enrol-codes"),
            None,
        ),
        (
            "get",
            "/admin/v1/devices".into(),
            "/admin/v1/devices".into(),
            None,
        ),
        (
            "get",
            "/admin/v1/forms".into(),
            "/admin/v1/forms".into(),
            None,
        ),
        (
            "get",
            "/admin/v1/audit".into(),
            "/admin/v1/audit?limit=50".into(),
            None,
        ),
        // Refusals: a missing object, a bad body, a form that does not import.
        (
            "get",
            "/admin/v1/cadres/{id}".into(),
            format!("/admin/v1/cadres/{}", uuid::Uuid::now_v7()),
            None,
        ),
        (
            "post",
            "/admin/v1/cadres".into(),
            "/admin/v1/cadres".into(),
            Some(json!({"nom": 1})),
        ),
        (
            "post",
            "/admin/v1/forms".into(),
            "/admin/v1/forms".into(),
            Some(json!({"form_id": "x"})),
        ),
    ];
    let mut problems = Vec::new();
    let mut statuses = Vec::new();
    for (method, template, path, body) in calls {
        let request = match method {
            "get" => client.get(format!("{url}{path}")),
            _ => client.post(format!("{url}{path}")),
        };
        let request = match &body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => request,
        };
        let response = request.bearer_auth(&token).send().expect("answered");
        let status = response.status().as_u16().to_string();
        let value: Value = serde_json::from_str(&response.text().expect("text")).expect("JSON");
        let documented = &spec["paths"][&template][method]["responses"][&status];
        let documented = resolve(&spec, documented);
        let Some(schema) = documented.pointer("/content/application~1json/schema") else {
            problems.push(format!(
                "{method} {template}: status {status} is not documented"
            ));
            continue;
        };
        check(
            &spec,
            schema,
            &value,
            &format!("{method} {path} {status}"),
            &mut problems,
        );
        statuses.push(status);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        statuses,
        [
            "200", "200", "200", "201", "201", "200", "200", "200", "404", "400", "422"
        ]
    );
    // A refusal without a token has the documented shape too.
    let refused = client
        .get(format!("{url}/admin/v1/me"))
        .send()
        .expect("answered");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let value: Value = serde_json::from_str(&refused.text().expect("text")).expect("JSON");
    let mut problems = Vec::new();
    check(
        &spec,
        &json!({"$ref": "#/components/schemas/Error"}),
        &value,
        "401",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
}
