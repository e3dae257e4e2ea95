//! A catalogue of classic backprop mistakes (`--inject-bug NAME`), to show that the
//! checker catches each one and names the tensors it corrupts — and, for the oracle, to
//! name the mistake a port made.
//!
//! Each mistake is a *variant* of the backward pass or the update built here from the
//! public pieces of [`crate::nn`]: [`Dense::grad_z`], [`Dense::grad_w`],
//! [`Dense::grad_b`], [`Dense::grad_x`], [`Dense::descend`], the loss derivative and the
//! kernels, composed the wrong way. The teaching code itself carries no hook for them.
//! [`backward`] and [`train_step`] are the network's backward pass and training step
//! as a [`Variant`] computes them: with a bug injected, and/or with another convention
//! for the derivative at `z = 0` exactly ([`Conventions`]); with neither they are
//! exactly [`Network::backward`] and [`Network::train_step`]. [`Buggy`] is a
//! [`Stepper`] that trains as a variant.

use ndarray::{Array1, Array2, ArrayView2, Zip};

use crate::error::{Error, Result};
use crate::nn::activation::{Activation, LEAKY_SLOPE};
use crate::nn::dense::{Dense, DenseGrad, DenseOutput};
use crate::nn::kernels;
use crate::nn::loss::Loss;
use crate::nn::network::{Forward, Gradients, Network};
use crate::nn::sgd::{Outcome, Stepper, WholeStep};

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

    /// The bug's name in the catalogue, e.g. `stale-weights`.
    pub fn name(self) -> &'static str {
        match self {
            Bug::DwTransposed => "dw-transposed",
            Bug::DxNoTranspose => "dx-no-transpose",
            Bug::ReluMaskInverted => "relu-mask-inverted",
            Bug::DerivativeOfA => "derivative-of-a",
            Bug::ActivationDerivativeDropped => "activation-derivative-dropped",
            Bug::MseWithoutTwo => "mse-without-2",
            Bug::MseWithoutSize => "mse-without-size",
            Bug::BiasNotSummed => "bias-not-summed",
            Bug::BiasMeanNotSum => "bias-grad-mean",
            Bug::BatchSumNotMean => "batch-sum-not-mean",
            Bug::UpdatePlus => "update-plus",
            Bug::StaleWeights => "stale-weights",
            Bug::SoftmaxNoMaxShift => "softmax-no-max-shift",
            Bug::SoftmaxJacobianOnFused => "softmax-jacobian-on-fused",
            Bug::SoftmaxWrongAxis => "softmax-wrong-axis",
            Bug::BceOnProbabilities => "bce-on-probabilities",
            Bug::BceSumNotMean => "bce-sum-not-mean",
        }
    }

    /// One line: the mistake as code, and which tensors it corrupts.
    pub fn description(self) -> &'static str {
        match self {
            Bug::DwTransposed => "dW = outer(x, dz) — every layer's W gradient (wrong shape, or transposed values)",
            Bug::DxNoTranspose => "dx = W·dz instead of Wᵀ·dz — every tensor below the first layer that has one",
            Bug::ReluMaskInverted => "relu'(z) = (z <= 0) — W, b of relu/leaky_relu layers and everything below",
            Bug::DerivativeOfA => "act'(a) instead of act'(z) — sigmoid/tanh layers and below (equivalent for relu)",
            Bug::ActivationDerivativeDropped => "dz = da — every non-identity layer and everything below it",
            Bug::MseWithoutTwo => "dL/dy = (y_hat - y)/m — every tensor (off by 2)",
            Bug::MseWithoutSize => "dL/dy = 2(y_hat - y) — every tensor (off by m; equivalent with one output)",
            Bug::BiasNotSummed => "db = dZ[0] — every b, with batches of 2 or more",
            Bug::BiasMeanNotSum => "db = mean over the batch of dZ (divided by B twice) — every b, with batches of 2 or more",
            Bug::BatchSumNotMean => "dL/dY without 1/B — every tensor, with batches of 2 or more",
            Bug::UpdatePlus => "W += lr*dW — every layer's update",
            Bug::StaleWeights => "update layer k before back-propagating through it — updates of all layers but the last",
            Bug::SoftmaxNoMaxShift => "softmax = exp(y_hat)/sum(exp(y_hat)), no max shift — every tensor turns NaN once a logit passes ~709 (softmax_cross_entropy)",
            Bug::SoftmaxJacobianOnFused => "J_softmax^T (softmax - y)/B: the softmax Jacobian applied twice — every tensor (softmax_cross_entropy)",
            Bug::SoftmaxWrongAxis => "softmax over the batch (axis=0) instead of the classes — every tensor (softmax_cross_entropy)",
            Bug::BceOnProbabilities => "(sigmoid(sigmoid(y_hat)) - y)/(m B): BCE's logit gradient on probabilities — every tensor (binary_cross_entropy)",
            Bug::BceSumNotMean => "sigmoid(y_hat) - y without 1/(m B): BCE summed over outputs and samples — every tensor (binary_cross_entropy)",
        }
    }

    /// What the mistake does, in one sentence naming the layers of a network with
    /// `layers` layers (1-based, as the article's `W1`, `W2`), for a diagnosis.
    pub fn explanation(self, layers: usize) -> String {
        let l = layers.max(1);
        match self {
            Bug::DwTransposed => "dW is computed as outer(x, dz), the transpose of outer(dz, x)".into(),
            Bug::DxNoTranspose => "dx is W·dz instead of Wᵀ·dz, so the layers below get the wrong gradient".into(),
            Bug::ReluMaskInverted => "relu'(z) is taken as (z <= 0): the mask is inverted".into(),
            Bug::DerivativeOfA => "the activation's derivative is evaluated at a = act(z) instead of z".into(),
            Bug::ActivationDerivativeDropped => "dz = da: the activation's derivative is missing".into(),
            Bug::MseWithoutTwo => "dL/dŷ = (ŷ − y)/m: the 2 of the square is missing".into(),
            Bug::MseWithoutSize => "dL/dŷ = 2(ŷ − y): the 1/m of the mean over the outputs is missing".into(),
            Bug::BiasNotSummed => "db takes the batch's first row of dZ instead of its sum".into(),
            Bug::BiasMeanNotSum => "db averages dZ over the batch instead of summing it (the batch mean is already in dZ)".into(),
            Bug::BatchSumNotMean => "the batch gradient is summed, not averaged: the 1/B is missing".into(),
            Bug::UpdatePlus => "the update adds the gradient, W += lr·dW".into(),
            Bug::StaleWeights if l <= 1 => {
                "the input gradient dX is computed through the updated W1".into()
            }
            Bug::StaleWeights if l == 2 => "layer 1 back-propagates through the updated W2".into(),
            Bug::StaleWeights => format!(
                "each layer is updated before the one below back-propagates through it (layers 1–{} use the updated W2–W{l})",
                l - 1
            ),
            Bug::SoftmaxNoMaxShift => "the softmax is exp(ŷ)/Σ exp(ŷ) without the max shift, which overflows for logits above ~709".into(),
            Bug::SoftmaxJacobianOnFused => "the softmax's Jacobian is applied to softmax(ŷ) − y, which already includes it".into(),
            Bug::SoftmaxWrongAxis => "the softmax is normalised over the batch (axis 0) instead of over the classes".into(),
            Bug::BceOnProbabilities => "the binary cross-entropy's gradient σ(ŷ) − y is taken of probabilities σ(ŷ), not of the logits".into(),
            Bug::BceSumNotMean => "the binary cross-entropy is summed over the outputs and the batch, not averaged: the 1/(m·B) is missing".into(),
        }
    }

    /// The loss whose code the mistake is in (`None`: a mistake of the layers or the
    /// update, possible with every loss).
    pub fn loss(self) -> Option<Loss> {
        match self {
            Bug::MseWithoutTwo | Bug::MseWithoutSize => Some(Loss::Mse),
            Bug::SoftmaxNoMaxShift | Bug::SoftmaxJacobianOnFused | Bug::SoftmaxWrongAxis => {
                Some(Loss::SoftmaxCrossEntropy)
            }
            Bug::BceOnProbabilities | Bug::BceSumNotMean => Some(Loss::BinaryCrossEntropy),
            _ => None,
        }
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
        activations: &[crate::nn::activation::Activation],
        outputs: usize,
        batch_size: usize,
    ) -> Option<&'static str> {
        use crate::nn::activation::Activation::{Sigmoid, Tanh};
        match self {
            _ if !self.applies_to(loss) => Some("a mistake in the code of another loss"),
            Bug::SoftmaxNoMaxShift => Some(
                "without overflow (logits below ~709) exp(ŷ)/Σ exp(ŷ) is the shifted softmax up to rounding",
            ),
            Bug::BceSumNotMean if outputs * batch_size == 1 => {
                Some("with one output and one sample per batch, 1/(m·B) = 1")
            }
            Bug::DerivativeOfA if !activations.iter().any(|a| matches!(a, Sigmoid | Tanh)) => Some(
                "no sigmoid/tanh layer, and for relu, leaky_relu and identity act'(a) = act'(z)",
            ),
            Bug::MseWithoutSize if outputs == 1 => Some("with one output, 1/m = 1"),
            Bug::BiasNotSummed | Bug::BiasMeanNotSum | Bug::BatchSumNotMean if batch_size == 1 => {
                Some("with one sample per batch, the sum is the first row and the mean is the sum")
            }
            _ => None,
        }
    }

    /// The bug called `name` ([`Bug::name`]), if there is one.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// The value of `act'(0)` where relu and leaky_relu have no derivative: a convention.
