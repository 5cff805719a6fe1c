//! What the image gate costs beside one plain decode: `images::decode` (format and size
//! checks, the full decode, and for a JPEG the second decode that proves its scan data
//! complete) against `image`'s own decode of the same bytes, medians of 15 runs.
//!
//! Usage: cargo run --release -p stylize-shared --example decode_cost -- IMAGE

use std::time::Instant;
use stylize_shared::images::{self, ImageLimits};

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: decode_cost IMAGE");
    let bytes = std::fs::read(&path).expect("a readable image");
    let limits = ImageLimits::default();
    let (mut gate, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let started = Instant::now();
        let checked = images::decode(&bytes, &limits).expect("an image the gate takes");
        gate.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let decoded = image::load_from_memory(&bytes).expect("an image").to_rgb8();
        plain.push(started.elapsed().as_secs_f64());
        assert_eq!(checked.dimensions(), decoded.dimensions());
    }
    let (gate, plain) = (median(gate), median(plain));
    println!(
        "{path}: {} bytes; the gate {gate:.4} s, one plain decode {plain:.4} s, ratio {:.2}",
        bytes.len(),
        gate / plain
    );
}
