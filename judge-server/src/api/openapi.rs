//! `GET /openapi.json`, generated from the handlers' annotations and the wire types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{health, judge, judges, plugins, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "moj judge server", description = "Scores (prompt, response, metadata) batches with a mixture of judges and caches every verdict."),
    paths(
        judge::score,
        judges::list, judges::get, judges::put, judges::delete, judges::kinds,
        tasks::list, tasks::get, tasks::put, tasks::delete,
        plugins::put,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth),
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

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
