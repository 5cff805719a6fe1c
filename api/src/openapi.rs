//! The api's OpenAPI document, derived from its handlers' `#[utoipa::path]` annotations and
//! its answers' types, and served at `GET /openapi.json`. The answers many operations
//! give (the problems, images, streams) are `components/responses`, defined here once and
//! referenced by the operations, alone or in the groups below.

use crate::problem::{self, Problem};
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use stylize_shared::params::StyleParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(crate::edge::resource("/openapi.json").route(crate::edge::get().to(document)));
}

#[derive(OpenApi)]
#[openapi(
    info(title = "stylize", description = "Neural style transfer as a service: submit a photo and \
        style images, follow the job, fetch the picture."),
    paths(
        crate::jobs::create, crate::jobs::list, crate::jobs::show, crate::deletion::delete,
        crate::jobs::cancel, crate::jobs::events, crate::jobs::result, crate::jobs::preview,
        crate::queue::show, crate::presets::list, crate::presets::thumbnail,
        crate::webhooks::show_secret, crate::webhooks::rotate, crate::auth::session,
        crate::auth::create_key, crate::auth::list_keys, crate::auth::revoke_key,
        crate::deletion::delete_key_jobs, crate::health::healthz, crate::health::ready,
        crate::metrics::scrape, document,
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest, Unauthorized, CrossSite, NotFound, BodyTimeout, Conflict, Gone,
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

/// The document, made once.
fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the document serialises")
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", security(()), responses(
    (status = 200, description = "The OpenAPI document of this api", body = Object),
))]
async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
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
                crate::auth::COOKIE,
                "The page's key, handed over by POST /v1/session",
            ))),
        );
    }
}

/// An answer of `content_type`, with `schema` when it is one.
fn answer(description: &str, content_type: &str, schema: Option<RefOr<Schema>>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(content_type, Content::new(schema))
        .build()
}

fn problem_schema() -> Option<RefOr<Schema>> {
    Some(Ref::from_schema_name(Problem::name()).into())
}

/// Answers that many operations give, each a `components/responses` entry named as its
/// type; an operation names one as `(status = …, response = Name)`.
macro_rules! shared_answers {
    ($($name:ident: $content_type:expr, $schema:expr, $description:literal;)*) => {$(
        #[doc = $description]
        pub(crate) enum $name {}

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), answer($description, $content_type, $schema).into())
            }
        }
    )*};
}

/// Shared answers that are problems (problem+json).
macro_rules! problem_answers {
    ($($name:ident: $description:literal;)*) => {
        shared_answers! { $($name: problem::CONTENT_TYPE, problem_schema(), $description;)* }
    };
}

problem_answers! {
    BadRequest: "A malformed request, or a parameter out of range (named in `field`)";
    Unauthorized: "No API key where keys are required, or one unknown or revoked; on the admin routes, \
         no admin token";
    CrossSite: "Another site's page may not change anything here: send an API key";
    NotFound: "No such job (another key's job is as absent), key or style";
    BodyTimeout: "The body did not arrive within `limits.submission_read_seconds`";
    Conflict: "The request does not fit the job's state (not ready, already finished) or how the \
         api is set up";
    Gone: "The job was deleted (by its owner, an operator or retention), or ended without the \
         image asked for";
    PayloadTooLarge: "The body, or an image in it, is over its limit";
    UnsupportedImage: "An image in a format the api does not read";
    Unprocessable: "An image that cannot be used, a URL refused or not fetched, or an Idempotency-Key \
         reused for a different request";
    TooManyRequests: "Over the key's submission rate or active jobs; `Retry-After` says when to try again";
    Unavailable: "A service the request needs does not answer (or the api is still starting); \
         `Retry-After` says when to try again";
}

shared_answers! {
    PngImage: "image/png", None, "The image, as PNG";
    JpegImage: "image/jpeg", None, "The image, as JPEG";
    EventStream: "text/event-stream", None,
        "Server-sent events: `state` (the job's view) at once and at each change of state, \
         `progress` (its live progress) as the worker publishes it; the stream ends after a \
         terminal state";
}

/// Shared answers, by status, as references.
fn by_status<const N: usize>(answers: [(u16, &str); N]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .into_iter()
        .map(|(status, name)| (status.to_string(), Ref::from_response_name(name).into()))
        .collect()
}

fn name<'s, R: ToResponse<'s>>() -> &'s str {
    R::response().0
}

/// The problems of every route that takes a key (or the admin token).
pub(crate) enum KeyedProblems {}

impl IntoResponses for KeyedProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        by_status([(401, name::<Unauthorized>()), (503, name::<Unavailable>())])
    }
}

/// The problems of every route of one job: those of [`KeyedProblems`], and no such job,
/// or a deleted one.
pub(crate) enum JobProblems {}

impl IntoResponses for JobProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = KeyedProblems::responses();
        responses.extend(by_status([
            (404, name::<NotFound>()),
            (410, name::<Gone>()),
        ]));
        responses
    }
}

/// A path's `{id}`, described.
fn path_id(description: &str) -> Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(description))
        .schema(Some(String::schema()))
        .build()
}

/// The `{id}`s of paths, as an operation's `params(...)` names them.
macro_rules! path_ids {
    ($($name:ident: $description:literal;)*) => {$(
        #[doc = $description]
        pub(crate) enum $name {}

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![path_id($description)]
            }
        }
    )*};
}

path_ids! {
    JobId: "The job's id, hyphenated and lower-case as the api writes it";
    KeyId: "The API key's id";
    StyleId: "The preset's id, as /v1/styles lists it";
}

/// The form of `POST /v1/jobs`: a photo (`content` or `content_url`) and one or more
/// styles (any mix of `style`, `style_url` and `preset` fields).
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "only its schema is used: jobs::read_submission reads the form"
)]
pub(crate) struct SubmissionForm {
    /// The photo.
    #[schema(value_type = Option<String>, format = Binary)]
    content: Option<Vec<u8>>,
    /// The photo's URL, fetched once at submission.
    content_url: Option<String>,
    /// Style images, in blend order.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    style: Option<Vec<Vec<u8>>>,
    /// Style images' URLs.
    style_url: Option<Vec<String>>,
    /// Preset paintings, by the ids `/v1/styles` lists.
    preset: Option<Vec<String>>,
    /// The job's parameters as JSON; any left out take their defaults.
    params: Option<StyleParams>,
    /// An http(s) URL the job's events are POSTed to, signed per Standard Webhooks.
    webhook: Option<String>,
    /// Which events: any of `start`, `progress`, `completed` (the default), in one field
    /// comma-separated or in several.
    webhook_events: Option<Vec<String>>,
}
