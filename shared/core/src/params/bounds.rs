//! Every bound a parameter has, in one place: the checks in [`super::plan`] test values
//! against these, their messages quote them, and the api's OpenAPI document writes
//! [`SCHEMA`] into the parameters' schema, so no bound is written twice.

use super::error::{invalid_param, ParamError};
use crate::vgg;
use serde_json::{json, Map, Value};
use std::fmt;

/// Largest output side the engine accepts; L-BFGS history grows with it.
pub const MAX_SIZE: u32 = 2048;
/// Smallest output side: four poolings must still leave a pixel for conv5_x.
pub const MIN_SIZE: u32 = 16;
pub const MAX_ITERATIONS: u32 = 10_000;
/// Most coarse-to-fine levels: from 128 px to 2048 px by √2 is nine.
pub const MAX_SCALES: u32 = 10;
/// Largest weight of any loss term, layer or blend: far past any useful balance (the
/// defaults are 1 to 100), and small enough that every weight round-trips through
/// PostgreSQL's JSON (which writes 1.7976931348623157e308 back as a number above
/// `f64::MAX`) and keeps the loss finite.
pub const MAX_WEIGHT: f64 = 1e9;
/// Largest step size: a step past the whole 0–255 pixel range means nothing.
pub const MAX_LEARNING_RATE: f64 = 255.0;
/// Most style images one job blends (uploads, URLs and presets together): each costs a
/// Gram matrix per style layer, and the api reads no further once a form holds more.
pub const MAX_STYLES: usize = 8;

/// A side in pixels: `size`, `start_size`, `detail.above`.
pub const SIDE: Bound = Bound::closed(MIN_SIZE as f64, MAX_SIZE as f64).in_units("pixels");
pub const ITERATIONS: Bound = Bound::closed(1.0, MAX_ITERATIONS as f64);
pub const SCALES: Bound = Bound::closed(1.0, MAX_SCALES as f64);
pub const LEARNING_RATE: Bound = Bound::closed(0.0, MAX_LEARNING_RATE).above_min();
/// A loss term's or a layer's weight.
pub const WEIGHT: Bound = Bound::closed(0.0, MAX_WEIGHT);
/// A style's blend weight: above 0, as a style weighted 0 is one the job should not send.
pub const BLEND_WEIGHT: Bound = Bound::closed(0.0, MAX_WEIGHT).above_min();
pub const STYLE_SCALE: Bound = Bound::closed(0.1, 4.0);
/// Below 1.1 the levels barely differ; above 2 the upsampled start is too blurred to help.
pub const SCALE_FACTOR: Bound = Bound::closed(1.1, 2.0);
/// `level_ratio` and `content_level_ratio`.
pub const LEVEL_RATIO: Bound = Bound::closed(1.0, 4.0);
/// 0 shows the last iterate; 1 would never move from the first.
pub const AVERAGE: Bound = Bound::closed(0.0, 1.0).below_max();

/// A range of numbers, each end in or out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub min: f64,
    pub max: f64,
    /// The minimum itself is out.
    pub min_excluded: bool,
    /// The maximum itself is out.
    pub max_excluded: bool,
    /// What the numbers count, for messages ("pixels"), or "".
    unit: &'static str,
}

impl Bound {
    const fn closed(min: f64, max: f64) -> Self {
        Bound {
            min,
            max,
            min_excluded: false,
            max_excluded: false,
            unit: "",
        }
    }

    const fn above_min(self) -> Self {
        Bound {
            min_excluded: true,
            ..self
        }
    }

    const fn below_max(self) -> Self {
        Bound {
            max_excluded: true,
            ..self
        }
    }

    const fn in_units(self, unit: &'static str) -> Self {
        Bound { unit, ..self }
    }

    /// Whether `value` is in the range (NaN never is).
    pub fn contains(&self, value: f64) -> bool {
        let above = if self.min_excluded {
            value > self.min
        } else {
            value >= self.min
        };
        let below = if self.max_excluded {
            value < self.max
        } else {
            value <= self.max
        };
        above && below
    }

    /// `value` of the parameter at `path`, or an error that quotes the range.
    pub fn check(&self, path: &str, value: f64) -> Result<(), ParamError> {
        if self.contains(value) {
            return Ok(());
        }
        Err(invalid_param(path, format!("must be {self}, got {value}")))
    }

    /// The range as JSON Schema keywords.
    pub fn keywords(&self) -> Map<String, Value> {
        let mut keywords = Map::new();
        let min = if self.min_excluded {
            "exclusiveMinimum"
        } else {
            "minimum"
        };
        let max = if self.max_excluded {
            "exclusiveMaximum"
        } else {
            "maximum"
        };
        keywords.insert(min.into(), number(self.min));
        keywords.insert(max.into(), number(self.max));
        keywords
    }
}

/// A number as JSON: whole numbers without a fraction, as a schema writes them.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 2f64.powi(53) {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// A bound in a message: large ones as 1e9.
fn shown(value: f64) -> String {
    if value.abs() >= 1e6 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (min, max) = (shown(self.min), shown(self.max));
        match (self.min_excluded, self.max_excluded) {
            (false, false) => write!(f, "from {min} to {max}")?,
            (true, false) => write!(f, "above {min} and at most {max}")?,
            (false, true) => write!(f, "from {min} to below {max}")?,
            (true, true) => write!(f, "above {min} and below {max}")?,
        }
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        Ok(())
    }
}

