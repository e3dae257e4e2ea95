//! The catalogue of classic backprop mistakes: **one row per mistake**, holding its
//! facts (name, one-line description, explanation for a diagnosis, the loss whose code
//! it is in, when it is harmless and why) and the change it makes to the reference's
//! step, side by side (as ripgrep keeps each flag's name, docs and parsing in one
//! `impl Flag` block).
//!
//! A change is one or more hooks of `Mistake`, each defaulting to the reference's
//! arithmetic: the loss gradient `∂L̄/∂Ŷ`, the activation derivative `act'`, a layer's
//! `dW`, `db` or `dX`, the update's sign, or the order of update and back-propagation.
//! [`crate::variant::step`] composes them with the pieces of [`crate::nn`].
//!
//! Adding a mistake: a variant of [`Bug`] (with its place in [`Bug::ALL`] and
//! `Bug::row`) and one `impl Mistake` block below.

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

use crate::nn::activation::Activation::{self, Sigmoid, Tanh};
use crate::nn::dense::Dense;
use crate::nn::kernels;
use crate::nn::loss::Loss;

/// A classic backprop mistake.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bug {
    /// `dW = outer(x, dz)`: the weight gradient transposed, shape `(in, out)`.
    DwTransposed,
    /// `dx = W·dz` without the transpose (as `W.reshape(in, out) @ dz`, which is `W·dz`
    /// for a square `W`).
    DxNoTranspose,
    /// The ReLU mask inverted: `act'(z) = (z ≤ 0)` (leaky: `0.01` and `1` swapped).
    ReluMaskInverted,
    /// The activation derivative evaluated at `a` instead of `z` (harmless for relu
    /// and leaky_relu, where `a > 0 ⟺ z > 0`; wrong for sigmoid and tanh).
    DerivativeOfA,
    /// `dz = da`: the activation derivative dropped.
    ActivationDerivativeDropped,
    /// `∂L/∂ŷ = (ŷ − y)/m`: the 2 of the square dropped.
    MseWithoutTwo,
    /// `∂L/∂ŷ = 2(ŷ − y)`: the `1/m` of the mean dropped (harmless with one output).
    MseWithoutSize,
    /// Batch bias gradient not summed: `db = dZ[0]` (harmless with one sample per batch).
    BiasNotSummed,
    /// Batch bias gradient averaged over the rows instead of summed: `db = mean_rows dZ`
    /// (the batch mean is already in `dZ`, so this divides by `B` twice; harmless with
    /// one sample per batch).
    BiasMeanNotSum,
    /// Batch gradients summed where the mean is needed: the `1/B` dropped
    /// (harmless with one sample per batch).
    BatchSumNotMean,
    /// `W ← W + lr·dW`: the update climbs the gradient.
    UpdatePlus,
    /// Each layer is updated as soon as its gradient is known, so the layer below
    /// back-propagates through the already-updated weights.
    StaleWeights,
    /// Softmax cross-entropy: `softmax(ŷ) = exp(ŷ)/Σ exp(ŷ)` without subtracting the
    /// max first: right until a logit passes ~709, then `exp` overflows and the
    /// gradient is `inf/inf = NaN` (a numerical bug).
    SoftmaxNoMaxShift,
    /// Softmax cross-entropy: the softmax's Jacobian applied on top of the fused
    /// gradient, `J_softmaxᵀ·(softmax(ŷ) − y)/B` (the Jacobian is already inside it).
    SoftmaxJacobianOnFused,
    /// Softmax cross-entropy: the softmax normalised over the batch (`axis=0` of a
    /// `(B, m)` array) instead of over the classes.
    SoftmaxWrongAxis,
    /// Binary cross-entropy: the logits-form gradient applied to probabilities,
    /// `(σ(σ(ŷ)) − y)/(m·B)` (a sigmoid last layer fed to a loss that takes logits).
    BceOnProbabilities,
    /// Binary cross-entropy summed over every output of every sample
    /// (`reduction="sum"`): the gradient `σ(ŷ) − y` without its `1/(m·B)`.
    BceSumNotMean,
}

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: [Bug; 17] = [
        Bug::DwTransposed,
        Bug::DxNoTranspose,
        Bug::ReluMaskInverted,
        Bug::DerivativeOfA,
        Bug::ActivationDerivativeDropped,
        Bug::MseWithoutTwo,
        Bug::MseWithoutSize,
        Bug::BiasNotSummed,
        Bug::BiasMeanNotSum,
        Bug::BatchSumNotMean,
        Bug::UpdatePlus,
        Bug::StaleWeights,
        Bug::SoftmaxNoMaxShift,
        Bug::SoftmaxJacobianOnFused,
        Bug::SoftmaxWrongAxis,
        Bug::BceOnProbabilities,
        Bug::BceSumNotMean,
    ];

    /// The bug's row of the catalogue: its facts and its change.
    pub(crate) fn row(self) -> &'static dyn Mistake {
        match self {
            Bug::DwTransposed => &DwTransposed,
            Bug::DxNoTranspose => &DxNoTranspose,
            Bug::ReluMaskInverted => &ReluMaskInverted,
            Bug::DerivativeOfA => &DerivativeOfA,
            Bug::ActivationDerivativeDropped => &ActivationDerivativeDropped,
            Bug::MseWithoutTwo => &MseWithoutTwo,
            Bug::MseWithoutSize => &MseWithoutSize,
            Bug::BiasNotSummed => &BiasNotSummed,
            Bug::BiasMeanNotSum => &BiasMeanNotSum,
            Bug::BatchSumNotMean => &BatchSumNotMean,
            Bug::UpdatePlus => &UpdatePlus,
            Bug::StaleWeights => &StaleWeights,
            Bug::SoftmaxNoMaxShift => &SoftmaxNoMaxShift,
            Bug::SoftmaxJacobianOnFused => &SoftmaxJacobianOnFused,
            Bug::SoftmaxWrongAxis => &SoftmaxWrongAxis,
            Bug::BceOnProbabilities => &BceOnProbabilities,
            Bug::BceSumNotMean => &BceSumNotMean,
        }
    }

    /// The bug's name in the catalogue, e.g. `stale-weights`.
    pub fn name(self) -> &'static str {
        self.row().name()
    }

    /// One line: the mistake as code, and which tensors it corrupts.
    pub fn description(self) -> &'static str {
        self.row().description()
    }

    /// What the mistake does, in one sentence naming the layers of a network with
    /// `layers` layers (1-based, as the article's `W1`, `W2`), for a diagnosis.
    pub fn explanation(self, layers: usize) -> String {
        self.row().explanation(layers.max(1))
    }

    /// The loss whose code the mistake is in (`None`: a mistake of the layers or the
    /// update, possible with every loss).
    pub fn loss(self) -> Option<Loss> {
        self.row().loss()
    }

    /// Whether the mistake can be made in a network trained with `loss` ([`Bug::loss`]).
    pub fn applies_to(self, loss: Loss) -> bool {
        self.loss().is_none_or(|l| l == loss)
    }

    /// Why this bug cannot change any gradient or update of a network with this loss,
    /// these activations, output width and batch size — or `None` when it can.
    pub fn harmless_for(
        self,
        loss: Loss,
        activations: &[Activation],
        outputs: usize,
        batch_size: usize,
    ) -> Option<&'static str> {
        if !self.applies_to(loss) {
            return Some("a mistake in the code of another loss");
        }
        self.row().harmless(activations, outputs, batch_size)
    }

    /// The bug called `name` ([`Bug::name`]), if there is one.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// `act'(z, a)` as a mistaken backward computes it.
