//! Between RGB images and the network's input: BGR, 0–255, minus the ILSVRC mean pixel.

use image::RgbImage;
use tch::{Device, Kind, Tensor};

/// Mean pixel of the ILSVRC training set, in B, G, R order.
const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

fn mean(device: Device) -> Tensor {
    Tensor::from_slice(&MEAN_BGR)
        .view([1, 3, 1, 1])
        .to_device(device)
}

/// [1, 3, H, W] float tensor on `device` ready for VGG19.
pub fn to_tensor(image: &RgbImage, device: Device) -> Tensor {
    let (width, height) = image.dimensions();
    let rgb = Tensor::from_slice(image.as_raw())
        .view([1, i64::from(height), i64::from(width), 3])
        .to_device(device)
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float);
    rgb.flip([1]) - mean(device)
}

/// The image a [1, 3, H, W] network tensor shows, clamped to 0–255.
pub fn to_image(tensor: &Tensor) -> RgbImage {
    let (_, _, height, width) = tensor.size4().expect("[1, 3, H, W]");
    let bytes = (tensor.detach().to_kind(Kind::Float) + mean(tensor.device()))
        .flip([1])
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 1])
        .contiguous()
        .to_device(Device::Cpu);
    let len = (height * width * 3) as usize;
    let mut raw = vec![0u8; len];
    bytes.copy_data(&mut raw, len);
    RgbImage::from_raw(width as u32, height as u32, raw).expect("buffer matches dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_uses_the_caffe_convention() {
        let image = RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 50) as u8, (y * 90) as u8, 7]));
        let tensor = to_tensor(&image, Device::Cpu);
        assert_eq!(tensor.size(), [1, 3, 3, 5]);
        // Pixel (x=1, y=2) is RGB (50, 180, 7); channel 0 is blue.
        let at = |c: i64| tensor.double_value(&[0, c, 2, 1]);
        assert!((at(0) - (7.0 - 103.939)).abs() < 1e-4);
        assert!((at(1) - (180.0 - 116.779)).abs() < 1e-4);
        assert!((at(2) - (50.0 - 123.68)).abs() < 1e-4);
        assert_eq!(to_image(&tensor), image);
    }
}
