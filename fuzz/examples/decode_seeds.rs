//! Writes small seed images for the `decode_image` target into OUT_DIR: every format and
//! pixel layout the gate takes (PNG grey/RGB/RGBA/16-bit, baseline JPEG in colour and
//! grey, a JPEG with an EXIF orientation, lossless WebP), plus each PHOTO (a JPEG, or a
//! folder of them) shrunk to 32 px. Small seeds keep the fuzzer fast; scripts/check/fuzz.sh
//! runs this.
//!
//! Usage: decode_seeds OUT_DIR [PHOTO...]

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use std::path::{Path, PathBuf};
use stylize_core::images::{self, ImageLimits, OutputFormat};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args
        .next()
        .ok_or("usage: decode_seeds OUT_DIR [PHOTO...]")?;
    std::fs::create_dir_all(&out)?;
    let mut written = 0;
    let mut write = |name: &str, bytes: Vec<u8>| -> Result<()> {
        // Every seed must pass the gate, or it seeds nothing past the header checks.
        images::decode(&bytes, &ImageLimits::default())
            .map_err(|e| format!("seed {name} does not decode: {e}"))?;
        std::fs::write(out.join(name), bytes)?;
        written += 1;
        Ok(())
    };

    let rgb = RgbImage::from_fn(24, 16, |x, y| {
        Rgb([(x * 10) as u8, (y * 15) as u8, ((x + y) * 6) as u8])
    });
    let grey: Vec<u8> = rgb.pixels().map(|p| p[0] / 2 + p[1] / 2).collect();
    let rgba: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], p[1]])
        .collect();
    let rgb16: Vec<u8> = rgb
        .as_raw()
        .iter()
        .flat_map(|v| (u16::from(*v) * 257).to_be_bytes())
        .collect();
    let (w, h) = rgb.dimensions();

    write("rgb.png", images::encode(&rgb, OutputFormat::Png)?)?;
    write("grey.png", png(&grey, w, h, ExtendedColorType::L8)?)?;
    write("rgba.png", png(&rgba, w, h, ExtendedColorType::Rgba8)?)?;
    write("rgb16.png", png(&rgb16, w, h, ExtendedColorType::Rgb16)?)?;
    let jpeg = images::encode(&rgb, OutputFormat::Jpeg)?;
    write("rotated.jpg", images::with_exif_orientation(&jpeg, 6))?;
    write("rgb.jpg", jpeg)?;
    let mut grey_jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut grey_jpeg, 80).write_image(
        &grey,
        w,
        h,
        ExtendedColorType::L8,
    )?;
    write("grey.jpg", grey_jpeg)?;
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp).write_image(&rgba, w, h, ExtendedColorType::Rgba8)?;
    write("rgba.webp", webp)?;

    for photo in args {
        let paths = if photo.is_dir() {
            jpegs(&photo)?
        } else {
            vec![photo]
        };
        for path in paths {
            let photo = images::decode(&std::fs::read(&path)?, &ImageLimits::default())?;
            let small = images::resize_longest(&photo, 32);
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            write(
                &format!("{stem}-32.jpg"),
                images::encode(&small, OutputFormat::Jpeg)?,
            )?;
            write(
                &format!("{stem}-32.png"),
                images::encode(&small, OutputFormat::Png)?,
            )?;
        }
    }
    println!("{written} seeds in {}", out.display());
    Ok(())
}

fn png(pixels: &[u8], width: u32, height: u32, color: ExtendedColorType) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes).write_image(pixels, width, height, color)?;
    Ok(bytes)
}

fn jpegs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "jpg" || e == "jpeg"));
    paths.sort();
    Ok(paths)
}
