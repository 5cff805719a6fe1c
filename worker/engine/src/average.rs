//! Iterate averaging: the picture a level shows is an average of its iterates.

use tch::Tensor;

/// An exponential moving average of one level's iterates, bias-corrected as Adam's
/// moments are, so that its first value is the first iterate. A decay of 0 keeps none:
/// the picture is the last iterate.
pub(crate) struct IterateAverage {
    decay: f64,
    sum: Option<Tensor>,
    /// The weight the sum's terms add up to, 1 − decayᵗ.
    weight: f64,
    /// The sum and weight before the last iterate was added, for [`Self::retract`].
    before_last: Option<(Option<Tensor>, f64)>,
}

impl IterateAverage {
    pub(crate) fn new(decay: f64) -> Self {
        IterateAverage {
            decay,
            sum: None,
            weight: 0.0,
            before_last: None,
        }
    }

    pub(crate) fn add(&mut self, x: &Tensor) {
        if self.decay == 0.0 {
            return;
        }
        let _guard = tch::no_grad_guard();
        let before = self.sum.as_ref().map(Tensor::copy);
        self.before_last = Some((before, self.weight));
        let part = x * (1.0 - self.decay);
        match &mut self.sum {
            Some(sum) => {
                *sum *= self.decay;
                *sum += part;
            }
            None => self.sum = Some(part),
        }
        self.weight = self.weight * self.decay + (1.0 - self.decay);
    }

    /// Takes the last iterate added back out.
    pub(crate) fn retract(&mut self) {
        if let Some((sum, weight)) = self.before_last.take() {
            self.sum = sum;
            self.weight = weight;
        }
    }

    /// The picture to show for the iterate `x`.
    pub(crate) fn picture(&self, x: &Tensor) -> Tensor {
        match &self.sum {
            Some(sum) => sum / self.weight,
            None => x.shallow_clone(),
        }
    }
}