/// `nn/` (like NumPy's `(z > 0)` mask) takes the left branch, 0 and 0.01; PyTorch's
/// `relu` also gives 0; `jnp.maximum(z, 0)` gives 0.5 (the mean of both sides) and
/// `jax.nn.leaky_relu` gives 1 (the right branch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conventions {
    /// `relu'(0)`: 0 (left branch, the default), 0.5 or 1.
    pub relu_grad_at_zero: f64,
    /// `leaky_relu'(0)`: 0.01 (left branch, the default), 0.505 or 1.
    pub leaky_grad_at_zero: f64,
}

impl Default for Conventions {
    fn default() -> Self {
        Conventions {
            relu_grad_at_zero: 0.0,
            leaky_grad_at_zero: LEAKY_SLOPE,
        }
    }
}

impl Conventions {
    /// The values each convention may take: the left branch, the mean of both sides,
    /// the right branch.
    pub const RELU: [f64; 3] = [0.0, 0.5, 1.0];
    /// See [`Conventions::RELU`].
    pub const LEAKY: [f64; 3] = [LEAKY_SLOPE, (LEAKY_SLOPE + 1.0) / 2.0, 1.0];

    /// Checks each value is one of [`Conventions::RELU`] / [`Conventions::LEAKY`];
    /// errors name `Conventions.relu_grad_at_zero` or `Conventions.leaky_grad_at_zero`.
    pub fn validate(&self) -> Result<()> {
        for (field, v, allowed) in [
            (
                "Conventions.relu_grad_at_zero",
                self.relu_grad_at_zero,
                Self::RELU,
            ),
            (
                "Conventions.leaky_grad_at_zero",
                self.leaky_grad_at_zero,
                Self::LEAKY,
            ),
        ] {
            if !allowed.contains(&v) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "must be one of {allowed:?} (left branch, mean, right branch), got {}",
                        crate::error::short(v)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether these are `nn/`'s own conventions.
    pub fn is_default(&self) -> bool {
        *self == Conventions::default()
    }

    /// `act'(z)` under these conventions (they only change `z = 0` exactly).
    pub fn derivative(&self, act: Activation, z: f64) -> f64 {
        match act {
            Activation::Relu if z == 0.0 => self.relu_grad_at_zero,
            Activation::LeakyRelu if z == 0.0 => self.leaky_grad_at_zero,
            _ => act.derivative(z),
        }
    }
}

/// A variant of the reference's training step: a catalogue bug, other derivative
/// conventions at `z = 0`, or both. The default is the reference itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Variant {
    /// An injected mistake.
    pub bug: Option<Bug>,
    /// The derivative conventions at `z = 0`.
    pub conventions: Conventions,
}

impl From<Option<Bug>> for Variant {
    fn from(bug: Option<Bug>) -> Self {
        Variant {
            bug,
            conventions: Conventions::default(),
        }
    }
}

impl Variant {
    /// Whether this is the reference itself (no bug, `nn/`'s conventions).
    pub fn is_reference(&self) -> bool {
        self.bug.is_none() && self.conventions.is_default()
    }

