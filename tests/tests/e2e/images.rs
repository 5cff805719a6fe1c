//! Uploads whose pixels are the trouble: a JPEG cut short and given its end marker back,
//! sizes the network cannot take, decompression bombs, and bursts of large images.

use reqwest::multipart::Form;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::{asset, form, Stack};

fn tiny() -> Value {
    json!({"size": 64, "iterations": 5})
}

/// `bytes` as a PNG, compressed as hard as PNG goes.
fn png(image: &image::DynamicImage) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut bytes = Vec::new();
    let encoder =
        PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, FilterType::NoFilter);
    image.write_with_encoder(encoder).unwrap();
    bytes
}

/// The bomb: 7000×7000 zeros, 47 KB.
fn bomb() -> Vec<u8> {
    png(&image::DynamicImage::ImageLuma8(image::GrayImage::new(
        7000, 7000,
    )))
}

/// The process's peak resident memory since the last [`reset_peak_memory`], in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Starts measuring the peak afresh from the memory in use now.
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn memory_now() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_jpeg_cut_short_is_refused_though_its_end_marker_was_put_back() {
    let stack = Stack::start().await;
    // A baseline photo and a progressive painting.
    for name in ["content/tubingen.jpg", "styles/great-wave.jpg"] {
        let whole = asset(name);
        let cut = [&whole[..whole.len() / 2], &[0xFF, 0xD9][..]].concat();
        let (status, problem) = stack
            .post_form(form::submission(cut, "udnie", tiny()))
            .await;
        assert_eq!(status, 422, "{name}: {problem}");
        assert_eq!(problem["type"], "urn:stylize:problem:invalid-image");
        assert_eq!(problem["field"], "content");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("truncated"), "{name}: {problem}");

        let (status, job) = stack
            .post_form(form::submission(whole, "udnie", tiny()))
            .await;
        assert_eq!(status, 202, "{name}: {job}");
    }
    assert_eq!(stack.count_jobs().await, 2);
}

#[tokio::test]
async fn every_dimension_error_is_a_422_naming_the_image() {
    let stack = Stack::start().await;
    let line = png(&image::DynamicImage::ImageRgb8(image::RgbImage::new(
        12_000, 1,
    )));
    let mut huge_header = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    huge_header.extend_from_slice(&100_000u32.to_be_bytes());
    huge_header.extend_from_slice(&100_000u32.to_be_bytes());
    huge_header.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let photo = asset("content/tubingen.jpg");
    let cases = [
        // Within the limits, but one pixel high is too thin for the network.
        (
            form::submission(line.clone(), "udnie", tiny()),
            "content",
            "12000×1",
        ),
        (
            form::submission(huge_header, "udnie", tiny()),
            "content",
            "100000×100000",
        ),
        (
            form::submission(bomb(), "udnie", tiny()),
            "content",
            "7000×7000",
        ),
        (
            Form::new()
                .part("content", form::file("photo.jpg", photo))
                .part("style", form::file("line.png", line))
                .text("params", tiny().to_string()),
            "style",
            "12000×1",
        ),
    ];
    for (body, field, size) in cases {
        let (status, problem) = stack.post_form(body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "urn:stylize:problem:bad-image-dimensions");
        assert!(
            problem["field"].as_str().unwrap().starts_with(field),
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(size),
            "{problem}"
        );
    }
    assert_eq!(stack.count_jobs().await, 0);
}

#[tokio::test]
async fn a_burst_of_decompression_bombs_is_refused_without_unpacking_them() {
    let stack = Stack::start().await;
    let bomb = bomb();
    assert!(bomb.len() < 60_000, "{} bytes", bomb.len());
    reset_peak_memory();
    let before = memory_now();
    let started = Instant::now();
    let answers = futures_util::future::join_all(
        (0..8).map(|_| stack.post_form(form::submission(bomb.clone(), "udnie", tiny()))),
    )
    .await;
    for (status, problem) in answers {
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "urn:stylize:problem:bad-image-dimensions");
    }
    // Unpacked, each would take 0.9 s and 190 MB.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let grew = peak_memory().saturating_sub(before);
    assert!(grew < 100 << 20, "the peak grew by {} MiB", grew >> 20);
    let (status, _) = stack.get_json("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn large_images_are_decoded_a_few_at_a_time() {
    let stack = Stack::start_with(|settings| settings.limits.max_concurrent_decodes = 2).await;
    // 24 Mpx, a smooth gradient (a JPEG of a few hundred KB): 72 MB decoded.
    let gradient = image::RgbImage::from_fn(6000, 4000, |x, y| {
        image::Rgb([(x / 24) as u8, (y / 16) as u8, ((x + y) / 40) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&gradient)
        .unwrap();
    drop(gradient);
    reset_peak_memory();
    let before = memory_now();
    let answers = futures_util::future::join_all(
        (0..8).map(|_| stack.post_form(form::submission(jpeg.clone(), "udnie", tiny()))),
    )
    .await;
    for (status, job) in answers {
        assert_eq!(status, 202, "{job}");
    }
    // Two at a time: about 150 MB at the peak, where eight at once would take 600.
    let grew = peak_memory().saturating_sub(before);
    assert!(grew < 320 << 20, "the peak grew by {} MiB", grew >> 20);
}