pub(crate) type Derivative = fn(Activation, f64, f64) -> f64;

/// One row of the catalogue: a mistake's facts and its change. Every change hook
/// defaults to the reference's arithmetic (`None`, `false`, `1`).
pub(crate) trait Mistake: Sync {
    /// Its name in the catalogue (`--inject-bug NAME`, a diagnosis).
    fn name(&self) -> &'static str;
    /// One line: the mistake as code, and which tensors it corrupts.
    fn description(&self) -> &'static str;
    /// One sentence for a diagnosis, naming the layers of a `layers`-layer net (≥ 1).
    fn explanation(&self, layers: usize) -> String;
    /// The loss whose code the mistake is in (`None`: any loss).
    fn loss(&self) -> Option<Loss> {
        None
    }
    /// Why it cannot change a run with these activations, output width and batch
    /// size (the loss already applies), or `None`.
    fn harmless(
        &self,
        _acts: &[Activation],
        _outputs: usize,
        _batch: usize,
    ) -> Option<&'static str> {
        None
    }

    /// `∂L̄/∂Ŷ (B, m)` as the mistake computes it, when it changes it.
    fn loss_gradient(
        &self,
        _loss: Loss,
        _y_hat: ArrayView2<f64>,
        _y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        None
    }
    /// `act'(z, a)`, when the mistake changes it (then the conventions at `z = 0`
    /// are the mistake's own).
    fn derivative(&self) -> Option<Derivative> {
        None
    }
    /// A layer's `dW` from its input `X (B, in)` and `dZ (B, out)`, when changed.
    fn dw(&self, _x: ArrayView2<f64>, _dz: ArrayView2<f64>) -> Option<Array2<f64>> {
        None
    }
    /// A layer's `db` from `dZ (B, out)`, when changed.
    fn db(&self, _dz: ArrayView2<f64>) -> Option<Array1<f64>> {
        None
    }
    /// A layer's `dX (B, in)` from `dZ (B, out)`, when changed.
    fn dx(&self, _layer: &Dense<f64>, _dz: ArrayView2<f64>) -> Option<Array2<f64>> {
        None
    }
    /// The update is `W ← W − sign·lr·dW`: `1`, or `−1` when it climbs.
    fn update_sign(&self) -> f64 {
        1.0
    }
    /// Whether each layer is updated before the layer below back-propagates through
    /// it.
    fn updates_before_backprop(&self) -> bool {
        false
    }
}

