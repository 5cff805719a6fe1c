//! The two optimisers over image pixels. Each step takes the gradient at the current
//! point and moves the point; one loss evaluation per step for both, so they compare
//! evaluation for evaluation.

use tch::{Kind, Tensor};

pub trait Optimizer {
    /// Moves `x` given the loss and its gradient at `x`.
    fn step(&mut self, x: &mut Tensor, grad: &Tensor, loss: f64) -> Step;
}

/// What a step made of the point it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The point stands; `x` moved on from it.
    Taken,
    /// The point was worse than the one before it: `x` went back part of the way, and
    /// the point should count for nothing (not in an average of iterates).
    Backtracked,
}

/// The least cosine between a step and its gradient change for L-BFGS to keep the pair.
const CURVATURE_COSINE: f64 = 1e-8;
/// How much of an uphill step L-BFGS keeps when it backtracks.
const BACKTRACK: f64 = 0.25;
/// Backtracks in a row after which L-BFGS takes the point as it is.
const MAX_BACKTRACKS: u32 = 3;

/// Limited-memory BFGS as neural-style and torch.optim.LBFGS run it for this problem:
/// the last `history` curvature pairs, a first step scaled by the gradient's size, then
/// whole steps of `learning_rate`; with one safeguard those lack: a step that ends above
/// the loss it started from is cut to a quarter (at most three times in a row), in
/// place of the next step. Without it, a short coarse-to-fine level, whose first steps
/// have little curvature to go by, can end on a step that multiplied the loss. The
/// inverse-Hessian product comes from `M`: the compact form by default, the two-loop
/// recursion in tests.
pub struct Lbfgs<M: InverseHessian = CompactHistory> {
    learning_rate: f64,
    memory: M,
    /// The last step taken, the gradient and loss where it started, and how many
    /// backtracks in a row it has had.
    last: Option<LastStep>,
}

struct LastStep {
    step: Tensor,
    grad: Tensor,
    loss: f64,
    backtracks: u32,
}

/// The curvature pairs (s, y) L-BFGS keeps, and the product of its inverse-Hessian
/// estimate with a vector.
pub trait InverseHessian {
    fn new(history: usize) -> Self;
    /// Adds the pair (s, y), given yᵀs > 0 and yᵀy, dropping the oldest when full.
    fn push(&mut self, s: Tensor, y: Tensor, ys: f64, yy: f64);
    /// H·g for the flat vector `g`.
    fn apply(&self, g: &Tensor) -> Tensor;
}

impl Lbfgs {
    pub fn new(learning_rate: f64, history: usize) -> Self {
        Lbfgs::with_memory(learning_rate, history)
    }
}

impl<M: InverseHessian> Lbfgs<M> {
    fn with_memory(learning_rate: f64, history: usize) -> Self {
        Lbfgs {
            learning_rate,
            memory: M::new(history),
            last: None,
        }
    }
}

impl<M: InverseHessian> Optimizer for Lbfgs<M> {
    fn step(&mut self, x: &mut Tensor, grad: &Tensor, loss: f64) -> Step {
        if let Some(last) = &mut self.last {
            // A loss that is not a number counts as uphill too.
            let uphill = loss.is_nan() || loss > last.loss;
            if uphill && last.backtracks < MAX_BACKTRACKS {
                let shorter = &last.step * BACKTRACK;
                *x += (&shorter - &last.step).view_as(x);
                last.step = shorter;
                last.backtracks += 1;
                return Step::Backtracked;
            }
        }
        let grad = grad.flatten(0, -1);
        let step_size = match self.last.take().map(|last| (last.step, last.grad)) {
            None => {
                // A first step of at most one unit of |g|₁, as torch.optim.LBFGS takes.
                let l1 = grad.abs().sum(grad.kind()).double_value(&[]);
                self.learning_rate * (1.0 / l1).min(1.0)
            }
            Some((last_step, last_grad)) => {
                let y = &grad - last_grad;
                // The one wait on the device in a step: the products in one transfer.
                let products: Vec<f64> = Tensor::stack(
                    &[y.dot(&last_step), y.dot(&y), last_step.dot(&last_step)],
                    0,
                )
                .to_kind(Kind::Double)
                .to_device(tch::Device::Cpu)
                .try_into()
                .expect("three products");
                let (ys, yy, ss) = (products[0], products[1], products[2]);
                // Keep a pair only when it shows positive curvature, judged by the angle
                // between s and y: a threshold on yᵀs itself would depend on the loss's
                // scale, and refuse every pair of a loss of relative errors (near 1).
                if ys > CURVATURE_COSINE * (yy * ss).sqrt() {
                    self.memory.push(last_step, y, ys, yy);
                }
                self.learning_rate
            }
        };
        let step = self.memory.apply(&grad) * -step_size;
        *x += step.view_as(x);
        self.last = Some(LastStep {
            step,
            grad,
            loss,
            backtracks: 0,
        });
        Step::Taken
    }
}

