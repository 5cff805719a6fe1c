//! The gate every image passes: untrusted bytes in, an upright RGB image out, or a typed
//! error that says what was wrong. Limits are checked before pixels are allocated.

use image::{
    codecs::jpeg::JpegEncoder, imageops::FilterType, metadata::Orientation, DynamicImage,
    GenericImageView, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage,
};
use std::hash::BuildHasher;
use std::io::Cursor;
use std::path::Path;
use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
use zune_jpeg::JpegDecoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub max_side: u32,
}

impl Default for ImageLimits {
    /// Generous for phone photos (a 50 Mpx camera), small enough that a decode fits in a
    /// few hundred MiB.
    fn default() -> Self {
        ImageLimits {
            max_bytes: 30 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 12_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the image is empty")]
    Empty,
    #[error("the image is {bytes} bytes; the limit is {max} bytes")]
    TooManyBytes { bytes: usize, max: usize },
    #[error("unsupported image format{}; use JPEG, PNG or WebP", .0.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
    UnsupportedFormat(Option<String>),
    #[error("the image is {width}×{height}; {reason}")]
    BadDimensions {
        width: u32,
        height: u32,
        reason: String,
    },
    #[error("the image could not be decoded: {0}")]
    Corrupt(String),
    #[error("the image could not be encoded: {0}")]
    Encode(String),
}

/// Encodings the service writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpeg,
}

impl OutputFormat {
    /// The format a file name asks for by its extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "png" => Some(OutputFormat::Png),
            "jpg" | "jpeg" => Some(OutputFormat::Jpeg),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
        }
    }
}

/// A file may unpack to at most this many pixels per byte of it, beyond
/// [`PIXELS_FREE_OF_RATIO`]: photos and paintings stay far below (a JPEG photo holds a
/// few pixels per byte, a flat PNG graphic a few hundred), while a decompression bomb (a
/// 47 KB PNG of 7000×7000 zeros: a thousand per byte) would make a small upload cost
/// hundreds of MiB and a second of CPU.
pub const MAX_PIXELS_PER_BYTE: u64 = 256;
/// Images up to this many pixels (2000×2000) pass whatever their file size: they cost
/// little to decode, and a flat graphic may be tiny.
pub const PIXELS_FREE_OF_RATIO: u64 = 4_000_000;

/// Decodes JPEG, PNG or WebP bytes into an upright RGB image within `limits`.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage, ImageError> {
    let Decoded {
        mut image,
        orientation,
    } = decode_any(bytes, limits, Channels::Rgb)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The upright width and height of the image in `bytes`, after every check [`decode`]
/// makes, the full decode included (so a damaged file is refused here as there), but
/// without the RGB image: a JPEG's pixels are made for its grey channel only, and none
/// are turned upright.
pub fn measure(bytes: &[u8], limits: &ImageLimits) -> Result<(u32, u32), ImageError> {
    let Decoded { image, orientation } = decode_any(bytes, limits, Channels::Luma)?;
    let (width, height) = image.dimensions();
    let sideways = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    Ok(if sideways {
        (height, width)
    } else {
        (width, height)
    })
}

/// A decoded image, and the turn its metadata asks for, not yet applied.
struct Decoded {
    image: DynamicImage,
    orientation: Orientation,
}

/// The pixels a JPEG decode makes: all colours, or the grey channel alone, which spares
/// the colour channels' inverse DCT, upsampling and colour conversion (their coded data
/// is still read, and checked).
#[derive(Clone, Copy)]
enum Channels {
    Rgb,
    Luma,
}

/// The checks and the decode behind [`decode`] and [`measure`].
fn decode_any(
    bytes: &[u8],
    limits: &ImageLimits,
    channels: Channels,
) -> Result<Decoded, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageError::TooManyBytes {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| ImageError::UnsupportedFormat(None))?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(ImageError::UnsupportedFormat(Some(format!("{format:?}"))));
    }
    if let Some((width, height)) = png_header_dimensions(bytes) {
        // The PNG decoder reads on to the first image chunk before it reports a size, so a
        // bare header claiming a giant image is judged here, on its own word.
        check_dimensions(width, height, bytes.len(), limits)?;
    }

    // A decoder that panics on malformed data (zune-jpeg 0.5.15 does on some JPEGs, found
    // by fuzz/) has only failed to decode this file: say so, as for any corrupt file.
    std::panic::catch_unwind(|| {
        if format == ImageFormat::Jpeg {
            decode_whole_jpeg(bytes, limits, channels)
        } else {
            decode_checked(bytes, format, limits)
        }
    })
    .unwrap_or_else(|_| {
        Err(ImageError::Corrupt(
            "the decoder failed on malformed data".into(),
        ))
    })
}