/// The reason shared by the batch mistakes that one sample per batch hides.
const ONE_SAMPLE: &str =
    "with one sample per batch, the sum is the first row and the mean is the sum";

struct DwTransposed;
impl Mistake for DwTransposed {
    fn name(&self) -> &'static str {
        "dw-transposed"
    }
    fn description(&self) -> &'static str {
        "dW = outer(x, dz) — every layer's W gradient (wrong shape, or transposed values)"
    }
    fn explanation(&self, _: usize) -> String {
        "dW is computed as outer(x, dz), the transpose of outer(dz, x)".into()
    }
    fn dw(&self, x: ArrayView2<f64>, dz: ArrayView2<f64>) -> Option<Array2<f64>> {
        Some(kernels::grad_weights(x, dz))
    }
}

/// [`Bug::DxNoTranspose`] reads `W`'s row-major buffer as `(in, out)`
/// (`W.reshape(in, out) @ dz`).
struct DxNoTranspose;
impl Mistake for DxNoTranspose {
    fn name(&self) -> &'static str {
        "dx-no-transpose"
    }
    fn description(&self) -> &'static str {
        "dx = W·dz instead of Wᵀ·dz — every tensor below the first layer that has one"
    }
    fn explanation(&self, _: usize) -> String {
        "dx is W·dz instead of Wᵀ·dz, so the layers below get the wrong gradient".into()
    }
    fn dx(&self, layer: &Dense<f64>, dz: ArrayView2<f64>) -> Option<Array2<f64>> {
        let (out, n) = layer.w.dim();
        let wre = Array2::from_shape_fn((n, out), |(j, i)| {
            let flat = j * out + i;
            layer.w[[flat / n, flat % n]]
        });
        Some(kernels::grad_input(dz, wre.t()))
    }
}

struct ReluMaskInverted;
impl Mistake for ReluMaskInverted {
    fn name(&self) -> &'static str {
        "relu-mask-inverted"
    }
    fn description(&self) -> &'static str {
        "relu'(z) = (z <= 0) — W, b of relu/leaky_relu layers and everything below"
    }
    fn explanation(&self, _: usize) -> String {
        "relu'(z) is taken as (z <= 0): the mask is inverted".into()
    }
    fn derivative(&self) -> Option<Derivative> {
        // The two branches swapped for relu/leaky_relu; other activations untouched.
        Some(|act, z, _| {
            if !act.is_piecewise() {
                return act.derivative(z);
            }
            let (right, left) = (act.derivative(1.0), act.derivative(-1.0));
            if z > 0.0 {
                left
            } else {
                right
            }
        })
    }
}

