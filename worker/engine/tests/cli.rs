//! The `stylize` binary: bad input ends in one clear line and a non-zero exit, never a
//! panic; a tiny good run writes the image it was asked for.

mod common;

use common::{asset, fast_weights_path, weights_path};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stylize(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args(args)
        .env("STYLIZE_WEIGHTS", weights_path())
        .env("STYLIZE_FAST_WEIGHTS", fast_weights_path())
        .args(["--device", "cpu"])
        .output()
        .expect("stylize runs")
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stylize-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn assert_refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

/// Runs stylize on the sample photo with the preset painting `style`, writing `out`.
fn paint(style: &str, out: &str, options: &[&str]) -> Output {
    let content = path_str(&asset("content/tubingen.jpg"));
    let style = path_str(&asset(&format!("styles/{style}.jpg")));
    let mut args = vec!["-c", content.as_str(), "-s", style.as_str(), "-o", out];
    args.extend_from_slice(options);
    stylize(&args)
}

#[test]
fn bad_images_are_refused_with_one_clear_line() {
    let scratch = Scratch::new("images");
    let style = path_str(&asset("styles/starry-night.jpg"));
    let out = scratch.path("out.png");
    let jpeg = std::fs::read(asset("content/tubingen.jpg")).unwrap();
    let mut huge_png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    huge_png.extend_from_slice(&100_000u32.to_be_bytes());
    huge_png.extend_from_slice(&100_000u32.to_be_bytes());
    huge_png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.jpg", b"", "the image is empty"),
        ("cut.jpg", &jpeg[..jpeg.len() / 2], "truncated"),
        ("notes.txt", b"just some text\n", "unsupported image format"),
        ("huge.png", &huge_png, "100000×100000"),
    ];
    for (name, bytes, needle) in cases {
        let content = scratch.file(name, bytes);
        let output = stylize(&["-c", &content, "-s", &style, "-o", &out, "--size", "32"]);
        assert_refused(&output, needle);
        assert!(!Path::new(&out).exists());
    }
    let output = stylize(&["-c", &scratch.path("missing.jpg"), "-s", &style, "-o", &out]);
    assert_refused(&output, "cannot read");
}

#[test]
fn bad_numbers_are_refused() {
    let scratch = Scratch::new("numbers");
    let content = path_str(&asset("content/tubingen.jpg"));
    let style = path_str(&asset("styles/starry-night.jpg"));
    let out = scratch.path("out.png");
    let base = [
        "-c",
        content.as_str(),
        "-s",
        style.as_str(),
        "-o",
        out.as_str(),
    ];
    for (extra, needle) in [
        (&["--size", "0"][..], "size"),
        (&["--size=-5"][..], "invalid value"),
        (&["--iterations", "0"][..], "iterations"),
        (&["--style-weight=-1"][..], "style_weight"),
        (&["--tv-weight", "NaN"][..], "tv_weight"),
        (&["--style-layers", "conv9_9"][..], "unknown layer"),
        (&["--style-blend", "1,2"][..], "style_blend_weights"),
        (&["--quality", "best"][..], "unknown quality \"best\""),
        (&["--scale-factor", "3"][..], "scale_factor"),
        (&["--average", "1"][..], "average"),
        (
            &["--scales", "2", "--start-size", "64"][..],
            "cannot be used with",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        assert_refused(&stylize(&args), needle);
    }
    let wrong_extension = scratch.path("out.gif");
    let output = stylize(&["-c", &content, "-s", &style, "-o", &wrong_extension]);
    assert_refused(&output, ".png or .jpg");
}

#[test]
fn a_tiny_run_writes_the_image() {
    let scratch = Scratch::new("run");
    let out = scratch.path("out.jpg");
    let previews = scratch.path("previews");
    let output = paint(
        "the-scream",
        &out,
        &[
            "--size",
            "48",
            "-n",
            "4",
            "--preview-dir",
            &previews,
            "--preview-every",
            "2",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("done: 4 iterations"), "{stderr}");
    let image = image::open(&out).unwrap();
    assert_eq!(image.width().max(image.height()), 48);
    assert!(Path::new(&previews).join("00002.png").exists());
}

#[test]
fn a_quality_runs_its_scales_and_says_which() {
    let scratch = Scratch::new("quality");
    let out = scratch.path("out.png");
    let output = paint(
        "the-scream",
        &out,
        &[
            "--quality",
            "draft",
            "--size",
            "64",
            "--start-size",
            "32",
            "-n",
            "6",
            "--log-every",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // 32, 45 and 64 px: two iterations each.
    let scale_of = |iteration: u32| {
        let line = stderr
            .lines()
            .find(|line| line.starts_with(&format!("iteration {iteration} ")))
            .unwrap_or_else(|| panic!("no line for iteration {iteration} in {stderr}"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let scales: Vec<String> = (1..=6).map(scale_of).collect();
    assert_eq!(
        scales,
        ["1/3", "1/3", "2/3", "2/3", "3/3", "3/3"],
        "{stderr}"
    );
    assert!(stderr.contains("done: 6 iterations"), "{stderr}");
}

#[test]
fn init_fast_starts_from_the_fast_picture() {
    let scratch = Scratch::new("init-fast");
    let out = scratch.path("out.png");
    let output = paint(
        "starry-night",
        &out,
        &["--size", "48", "-n", "3", "--init", "fast"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for line in ["start image: fast pass", "transform", "done: 3 iterations"] {
        assert!(stderr.contains(line), "no {line:?} in: {stderr}");
    }
    assert_eq!(image::open(&out).unwrap().width(), 48);
}

#[test]
fn fast_mode_paints_in_one_pass_and_times_its_phases() {
    let scratch = Scratch::new("fast");
    let out = scratch.path("out.png");
    let content = path_str(&asset("content/tubingen.jpg"));
    let starry = path_str(&asset("styles/starry-night.jpg"));
    let wave = path_str(&asset("styles/great-wave.jpg"));
    let output = stylize(&[
        "--fast",
        "-c",
        &content,
        "-s",
        &starry,
        "-s",
        &wave,
        "--style-blend",
        "1,3",
        "--strength",
        "0.5",
        "--preserve-colors",
        "-o",
        &out,
        "--size",
        "64",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for phase in ["style prediction", "transform", "(64x48)"] {
        assert!(stderr.contains(phase), "no {phase:?} in: {stderr}");
    }
    assert_eq!(image::open(&out).unwrap().width(), 64);

    let base = ["--fast", "-c", &content, "-s", &starry, "-o", &out];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>| stylize(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_refused(&run(with(&["--strength", "1.5"])), "params.strength");
    assert_refused(&run(with(&["--size", "0"])), "params.size");
    let full = stylize(&[
        "-c",
        &content,
        "-s",
        &starry,
        "-o",
        &out,
        "--strength",
        "0.5",
    ]);
    assert_refused(&full, "--fast");
    let no_weights = Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args(base)
        .env_remove("STYLIZE_FAST_WEIGHTS")
        .output()
        .unwrap();
    assert_refused(&no_weights, "STYLIZE_FAST_WEIGHTS");
}