/// Decodes a JPEG whose scans are complete. The JPEG decoder fills whatever a scan lacks
/// with made-up pixels rather than failing: cut off, the file lacks its end marker; cut
/// off and given one back, its last scan stops short of the marker, and the decoder goes
/// on reading zero bits there. So what is decoded is a probe: the file with one-bits in
/// front of its end marker. A complete scan never reaches them, and decodes as the file
/// does; a short one reads them, and a Huffman code of all ones is in no table, which a
/// strict decoder refuses ([`decode_strict_probe`]): one pass proves most files whole.
/// The rest (progressive files, and any the strict decoder refuses: cut ones, and whole
/// ones that bend the standard) are decoded leniently twice, the probe and the file, and
/// were cut short if the two differ.
fn decode_whole_jpeg(
    bytes: &[u8],
    limits: &ImageLimits,
    channels: Channels,
) -> Result<Decoded, ImageError> {
    let end = jpeg_end(bytes).ok_or_else(|| {
        ImageError::Corrupt("the JPEG data is truncated (no end-of-image marker)".into())
    })?;
    let probe_bytes = jpeg_probe(bytes, end);
    if let Some(decoded) = decode_strict_probe(&probe_bytes, bytes.len(), limits, channels)? {
        return Ok(decoded);
    }
    // Only a fingerprint of the probe is kept, so two decodes never hold two images. It
    // need only tell two decodes of one file apart (a collision made on purpose would
    // fool no one but its maker, into a job on their own broken picture): a fast hash,
    // seeded afresh.
    let hasher = foldhash::quality::RandomState::default();
    let probe = decode_checked(&probe_bytes, ImageFormat::Jpeg, limits)?;
    let probe_hash = hasher.hash_one(probe.image.as_bytes());
    drop(probe);
    let decoded = decode_checked(bytes, ImageFormat::Jpeg, limits)?;
    if hasher.hash_one(decoded.image.as_bytes()) != probe_hash {
        return Err(ImageError::Corrupt(
            "the JPEG data is truncated (a scan ends early)".into(),
        ));
    }
    Ok(decoded)
}

/// Bytes of one-bits the probe puts before the end marker: more than any Huffman code
/// (16 bits) and its extra bits take.
const JPEG_PROBE_BYTES: usize = 32;

/// The JPEG `bytes` with [`JPEG_PROBE_BYTES`] of one-bits put before its end marker,
/// which is at `end`.
fn jpeg_probe(bytes: &[u8], end: usize) -> Vec<u8> {
    // 0xFF and a stuffed 0x00 are eight one-bits of scan data.
    [
        &bytes[..end],
        &[0xFF, 0x00].repeat(JPEG_PROBE_BYTES),
        &bytes[end..],
    ]
    .concat()
}

/// The probe of a sequential (baseline) JPEG decoded in one strict pass, which fails on
/// the first code that is in no table: `None` when it fails, or when the file is
/// progressive. A progressive file's refinement scans carry bare correction bits, for
/// which ones are as valid as zeros, so only comparing two decodes tells whether one was
/// cut. `file_bytes` is the file's own size, for the pixels-per-byte rule.
fn decode_strict_probe(
    probe: &[u8],
    file_bytes: usize,
    limits: &ImageLimits,
    channels: Channels,
) -> Result<Option<Decoded>, ImageError> {
    let colorspace = match channels {
        Channels::Rgb => ColorSpace::RGB,
        Channels::Luma => ColorSpace::Luma,
    };
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(colorspace);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(probe), options);
    if decoder.decode_headers().is_err() {
        return Ok(None);
    }
    let info = decoder.info().expect("the headers are decoded");
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dimensions(width, height, file_bytes, limits)?;
    if info.sof.is_progressive() {
        return Ok(None);
    }
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let Ok(pixels) = decoder.decode() else {
        return Ok(None);
    };
    let image = match channels {
        Channels::Rgb => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        Channels::Luma => GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
    };
    Ok(image.map(|image| Decoded { image, orientation }))
}