struct DerivativeOfA;
impl Mistake for DerivativeOfA {
    fn name(&self) -> &'static str {
        "derivative-of-a"
    }
    fn description(&self) -> &'static str {
        "act'(a) instead of act'(z) — sigmoid/tanh layers and below (equivalent for relu)"
    }
    fn explanation(&self, _: usize) -> String {
        "the activation's derivative is evaluated at a = act(z) instead of z".into()
    }
    fn harmless(&self, acts: &[Activation], _: usize, _: usize) -> Option<&'static str> {
        (!acts.iter().any(|a| matches!(a, Sigmoid | Tanh))).then_some(
            "no sigmoid/tanh layer, and for relu, leaky_relu and identity act'(a) = act'(z)",
        )
    }
    fn derivative(&self) -> Option<Derivative> {
        Some(|act, _, a| act.derivative(a))
    }
}

struct ActivationDerivativeDropped;
impl Mistake for ActivationDerivativeDropped {
    fn name(&self) -> &'static str {
        "activation-derivative-dropped"
    }
    fn description(&self) -> &'static str {
        "dz = da — every non-identity layer and everything below it"
    }
    fn explanation(&self, _: usize) -> String {
        "dz = da: the activation's derivative is missing".into()
    }
    fn derivative(&self) -> Option<Derivative> {
        Some(|_, _, _| 1.0)
    }
}

/// `dL/dŷ` of the MSE written as `(ŷ − y)·scale / B` per element (`scale` the
/// mistaken `2/m`), with the reference's order of operations `(2(p − t)/m)/B`.
fn mse_gradient(
    y_hat: ArrayView2<f64>,
    y: ArrayView2<f64>,
    dl: impl Fn(f64, f64) -> f64,
    batch: f64,
) -> Array2<f64> {
    let mut d = Array2::zeros(y_hat.raw_dim());
    Zip::from(&mut d)
        .and(&y_hat)
        .and(&y)
        .for_each(|d, &p, &t| *d = dl(p, t) / batch);
    d
}

struct MseWithoutTwo;
impl Mistake for MseWithoutTwo {
    fn name(&self) -> &'static str {
        "mse-without-2"
    }
    fn description(&self) -> &'static str {
        "dL/dy = (y_hat - y)/m — every tensor (off by 2)"
    }
    fn explanation(&self, _: usize) -> String {
        "dL/dŷ = (ŷ − y)/m: the 2 of the square is missing".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::Mse)
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        let (b, m) = y_hat.dim();
        (loss == Loss::Mse).then(|| mse_gradient(y_hat, y, |p, t| (p - t) / m as f64, b as f64))
    }
}

struct MseWithoutSize;
impl Mistake for MseWithoutSize {
    fn name(&self) -> &'static str {
        "mse-without-size"
    }
    fn description(&self) -> &'static str {
        "dL/dy = 2(y_hat - y) — every tensor (off by m; equivalent with one output)"
    }
    fn explanation(&self, _: usize) -> String {
        "dL/dŷ = 2(ŷ − y): the 1/m of the mean over the outputs is missing".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::Mse)
    }
    fn harmless(&self, _: &[Activation], outputs: usize, _: usize) -> Option<&'static str> {
        (outputs == 1).then_some("with one output, 1/m = 1")
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        let b = y_hat.nrows();
        (loss == Loss::Mse).then(|| mse_gradient(y_hat, y, |p, t| 2.0 * (p - t), b as f64))
    }
}

struct BiasNotSummed;
impl Mistake for BiasNotSummed {
    fn name(&self) -> &'static str {
        "bias-not-summed"
    }
    fn description(&self) -> &'static str {
        "db = dZ[0] — every b, with batches of 2 or more"
    }
    fn explanation(&self, _: usize) -> String {
        "db takes the batch's first row of dZ instead of its sum".into()
    }
    fn harmless(&self, _: &[Activation], _: usize, batch: usize) -> Option<&'static str> {
        (batch == 1).then_some(ONE_SAMPLE)
    }
    fn db(&self, dz: ArrayView2<f64>) -> Option<Array1<f64>> {
        Some(dz.row(0).to_owned())
    }
}