/// What a parameter's schema says of its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Constraint {
    Range(Bound),
    /// A list of at most this many.
    MaxItems(usize),
    /// One of VGG19's convolutions, by name ([`vgg::LAYERS`]).
    Layer,
}

impl Constraint {
    /// The constraint as JSON Schema keywords.
    pub fn keywords(&self) -> Map<String, Value> {
        match self {
            Constraint::Range(bound) => bound.keywords(),
            Constraint::MaxItems(count) => Map::from_iter([("maxItems".into(), json!(count))]),
            Constraint::Layer => Map::from_iter([(
                "pattern".into(),
                json!(format!("^({})$", vgg::LAYERS.join("|"))),
            )]),
        }
    }
}

/// Where a constraint applies in the parameters' schemas: the schema's name (as the
/// types derive it), and the path below its `properties` (`items` for a list's items).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchemaConstraint {
    pub schema: &'static str,
    pub path: &'static [&'static str],
    pub constraint: Constraint,
}

const fn on(
    schema: &'static str,
    path: &'static [&'static str],
    constraint: Constraint,
) -> SchemaConstraint {
    SchemaConstraint {
        schema,
        path,
        constraint,
    }
}

/// Every constraint of the parameters' schemas, each from the bound the checks use.
pub const SCHEMA: &[SchemaConstraint] = &[
    on("StyleParams", &["size"], Constraint::Range(SIDE)),
    on(
        "StyleParams",
        &["iterations"],
        Constraint::Range(ITERATIONS),
    ),
    on(
        "StyleParams",
        &["learning_rate"],
        Constraint::Range(LEARNING_RATE),
    ),
    on(
        "StyleParams",
        &["content_weight"],
        Constraint::Range(WEIGHT),
    ),
    on("StyleParams", &["style_weight"], Constraint::Range(WEIGHT)),
    on("StyleParams", &["tv_weight"], Constraint::Range(WEIGHT)),
    on(
        "StyleParams",
        &["style_blend_weights"],
        Constraint::MaxItems(MAX_STYLES),
    ),
    on(
        "StyleParams",
        &["style_blend_weights", "items"],
        Constraint::Range(BLEND_WEIGHT),
    ),
    on(
        "StyleParams",
        &["style_scale"],
        Constraint::Range(STYLE_SCALE),
    ),
    on("StyleParams", &["scales"], Constraint::Range(SCALES)),
    on("StyleParams", &["start_size"], Constraint::Range(SIDE)),
    on(
        "StyleParams",
        &["scale_factor"],
        Constraint::Range(SCALE_FACTOR),
    ),
    on(
        "StyleParams",
        &["level_ratio"],
        Constraint::Range(LEVEL_RATIO),
    ),
    on(
        "StyleParams",
        &["content_level_ratio"],
        Constraint::Range(LEVEL_RATIO),
    ),
    on("StyleParams", &["average"], Constraint::Range(AVERAGE)),
    on("LayerWeight", &["layer"], Constraint::Layer),
    on("LayerWeight", &["weight"], Constraint::Range(WEIGHT)),
    on("DetailLevels", &["above"], Constraint::Range(SIDE)),
    on("DetailLevels", &["deepest"], Constraint::Layer),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_in_or_out_and_nan_is_out() {
        assert!(SIDE.contains(16.0) && SIDE.contains(2048.0) && !SIDE.contains(15.0));
        assert!(!LEARNING_RATE.contains(0.0) && LEARNING_RATE.contains(255.0));
        assert!(AVERAGE.contains(0.0) && !AVERAGE.contains(1.0));
        for bound in [SIDE, WEIGHT, AVERAGE, BLEND_WEIGHT] {
            assert!(!bound.contains(f64::NAN) && !bound.contains(f64::INFINITY));
        }
    }

    #[test]
    fn messages_and_keywords_quote_the_bound() {
        assert_eq!(SIDE.to_string(), "from 16 to 2048 pixels");
        assert_eq!(WEIGHT.to_string(), "from 0 to 1e9");
        assert_eq!(LEARNING_RATE.to_string(), "above 0 and at most 255");
        assert_eq!(AVERAGE.to_string(), "from 0 to below 1");
        let error = ITERATIONS.check("iterations", 0.0).unwrap_err();
        assert_eq!(error.field, "params.iterations");
        assert_eq!(error.message, "must be from 1 to 10000, got 0");
        assert_eq!(
            Value::Object(BLEND_WEIGHT.keywords()),
            json!({"exclusiveMinimum": 0, "maximum": 1_000_000_000})
        );
        assert_eq!(
            Value::Object(STYLE_SCALE.keywords()),
            json!({"minimum": 0.1, "maximum": 4})
        );
        let pattern = Constraint::Layer.keywords()["pattern"].clone();
        assert!(pattern.as_str().unwrap().starts_with("^(conv1_1|conv1_2|"));
    }
}
