//! What the image gate costs beside one plain decode, medians of 15 runs: `images::decode`
//! (format and size checks, the decode, and for a JPEG the proof that its scan data is
//! complete), `images::measure` (the same checks, as the api makes them, without building
//! the RGB image), and `image`'s own decode of the same bytes.
//!
//! Usage: cargo run --release -p stylize-core --example decode_cost -- IMAGE...

use std::time::Instant;
use stylize_core::images::{self, ImageLimits};

fn median<T>(mut run: impl FnMut() -> T) -> (f64, T) {
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..15 {
        let started = Instant::now();
        last = Some(run());
        seconds.push(started.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    (seconds[seconds.len() / 2], last.expect("15 runs"))
}

fn main() {
    let limits = ImageLimits::default();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("a readable image");
        let (gate, checked) =
            median(|| images::decode(&bytes, &limits).expect("an image the gate takes"));
        let (measure, size) =
            median(|| images::measure(&bytes, &limits).expect("an image the gate takes"));
        let (plain, decoded) =
            median(|| image::load_from_memory(&bytes).expect("an image").to_rgb8());
        assert_eq!(checked.dimensions(), decoded.dimensions());
        assert_eq!(size, decoded.dimensions());
        println!(
            "{path}: {} bytes; decode {gate:.4} s, measure {measure:.4} s, one plain decode \
             {plain:.4} s; ratios {:.2}, {:.2}",
            bytes.len(),
            gate / plain,
            measure / plain,
        );
    }
}