struct BiasMeanNotSum;
impl Mistake for BiasMeanNotSum {
    fn name(&self) -> &'static str {
        "bias-grad-mean"
    }
    fn description(&self) -> &'static str {
        "db = mean over the batch of dZ (divided by B twice) — every b, with batches of 2 or more"
    }
    fn explanation(&self, _: usize) -> String {
        "db averages dZ over the batch instead of summing it (the batch mean is already in dZ)"
            .into()
    }
    fn harmless(&self, _: &[Activation], _: usize, batch: usize) -> Option<&'static str> {
        (batch == 1).then_some(ONE_SAMPLE)
    }
    fn db(&self, dz: ArrayView2<f64>) -> Option<Array1<f64>> {
        let b = dz.nrows() as f64;
        Some(Dense::grad_b(dz).mapv(|v| v / b))
    }
}

struct BatchSumNotMean;
impl Mistake for BatchSumNotMean {
    fn name(&self) -> &'static str {
        "batch-sum-not-mean"
    }
    fn description(&self) -> &'static str {
        "dL/dY without 1/B — every tensor, with batches of 2 or more"
    }
    fn explanation(&self, _: usize) -> String {
        "the batch gradient is summed, not averaged: the 1/B is missing".into()
    }
    fn harmless(&self, _: &[Activation], _: usize, batch: usize) -> Option<&'static str> {
        (batch == 1).then_some(ONE_SAMPLE)
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        let (b, m) = y_hat.dim();
        if loss == Loss::Mse {
            return Some(mse_gradient(y_hat, y, |p, t| 2.0 * (p - t) / m as f64, 1.0));
        }
        // The loss's own derivative, times `B`.
        let mut d = loss.batch_derivative(y_hat, y);
        d.mapv_inplace(|v| v * b as f64);
        Some(d)
    }
}

struct UpdatePlus;
impl Mistake for UpdatePlus {
    fn name(&self) -> &'static str {
        "update-plus"
    }
    fn description(&self) -> &'static str {
        "W += lr*dW — every layer's update"
    }
    fn explanation(&self, _: usize) -> String {
        "the update adds the gradient, W += lr·dW".into()
    }
    fn update_sign(&self) -> f64 {
        -1.0
    }
}

struct StaleWeights;
impl Mistake for StaleWeights {
    fn name(&self) -> &'static str {
        "stale-weights"
    }
    fn description(&self) -> &'static str {
        "update layer k before back-propagating through it — updates of all layers but the last"
    }
    fn explanation(&self, l: usize) -> String {
        match l {
            1 => "the input gradient dX is computed through the updated W1".into(),
            2 => "layer 1 back-propagates through the updated W2".into(),
            _ => format!(
                "each layer is updated before the one below back-propagates through it (layers 1–{} use the updated W2–W{l})",
                l - 1
            ),
        }
    }
    fn updates_before_backprop(&self) -> bool {
        true
    }
}

/// `(softmax(ŷ) − y)/B` with the softmax unshifted (`exp` overflows to inf past ~709)
/// and normalised over `axis` (1: the classes; 0: the batch, a mistake).
fn unshifted_softmax_gradient(
    y_hat: ArrayView2<f64>,
    y: ArrayView2<f64>,
    axis: usize,
) -> Array2<f64> {
    let (b, m) = y_hat.dim();
    let e = y_hat.mapv(f64::exp);
    let sums = e.sum_axis(Axis(axis));
    let mut d = Array2::zeros((b, m));
    for ((r, c), d) in d.indexed_iter_mut() {
        let s = if axis == 1 { sums[r] } else { sums[c] };
        *d = (e[[r, c]] / s - y[[r, c]]) / b as f64;
    }
    d
}

