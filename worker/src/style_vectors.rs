//! The fast network's style vectors of the preset paintings a worker has seen, kept
//! between jobs: a vector depends only on the painting, and presets come back job after
//! job. (Uploads are not kept: each comes once.)

use image::RgbImage;
use std::collections::HashMap;
use std::sync::Mutex;
use stylize_engine::FastStylizer;

/// The vectors, by the preset image's hash.
#[derive(Default)]
pub(crate) struct StyleVectors(Mutex<HashMap<String, tch::Tensor>>);

impl StyleVectors {
    /// The vector of `style`, computed once per `hash` (none for an upload).
    pub(crate) fn get(
        &self,
        fast: &FastStylizer,
        style: &RgbImage,
        hash: Option<&str>,
    ) -> tch::Tensor {
        let cached = |hash| {
            let vectors = self.0.lock().expect("no panic while holding the lock");
            vectors.get(hash).map(tch::Tensor::shallow_clone)
        };
        if let Some(vector) = hash.and_then(cached) {
            return vector;
        }
        let vector = fast.style_vector(style);
        if let Some(hash) = hash {
            self.0
                .lock()
                .expect("no panic while holding the lock")
                .insert(hash.to_owned(), vector.shallow_clone());
        }
        vector
    }
}