/// The history in the compact form of Byrd, Nocedal and Schnabel (1994):
/// H = γI + [S γY] M [S γY]ᵀ with M = [[R⁻ᵀ(D + γYᵀY)R⁻¹, −R⁻ᵀ], [−R⁻¹, 0]], where R is
/// the upper triangle of SᵀY and D its diagonal. S and Y are matrices on the device, so
/// a product with the whole history is one matrix–vector product instead of hundreds of
/// small kernels; only the m×m matrices (m ≤ history) are solved, in double precision,
/// and nothing waits on the host.
pub struct CompactHistory {
    history: usize,
    /// The pairs' s and y as rows, allocated at the first pair on its device: pair k
    /// (counting from 0) is in row k mod `history`, overwriting the oldest once full.
    s_rows: Option<Tensor>,
    y_rows: Option<Tensor>,
    /// sᵢ·yⱼ and yᵢ·yⱼ between rows (double precision).
    sy: Option<Tensor>,
    yy: Option<Tensor>,
    /// Pairs kept so far.
    pushed: usize,
    /// Scale of the initial inverse Hessian, yᵀs / yᵀy of the newest pair.
    gamma: f64,
}

/// A history-sized buffer, made on first use.
fn buffer<'a>(
    slot: &'a mut Option<Tensor>,
    size: [i64; 2],
    like: &Tensor,
    kind: Kind,
) -> &'a mut Tensor {
    slot.get_or_insert_with(|| Tensor::zeros(size, (kind, like.device())))
}

impl CompactHistory {
    fn rows_in_use(&self) -> i64 {
        self.pushed.min(self.history) as i64
    }
}

impl InverseHessian for CompactHistory {
    fn new(history: usize) -> Self {
        CompactHistory {
            history,
            s_rows: None,
            y_rows: None,
            sy: None,
            yy: None,
            pushed: 0,
            gamma: 1.0,
        }
    }

    fn push(&mut self, s: Tensor, y: Tensor, ys: f64, yy: f64) {
        let m = self.history as i64;
        let slot = (self.pushed % self.history) as i64;
        self.pushed += 1;
        let used = self.rows_in_use();
        let n = s.numel() as i64;
        let s_rows = buffer(&mut self.s_rows, [m, n], &s, s.kind()).narrow(0, 0, used);
        let y_rows = buffer(&mut self.y_rows, [m, n], &s, s.kind()).narrow(0, 0, used);
        s_rows.get(slot).copy_(&s);
        y_rows.get(slot).copy_(&y);
        // The new pair against every row in use: sᵢ·y, yᵢ·s and yᵢ·y.
        let double = |t: Tensor| t.to_kind(Kind::Double);
        let s_dot_y = double(s_rows.mv(&y));
        let y_dot_s = double(y_rows.mv(&s));
        let y_dot_y = double(y_rows.mv(&y));
        let sy_matrix = buffer(&mut self.sy, [m, m], &s, Kind::Double)
            .narrow(0, 0, used)
            .narrow(1, 0, used);
        sy_matrix.get(slot).copy_(&y_dot_s); // s_slot · y_j
        sy_matrix.select(1, slot).copy_(&s_dot_y); // s_i · y_slot
        let yy_matrix = buffer(&mut self.yy, [m, m], &s, Kind::Double)
            .narrow(0, 0, used)
            .narrow(1, 0, used);
        yy_matrix.get(slot).copy_(&y_dot_y);
        yy_matrix.select(1, slot).copy_(&y_dot_y);
        self.gamma = ys / yy;
    }

