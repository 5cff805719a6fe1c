//! The api's OpenAPI document, collected from the routes' `#[utoipa::path]` annotations
//! and their answers' types, and served at `GET /openapi.json`. The answers many
//! operations give (the problems, images, streams) are `components/responses`, defined
//! once in `http::answers`. This is the only module that imports the routes' handlers.

use crate::http::answers::{
    submission_form, BadRequest, BodyTimeout, Conflict, CrossSite, EventStream, Forbidden, Gone,
    JpegImage, NotFound, PayloadTooLarge, PngImage, TooManyRequests, Unauthorized, Unavailable,
    Unprocessable, UnsupportedImage,
};
use crate::http::auth::COOKIE;
use crate::http::problem::Problem;
use crate::http::routing::{get, resource};
use crate::routes::{health, jobs, keys, metrics, qualities, queue, styles, webhooks};
use crate::services::catalogue::Catalogue;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use stylize_core::params::{bounds, Quality};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/openapi.json").route(get().to(document)));
}

#[derive(OpenApi)]
#[openapi(
    info(title = "stylize", description = "Neural style transfer as a service: submit a photo and \
        style images, follow the job, fetch the picture."),
    paths(
        jobs::create, jobs::list, jobs::show, jobs::delete, jobs::cancel, jobs::events,
        jobs::result, jobs::preview, queue::show, styles::list, styles::thumbnail, qualities::list,
        webhooks::show_secret, webhooks::rotate, keys::session, keys::create_key,
        keys::list_keys, keys::revoke_key, keys::delete_key_jobs, health::healthz,
        health::ready, metrics::scrape, document,
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest, Unauthorized, CrossSite, Forbidden, NotFound, BodyTimeout, Conflict, Gone,
            PayloadTooLarge, UnsupportedImage, Unprocessable, TooManyRequests, Unavailable,
            PngImage, JpegImage, EventStream,
        ),
    ),
    modifiers(&SecuritySchemes),
    // Job routes take an API key when keys are required (`auth.required`), in the header
    // or in the page's cookie; the others say otherwise.
    security((), ("api_key" = []), ("page_cookie" = [])),
)]
struct ApiDoc;

/// The document, made once per app: the annotations' document, with what they cannot
/// say written in (see [`Document::new`]).
pub struct Document(web::Bytes);

/// The OpenAPI document an api reading its presets from `dir` serves, as text: what the
/// clients made at set-up (Python, the page's types) are generated from.
pub fn document_text(dir: &str) -> anyhow::Result<String> {
    let (catalogue, _) = Catalogue::read(dir)?;
    let Document(bytes) = Document::new(&catalogue.ids());
    Ok(String::from_utf8(bytes.to_vec())?)
}

/// A parameter left out takes its quality's value: its `default` is stated only where
/// every quality agrees, so that a client filling in the defaults (as generated clients
/// do) does not override the quality it names.
fn state_quality_defaults(params: &mut Value) {
    let qualities: Vec<Value> = Quality::ALL
        .iter()
        .map(|quality| serde_json::to_value(quality.params()).expect("parameters serialise"))
        .collect();
    let properties = params["properties"]
        .as_object_mut()
        .expect("StyleParams has properties");
    for (name, property) in properties.iter_mut() {
        let agreed = qualities
            .iter()
            .all(|quality| quality[name] == qualities[0][name]);
        if name == "quality" || agreed {
            continue;
        }
        let property = property.as_object_mut().expect("a property is an object");
        property.remove("default");
        let described = property
            .get("description")
            .and_then(Value::as_str)
            .map_or(String::new(), |text| format!("{text} "));
        property.insert(
            "description".into(),
            format!("{described}Left out: the quality's value (GET /v1/qualities).").into(),
        );
    }
}

/// The operations a new job's answer links to, by their ids, each taking the job's id.
const JOB_OPERATIONS: [&str; 6] = ["show", "cancel", "delete", "result", "preview", "events"];