/// Where the first image of a JPEG file ends: the offset of its end-of-image marker,
/// found by walking its segments and scans (so data some cameras append after it, such
/// as a motion photo's video, is no trouble); `None` when the file ends first.
fn jpeg_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 2; // past the start-of-image marker
    loop {
        // A marker: 0xFF (any number of them, as fill) and a code.
        while *bytes.get(at)? != 0xFF {
            at += 1; // stray bytes between segments, which decoders skip too
        }
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let code = bytes[at];
        at += 1;
        match code {
            0xD9 => return Some(at - 2),
            // Markers without a segment: restarts, TEM, and a stray stuffed zero.
            0xD0..=0xD7 | 0x01 | 0x00 => continue,
            _ => {}
        }
        let length = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]) as usize;
        if length < 2 {
            return None;
        }
        at += length;
        if code == 0xDA {
            // Entropy-coded data runs to the next marker other than a stuffed 0xFF00 or
            // a restart. (memchr finds each 0xFF a dozen times faster than a byte loop:
            // a megabyte is walked in 0.1 ms.)
            loop {
                at += memchr::memchr(0xFF, bytes.get(at..)?)?;
                match *bytes.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => at += 1,
                    _ => break,
                }
            }
        }
    }
}

/// The decoding proper, through `image`'s decoders, once the cheap checks have passed.
fn decode_checked(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<Decoded, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Dimensions are checked below with a clearer message; the decoders' own allocation
    // cap backs that up for anything a header does not tell.
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels * 4 + 1024 * 1024);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(classify)?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, bytes.len(), limits)?;
    let orientation = decoder.orientation().map_err(classify)?;
    let image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    Ok(Decoded { image, orientation })
}

/// Checks a `width`×`height` image held in a file of `bytes` bytes against `limits`
/// and the pixels-per-byte rule.
fn check_dimensions(
    width: u32,
    height: u32,
    bytes: usize,
    limits: &ImageLimits,
) -> Result<(), ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    let pixels_for_size = (bytes as u64)
        .saturating_mul(MAX_PIXELS_PER_BYTE)
        .max(PIXELS_FREE_OF_RATIO);
    let reason = if width == 0 || height == 0 {
        "it has no pixels".to_owned()
    } else if width.max(height) > limits.max_side {
        format!("the longest side may be at most {} pixels", limits.max_side)
    } else if pixels > limits.max_pixels {
        format!("at most {} pixels are accepted", limits.max_pixels)
    } else if pixels > pixels_for_size {
        format!(
            "a file of {bytes} bytes may hold at most {pixels_for_size} pixels \
             ({MAX_PIXELS_PER_BYTE} a byte): this one is compressed far beyond a photo"
        )
    } else {
        return Ok(());
    };
    Err(ImageError::BadDimensions {
        width,
        height,
        reason,
    })
}

/// Width and height from a PNG's IHDR chunk, which the format fixes at bytes 16..24.
fn png_header_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}

/// The decoder's error in plain words: its own texts name its internals (`ChunkType {
/// type: IHDR, … }`, `Unknown(5)`), which tell whoever sent the file nothing.
fn classify(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Unsupported(_) => {
            ImageError::UnsupportedFormat(Some("an unusual variant".into()))
        }
        image::ImageError::Limits(e) => ImageError::BadDimensions {
            width: 0,
            height: 0,
            reason: e.to_string(),
        },
        _ => ImageError::Corrupt("the file is damaged or incomplete".into()),
    }
}

/// Resizes so the longest side is `side` pixels, keeping the aspect ratio.
pub fn resize_longest(image: &RgbImage, side: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let (new_width, new_height) = fit_longest(width, height, side);
    if (new_width, new_height) == (width, height) {
        return image.clone();
    }
    if new_width < width && new_height < height {
        // Area averaging: one pass over the source, where a filter's cost grows with
        // the shrink factor (a 1024 px photo taken to 64 px spent 0.1 s in Triangle).
        image::imageops::thumbnail(image, new_width, new_height)
    } else {
        image::imageops::resize(image, new_width, new_height, FilterType::Triangle)
    }
}

/// The size of a `width`×`height` image scaled so its longest side is `side`.
pub fn fit_longest(width: u32, height: u32, side: u32) -> (u32, u32) {
    let scale = f64::from(side) / f64::from(width.max(height));
    let scaled = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    if width >= height {
        (side, scaled(height))
    } else {
        (scaled(width), side)
    }
}

pub fn encode(image: &RgbImage, format: OutputFormat) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    let result = match format {
        OutputFormat::Png => image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png),
        OutputFormat::Jpeg => JpegEncoder::new_with_quality(&mut bytes, 92).encode_image(image),
    };
    result.map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// `jpeg` with an EXIF APP1 segment giving `orientation` (6: rotate 90° clockwise), as
