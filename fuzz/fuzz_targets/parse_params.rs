//! The `params` form field as the api reads it: `StyleParams::from_json` (the one
//! parser, which the api's `read_submission` calls), then planned for the job's style
//! count (`Plan::new`, the one check) and checked against its image sizes. No input may panic, and what passes must
//! be something the worker can use: it stays valid after the trip through the database
//! as JSON, and what the engine derives from it is sane.
//!
//! The input is the field's bytes up to the first NUL byte (which no JSON text holds).
//! The bytes after it, read backwards, give the style count and the image sizes: the
//! parser refuses anything after the JSON but white space, so the sizes cannot ride on
//! the field itself. Seeds can be plain JSON files (their images are then 1×1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stylize_core::images::{fit_longest, ImageLimits};
use stylize_core::params::{Init, Plan, StyleParams, MAX_SIZE, MAX_STYLES, MIN_SIZE};

/// The style count (1 to [`MAX_STYLES`]), the content image's size and each style
/// image's size, as the api would have measured them: at least 1 and at most the
/// default side limit.
fn sizes(tail: &[u8]) -> (usize, (u32, u32), Vec<(u32, u32)>) {
    let max_side = ImageLimits::default().max_side;
    let mut tail = tail.iter().rev().copied();
    let mut next = || tail.next().unwrap_or(0);
    let style_count = 1 + usize::from(next()) % MAX_STYLES;
    let mut side = || 1 + u32::from(u16::from_le_bytes([next(), next()])) % max_side;
    let content = (side(), side());
    let styles = (0..style_count).map(|_| (side(), side())).collect();
    (style_count, content, styles)
}

fuzz_target!(|data: &[u8]| {
    let (field, tail) = match data.iter().position(|&byte| byte == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let (style_count, content, styles) = sizes(tail);

    let params = match StyleParams::from_json(field) {
        Ok(params) => params,
        Err(error) => {
            assert!(
                error.field == "params" || error.field.starts_with("params."),
                "{error}"
            );
            std::hint::black_box(error.to_string());
            return;
        }
    };
    if params.init == Init::Image {
        return; // The api refuses it before planning.
    }
    let Ok(plan) = Plan::new(params.clone(), style_count) else {
        return;
    };
    if plan.check_image_sizes(content, &styles).is_ok() {
        let (width, height) = fit_longest(content.0, content.1, plan.size);
        assert_eq!(
            width.max(height),
            plan.size,
            "{content:?} to {width}×{height}"
        );
        assert!(width.min(height) >= 1, "{content:?} to {width}×{height}");
    }

    engine_view(&plan, style_count);

    // Stored as JSON (a JSONB column) and read back by the worker, which plans it again.
    let stored = serde_json::to_vec(&params).expect("planned params serialise");
    let read: StyleParams = serde_json::from_slice(&stored).unwrap_or_else(|e| {
        panic!(
            "stored params do not parse back: {e}: {}",
            String::from_utf8_lossy(&stored)
        )
    });
    if let Err(error) = Plan::new(read.clone(), style_count) {
        panic!("params valid before storing are not after: {error}: {read:?} from {params:?}");
    }
    assert_same(&params, &read);
});

/// What the engine reads of a plan.
fn engine_view(plan: &Plan, style_count: usize) {
    let rate = plan.learning_rate();
    assert!(rate.is_finite() && rate > 0.0, "learning rate {rate}");

    let levels = plan.levels();
    assert_eq!(levels.last().map(|level| level.side), Some(plan.size));
    assert_eq!(
        levels.iter().map(|level| level.iterations).sum::<u32>(),
        plan.iterations
    );
    for level in levels {
        assert!((MIN_SIZE..=MAX_SIZE).contains(&level.side), "{level:?}");
        assert!(level.iterations >= 1, "a level without iterations: {level:?}");
        assert!(level.cost.is_finite() && level.cost > 0.0, "{level:?}");
        let content_weight = level.content_weight;
        assert!(content_weight.is_finite(), "{level:?}");
    }

    let blend = plan.blend();
    assert_eq!(blend.len(), style_count);
    let sum: f64 = blend.iter().sum();
    assert!(
        blend.iter().all(|w| w.is_finite() && *w >= 0.0) && (sum - 1.0).abs() < 1e-9,
        "blend weights {:?} normalise to {blend:?}",
        plan.style_blend_weights
    );
}

/// `a` and `b` hold the same parameters. Floats may differ in their last bits: serde_json,
/// without its `float_roundtrip` feature, parses some numbers 1 or 2 ulp away from the
/// value that printed them.
fn assert_same(a: &StyleParams, b: &StyleParams) {
    fn close(x: f64, y: &mut f64) {
        assert!(
            x == *y || (x - *y).abs() <= 1e-12 * x.abs().max(y.abs()),
            "{x:e} was stored as {y:e}"
        );
        *y = x;
    }
    let mut b = b.clone();
    close(a.content_weight, &mut b.content_weight);
    close(a.style_weight, &mut b.style_weight);
    close(a.tv_weight, &mut b.tv_weight);
    close(a.style_scale, &mut b.style_scale);
    if let (Some(x), Some(y)) = (a.learning_rate, b.learning_rate.as_mut()) {
        close(x, y);
    }
    for (x, y) in a.style_blend_weights.iter().zip(&mut b.style_blend_weights) {
        close(*x, y);
    }
    let layers = a.content_layers.iter().zip(&mut b.content_layers);
    for (x, y) in layers.chain(a.style_layers.iter().zip(&mut b.style_layers)) {
        close(x.weight, &mut y.weight);
    }
    // Everything else, and the floats now that they are known to be close, exactly.
    assert_eq!(a, &b);
}
