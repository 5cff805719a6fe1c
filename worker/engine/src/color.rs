//! Colour preservation: keep the stylised luminance, take the photo's chrominance
//! (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016).

use image::{Rgb, RgbImage};

fn to_ycbcr([r, g, b]: [f32; 3]) -> [f32; 3] {
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    [y, (b - y) * 0.564, (r - y) * 0.713]
}

fn to_rgb([y, cb, cr]: [f32; 3]) -> [u8; 3] {
    let r = y + cr / 0.713;
    let b = y + cb / 0.564;
    let g = (y - 0.299 * r - 0.114 * b) / 0.587;
    [r, g, b].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

fn channels(pixel: &Rgb<u8>) -> [f32; 3] {
    pixel.0.map(f32::from)
}

/// `stylised` with its luminance kept and its colour taken from `content` (same size).
pub fn preserve_colors(stylised: &RgbImage, content: &RgbImage) -> RgbImage {
    assert_eq!(stylised.dimensions(), content.dimensions());
    RgbImage::from_fn(stylised.width(), stylised.height(), |x, y| {
        let [luma, _, _] = to_ycbcr(channels(stylised.get_pixel(x, y)));
        let [_, cb, cr] = to_ycbcr(channels(content.get_pixel(x, y)));
        Rgb(to_rgb([luma, cb, cr]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_luminance_and_takes_colour() {
        let grey = RgbImage::from_pixel(2, 2, Rgb([120, 120, 120]));
        let red = RgbImage::from_pixel(2, 2, Rgb([200, 40, 40]));
        let out = preserve_colors(&grey, &red);
        let pixel = channels(out.get_pixel(0, 0));
        let [luma, cb, cr] = to_ycbcr(pixel);
        let [_, red_cb, red_cr] = to_ycbcr(channels(red.get_pixel(0, 0)));
        assert!((luma - 120.0).abs() < 1.0, "{pixel:?}");
        assert!(
            (cb - red_cb).abs() < 1.0 && (cr - red_cr).abs() < 1.0,
            "{pixel:?}"
        );
        assert!(pixel[0] > pixel[1], "the result is reddish: {pixel:?}");
    }
}
