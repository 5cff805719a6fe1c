//! Paths the engine tests share: the converted weights and the sample assets, both made
//! or found by scripts/setup.sh. A missing file fails the test; nothing is skipped.

#![allow(dead_code)]

use std::path::PathBuf;
use stylize_shared::images::{self, ImageLimits};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn weights_path() -> PathBuf {
    std::env::var_os("STYLIZE_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/vgg19.safetensors"))
}

pub fn assets() -> PathBuf {
    std::env::var_os("STYLIZE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/assets"))
}

pub fn asset(relative: &str) -> PathBuf {
    assets().join(relative)
}

pub fn load_asset(relative: &str) -> image::RgbImage {
    let path = asset(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    images::decode(&bytes, &ImageLimits::default()).unwrap()
}