    /// `act'` at pre-activation `z` (activation `a`) as this variant computes it.
    pub fn derivative(&self, act: Activation, z: f64, a: f64) -> f64 {
        match self.bug {
            Some(
                bug @ (Bug::ReluMaskInverted
                | Bug::DerivativeOfA
                | Bug::ActivationDerivativeDropped),
            ) => buggy_derivative(bug, act, z, a),
            _ => self.conventions.derivative(act, z),
        }
    }
}

/// The network's backward pass ([`Network::backward`]) as `variant` computes it.
pub fn backward(
    net: &Network<f64>,
    fwd: &Forward<f64>,
    y: ArrayView2<f64>,
    want_input_grad: bool,
    variant: impl Into<Variant>,
) -> Gradients {
    let variant = variant.into();
    if variant.is_reference() {
        return net.backward(fwd, y, want_input_grad);
    }
    let d_output = match variant.bug {
        Some(bug) => loss_derivative(net.loss, fwd.output(), y, bug),
        None => net.loss.batch_derivative(fwd.output(), y),
    };
    let mut layers: Vec<DenseGrad> = Vec::with_capacity(net.layers.len());
    let mut da = d_output.clone();
    for (k, layer) in net.layers.iter().enumerate().rev() {
        let want_dx = k > 0 || want_input_grad;
        let g = layer_backward(
            layer,
            fwd.layer_input(k),
            &fwd.layers[k],
            da.view(),
            want_dx,
            &variant,
        );
        if let Some(dx) = &g.dx {
            da = dx.clone();
        }
        layers.push(g);
    }
    layers.reverse();
    Gradients { d_output, layers }
}

/// One training step ([`Network::train_step`]) as `variant` computes it: forward,
/// losses, the variant's backward, and the update — or, for [`Bug::StaleWeights`],
/// each layer updated as soon as its gradient is known, before back-propagating
/// through it.
pub fn train_step(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    lr: f64,
    variant: impl Into<Variant>,
    want_input_grad: bool,
) -> (Forward<f64>, Array1<f64>, Gradients) {
    let variant = variant.into();
    if variant.is_reference() {
        return net.train_step(x, y, lr, want_input_grad);
    }
    let fwd = net.forward(x);
    let losses = net.sample_losses(&fwd, y);
    if variant.bug == Some(Bug::StaleWeights) {
        let grads = stale_weights_backward(net, &fwd, y, lr, want_input_grad, &variant);
        return (fwd, losses, grads);
    }
    let grads = backward(net, &fwd, y, want_input_grad, variant);
    for (layer, g) in net.layers.iter_mut().zip(&grads.layers) {
        update(layer, g, lr, variant.bug);
    }
    (fwd, losses, grads)
}

/// [`Bug::StaleWeights`]: for `k = L−1 … 0`, layer `k`'s gradients, then its update,
/// then `dX = dZ·W` with the *updated* `W` handed to the layer below.
fn stale_weights_backward(
    net: &mut Network<f64>,
    fwd: &Forward<f64>,
    y: ArrayView2<f64>,
    lr: f64,
    want_input_grad: bool,
    variant: &Variant,
) -> Gradients {
    let d_output = net.loss.batch_derivative(fwd.output(), y);
    let mut da = d_output.clone();
    let mut layers = Vec::with_capacity(net.layers.len());
    for k in (0..net.layers.len()).rev() {
        let layer = &mut net.layers[k];
        let mut g = if variant.conventions.is_default() {
            layer.backward(fwd.layer_input(k), &fwd.layers[k], da.view(), false)
        } else {
            let plain = Variant {
                bug: None,
                conventions: variant.conventions,
            };
            layer_backward(
                layer,
                fwd.layer_input(k),
                &fwd.layers[k],
                da.view(),
                false,
                &plain,
            )
        };
        layer.descend(g.dw.view(), g.db.view(), lr);
        if k > 0 || want_input_grad {
            let dx = layer.grad_x(g.dz.view());
            da = dx.clone();
            g.dx = Some(dx);
        }
        layers.push(g);
    }
    layers.reverse();
    Gradients { d_output, layers }
}

/// `∂L̄/∂Ŷ (B, m)` as a buggy port computes it ([`Loss::batch_derivative`] otherwise).
fn loss_derivative(
    loss: Loss,
    y_hat: ArrayView2<f64>,
    y: ArrayView2<f64>,
    bug: Bug,
) -> Array2<f64> {
    let (b, m) = y_hat.dim();
    let batch = match bug {
        Bug::BatchSumNotMean => 1.0,
        _ => b as f64,
    };
    let bf = b as f64;
    match bug {
        Bug::SoftmaxNoMaxShift | Bug::SoftmaxWrongAxis => {
            // e = exp(ŷ) unshifted (overflows to inf), normalised per row or per column.
            let e = y_hat.mapv(f64::exp);
            let axis = if bug == Bug::SoftmaxWrongAxis { 0 } else { 1 };
            let sums = e.sum_axis(ndarray::Axis(axis));
            let mut d = Array2::zeros((b, m));
            for ((r, c), d) in d.indexed_iter_mut() {
                let s = if axis == 1 { sums[r] } else { sums[c] };
                *d = (e[[r, c]] / s - y[[r, c]]) / bf;
            }
            return d;
        }
        Bug::SoftmaxJacobianOnFused => {
            // g = (p − y)/B, then d_k = p_k·(g_k − Σ_j p_j g_j) (J_softmaxᵀ·g).
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
            return d;
        }
        Bug::BceOnProbabilities => {
            let p = y_hat.mapv(crate::nn::loss::sigmoid);
            return loss.batch_derivative(p.view(), y);
        }
        Bug::BceSumNotMean => {
            let mut d = loss.batch_derivative(y_hat, y);
            d.mapv_inplace(|v| v * (m * b) as f64);
            return d;
        }
        _ => {}
    }
    if loss != Loss::Mse {
        // The loss's own derivative (times `B` when the bug sums the batch).
        let mut d = loss.batch_derivative(y_hat, y);
        if bug == Bug::BatchSumNotMean {
            d.mapv_inplace(|v| v * b as f64);
        }
        return d;
    }
    let dl = |p: f64, t: f64| match bug {
        Bug::MseWithoutTwo => (p - t) / m as f64,
        Bug::MseWithoutSize => 2.0 * (p - t),
        _ => 2.0 * (p - t) / m as f64,
    };
    let mut d = Array2::zeros((b, m));
    Zip::from(&mut d)
        .and(&y_hat)
        .and(&y)
        .for_each(|d, &p, &t| *d = dl(p, t) / batch);
    d
}

/// One layer's backward ([`Dense::backward`]) as a buggy port computes it: its own
/// `act'`, a transposed `dW`, an unsummed `db` or an untransposed `dX`.
fn layer_backward(
    layer: &Dense<f64>,
    x: ArrayView2<f64>,
    out: &DenseOutput<f64>,
    da: ArrayView2<f64>,
    want_dx: bool,
    variant: &Variant,
) -> DenseGrad {
    let act = layer.activation;
    let conv = variant.conventions;
    let own_derivative = matches!(
        variant.bug,
        Some(Bug::ReluMaskInverted | Bug::DerivativeOfA | Bug::ActivationDerivativeDropped)
    ) || !conv.is_default();
    let dz = if own_derivative {
        let mut dz = Array2::zeros(da.raw_dim());
        Zip::from(&mut dz)
            .and(&da)
            .and(&out.z)
            .and(&out.a)
            .for_each(|dz, &da, &z, &a| *dz = da * variant.derivative(act, z, a));
        dz
    } else {
        layer.grad_z(out, da)
    };
    let dw = match variant.bug {
        Some(Bug::DwTransposed) => kernels::grad_weights(x, dz.view()),
        _ => Dense::grad_w(dz.view(), x),
    };
    let db = match variant.bug {
        Some(Bug::BiasNotSummed) => dz.row(0).to_owned(),
        Some(Bug::BiasMeanNotSum) => {
            let b = dz.nrows() as f64;
            Dense::grad_b(dz.view()).mapv(|v| v / b)
        }
        _ => Dense::grad_b(dz.view()),
    };
    let dx = want_dx.then(|| grad_x(layer, dz.view(), variant.bug));
    DenseGrad { dz, dw, db, dx }
}

/// `dX` as a buggy port computes it: [`Bug::DxNoTranspose`] reads `W`'s row-major
/// buffer as `(in, out)` (`W.reshape(in, out) @ dz`), everything else is
/// [`Dense::grad_x`].
fn grad_x(layer: &Dense<f64>, dz: ArrayView2<f64>, bug: Option<Bug>) -> Array2<f64> {
    match bug {
        Some(Bug::DxNoTranspose) => {
            let (out, n) = layer.w.dim();
            let wre = Array2::from_shape_fn((n, out), |(j, i)| {
                let flat = j * out + i;
                layer.w[[flat / n, flat % n]]
            });
            kernels::grad_input(dz, wre.t())
        }
        _ => layer.grad_x(dz),
    }
}

/// `act'` as a buggy backward computes it.
fn buggy_derivative(bug: Bug, act: Activation, z: f64, a: f64) -> f64 {
    match bug {
        Bug::ReluMaskInverted if act.is_piecewise() => {
            let right = act.derivative(1.0);
            let left = act.derivative(-1.0);
            if z > 0.0 {
                left
            } else {
                right
            }
        }
        Bug::DerivativeOfA => act.derivative(a),
        Bug::ActivationDerivativeDropped => 1.0,
        _ => act.derivative(z),
    }
}

/// The update as a buggy port applies it: [`Bug::UpdatePlus`] climbs the gradient; a
/// gradient of the wrong shape (from [`Bug::DwTransposed`]) is applied element by
/// element in memory order, as a NumPy port with a reshape would; otherwise
/// [`Dense::descend`].
fn update(layer: &mut Dense<f64>, g: &DenseGrad, lr: f64, bug: Option<Bug>) {
    if bug == Some(Bug::UpdatePlus) {
        layer.descend(g.dw.view(), g.db.view(), -lr);
    } else if layer.w.dim() == g.dw.dim() {
        layer.descend(g.dw.view(), g.db.view(), lr);
    } else {
        for (w, &d) in layer.w.iter_mut().zip(g.dw.iter()) {
            *w -= lr * d;
        }
        layer.b.zip_mut_with(&g.db, |b, &d| *b -= lr * d);
    }
}

/// A [`Stepper`] that trains as a [`Variant`] ([`train_step`]); the default variant is
/// the reference stepper.
#[derive(Debug, Default)]
pub struct Buggy {
    /// The variant.
    pub variant: Variant,
    last: Option<WholeStep>,
}

impl Buggy {
    /// A stepper for `variant` (a bug, conventions, or both).
    pub fn new(variant: impl Into<Variant>) -> Self {
        Buggy {
            variant: variant.into(),
            last: None,
        }
    }
}

impl Stepper for Buggy {
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_> {
        let step = train_step(net, x, y, lr, self.variant, record);
        Outcome::kept(&mut self.last, step, net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stale-weights explanation names the layers of the network at hand: the
    /// input gradient of a one-layer net, layer 1 of a two-layer net, a range beyond.
    #[test]
    fn stale_weights_explanation_names_the_layers_of_the_network() {
        let e = |l| Bug::StaleWeights.explanation(l);
        assert_eq!(
            e(1),
            "the input gradient dX is computed through the updated W1"
        );
        assert_eq!(e(2), "layer 1 back-propagates through the updated W2");
        assert!(
            e(5).ends_with("(layers 1–4 use the updated W2–W5)"),
            "{}",
            e(5)
        );
    }
    use crate::nn::activation::Activation::Identity;
    use ndarray::array;

    /// Pins the exact values of the loss-derivative bug injections (`mse-without-2`,
    /// `mse-without-size`, `batch-sum-not-mean`) next to the correct `∂L̄/∂Ŷ`, so that
    /// mutation testing can kill mutants inside those deliberately wrong arms.
    ///
    /// A (B = 2, m = 2) batch with dyadic values, so every result is exact:
    /// `ŷ = [[5, 10], [0, 16]]`, `y = [[1, 2], [4, 8]]`, hence
    /// `ŷ − y = [[4, 8], [−4, 8]]`. The values are chosen so that each wrong operator
    /// gives something else: `ŷ + y = [[6, 12], [4, 24]]` and `ŷ / y = [[5, 5], [0, 2]]`
    /// differ from `ŷ − y` everywhere, `m = 2 ≠ 1` so `/ m` ≠ `· m`, and no `ŷ − y` is
    /// `2` or `±1`, so `2·d` ≠ `2 + d` and `2·d` ≠ `2 / d`.
    /// Layer 0's `dX` only on request, with a bug injected as without.
    #[test]
    fn buggy_backward_computes_the_input_gradient_only_on_request() {
        let (net, x, y) = one_layer_2x3();
        let fwd = net.forward(x.view());
        for bug in [Bug::DwTransposed, Bug::DxNoTranspose, Bug::MseWithoutTwo] {
            for want in [false, true] {
                let g = backward(&net, &fwd, y.view(), want, Some(bug));
                assert_eq!(g.layers[0].dx.is_some(), want, "{bug:?}");
            }
        }
    }

    #[test]
    fn names_and_harmlessness() {
        use crate::nn::activation::Activation::{Relu, Sigmoid};
        for b in Bug::ALL {
            assert_eq!(Bug::from_name(b.name()), Some(b));
        }
        assert_eq!(Bug::from_name("no-such-bug"), None);
        // derivative-of-a changes nothing without sigmoid/tanh, something with them.
        assert!(Bug::DerivativeOfA
            .harmless_for(Loss::Mse, &[Relu, Identity], 1, 1)
            .is_some());
        assert!(Bug::DerivativeOfA
            .harmless_for(Loss::Mse, &[Relu, Sigmoid], 1, 1)
            .is_none());
        // mse-without-size only with one output; the batch bugs only at batch size 1.
        assert!(Bug::MseWithoutSize
            .harmless_for(Loss::Mse, &[Identity], 1, 4)
            .is_some());
        assert!(Bug::MseWithoutSize
            .harmless_for(Loss::Mse, &[Identity], 2, 1)
            .is_none());
        for b in [
            Bug::BiasNotSummed,
            Bug::BiasMeanNotSum,
            Bug::BatchSumNotMean,
        ] {
            assert!(b.harmless_for(Loss::Mse, &[Identity], 2, 1).is_some());
            assert!(b.harmless_for(Loss::Mse, &[Identity], 1, 2).is_none());
        }
        assert!(Bug::StaleWeights
            .harmless_for(Loss::Mse, &[Identity], 1, 1)
            .is_none());
        // A loss's own mistakes cannot be made with another loss.
        assert!(Bug::MseWithoutTwo.applies_to(Loss::Mse));
        assert!(!Bug::MseWithoutTwo.applies_to(Loss::SoftmaxCrossEntropy));
        assert!(Bug::SoftmaxWrongAxis.applies_to(Loss::SoftmaxCrossEntropy));
        assert!(!Bug::BceOnProbabilities.applies_to(Loss::SoftmaxCrossEntropy));
        assert!(Bug::StaleWeights.applies_to(Loss::BinaryCrossEntropy));
        assert!(Bug::SoftmaxWrongAxis
            .harmless_for(Loss::Mse, &[Identity], 2, 2)
            .is_some());
    }

    /// The classification bugs' `∂L̄/∂Ŷ` on hand values: logits `[0, ln 3]` (softmax
    /// `[1/4, 3/4]`), target class 1, `B = 2` rows.
    #[test]
    fn classification_bug_injections_have_their_hand_values() {
        let ce = Loss::SoftmaxCrossEntropy;
        let l3 = 3f64.ln();
        let y_hat = array![[0.0, l3], [0.0, l3]];
        let y = array![[0.0, 1.0], [0.0, 1.0]];
        let d = |bug| loss_derivative(ce, y_hat.view(), y.view(), bug);
        let close = |a: Array2<f64>, b: Array2<f64>| {
            assert!((&a - &b).iter().all(|v| v.abs() < 1e-15), "{a} vs {b}");
        };
        // Correct: (p − y)/B = [1/8, −1/8].
        close(
            d(Bug::BatchSumNotMean),
            array![[0.25, -0.25], [0.25, -0.25]],
        );
        close(
            d(Bug::SoftmaxNoMaxShift),
            array![[0.125, -0.125], [0.125, -0.125]],
        );
        // Over the batch: each column's two equal entries normalise to 1/2.
        close(
            d(Bug::SoftmaxWrongAxis),
            array![[0.25, -0.25], [0.25, -0.25]],
        );
        // p ⊙ (g − p·g) with g = [1/8, −1/8]: p·g = −1/16, so [1/4·3/16, 3/4·(−1/16)].
        close(
            d(Bug::SoftmaxJacobianOnFused),
            array![[3.0 / 64.0, -3.0 / 64.0], [3.0 / 64.0, -3.0 / 64.0]],
        );
        // Overflow: exp(800) is inf, inf/inf is NaN.
        let big = array![[800.0, 0.0]];
        let y1 = array![[1.0, 0.0]];
        let d = loss_derivative(ce, big.view(), y1.view(), Bug::SoftmaxNoMaxShift);
        assert!(d[[0, 0]].is_nan());
        // BCE on probabilities: σ(σ(0)) = σ(1/2).
        let bce = Loss::BinaryCrossEntropy;
        let d = loss_derivative(
            bce,
            array![[0.0]].view(),
            array![[1.0]].view(),
            Bug::BceOnProbabilities,
        );
        assert!((d[[0, 0]] - (crate::nn::loss::sigmoid(0.5) - 1.0)).abs() < 1e-16);
    }

    #[test]
    fn batch_derivative_bug_injections_have_their_exact_values() {
        let y_hat = array![[5.0, 10.0], [0.0, 16.0]];
        let y = array![[1.0, 2.0], [4.0, 8.0]];
        let d = |bug: Option<Bug>| match bug {
            None => Loss::Mse.batch_derivative(y_hat.view(), y.view()),
            Some(bug) => loss_derivative(Loss::Mse, y_hat.view(), y.view(), bug),
        };

        // Correct: 2(ŷ − y)/m/B = 2·[[4, 8], [−4, 8]]/2/2 = [[2, 4], [−2, 4]].
        assert_eq!(d(None), array![[2.0, 4.0], [-2.0, 4.0]]);
        // mse-without-2: (ŷ − y)/m/B = [[4, 8], [−4, 8]]/2/2 = [[1, 2], [−1, 2]].
        // (Mutants: (ŷ − y)·m/B = [[4, 8], [−4, 8]]; (ŷ + y)/4 = [[1.5, 3], [1, 6]];
        // (ŷ / y)/4 = [[1.25, 1.25], [0, 0.5]].)
        assert_eq!(d(Some(Bug::MseWithoutTwo)), array![[1.0, 2.0], [-1.0, 2.0]]);
        // mse-without-size: 2(ŷ − y)/B = 2·[[4, 8], [−4, 8]]/2 = [[4, 8], [−4, 8]].
        // (Mutants: (2 + (ŷ − y))/2 = [[3, 5], [−1, 5]]; (2/(ŷ − y))/2 =
        // [[0.25, 0.125], [−0.25, 0.125]]; 2(ŷ + y)/2 = [[6, 12], [4, 24]];
        // 2(ŷ / y)/2 = [[5, 5], [0, 2]].)
        assert_eq!(
            d(Some(Bug::MseWithoutSize)),
            array![[4.0, 8.0], [-4.0, 8.0]]
        );
        // batch-sum-not-mean: 2(ŷ − y)/m, no 1/B = 2·[[4, 8], [−4, 8]]/2 = [[4, 8], [−4, 8]].
        assert_eq!(
            d(Some(Bug::BatchSumNotMean)),
            array![[4.0, 8.0], [-4.0, 8.0]]
        );
        // A bug that does not touch the loss leaves ∂L̄/∂Ŷ correct.
        assert_eq!(d(Some(Bug::DwTransposed)), array![[2.0, 4.0], [-2.0, 4.0]]);
    }

    /// Pins the exact value of the `dx-no-transpose` bug injection, so that mutation
    /// testing can kill mutants inside that deliberately wrong branch.
    ///
    /// `W = [[1, 2, 3], [4, 5, 6]]` (out = 2, in = 3); its row-major buffer
    /// `[1, 2, 3, 4, 5, 6]` read as `(in, out) = (3, 2)` is `[[1, 2], [3, 4], [5, 6]]`
    /// (entry `(j, i)` is buffer element `j·out + i`). With `dz = [[1, 10]]` the buggy
    /// `dx = W.reshape(3, 2) @ dz` is
    /// `[1·1 + 2·10, 3·1 + 4·10, 5·1 + 6·10] = [21, 43, 65]`,
    /// where the correct `Wᵀ·dz` is `[1 + 40, 2 + 50, 3 + 60] = [41, 52, 63]`.
    /// The index mutants read other elements: `j + out + i` reads buffer elements
    /// `[2, 3], [3, 4], [4, 5]` → `[3 + 40, 4 + 50, 5 + 60] = [43, 54, 65]`, and
    /// `j / out + i` reads `[0, 1], [0, 1], [1, 2]` → `[1 + 20, 1 + 20, 2 + 30] = [21, 21, 32]`.
    #[test]
    fn dx_no_transpose_injection_reads_w_reshaped() {
        let l = Dense {
            w: array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            b: array![0.0, 0.0],
            activation: Activation::Identity,
        };
        let dz = array![[1.0, 10.0]];
        assert_eq!(
            grad_x(&l, dz.view(), Some(Bug::DxNoTranspose)),
            array![[21.0, 43.0, 65.0]]
        );
        assert_eq!(l.grad_x(dz.view()), array![[41.0, 52.0, 63.0]]);
    }

    /// Pins the act' each injected bug computes (so mutation testing can kill mutants
    /// in `buggy_derivative`). Hand values: relu' = 1 for z > 0 else 0 (0 at the kink),
    /// leaky_relu' = 1 or 0.01; σ'(0.5) = e^(−0.5)/(1 + e^(−0.5))² = 0.2350037122015945
    /// (Python `math`), σ'(0) = 1/4; tanh'(0) = 1, tanh'(±1) = 0.41997434161402614.
    #[test]
    fn buggy_derivatives_have_their_exact_values() {
        use Activation::{LeakyRelu, Relu, Sigmoid, Tanh};
        use Bug::*;
        // relu-mask-inverted: the mask flips, also at the kink (z = 0 takes the right side).
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, 2.0, 2.0), 0.0);
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, -2.0, 0.0), 1.0);
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, 0.0, 0.0), 1.0);
        assert_eq!(
            buggy_derivative(ReluMaskInverted, LeakyRelu, 2.0, 2.0),
            0.01
        );
        assert_eq!(
            buggy_derivative(ReluMaskInverted, LeakyRelu, -2.0, -0.02),
            1.0
        );
        // ... and leaves smooth activations alone: tanh'(0) = 1, not tanh'(±1).
        assert_eq!(buggy_derivative(ReluMaskInverted, Tanh, 0.0, 0.0), 1.0);
        // derivative-of-a: σ'(a) with a = σ(0) = 0.5, instead of σ'(0) = 0.25.
        let v = buggy_derivative(DerivativeOfA, Sigmoid, 0.0, 0.5);
        assert!((v - 0.2350037122015945).abs() <= 1e-16, "{v}");
        // activation-derivative-dropped: 1 where relu' is 0.
        assert_eq!(
            buggy_derivative(ActivationDerivativeDropped, Relu, -3.0, 0.0),
            1.0
        );
        // Every other bug leaves act'(z) alone: relu'(−3) = 0, tanh'(1).
        assert_eq!(buggy_derivative(UpdatePlus, Relu, -3.0, 0.0), 0.0);
        assert_eq!(buggy_derivative(UpdatePlus, Relu, 3.0, 3.0), 1.0);
        let v = buggy_derivative(MseWithoutTwo, Tanh, 1.0, 0.7615941559557649);
        // (4e/(1 + e)² with e = exp(−2) rounds a few ulps away from 1 − tanh²(1).)
        assert!((v - 0.41997434161402614).abs() <= 1e-14, "{v}");
    }

    /// Pins the exact update of the `dw-transposed` bug injection (the element-by-element
    /// update that only a mis-shaped dW reaches), so that mutation testing can kill
    /// mutants in that branch of `update`.
    ///
    /// One identity layer, out = 2, in = 3, `W = [[1, 2, 3], [4, 5, 6]]`, `b = 0`;
    /// `x = [[1, 2, 3]]`, `y = [[12, 29]]`, `lr = 0.5`:
    /// * `ŷ = W·x = [1 + 4 + 9, 4 + 10 + 18] = [14, 32]`;
    ///   `dŷ = 2(ŷ − y)/m/B = 2·[2, 3]/2/1 = [2, 3] = dz` (identity).
    /// * buggy `dW = outer(x, dz)`, shape (3, 2): `[[2, 3], [4, 6], [6, 9]]`, memory order
    ///   `[2, 3, 4, 6, 6, 9]`; `db = dz = [2, 3]`.
    /// * applied to W's buffer `[1, 2, 3, 4, 5, 6]` element by element:
    ///   `lr·dW = [1, 1.5, 2, 3, 3, 4.5]`, new `W = [0, 0.5, 1, 1, 2, 1.5]`
    ///   = `[[0, 0.5, 1], [1, 2, 1.5]]`; `b = [0 − 1, 0 − 1.5] = [−1, −1.5]`.
    ///
    /// (The correct step would give `W − 0.5·[[2, 4, 6], [3, 6, 9]] = [[0, 0, 0], [2.5, 2, 1.5]]`.)
    /// No `lr·d` is `±1` everywhere and no `d` is `±1`, so `w − s·(lr·d)` differs from
    /// `w + …`, `w / …`, `w − (s + lr·d)`, `w − s/(lr·d)`, `w − s·(lr + d)`, `w − s·(lr/d)`.
    #[test]
    fn dw_transposed_injection_updates_w_in_memory_order() {
        let (mut net, x, y) = one_layer_2x3();
        let (fwd, _, g) = train_step(
            &mut net,
            x.view(),
            y.view(),
            0.5,
            Some(Bug::DwTransposed),
            false,
        );
        assert_eq!(fwd.output(), array![[14.0, 32.0]]);
        assert_eq!(g.layers[0].dw, array![[2.0, 3.0], [4.0, 6.0], [6.0, 9.0]]);
        assert_eq!(net.layers[0].w, array![[0.0, 0.5, 1.0], [1.0, 2.0, 1.5]]);
        assert_eq!(net.layers[0].b, array![-1.0, -1.5]);
    }

    /// A 2×3 identity layer, `W = [[1, 2, 3], [4, 5, 6]]`, `b = 0`, with one sample
    /// `x = [1, 2, 3]`, `y = [12, 29]`: `ŷ = [14, 32]`, `dZ = 2(ŷ − y)/2 = [2, 3]`.
    fn one_layer_2x3() -> (Network<f64>, Array2<f64>, Array2<f64>) {
        let net = Network {
            layers: vec![Dense {
                w: array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
                b: array![0.0, 0.0],
                activation: Identity,
            }],
            loss: Loss::Mse,
        };
        (net, array![[1.0, 2.0, 3.0]], array![[12.0, 29.0]])
    }

    /// Pins the exact update of the `update-plus` bug injection (`W ← W + lr·dW`), so
    /// that mutation testing can kill mutants in its sign in `update`.
    ///
    /// The layer, batch and gradients of `dw_transposed_injection_updates_w_in_memory_order`
    /// (`dz = [2, 3]`, `x = [1, 2, 3]`), with the correct `dW = outer(dz, x) =
    /// [[2, 4, 6], [3, 6, 9]]` and `db = [2, 3]`; `lr = 0.5`:
    /// `W = [[1, 2, 3], [4, 5, 6]] + [[1, 2, 3], [1.5, 3, 4.5]] = [[2, 4, 6], [5.5, 8, 10.5]]`,
    /// `b = [0 + 1, 0 + 1.5] = [1, 1.5]` (descent would give `[[0, 0, 0], [2.5, 2, 1.5]]`,
    /// `[−1, −1.5]`).
    #[test]
    fn update_plus_injection_climbs_the_gradient() {
        let (mut net, x, y) = one_layer_2x3();
        let (_, _, g) = train_step(
            &mut net,
            x.view(),
            y.view(),
            0.5,
            Some(Bug::UpdatePlus),
            false,
        );
        assert_eq!(g.layers[0].dw, array![[2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]);
        assert_eq!(net.layers[0].w, array![[2.0, 4.0, 6.0], [5.5, 8.0, 10.5]]);
        assert_eq!(net.layers[0].b, array![1.0, 1.5]);
    }

    /// Pins the exact values of the `stale-weights` bug injection, so that mutation
    /// testing can kill mutants in `stale_weights_backward`: each layer is updated
    /// first, and the dX it hands down is computed with the *updated* W; layer 0's dX
    /// is computed only when asked for.
    ///
    /// A 1-1-1 identity net, `W0 = [[1]]`, `W1 = [[2]]`, `b = 0`; `x = [[3]]`, `y = [[2]]`,
    /// `lr = 0.125`:
    /// * forward: `a1 = 1·3 = 3`, `ŷ = 2·3 = 6`; `dŷ = 2(6 − 2)/1/1 = 8`.
    /// * layer 1: `dz1 = 8`, `dW1 = 8·3 = 24`, `db1 = 8`; updated `W1 = 2 − 0.125·24 = −1`,
    ///   `b1 = 0 − 0.125·8 = −1`; stale `dX1 = 8·(−1) = −8` (with the old W1 it would be 16).
    /// * layer 0: `dz0 = −8`, `dW0 = −8·3 = −24`, `db0 = −8`; updated
    ///   `W0 = 1 − 0.125·(−24) = 4`, `b0 = 0 − 0.125·(−8) = 1`; stale `dX0 = −8·4 = −32`
    ///   (with the old W0 it would be −8) — only with `want_input_grad`.
    #[test]
    fn stale_weights_injection_back_propagates_through_updated_weights() {
        let net = Network {
            layers: vec![
                Dense {
                    w: array![[1.0]],
                    b: array![0.0],
                    activation: Identity,
                },
                Dense {
                    w: array![[2.0]],
                    b: array![0.0],
                    activation: Identity,
                },
            ],
            loss: Loss::Mse,
        };
        let (x, y) = (array![[3.0]], array![[2.0]]);
        for want_input_grad in [false, true] {
            let mut n = net.clone();
            let (_, _, g) = train_step(
                &mut n,
                x.view(),
                y.view(),
                0.125,
                Some(Bug::StaleWeights),
                want_input_grad,
            );
            assert_eq!(g.d_output, array![[8.0]]);
            assert_eq!(g.layers[1].dz, array![[8.0]]);
            assert_eq!(g.layers[1].dw, array![[24.0]]);
            assert_eq!(g.layers[1].db, array![8.0]);
            assert_eq!(g.layers[1].dx, Some(array![[-8.0]]));
            assert_eq!(g.layers[0].dz, array![[-8.0]]);
            assert_eq!(g.layers[0].dw, array![[-24.0]]);
            assert_eq!(g.layers[0].db, array![-8.0]);
            let dx0 = want_input_grad.then(|| array![[-32.0]]);
            assert_eq!(g.layers[0].dx, dx0, "want_input_grad = {want_input_grad}");
            assert_eq!(n.layers[1].w, array![[-1.0]]);
            assert_eq!(n.layers[1].b, array![-1.0]);
            assert_eq!(n.layers[0].w, array![[4.0]]);
            assert_eq!(n.layers[0].b, array![1.0]);
        }
    }
}
