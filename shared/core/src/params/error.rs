//! How a parameter or input that cannot be used is named.

use std::fmt;

/// A parameter or input that cannot be used, named as a submission names it: a
/// parameter as `params.<path>` (`params` for the whole value), whether it failed to
/// parse or is out of range; an image by its form field (`content`, `style[i]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

pub(crate) fn invalid(field: impl Into<String>, message: impl fmt::Display) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.to_string(),
    }
}

/// The field name of the parameter at `path` (as serde_path_to_error prints it, `.` for
/// the root).
fn param(path: &str) -> String {
    match path {
        "" | "." => "params".to_owned(),
        path => format!("params.{path}"),
    }
}

pub(crate) fn invalid_param(path: &str, message: impl fmt::Display) -> ParamError {
    invalid(param(path), message)
}
