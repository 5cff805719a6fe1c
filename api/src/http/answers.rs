//! The answers many operations give, for the OpenAPI document: the problems, images and
//! streams (each a `components/responses` entry named as its type; an operation names
//! one as `(status = …, response = Name)`), the groups of problems that every keyed or
//! per-job route gives, the paths' `{id}`s, and the submission form's schema.

use crate::http::problem::{self, Problem};
use crate::services::signing::MAX_URL_LENGTH;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use stylize_core::params::MAX_STYLES;
use stylize_shared::webhooks::EVENTS;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToResponse, ToSchema};

/// An answer of `content_type`, with `schema` when it is one.
fn answer(description: &str, content_type: &str, schema: Option<RefOr<Schema>>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(content_type, Content::new(schema))
        .build()
}

/// An image's bytes, as a generated client reads a file.
fn image_schema() -> Option<RefOr<Schema>> {
    let binary = SchemaFormat::KnownFormat(KnownFormat::Binary);
    Some(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(binary))
            .into(),
    )
}

fn problem_schema() -> Option<RefOr<Schema>> {
    Some(Ref::from_schema_name(Problem::name()).into())
}

/// Answers that many operations give, each a `components/responses` entry named as its
/// type; an operation names one as `(status = …, response = Name)`.
macro_rules! shared_answers {
    ($($name:ident: $content_type:expr, $schema:expr, $description:literal;)*) => {$(
        #[doc = $description]
        pub enum $name {}

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
    Forbidden: "Not for this caller: a page visitor has no webhook secret, and another site's \
         page may not change anything here";
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
    TooManyRequests: "Over the caller's rate (a key's, a visitor's, or its address's) or its active \
         jobs; `Retry-After` says when to try again";
    Unavailable: "A service the request needs does not answer (or the api is still starting); \
         `Retry-After` says when to try again";
}

shared_answers! {
    PngImage: "image/png", image_schema(), "The image, as PNG";
    JpegImage: "image/jpeg", image_schema(), "The image, as JPEG";
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
pub enum KeyedProblems {}

impl IntoResponses for KeyedProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        by_status([(401, name::<Unauthorized>()), (503, name::<Unavailable>())])
    }
}

/// The problems of every route of one job: those of [`KeyedProblems`], and no such job,
/// or a deleted one.
pub enum JobProblems {}

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
        pub enum $name {}

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

/// The schema of `POST /v1/jobs`'s form (`components/schemas/SubmissionForm`): a photo
/// (`content` or `content_url`) and one or more styles (any mix of `style`, `style_url`
/// and `preset` parts, at most [`MAX_STYLES`] together), `presets` being the ids this
/// api lists. Written out whole, as JSON Schema, since which parts are required (one of
/// two, one of three) is no struct's shape.
pub fn submission_form(presets: &[&str]) -> Value {
    let image = |description: &str| json!({"type": "string", "format": "binary", "description": description});
    let url = |description: &str| {
        json!({"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH,
               "description": description})
    };
    let list = |items: Value, description: &str| {
        json!({"type": "array", "items": items, "minItems": 1, "maxItems": MAX_STYLES,
               "description": description})
    };
    json!({
        "type": "object",
        "description": "A photo and one or more styles. Each image is JPEG, PNG or WebP.",
        "properties": {
            "content": image("The photo"),
            "content_url": url("The photo's URL, fetched once at submission"),
            "style": list(image("A style image"), "Style images, in blend order"),
            "style_url": list(url("A style image's URL"), "Style images' URLs"),
            "preset": list(json!({"type": "string", "enum": presets}),
                "Preset paintings, by the ids /v1/styles lists"),
            "params": {
                "allOf": [
                    {"$ref": "#/components/schemas/StyleParams"},
                    // An initial image is the CLI's: a form has no part that carries one.
                    {"properties": {"init": {"enum": ["content", "noise", "fast"]}}},
                ],
                "description": "The job's parameters as a JSON object; any left out take \
                    their defaults"
            },
            "webhook": url("An http(s) URL the job's events are POSTed to, signed per \
                Standard Webhooks"),
            "webhook_events": {
                "type": "array",
                "items": {"type": "string", "enum": EVENTS},
                "minItems": 1,
                "description": "Which events (the default: completed); a part may also \
                    list several, comma-separated"
            },
        },
        "additionalProperties": false,
        // Events name what a webhook is told: no webhook, no events.
        "dependentRequired": {"webhook_events": ["webhook"]},
        "allOf": [
            {"anyOf": [{"required": ["content"]}, {"required": ["content_url"]}]},
            {"not": {"required": ["content", "content_url"]}},
            {"anyOf": [{"required": ["style"]}, {"required": ["style_url"]},
                       {"required": ["preset"]}]},
        ],
    })
}