struct SoftmaxNoMaxShift;
impl Mistake for SoftmaxNoMaxShift {
    fn name(&self) -> &'static str {
        "softmax-no-max-shift"
    }
    fn description(&self) -> &'static str {
        "softmax = exp(y_hat)/sum(exp(y_hat)), no max shift — every tensor turns NaN once a logit passes ~709 (softmax_cross_entropy)"
    }
    fn explanation(&self, _: usize) -> String {
        "the softmax is exp(ŷ)/Σ exp(ŷ) without the max shift, which overflows for logits above ~709".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::SoftmaxCrossEntropy)
    }
    fn harmless(&self, _: &[Activation], _: usize, _: usize) -> Option<&'static str> {
        Some("without overflow (logits below ~709) exp(ŷ)/Σ exp(ŷ) is the shifted softmax up to rounding")
    }
    fn loss_gradient(
        &self,
        _: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        Some(unshifted_softmax_gradient(y_hat, y, 1))
    }
}

struct SoftmaxJacobianOnFused;
impl Mistake for SoftmaxJacobianOnFused {
    fn name(&self) -> &'static str {
        "softmax-jacobian-on-fused"
    }
    fn description(&self) -> &'static str {
        "J_softmax^T (softmax - y)/B: the softmax Jacobian applied twice — every tensor (softmax_cross_entropy)"
    }
    fn explanation(&self, _: usize) -> String {
        "the softmax's Jacobian is applied to softmax(ŷ) − y, which already includes it".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::SoftmaxCrossEntropy)
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        // g = (p − y)/B, then d_k = p_k·(g_k − Σ_j p_j g_j) (J_softmaxᵀ·g).
        let (b, m) = y_hat.dim();
        let g = loss.batch_derivative(y_hat, y);
        let mut d = Array2::zeros((b, m));
        for r in 0..b {
            let row = y_hat.row(r);
            let c = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            let e = row.mapv(|v| (v - c).exp());
            let p = &e / e.sum();
            let pg: f64 = p.iter().zip(g.row(r)).map(|(p, g)| p * g).sum();
            for k in 0..m {
                d[[r, k]] = p[k] * (g[[r, k]] - pg);
            }
        }
        Some(d)
    }
}

struct SoftmaxWrongAxis;
impl Mistake for SoftmaxWrongAxis {
    fn name(&self) -> &'static str {
        "softmax-wrong-axis"
    }
    fn description(&self) -> &'static str {
        "softmax over the batch (axis=0) instead of the classes — every tensor (softmax_cross_entropy)"
    }
    fn explanation(&self, _: usize) -> String {
        "the softmax is normalised over the batch (axis 0) instead of over the classes".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::SoftmaxCrossEntropy)
    }
    fn loss_gradient(
        &self,
        _: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        Some(unshifted_softmax_gradient(y_hat, y, 0))
    }
}

struct BceOnProbabilities;
impl Mistake for BceOnProbabilities {
    fn name(&self) -> &'static str {
        "bce-on-probabilities"
    }
    fn description(&self) -> &'static str {
        "(sigmoid(sigmoid(y_hat)) - y)/(m B): BCE's logit gradient on probabilities — every tensor (binary_cross_entropy)"
    }
    fn explanation(&self, _: usize) -> String {
        "the binary cross-entropy's gradient σ(ŷ) − y is taken of probabilities σ(ŷ), not of the logits".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::BinaryCrossEntropy)
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        let p = y_hat.mapv(crate::nn::loss::sigmoid);
        Some(loss.batch_derivative(p.view(), y))
    }
}

struct BceSumNotMean;
impl Mistake for BceSumNotMean {
    fn name(&self) -> &'static str {
        "bce-sum-not-mean"
    }
    fn description(&self) -> &'static str {
        "sigmoid(y_hat) - y without 1/(m B): BCE summed over outputs and samples — every tensor (binary_cross_entropy)"
    }
    fn explanation(&self, _: usize) -> String {
        "the binary cross-entropy is summed over the outputs and the batch, not averaged: the 1/(m·B) is missing".into()
    }
    fn loss(&self) -> Option<Loss> {
        Some(Loss::BinaryCrossEntropy)
    }
    fn harmless(&self, _: &[Activation], outputs: usize, batch: usize) -> Option<&'static str> {
        (outputs * batch == 1).then_some("with one output and one sample per batch, 1/(m·B) = 1")
    }
    fn loss_gradient(
        &self,
        loss: Loss,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Option<Array2<f64>> {
        let (b, m) = y_hat.dim();
        let mut d = loss.batch_derivative(y_hat, y);
        d.mapv_inplace(|v| v * (m * b) as f64);
        Some(d)
    }
}
