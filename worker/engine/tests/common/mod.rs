//! Paths the engine tests share: the converted weights and the sample assets, both made
//! or found by scripts/setup.sh. A missing file fails the test; nothing is skipped.

#![allow(dead_code)]

use std::path::PathBuf;
use stylize_core::images::{self, ImageLimits};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn weights_path() -> PathBuf {
    std::env::var_os("STYLIZE_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/vgg19.safetensors"))
}

/// A file set-up makes, named by `variable` (as scripts/env.sh exports it) or found at
/// `default` under the checkout.
fn made_by_setup(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(default));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh, which makes it",
        path.display()
    );
    path
}

/// The fast network's converted weights (scripts/weights/convert_fast.py).
pub fn fast_weights_path() -> PathBuf {
    made_by_setup("STYLIZE_FAST_WEIGHTS", "var/fast.safetensors")
}

/// What onnxruntime made of the package's own graphs (scripts/weights/fast_reference.py).
pub fn fast_reference_path() -> PathBuf {
    made_by_setup("STYLIZE_FAST_REFERENCE", "var/fast_reference.safetensors")
}

pub fn assets() -> PathBuf {
    std::env::var_os("STYLIZE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("assets"))
}

pub fn asset(relative: &str) -> PathBuf {
    assets().join(relative)
}

pub fn load_asset(relative: &str) -> image::RgbImage {
    let path = asset(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    images::decode(&bytes, &ImageLimits::default()).unwrap()
}
