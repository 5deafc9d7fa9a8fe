//! The OpenAPI document (generated from the handlers' `#[utoipa::path]` annotations, so it
//! cannot drift from the routes) and the Tenant's JSON Schema (from the resource types).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::resource::Tenant;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenantd",
        description = "Declarative tenants on Docker and PostgreSQL. Every route except the two documents needs `Authorization: Bearer <token>`. Errors are `{code, message, field}`."
    ),
    tags(
        (name = "tenants", description = "Tenant resources"),
        (name = "verbs", description = "Imperative verbs, carried out as spec edits"),
        (name = "observe", description = "Deployment log, logs, metrics and watch"),
        (name = "documents", description = "This document and the resource's JSON Schema")
    )
)]
struct Base;

/// The document's fixed parts: info, tags, the bearer security scheme.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    document
}

/// The JSON Schema of a Tenant document (for editors: `specs/tenant.schema.json`).
pub fn tenant_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Tenant))
        .expect("a JSON Schema always serializes");
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".into(),
            json!("https://tenantd.dev/schemas/tenant.schema.json"),
        );
    }
    schema
}

/// The complete document: the routes' paths, the two document routes, and the Tenant schema
/// under `components.schemas` (its `$defs` hoisted next to it so references resolve).
pub fn finish(document: utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(&document).expect("an OpenAPI document serializes");
    let schema = tenant_schema();
    let schemas = document
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .expect("base() made the components")
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("schemas is an object");
    let mut tenant = rewrite_refs(schema);
    if let Some(defs) = tenant.as_object_mut().and_then(|o| o.remove("$defs")) {
        for (name, def) in defs.as_object().cloned().unwrap_or_default() {
            schemas.insert(name, def);
        }
    }
    if let Some(object) = tenant.as_object_mut() {
        object.remove("$schema");
        object.remove("$id");
    }
    schemas.insert("Tenant".into(), tenant);
    let document_op = |summary: &str| {
        json!({"get": {"tags": ["documents"], "summary": summary,
            "responses": {"200": {"description": "JSON", "content": {"application/json": {}}}}}})
    };
    let paths = document
        .pointer_mut("/paths")
        .and_then(Value::as_object_mut)
        .expect("the document has paths");
    paths.insert("/openapi.json".into(), document_op("This OpenAPI document"));
    paths.insert(
        "/schema/tenant.json".into(),
        document_op("The JSON Schema of a Tenant document"),
    );
    document
        .as_object_mut()
        .expect("the document is an object")
        .insert("servers".into(), json!([{"url": "/api/v1"}]));
    document
}

/// `#/$defs/X` → `#/components/schemas/X`, everywhere in the schema.
fn rewrite_refs(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if key == "$ref"
                        && let Some(reference) = inner.as_str()
                        && let Some(name) = reference.strip_prefix("#/$defs/")
                    {
                        *inner = Value::String(format!("#/components/schemas/{name}"));
                    } else {
                        walk(inner);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// The two public document routes.
pub fn router<S: Clone + Send + Sync + 'static>(document: Value) -> Router<S> {
    let schema = tenant_schema();
    Router::new()
        .route("/openapi.json", get(move || async move { Json(document) }))
        .route(
            "/schema/tenant.json",
            get(move || async move { Json(schema) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_json_schema_is_the_generated_one() {
        let committed: Value = serde_json::from_str(include_str!("../../specs/tenant.schema.json"))
            .expect("specs/tenant.schema.json is JSON");
        assert_eq!(
            committed,
            tenant_schema(),
            "specs/tenant.schema.json is stale: regenerate it with `tenantd schema > specs/tenant.schema.json`"
        );
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let document = finish(crate::api::openapi_router().split_for_parts().1);
        let mut references = Vec::new();
        fn collect(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_owned()),
                            _ => collect(v, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
                _ => {}
            }
        }
        collect(&document, &mut references);
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference.trim_start_matches('#');
            assert!(document.pointer(pointer).is_some(), "dangling {reference}");
        }
    }
}
