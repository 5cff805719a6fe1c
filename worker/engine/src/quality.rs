//! How well a picture keeps its photo and takes its painting, scored as the quality
//! benchmark scores jcjohnson/neural-style's published outputs (assets/reference): VGG19
//! features of the picture against those of the photo (content error, at relu4_2) and
//! the Gram matrices of the painting (style error, relu1_1 to relu5_1). Both are
//! relative Frobenius distances: lower is better, 0 is a perfect match.

use crate::loss::gram;
use crate::pixels;
use crate::vgg::Vgg19;
use image::imageops::FilterType;
use image::RgbImage;
use stylize_core::images::fit_longest;
use stylize_core::params::Pooling;
use stylize_core::vgg::layer_index;
use tch::{Kind, Tensor};

/// The layers the style error averages over (their ReLU outputs, as the engine's
/// features are).
pub const STYLE_LAYERS: [&str; 5] = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"];
pub const CONTENT_LAYER: &str = "conv4_2";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub style: f64,
    pub content: f64,
}

/// ‖a − b‖ / ‖b‖.
fn relative_distance(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[])
}

/// Scores `picture` against the `photo` (resized to the picture's size) and the
/// `painting` (resized so its longest side is the picture's).
pub fn score(model: &Vgg19, picture: &RgbImage, photo: &RgbImage, painting: &RgbImage) -> Scores {
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let (width, height) = picture.dimensions();
    // Lanczos, as the published scores were measured (other filters move the content
    // error by up to 9 %: a blurred photo has other deep features).
    let lanczos = |image: &RgbImage, (width, height): (u32, u32)| {
        image::imageops::resize(image, width, height, FilterType::Lanczos3)
    };
    let photo = lanczos(photo, (width, height));
    let (painting_width, painting_height) = painting.dimensions();
    let painting = lanczos(
        painting,
        fit_longest(painting_width, painting_height, width.max(height)),
    );
    let content_layer = layer_index(CONTENT_LAYER).expect("a VGG19 layer");
    let style_layers: Vec<usize> = STYLE_LAYERS
        .iter()
        .map(|name| layer_index(name).expect("a VGG19 layer"))
        .collect();
    let mut layers = style_layers.clone();
    layers.push(content_layer);
    let features =
        |image: &RgbImage| model.features(&pixels::to_tensor(image, device), &layers, Pooling::Max);
    let (of_picture, of_photo, of_painting) =
        (features(picture), features(&photo), features(&painting));
    let style = (0..style_layers.len())
        .map(|i| relative_distance(&gram(&of_picture[i]), &gram(&of_painting[i])))
        .sum::<f64>()
        / style_layers.len() as f64;
    let last = layers.len() - 1;
    Scores {
        style,
        content: relative_distance(&of_picture[last], &of_photo[last]),
    }
}
