//! Between RGB images and the networks' inputs: for VGG19, BGR, 0–255, minus the ILSVRC
//! mean pixel; for the fast network, RGB in 0..1.

use image::RgbImage;
use tch::{Device, Kind, Tensor};

/// Mean pixel of the ILSVRC training set, in B, G, R order.
const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

fn mean(device: Device) -> Tensor {
    Tensor::from_slice(&MEAN_BGR)
        .view([1, 3, 1, 1])
        .to_device(device)
}

/// [1, 3, H, W] float tensor on `device`: RGB, 0–255.
fn rgb_tensor(image: &RgbImage, device: Device) -> Tensor {
    let (width, height) = image.dimensions();
    Tensor::from_slice(image.as_raw())
        .view([1, i64::from(height), i64::from(width), 3])
        .to_device(device)
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
}

/// The image a [1, 3, H, W] RGB 0–255 tensor shows, rounded and clamped.
fn rgb_image(tensor: &Tensor) -> RgbImage {
    let (_, _, height, width) = tensor.size4().expect("[1, 3, H, W]");
    let bytes = tensor
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

/// [1, 3, H, W] float tensor on `device` ready for VGG19.
pub fn to_tensor(image: &RgbImage, device: Device) -> Tensor {
    rgb_tensor(image, device).flip([1]) - mean(device)
}

/// The image a [1, 3, H, W] VGG19 tensor shows, clamped to 0–255.
pub fn to_image(tensor: &Tensor) -> RgbImage {
    rgb_image(&(tensor.detach().to_kind(Kind::Float) + mean(tensor.device())).flip([1]))
}

/// [1, 3, H, W] float tensor on `device` for the fast network: RGB in 0..1.
pub fn to_unit_tensor(image: &RgbImage, device: Device) -> Tensor {
    rgb_tensor(image, device) / 255.0
}

/// The image a [1, 3, H, W] RGB 0..1 tensor shows, clamped.
pub fn from_unit_tensor(tensor: &Tensor) -> RgbImage {
    rgb_image(&(tensor.detach().to_kind(Kind::Float) * 255.0))
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

    #[test]
    fn unit_tensors_are_rgb_in_0_to_1_and_round_trip() {
        let image = RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 50) as u8, (y * 90) as u8, 7]));
        let tensor = to_unit_tensor(&image, Device::Cpu);
        assert_eq!(tensor.size(), [1, 3, 3, 5]);
        let at = |c: i64| tensor.double_value(&[0, c, 2, 1]);
        assert!((at(0) - 50.0 / 255.0).abs() < 1e-6);
        assert!((at(1) - 180.0 / 255.0).abs() < 1e-6);
        assert!((at(2) - 7.0 / 255.0).abs() < 1e-6);
        assert_eq!(from_unit_tensor(&tensor), image);
        let out_of_range = Tensor::from_slice(&[-0.5f32, 0.5, 1.5]).view([1, 3, 1, 1]);
        assert_eq!(
            from_unit_tensor(&out_of_range).get_pixel(0, 0).0,
            [0, 128, 255]
        );
    }
}
