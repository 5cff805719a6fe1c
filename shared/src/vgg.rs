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
}
