//! Query strings, read so that a mistake is told in plain words: a parameter the route
//! does not take, or one given twice, is refused naming it.

use crate::http::problem::ApiError;
use crate::services::error::{echo, InvalidParameter};
use std::collections::BTreeMap;

/// The parameters of `query`, each once, all among `known`.
pub fn parameters(query: &str, known: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut found = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let invalid = |message: String| InvalidParameter::new(echo(&name), message).into();
        if !known.contains(&name.as_ref()) {
            return Err(invalid(format!(
                "not a query parameter of this route; it takes {}",
                known.join(" and ")
            )));
        }
        if found.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(invalid("given twice; send it once".into()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let known = ["limit", "after"];
        let found = parameters("limit=5&after=a%20b", &known).unwrap();
        assert_eq!(found["limit"], "5");
        assert_eq!(found["after"], "a b");
        assert!(parameters("", &known).unwrap().is_empty());
        let error = parameters("limit=1&color=red", &known).unwrap_err();
        assert_eq!(
            error.to_string(),
            "color: not a query parameter of this route; it takes limit and after"
        );
        let error = parameters("limit=1&limit=2", &known).unwrap_err();
        assert_eq!(error.to_string(), "limit: given twice; send it once");
    }
}
