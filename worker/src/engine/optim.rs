//! The two optimisers over image pixels. Each step takes the gradient at the current
//! point and moves the point; one loss evaluation per step for both, so they compare
//! evaluation for evaluation.

use tch::Tensor;

pub trait Optimizer {
    /// Moves `x` given the gradient of the loss at `x`.
    fn step(&mut self, x: &mut Tensor, grad: &Tensor);
}

/// Limited-memory BFGS without line search, as neural-style and torch.optim.LBFGS run it
/// for this problem: the two-loop recursion over the last `history` curvature pairs, a
/// first step scaled by the gradient's size, then whole steps of `learning_rate`.
pub struct Lbfgs {
    history: usize,
    learning_rate: f64,
    /// Curvature pairs (s, y, 1 / yᵀs), oldest first.
    pairs: std::collections::VecDeque<(Tensor, Tensor, f64)>,
    /// The last step taken and the gradient it started from.
    last: Option<(Tensor, Tensor)>,
    /// Scale of the initial inverse Hessian, yᵀs / yᵀy of the newest pair.
    gamma: f64,
}

impl Lbfgs {
    pub fn new(learning_rate: f64, history: usize) -> Self {
        Lbfgs {
            history,
            learning_rate,
            pairs: Default::default(),
            last: None,
            gamma: 1.0,
        }
    }

    /// −H·g by the two-loop recursion. The α coefficients stay on the device so a GPU
    /// never waits on the host inside the loop.
    fn direction(&self, grad: &Tensor) -> Tensor {
        let mut q = -grad;
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let alpha = s.dot(&q) * *rho;
            q -= y * &alpha;
            alphas.push(alpha);
        }
        q *= self.gamma;
        for ((s, y, rho), alpha) in self.pairs.iter().zip(alphas.iter().rev()) {
            let beta = y.dot(&q) * *rho;
            q += s * (alpha - beta);
        }
        q
    }
}

impl Optimizer for Lbfgs {
    fn step(&mut self, x: &mut Tensor, grad: &Tensor) {
        let grad = grad.flatten(0, -1);
        let step_size = match self.last.take() {
            None => {
                // A first step of at most one unit of |g|₁, as torch.optim.LBFGS takes.
                let l1 = grad.abs().sum(grad.kind()).double_value(&[]);
                self.learning_rate * (1.0 / l1).min(1.0)
            }
            Some((last_step, last_grad)) => {
                let y = &grad - last_grad;
                let ys = y.dot(&last_step).double_value(&[]);
                // Keep a pair only when it shows positive curvature.
                if ys > 1e-10 {
                    if self.pairs.len() == self.history {
                        self.pairs.pop_front();
                    }
                    self.gamma = ys / y.dot(&y).double_value(&[]);
                    self.pairs.push_back((last_step, y, 1.0 / ys));
                }
                self.learning_rate
            }
        };
        let step = self.direction(&grad) * step_size;
        *x += step.view_as(x);
        self.last = Some((step, grad));
    }
}

/// Adam with the seed's step decay: the rate is multiplied by `decay` every
/// `decay_every` steps.
pub struct Adam {
    learning_rate: f64,
    decay: f64,
    decay_every: u32,
    steps: u32,
    first_moment: Option<Tensor>,
    second_moment: Option<Tensor>,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPSILON: f64 = 1e-8;

    pub fn new(learning_rate: f64, decay: f64, decay_every: u32) -> Self {
        Adam {
            learning_rate,
            decay,
            decay_every,
            steps: 0,
            first_moment: None,
            second_moment: None,
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, x: &mut Tensor, grad: &Tensor) {
        let m = self.first_moment.get_or_insert_with(|| grad.zeros_like());
        let v = self.second_moment.get_or_insert_with(|| grad.zeros_like());
        *m *= Self::BETA1;
        *m += grad * (1.0 - Self::BETA1);
        *v *= Self::BETA2;
        *v += grad.square() * (1.0 - Self::BETA2);
        let rate = self.learning_rate * self.decay.powi((self.steps / self.decay_every) as i32);
        self.steps += 1;
        let m_hat_scale = 1.0 / (1.0 - Self::BETA1.powi(self.steps as i32));
        let v_hat_scale = 1.0 / (1.0 - Self::BETA2.powi(self.steps as i32));
        let denominator = (&*v * v_hat_scale).sqrt() + Self::EPSILON;
        *x -= &*m * (rate * m_hat_scale) / denominator;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// f(x) = ½ Σ aᵢ xᵢ², an ill-conditioned bowl with its minimum at 0.
    fn run(optimizer: &mut dyn Optimizer, steps: usize) -> f64 {
        let scales = Tensor::from_slice(&[1.0f64, 10.0, 100.0, 1000.0]);
        let mut x = Tensor::ones([4], (Kind::Double, tch::Device::Cpu));
        for _ in 0..steps {
            let grad = &scales * &x;
            optimizer.step(&mut x, &grad);
        }
        (&scales * x.square() * 0.5)
            .sum(Kind::Double)
            .double_value(&[])
    }

    #[test]
    fn lbfgs_solves_a_quadratic_bowl() {
        let loss = run(&mut Lbfgs::new(1.0, 10), 30);
        assert!(loss < 1e-10, "loss {loss}");
    }

    #[test]
    fn adam_descends_a_quadratic_bowl() {
        let loss = run(&mut Adam::new(0.1, 0.8, 50), 200);
        assert!(loss < 1.0, "loss {loss}");
    }
}
