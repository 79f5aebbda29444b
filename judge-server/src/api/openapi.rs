//! `GET /openapi.json`, generated from the handlers' annotations and the wire types.

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{get_reward, health, judge, judges, plugins, run_code, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "moj judge server", description = "Scores (prompt, response, metadata) batches with a mixture of judges and caches every verdict."),
    paths(
        judge::score, get_reward::get_reward, run_code::run_code,
        judges::list, judges::get, judges::put, judges::delete, judges::kinds,
        tasks::list, tasks::get, tasks::put, tasks::delete,
        plugins::put,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth, &StandardErrors),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// What every `/v1` operation may answer besides its own responses, documented in one place:
/// 401 without a valid key (when keys are configured), 403 for a scorer key on a change, and
/// for operations with a body 400 (malformed JSON), 413 (over `limits.max_body_bytes`) and 415
/// (not JSON). Name path parameters get the pattern the catalog enforces.
struct StandardErrors;

/// Judge, task and plugin names (catalog.rs checks the same rule).
const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$";

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn add_standard_errors(operation: &mut Operation, is_change: bool) {
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    add(
        "401",
        "Missing or invalid API key (when keys are configured)",
    );
    if is_change {
        add("403", "Needs an admin key");
    }
    if operation.request_body.is_some() {
        add("400", "Malformed JSON body");
        add("413", "Body larger than limits.max_body_bytes");
        add(
            "415",
            "The body is not JSON (Content-Type: application/json)",
        );
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.name == "name"
            && parameter.parameter_in == ParameterIn::Path
        {
            parameter.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(NAME_PATTERN))
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .into(),
            );
        }
    }
}

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") && path != "/run_code" {
                continue;
            }
            // Every POST scores (`/v1/judge`, `get_reward`, `/run_code`): changes are PUT and
            // DELETE (the scorer and admin routers in `api/mod.rs`).
            for (operation, is_change) in [
                (&mut item.get, false),
                (&mut item.post, false),
                (&mut item.put, true),
                (&mut item.delete, true),
            ] {
                if let Some(operation) = operation {
                    add_standard_errors(operation, is_change);
                }
            }
        }
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_operation_documents_the_standard_errors() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let put = &doc["paths"]["/v1/judges/{name}"]["put"];
        for status in ["200", "201", "400", "401", "403", "413", "415", "422"] {
            assert!(
                put["responses"].get(status).is_some(),
                "PUT judge: {status}"
            );
        }
        let name = &put["parameters"][0]["schema"];
        assert_eq!(name["pattern"], NAME_PATTERN);
        let score = &doc["paths"]["/v1/judge"]["post"]["responses"];
        for status in ["200", "400", "401", "413", "415", "422", "503"] {
            assert!(score.get(status).is_some(), "POST judge: {status}");
        }
        assert!(score.get("403").is_none(), "scoring needs no admin key");
        for (path, status) in [
            ("/run_code", "415"),
            ("/run_code", "401"),
            ("/v1/tasks/{name}/get_reward", "400"),
            ("/v1/tasks/{name}/get_reward", "502"),
        ] {
            let responses = &doc["paths"][path]["post"]["responses"];
            assert!(responses.get(status).is_some(), "{path}: {status}");
            assert!(responses.get("403").is_none(), "{path} needs no admin key");
        }
        assert!(
            doc["paths"]["/healthz"]["get"]["responses"]
                .get("401")
                .is_none()
        );
    }

    #[test]
    fn the_name_pattern_is_the_catalogs_rule() {
        let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
        let long = "a".repeat(128);
        let too_long = "a".repeat(129);
        for name in [
            "a",
            "A.b-c_1",
            "9",
            long.as_str(),
            "",
            "_a",
            ".a",
            "Õ",
            "a b",
            "a/b",
            too_long.as_str(),
        ] {
            assert_eq!(
                pattern.is_match(name),
                crate::catalog::validate_name(name).is_ok(),
                "{name:?}"
            );
        }
    }
}
