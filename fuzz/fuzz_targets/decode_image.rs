//! Untrusted bytes through the image gate, as the api decodes every upload: no panic may
//! escape `decode`, and an image that passes must be within the limits it was given.
//!
//! `decode` catches a decoder's own panic and answers "corrupt" (zune-jpeg panics on
//! some malformed JPEGs: fuzz/regressions/decode_image/), so the target puts back the
//! default panic hook in place of libFuzzer's aborting one; a panic that escapes still
//! ends the run, through libfuzzer-sys's own check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stylize_core::images::{self, ImageLimits};

/// Small enough that a decode stays fast under the sanitizer, large enough for the sample
/// photos (1200×1528 at most) to pass whole.
const LIMITS: ImageLimits = ImageLimits {
    max_bytes: 4 * 1024 * 1024,
    max_pixels: 4_000_000,
    max_side: 4096,
};

fuzz_target!(
    init: {
        drop(std::panic::take_hook());
    },
    |bytes: &[u8]| {
        if let Ok(image) = images::decode(bytes, &LIMITS) {
            let (width, height) = image.dimensions();
            assert!(width > 0 && height > 0, "{width}×{height} has no pixels");
            assert!(
                width.max(height) <= LIMITS.max_side,
                "{width}×{height} is over the side limit"
            );
            assert!(
                u64::from(width) * u64::from(height) <= LIMITS.max_pixels,
                "{width}×{height} is over the pixel limit"
            );
            assert_eq!(
                image.as_raw().len(),
                width as usize * height as usize * 3,
                "an RGB buffer of the wrong size"
            );
        }
    }
);
