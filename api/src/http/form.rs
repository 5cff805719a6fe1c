//! The form of `POST /v1/jobs`, read into a [`Submission`] within the body's limit:
//! parts refused by name before their bytes are read, each file hashed as it arrives.

use crate::http::problem::ApiError;
use crate::services::error::{echo, InvalidParameter};
use crate::services::submission::{Part, Submission};
use actix_multipart::{Multipart, MultipartError};
use actix_web::error::{ParseError, PayloadError};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use stylize_core::params::{StyleParams, MAX_STYLES};

/// The longest text field (a URL, a preset's id, the parameters' JSON).
const MAX_TEXT_PART: usize = 64 * 1024;

/// Reads one form part within what is left of the body's `budget` (of `limit`) and
/// within `part_limit`, hashing its bytes as they arrive: a part too large is refused as
/// soon as it is, not once it has all arrived.
async fn read_part(
    field: &mut actix_multipart::Field,
    budget: &mut usize,
    limit: usize,
    part_limit: usize,
) -> Result<Part, ApiError> {
    let mut bytes = Vec::new();
    let mut digest = Sha256::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(form_error)?;
        if chunk.len() > *budget {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if bytes.len() + chunk.len() > part_limit {
            return Err(ApiError::PartTooLarge {
                field: field.name().unwrap_or_default().to_owned(),
                limit: part_limit,
            });
        }
        *budget -= chunk.len();
        digest.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    Ok(Part {
        bytes,
        digest: digest.finalize().into(),
    })
}

/// What is wrong with a body that is not a well-formed form, in this api's words.
fn form_error(error: MultipartError) -> ApiError {
    let message = match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            "a submission is a multipart/form-data body (as curl -F sends it), not this \
             Content-Type"
        }
        MultipartError::BoundaryMissing => {
            "the form's boundary is missing where one is due: the Content-Type names none, \
             or the body was cut off or is not the form it declares"
        }
        MultipartError::Incomplete
        | MultipartError::Payload(PayloadError::Incomplete(_))
        | MultipartError::Parse(ParseError::Incomplete) => {
            "the form ended before its closing boundary: the body was cut off"
        }
        MultipartError::Payload(_) => "the body could not be read to its end",
        MultipartError::ContentDispositionMissing
        | MultipartError::ContentDispositionNameMissing => {
            "each part of the form needs a Content-Disposition: form-data header with a name"
        }
        MultipartError::Nested => "a part of the form cannot itself be multipart",
        _ => "a part of the form could not be read: its headers are malformed",
    };
    ApiError::BadRequest(message.into())
}

/// A text field's value, trimmed.
fn text(field: &str, bytes: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(bytes)
        .map(|text| text.trim().to_owned())
        .map_err(|_| ApiError::BadRequest(format!("the form field {field:?} is text")))
}

/// Refuses a part by its name alone, before any of its bytes are read: an unknown
/// field, a second `content`, `content_url` or `params`, a style past [`MAX_STYLES`].
fn admit_part(submission: &Submission, name: &str) -> Result<(), ApiError> {
    let once = |present: bool| {
        if present {
            Err(ApiError::BadRequest(format!("send one {name:?} field")))
        } else {
            Ok(())
        }
    };
    match name {
        "content" => once(submission.content.is_some()),
        "content_url" => once(submission.content_url.is_some()),
        "params" => once(submission.params.is_some()),
        "webhook" => once(submission.webhook.url.is_some()),
        "webhook_events" => Ok(()),
        "style" | "style_url" | "preset" if submission.style_count() == MAX_STYLES => {
            Err(InvalidParameter {
                field: name.into(),
                message: format!(
                    "at most {MAX_STYLES} style images (style, style_url and preset fields \
                     together)"
                ),
            }
            .into())
        }
        "style" | "style_url" | "preset" => Ok(()),
        other => Err(ApiError::BadRequest(format!(
            "unknown form field {:?}; expected content, content_url, style, style_url, \
             preset, params, webhook or webhook_events",
            echo(other)
        ))),
    }
}

/// Reads the form within `limit` bytes, `max_parts` parts and `max_image_bytes` an image.
pub async fn read_submission(
    mut multipart: Multipart,
    limit: usize,
    max_parts: usize,
    max_image_bytes: usize,
) -> Result<Submission, ApiError> {
    let mut submission = Submission::default();
    let mut budget = limit;
    let mut parts = 0;
    while let Some(mut field) = multipart.try_next().await.map_err(form_error)? {
        parts += 1;
        if parts > max_parts {
            return Err(ApiError::BadRequest(format!(
                "a submission's form has at most {max_parts} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        admit_part(&submission, &name)?;
        let part_limit = match name.as_str() {
            "content" | "style" => max_image_bytes,
            _ => MAX_TEXT_PART,
        };
        let part = read_part(&mut field, &mut budget, limit, part_limit).await?;
        match name.as_str() {
            "content" => submission.content = Some(part),
            "content_url" => submission.content_url = Some(text(&name, part.bytes)?),
            "style" => submission.styles.push(part),
            "style_url" => submission.style_urls.push(text(&name, part.bytes)?),
            "preset" => submission.presets.push(text(&name, part.bytes)?),
            "params" => {
                submission.params =
                    Some(StyleParams::from_json(&part.bytes).map_err(InvalidParameter::from)?)
            }
            "webhook" => submission.webhook.url = Some(text(&name, part.bytes)?),
            "webhook_events" => submission.webhook.events.push(text(&name, part.bytes)?),
            _ => unreachable!("admit_part lets only these through"),
        }
    }
    Ok(submission)
}