/// cameras write it: test material for the orientation handling (unit tests, fuzz seeds).
#[cfg(any(test, feature = "test-support"))]
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec(); // little-endian, first IFD at 8
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // count
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        })
    }

    /// A PNG whose header claims `width`×`height` but which carries no pixel data.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(&ihdr);
        bytes.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_decoder_panic_is_a_corrupt_image() {
        // Found by fuzz/ (decode_image): zune-jpeg's AVX2 IDCT unwraps a None on it.
        let bytes =
            include_bytes!("../../../fuzz/regressions/decode_image/zune-jpeg-idct-panic.jpg");
        let error = decode(bytes, &ImageLimits::default()).unwrap_err();
        assert!(matches!(error, ImageError::Corrupt(_)), "{error}");
    }

    #[test]
    fn round_trips_png_and_jpeg() {
        let image = sample(40, 30);
        let png = encode(&image, OutputFormat::Png).unwrap();
        assert_eq!(decode(&png, &ImageLimits::default()).unwrap(), image);
        let jpeg = encode(&image, OutputFormat::Jpeg).unwrap();
        assert_eq!(
            decode(&jpeg, &ImageLimits::default()).unwrap().dimensions(),
            (40, 30)
        );
    }

    #[test]
    fn refuses_bad_bytes_with_typed_errors() {
        let limits = ImageLimits::default();
        assert_eq!(decode(b"", &limits), Err(ImageError::Empty));
        assert!(matches!(
            decode(b"hello, this is text\n", &limits),
            Err(ImageError::UnsupportedFormat(_))
        ));
        let jpeg = encode(&sample(64, 64), OutputFormat::Jpeg).unwrap();
        assert!(matches!(
            decode(&jpeg[..jpeg.len() / 2], &limits),
            Err(ImageError::Corrupt(_))
        ));
        let png = encode(&sample(64, 64), OutputFormat::Png).unwrap();
        assert!(matches!(
            decode(&png[..png.len() - 20], &limits),
            Err(ImageError::Corrupt(_))
        ));
        assert!(matches!(
            decode(&png_header(100_000, 100_000), &limits),
            Err(ImageError::BadDimensions {
                width: 100_000,
                height: 100_000,
                ..
            })
        ));
        let small = ImageLimits {
            max_bytes: 10,
            ..limits
        };
        assert!(matches!(
            decode(&png, &small),
            Err(ImageError::TooManyBytes { .. })
        ));
    }

    /// `jpeg` cut after `fraction` of its bytes, and given its end marker back.
    fn cut_with_end(jpeg: &[u8], fraction: f64) -> Vec<u8> {
        let cut = (jpeg.len() as f64 * fraction) as usize;
        [&jpeg[..cut], &[0xFF, 0xD9]].concat()
    }

    #[test]
    fn a_jpeg_whose_scan_stops_short_is_corrupt_even_with_an_end_marker() {
        let limits = ImageLimits::default();
        let jpeg = encode(&sample(256, 192), OutputFormat::Jpeg).unwrap();
        for fraction in [0.5, 0.9, 0.99] {
            let error = decode(&cut_with_end(&jpeg, fraction), &limits).unwrap_err();
            assert!(
                matches!(&error, ImageError::Corrupt(text) if text.contains("truncated")),
                "{fraction}: {error}"
            );
        }
        // Data after the end marker (a motion photo's video) is no harm.
        let mut trailed = jpeg.clone();
        trailed.extend_from_slice(&[0x42; 4096]);
        assert_eq!(
            decode(&trailed, &limits).unwrap(),
            decode(&jpeg, &limits).unwrap()
        );
    }

    /// `jpeg` as `image` alone decodes it, leniently and once.
    fn plain_decode(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory(jpeg).unwrap().into_rgb8()
    }

    #[test]
    fn a_whole_baseline_jpeg_is_proven_whole_in_one_strict_pass() {
        let limits = ImageLimits::default();
        let grey = image::DynamicImage::ImageRgb8(sample(64, 48)).into_luma8();
        let mut grey_jpeg = Vec::new();
        JpegEncoder::new(&mut grey_jpeg)
            .encode_image(&grey)
            .unwrap();
        let photo = include_bytes!("../../../assets/content/tubingen.jpg");
        let encoded = encode(&sample(256, 192), OutputFormat::Jpeg).unwrap();
        for jpeg in [&photo[..], &encoded, &grey_jpeg] {
            let probe = jpeg_probe(jpeg, jpeg_end(jpeg).unwrap());
            for channels in [Channels::Rgb, Channels::Luma] {
                let strict = decode_strict_probe(&probe, jpeg.len(), &limits, channels);
                assert!(matches!(strict, Ok(Some(_))), "no single strict pass");
            }
            // The probe's pixels are the file's.
            assert_eq!(decode(jpeg, &limits).unwrap(), plain_decode(jpeg));
        }
    }

    #[test]
    fn measure_checks_what_decode_checks() {
        let limits = ImageLimits::default();
        let jpeg = encode(&sample(256, 192), OutputFormat::Jpeg).unwrap();
        assert_eq!(measure(&jpeg, &limits), Ok((256, 192)));
        let rotated = with_exif_orientation(&jpeg, 6);
        assert_eq!(measure(&rotated, &limits), Ok((192, 256)));
        let png = encode(&sample(40, 30), OutputFormat::Png).unwrap();
        assert_eq!(measure(&png, &limits), Ok((40, 30)));
        for fraction in [0.5, 0.9, 0.99] {
            let error = measure(&cut_with_end(&jpeg, fraction), &limits).unwrap_err();
            assert!(
                matches!(&error, ImageError::Corrupt(text) if text.contains("truncated")),
                "{fraction}: {error}"
            );
        }
        assert!(matches!(
            measure(&flat_png(3000, 3000), &limits),
            Err(ImageError::BadDimensions { .. })
        ));
    }

    #[test]
    fn the_end_of_a_jpeg_is_found_past_its_scans() {
        let jpeg = encode(&sample(40, 30), OutputFormat::Jpeg).unwrap();
        assert_eq!(jpeg_end(&jpeg), Some(jpeg.len() - 2));
        let mut trailed = jpeg.clone();
        trailed.extend_from_slice(b"\xFF\xD8 a second image");
        assert_eq!(jpeg_end(&trailed), Some(jpeg.len() - 2));
        assert_eq!(jpeg_end(&jpeg[..jpeg.len() - 2]), None);
        assert_eq!(jpeg_end(&jpeg[..jpeg.len() / 2]), None);
    }

    /// A grey image of zeros, compressed as hard as PNG goes.
    fn flat_png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        let best = image::codecs::png::PngEncoder::new_with_quality(
            &mut bytes,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::NoFilter,
        );
        image::GrayImage::new(width, height)
            .write_with_encoder(best)
            .unwrap();
        bytes
    }

    #[test]
    fn pixels_are_bounded_by_the_file_size() {
        let limits = ImageLimits::default();
        // A decompression bomb: 3000×3000 zeros in under 10 KB.
        let bomb = flat_png(3000, 3000);
        assert!(bomb.len() < 10_000, "{} bytes", bomb.len());
        let error = decode(&bomb, &limits).unwrap_err();
        assert!(
            matches!(&error, ImageError::BadDimensions { width: 3000, height: 3000, reason } if reason.contains("a byte")),
            "{error}"
        );
        // As flat and as small as pixels go passes.
        let flat = flat_png(2000, 2000);
        assert!(flat.len() * 256 < 4_000_000);
        assert_eq!(decode(&flat, &limits).unwrap().dimensions(), (2000, 2000));
        // The rule itself: a file of N bytes holds up to 256·N pixels past the free 4 Mpx.
        assert!(check_dimensions(4000, 4000, 62_500, &limits).is_ok());
        assert!(check_dimensions(4000, 4000, 62_499, &limits).is_err());
    }

    #[test]
    fn honours_exif_orientation() {
        let jpeg = encode(&sample(40, 30), OutputFormat::Jpeg).unwrap();
        let rotated = with_exif_orientation(&jpeg, 6);
        let image = decode(&rotated, &ImageLimits::default()).unwrap();
        assert_eq!(image.dimensions(), (30, 40));
    }

    #[test]
    fn refuses_formats_outside_the_list() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0]);
        assert!(matches!(
            decode(&gif, &ImageLimits::default()),
            Err(ImageError::UnsupportedFormat(Some(_)))
        ));
    }

    #[test]
    fn resize_keeps_aspect_ratio() {
        assert_eq!(fit_longest(4000, 3000, 512), (512, 384));
        assert_eq!(fit_longest(300, 900, 64), (21, 64));
        assert_eq!(resize_longest(&sample(80, 40), 20).dimensions(), (20, 10));
    }
}
