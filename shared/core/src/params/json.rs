//! Reading the `params` form field: one JSON object whose fields go over a quality
//! preset's (or the defaults), named in this api's words when they cannot be read.

use super::error::{invalid, invalid_param, ParamError};
use super::quality::Quality;
use super::types::StyleParams;

impl StyleParams {
    /// Reads parameters as the `params` form field carries them: one JSON object (serde
    /// would also read an array, by position) and nothing after it but white space.
    /// Checks names and types; [`super::Plan::new`] checks values, and names a field the
    /// same way.
    pub fn from_json(bytes: &[u8]) -> Result<StyleParams, ParamError> {
        Self::from_json_over(&StyleParams::default(), bytes)
    }

    /// [`Self::from_json`] with `base` in place of the defaults: the object's fields
    /// replace `base`'s, whole (a list of layers replaces the list).
    pub fn from_json_over(base: &StyleParams, bytes: &[u8]) -> Result<StyleParams, ParamError> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(invalid(
                "params",
                "must be a JSON object, such as {\"size\": 384}",
            ));
        }
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let given: serde_json::Map<String, serde_json::Value> =
            serde::Deserialize::deserialize(&mut json).map_err(|e| invalid("params", e))?;
        json.end().map_err(|e| invalid("params", e))?;
        let base = match given.get("quality").filter(|name| !name.is_null()) {
            Some(name) => serde_json::from_value::<Quality>(name.clone())
                .map_err(|e| invalid_param("quality", e))?
                .params(),
            None => base.clone(),
        };
        let serde_json::Value::Object(mut merged) =
            serde_json::to_value(&base).expect("parameters serialise")
        else {
            unreachable!("parameters serialise as an object")
        };
        if given.contains_key("scales") && !given.contains_key("start_size") {
            merged.insert("start_size".into(), serde_json::Value::Null);
        }
        // Named in this api's words, not serde's (which lists every field in backticks).
        let known = |name: &str| name == "quality" || merged.contains_key(name);
        if let Some(unknown) = given.keys().find(|name| !known(name)) {
            let mut names: Vec<&str> = merged.keys().map(String::as_str).collect();
            names.push("quality");
            names.sort_unstable();
            return Err(invalid_param(
                unknown,
                format!("is not a parameter; they are {}", names.join(", ")),
            ));
        }
        merged.extend(given);
        // serde quotes names in backticks, as Rust source does; answers quote as JSON.
        serde_path_to_error::deserialize(serde_json::Value::Object(merged)).map_err(|e| {
            let message = e.inner().to_string().replace('`', "\"");
            invalid_param(&e.path().to_string(), message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Init, Mode, Optimizer};

    #[test]
    fn unknown_fields_are_refused() {
        let error = StyleParams::from_json(br#"{"sizee": 3}"#).unwrap_err();
        assert_eq!(error.field, "params.sizee");
        assert!(
            error.message.starts_with("is not a parameter; they are "),
            "{error}"
        );
        assert!(error.message.contains(" size,"), "{error}");
        assert!(!error.message.contains('`'), "{error}");
    }

    #[test]
    fn params_are_one_json_object() {
        let params = StyleParams::from_json(b" {\"size\": 64}\n").unwrap();
        assert_eq!(params.size, 64);
        assert_eq!(
            StyleParams::from_json(b"{}").unwrap(),
            StyleParams::default()
        );
        // serde reads a struct from an array by position: [64, 0] would be size 64 and
        // iterations 0, and [] every default.
        for json in ["[]", "[64, 0]", "64", "\"x\"", "null", "", "{} {}", "{}x"] {
            let error = StyleParams::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(error.field, "params", "{json}: {error}");
        }
    }

    #[test]
    fn a_start_image_is_not_read_from_json() {
        let error = StyleParams::from_json(br#"{"init": "image"}"#).unwrap_err();
        assert_eq!(error.field, "params.init");
        for name in ["\"content\"", "\"noise\"", "\"fast\""] {
            assert!(error.message.contains(name), "{error}");
        }
        assert!(!error.message.contains('`'), "{error}");
    }

    #[test]
    fn modes_and_the_fast_init_parse() {
        let params = StyleParams::from_json(br#"{"mode": "fast", "init": "fast"}"#).unwrap();
        assert_eq!((params.mode, params.init), (Mode::Fast, Init::Fast));
        assert_eq!(StyleParams::default().mode, Mode::Full);
        let error = StyleParams::from_json(br#"{"mode": "quick"}"#).unwrap_err();
        assert_eq!(error.field, "params.mode");
    }

    #[test]
    fn a_quality_fills_what_the_request_does_not_give() {
        let params = StyleParams::from_json(br#"{"quality": "classic", "size": 300}"#).unwrap();
        assert_eq!(params.quality, Some(Quality::Classic));
        assert_eq!((params.size, params.optimizer), (300, Optimizer::Adam));
        assert_eq!(
            StyleParams::from_json(br#"{"quality": "draft"}"#).unwrap(),
            Quality::Draft.params()
        );
        // A count of scales replaces the preset's schedule from a start size.
        let counted = StyleParams::from_json(br#"{"quality": "fine", "scales": 2}"#).unwrap();
        assert_eq!((counted.start_size, counted.scales), (None, 2));
        let error = StyleParams::from_json(br#"{"quality": "best"}"#).unwrap_err();
        assert_eq!(error.field, "params.quality");
        assert!(error.message.contains("unknown variant"), "{error}");
        for quality in Quality::ALL {
            assert_eq!(quality.name().parse(), Ok(quality));
            assert_eq!(quality.params().quality, Some(quality));
        }
    }
}