impl Document {
    /// The document for an api whose presets are `presets`: the parameters' bounds (from
    /// the one table the checks use), the submission form's schema (which parts it
    /// requires, the presets there are), how its parts are encoded (the parameters as
    /// JSON, the images as images), and the links from a new job's answer to the job's
    /// own operations.
    pub fn new(presets: &[&str]) -> Self {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        document["components"]["schemas"]["SubmissionForm"] = submission_form(presets);
        state_quality_defaults(&mut document["components"]["schemas"]["StyleParams"]);
        for bound in bounds::SCHEMA {
            let mut node = &mut document["components"]["schemas"][bound.schema]["properties"];
            for step in bound.path {
                node = &mut node[*step];
            }
            let keywords = node
                .as_object_mut()
                .unwrap_or_else(|| panic!("the schema {} has no {:?}", bound.schema, bound.path));
            keywords.extend(bound.constraint.keywords());
        }
        let create = &mut document["paths"]["/v1/jobs"]["post"];
        let images = json!({"contentType": "image/jpeg, image/png, image/webp"});
        create["requestBody"]["content"]["multipart/form-data"] = json!({
            "schema": {"$ref": "#/components/schemas/SubmissionForm"},
            "encoding": {
                "params": {"contentType": "application/json"},
                "content": images,
                "style": images,
            },
        });
        let links: serde_json::Map<String, Value> = JOB_OPERATIONS
            .iter()
            .map(|operation| {
                let link = json!({"operationId": operation,
                                  "parameters": {"id": "$response.body#/id"}});
                (operation.to_string(), link)
            })
            .collect();
        for status in ["200", "201", "202"] {
            create["responses"][status]["links"] = Value::Object(links.clone());
        }
        Document(web::Bytes::from(document.to_string()))
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", security(()), responses(
    (status = 200, description = "The OpenAPI document of this api", body = Object),
))]
async fn document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        // A shared buffer: each answer takes a reference, not a copy.
        .body(document.0.clone())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            bearer("An API key (`Authorization: Bearer sk_…`), made on /v1/admin/keys"),
        );
        components.add_security_scheme(
            "admin_token",
            bearer("The operator's admin token (`auth.admin_token`)"),
        );
        components.add_security_scheme(
            "page_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE,
                "A page visitor's own key, minted by POST /v1/session",
            ))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_is_stated_only_where_every_quality_agrees() {
        let Document(bytes) = Document::new(&["starry-night"]);
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        let properties = &document["components"]["schemas"]["StyleParams"]["properties"];
        assert_eq!(properties["quality"]["default"], json!("fine"));
        assert_eq!(properties["seed"]["default"], json!(0));
        for varies in ["iterations", "size", "optimizer", "init", "start_size"] {
            assert!(properties[varies].get("default").is_none(), "{varies}");
            assert!(properties[varies]["description"]
                .as_str()
                .unwrap()
                .ends_with("Left out: the quality's value (GET /v1/qualities)."));
        }
    }

    #[test]
    fn the_page_size_bound_is_the_one_listing_applies() {
        let Document(bytes) = Document::new(&["starry-night"]);
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        let parameters = document["paths"]["/v1/jobs"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let limit = parameters
            .iter()
            .find(|parameter| parameter["name"] == "limit")
            .unwrap();
        assert_eq!(
            limit["schema"]["maximum"],
            json!(crate::services::listing::MAX_PAGE)
        );
    }

    #[test]
    fn the_parameters_schema_states_each_bound_the_checks_use() {
        let Document(bytes) = Document::new(&["starry-night"]);
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        let schemas = &document["components"]["schemas"];
        let size = &schemas["StyleParams"]["properties"]["size"];
        assert_eq!(
            (&size["minimum"], &size["maximum"]),
            (&json!(16), &json!(2048))
        );
        let blend = &schemas["StyleParams"]["properties"]["style_blend_weights"];
        assert_eq!(blend["maxItems"], json!(8));
        assert_eq!(blend["items"]["exclusiveMinimum"], json!(0));
        assert_eq!(blend["items"]["maximum"], json!(1_000_000_000));
        let average = &schemas["StyleParams"]["properties"]["average"];
        assert_eq!(average["exclusiveMaximum"], json!(1));
        let layer = schemas["LayerWeight"]["properties"]["layer"]["pattern"]
            .as_str()
            .unwrap();
        assert!(layer.contains("|conv4_2|"), "{layer}");
        for bound in bounds::SCHEMA {
            let mut node = &schemas[bound.schema]["properties"];
            for step in bound.path {
                node = &node[*step];
            }
            for (keyword, value) in bound.constraint.keywords() {
                assert_eq!(node[&keyword], value, "{} {:?}", bound.schema, bound.path);
            }
        }
    }
}
