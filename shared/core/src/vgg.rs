//! The architecture of VGG19 as the engine runs it: its sixteen convolutions by name, in
//! network order, their output channels, and where it pools. Parameter validation names
//! the layers a job may use, the memory estimate sizes their feature maps, and the engine
//! builds the network from them.

/// The sixteen convolutions of VGG19, in network order. Features are read after each
/// layer's ReLU, as Caffe's in-place ReLU gave them to Gatys et al. and neural-style.
pub const LAYERS: [&str; 16] = [
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
];

/// Output channels of each of [`LAYERS`].
pub const CHANNELS: [i64; 16] = [
    64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512,
];

/// VGG19 pools (halves its input) after these layers: the last of each block.
pub const POOLED_AFTER: [usize; 5] = [1, 3, 7, 11, 15];

/// The floating-point operations of VGG19's convolutions, per pixel of the input
/// image, in one forward pass that stops after layer `deepest` (an index into
/// [`LAYERS`]): each 3×3 convolution costs 2·9·C_in·C_out a pixel of its input, and
/// every pooling before it quarters its pixels. A backward pass to the image costs about
/// as much again; ReLUs, poolings and Gram matrices are left out (a few per cent).
pub fn pass_flops_per_pixel(deepest: usize) -> f64 {
    let mut inputs = 3.0;
    let mut pixels = 1.0;
    let mut flops = 0.0;
    for (index, &outputs) in CHANNELS.iter().enumerate().take(deepest + 1) {
        let outputs = outputs as f64;
        flops += 2.0 * 9.0 * inputs * outputs * pixels;
        inputs = outputs;
        if POOLED_AFTER.contains(&index) {
            pixels /= 4.0;
        }
    }
    flops
}

/// Index of a VGG19 layer name in [`LAYERS`].
pub fn layer_index(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| *layer == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_block_ends_in_a_pooling() {
        for (index, layer) in LAYERS.iter().enumerate() {
            assert_eq!(layer_index(layer), Some(index));
            let last_of_block = LAYERS
                .get(index + 1)
                .is_none_or(|next| next[..5] != layer[..5]);
            assert_eq!(POOLED_AFTER.contains(&index), last_of_block, "{layer}");
        }
        assert_eq!(layer_index("fc7"), None);
    }

    #[test]
    fn a_pass_to_conv2_1_costs_a_sixth_of_one_to_conv5_1() {
        // 512×384 to conv5_1: about 140 GFLOP forward (the 280 both ways).
        let to_conv5_1 = pass_flops_per_pixel(12) * 512.0 * 384.0 / 1e9;
        assert!((to_conv5_1 - 140.0).abs() < 5.0, "{to_conv5_1}");
        let share = pass_flops_per_pixel(2) / pass_flops_per_pixel(12);
        assert!((share - 1.0 / 6.0).abs() < 0.01, "{share}");
        // The first layer alone: 2·9·3·64 a pixel.
        assert_eq!(pass_flops_per_pixel(0), 3456.0);
    }
}