    fn apply(&self, g: &Tensor) -> Tensor {
        let (Some(s_rows), Some(y_rows), Some(sy), Some(yy)) =
            (&self.s_rows, &self.y_rows, &self.sy, &self.yy)
        else {
            return g * self.gamma;
        };
        let used = self.rows_in_use();
        let gamma = self.gamma;
        let (s_rows, y_rows) = (s_rows.narrow(0, 0, used), y_rows.narrow(0, 0, used));
        // Chronological order, which makes R triangular: the rows from the oldest pair's
        // on, made on the device (a list from the host would wait for it).
        let oldest = (self.pushed - used as usize) % self.history;
        let order =
            (Tensor::arange(used, (Kind::Int64, g.device())) + oldest as i64).remainder(used);
        let chronological =
            |matrix: &Tensor| matrix.index_select(0, &order).index_select(1, &order);
        let r = chronological(sy).triu(0);
        let d = r.diagonal(0, 0, 1).diag_embed(0, -2, -1);
        let project = |rows: &Tensor| {
            rows.mv(g)
                .to_kind(Kind::Double)
                .index_select(0, &order)
                .unsqueeze(1)
        };
        let (s_g, y_g) = (project(&s_rows), project(&y_rows) * gamma);
        // v = R⁻¹Sᵀg; the S coefficients R⁻ᵀ((D + γYᵀY)v − γYᵀg); the Y ones −γv.
        let v = r.linalg_solve_triangular(&s_g, true, true, false);
        let inner = (d + chronological(yy) * gamma).matmul(&v) - y_g;
        let s_coefficients = r
            .transpose(0, 1)
            .linalg_solve_triangular(&inner, false, true, false);
        // Back from chronological order to rows.
        let in_rows = |coefficients: Tensor| {
            coefficients
                .squeeze_dim(1)
                .zeros_like()
                .index_copy(0, &order, &coefficients.squeeze_dim(1))
                .to_kind(g.kind())
        };
        g * gamma
            + s_rows.transpose(0, 1).mv(&in_rows(s_coefficients))
            + y_rows.transpose(0, 1).mv(&in_rows(v * -gamma))
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
    /// Adam keeps every point: its steps are small by design.
    fn step(&mut self, x: &mut Tensor, grad: &Tensor, _loss: f64) -> Step {
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
        Step::Taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = ½ Σ aᵢ xᵢ², an ill-conditioned bowl with its minimum at 0.
    fn run(optimizer: &mut dyn Optimizer, steps: usize) -> f64 {
        let scales = Tensor::from_slice(&[1.0f64, 10.0, 100.0, 1000.0]);
        let mut x = Tensor::ones([4], (Kind::Double, tch::Device::Cpu));
        let loss = |x: &Tensor| {
            (&scales * x.square() * 0.5)
                .sum(Kind::Double)
                .double_value(&[])
        };
        for _ in 0..steps {
            let grad = &scales * &x;
            let at_x = loss(&x);
            optimizer.step(&mut x, &grad, at_x);
        }
        loss(&x)
    }

    /// The two-loop recursion (Nocedal 1980), as the engine ran L-BFGS before the
    /// compact form: the reference the compact form must agree with.
    struct TwoLoop {
        history: usize,
        /// Curvature pairs (s, y, 1 / yᵀs), oldest first.
        pairs: std::collections::VecDeque<(Tensor, Tensor, f64)>,
        gamma: f64,
    }

    impl InverseHessian for TwoLoop {
        fn new(history: usize) -> Self {
            TwoLoop {
                history,
                pairs: Default::default(),
                gamma: 1.0,
            }
        }

        fn push(&mut self, s: Tensor, y: Tensor, ys: f64, yy: f64) {
            if self.pairs.len() == self.history {
                self.pairs.pop_front();
            }
            self.gamma = ys / yy;
            self.pairs.push_back((s, y, 1.0 / ys));
        }

        fn apply(&self, g: &Tensor) -> Tensor {
            let mut q = g.copy();
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

    /// The largest difference between `a` and `b` relative to the largest entry of `b`.
    fn relative_difference(a: &Tensor, b: &Tensor) -> f64 {
        let scale = b.abs().max().double_value(&[]);
        (a - b).abs().max().double_value(&[]) / scale
    }

    #[test]
    fn compact_form_agrees_with_the_two_loop_recursion() {
        tch::manual_seed(7);
        let n = 2000;
        for kind in [Kind::Double, Kind::Float] {
            let options = (kind, tch::Device::Cpu);
            // Pairs from a curved, ill-conditioned landscape: y = A·s with a spread of
            // curvatures, plus a little noise; 13 pairs into a history of 8 wrap around.
            let curvature = Tensor::rand([n], options) * 100.0 + 0.1;
            let mut compact = CompactHistory::new(8);
            let mut two_loop = TwoLoop::new(8);
            for _ in 0..13 {
                let s = Tensor::randn([n], options);
                let y = &curvature * &s + Tensor::randn([n], options) * 0.01;
                let ys = y.dot(&s).double_value(&[]);
                let yy = y.dot(&y).double_value(&[]);
                compact.push(s.copy(), y.copy(), ys, yy);
                two_loop.push(s, y, ys, yy);
                let g = Tensor::randn([n], options);
                let difference = relative_difference(&compact.apply(&g), &two_loop.apply(&g));
                let bound = if kind == Kind::Double { 1e-10 } else { 1e-5 };
                assert!(difference < bound, "{kind:?}: {difference:e}");
            }
        }
    }

    /// f(x) = Σ aᵢ xᵢ² / 2 + Σ log cosh(xᵢ − 1): smooth, not quadratic, minimum away
    /// from the start. Returns the loss after every step.
    fn loss_curve<M: InverseHessian>(steps: usize) -> Vec<f64> {
        let options = (Kind::Double, tch::Device::Cpu);
        let scales = Tensor::linspace(0.5, 50.0, 64, options);
        let mut x = Tensor::ones([8, 8], options) * 3.0;
        let mut optimizer = Lbfgs::<M>::with_memory(1.0, 5);
        let loss = |x: &Tensor| {
            let flat = x.flatten(0, -1);
            ((&scales * flat.square() * 0.5).sum(Kind::Double)
                + (flat - 1.0).cosh().log().sum(Kind::Double))
            .double_value(&[])
        };
        (0..steps)
            .map(|_| {
                let shifted = &x - 1.0;
                let flat = x.flatten(0, -1);
                let grad = (&scales * &flat + shifted.flatten(0, -1).tanh()).view([8, 8]);
                let at_x = loss(&x);
                optimizer.step(&mut x, &grad, at_x);
                loss(&x)
            })
            .collect()
    }

    #[test]
    fn compact_lbfgs_follows_the_two_loop_loss_curve() {
        let compact = loss_curve::<CompactHistory>(40);
        let two_loop = loss_curve::<TwoLoop>(40);
        for (step, (a, b)) in compact.iter().zip(&two_loop).enumerate() {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1e-9),
                "step {step}: {a} vs {b}"
            );
        }
        // And it optimises: f starts near 7 300 and its minimum is near 27.
        assert!(compact[39] < compact[0] * 0.01, "{compact:?}");
    }

    #[test]
    fn lbfgs_solves_a_quadratic_bowl() {
        let loss = run(&mut Lbfgs::new(1.0, 10), 30);
        assert!(loss < 1e-10, "loss {loss}");
    }

    /// The same bowl scaled down by 1e-12, as a loss of relative errors is small next to
    /// one of absolute errors: L-BFGS takes the same steps and solves it alike.
    #[test]
    fn lbfgs_does_not_depend_on_the_scale_of_the_loss() {
        let solve = |scale: f64| {
            let scales = Tensor::from_slice(&[1.0f64, 10.0, 100.0, 1000.0]) * scale;
            let mut x = Tensor::ones([4], (Kind::Double, tch::Device::Cpu));
            let mut optimizer = Lbfgs::new(1.0, 10);
            for _ in 0..30 {
                let grad = &scales * &x;
                let loss = (&scales * x.square() * 0.5)
                    .sum(Kind::Double)
                    .double_value(&[]);
                optimizer.step(&mut x, &grad, loss);
            }
            x.abs().max().double_value(&[])
        };
        let (plain, tiny) = (solve(1.0), solve(1e-12));
        assert!(plain < 1e-5, "{plain}");
        assert!(tiny < 1e-5, "{tiny}");
    }

    /// A step that lands higher than it started is cut back along its own direction,
    /// and the point it reached counts for nothing.
    #[test]
    fn an_uphill_step_is_cut_to_a_quarter() {
        // f(x) = x², from x = 1: a first step of learning rate 3 (at most 3·|g|₁ = 6
        // units, here min(1, 1/2)·3·2 = 3) overshoots to x = −2, where f = 4 > 1.
        let mut x = Tensor::from_slice(&[1.0f64]);
        let mut optimizer = Lbfgs::new(3.0, 5);
        let mut step = |x: &mut Tensor| {
            let (grad, loss) = (&*x * 2.0, x.square().sum(Kind::Double).double_value(&[]));
            optimizer.step(x, &grad, loss)
        };
        assert_eq!(step(&mut x), Step::Taken);
        assert_eq!(x.double_value(&[0]), -2.0);
        // From there, back to 1 + (−3)/4 = 0.25, below where the step began.
        assert_eq!(step(&mut x), Step::Backtracked);
        assert_eq!(x.double_value(&[0]), 0.25);
        assert_eq!(step(&mut x), Step::Taken);
    }

    #[test]
    fn adam_descends_a_quadratic_bowl() {
        let loss = run(&mut Adam::new(0.1, 0.8, 50), 200);
        assert!(loss < 1.0, "loss {loss}");
    }
}
