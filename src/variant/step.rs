//! The reference's training step under a [`Variant`]: the network's backward pass and
//! update built from the public pieces of [`crate::nn`] ([`Dense::grad_z`],
//! [`Dense::grad_w`], [`Dense::grad_b`], [`Dense::grad_x`], [`Dense::descend`], the loss
//! derivative and the kernels), each piece replaced where the variant's mistake
//! (`Bug::row`) changes it, and the derivative at `z = 0` taken under the variant's
//! [`Conventions`]. With neither, [`backward`] and [`train_step`] are exactly
//! [`Network::backward`] and [`Network::train_step`]. The teaching code carries no hook
//! for any of this.

use ndarray::{Array1, Array2, ArrayView2, Zip};

use super::catalogue::Bug;
use super::conventions::Conventions;
use crate::nn::activation::Activation;
use crate::nn::dense::{Dense, DenseGrad, DenseOutput};
use crate::nn::loss::Loss;
use crate::nn::network::{Forward, Gradients, Network};
use crate::nn::sgd::{Outcome, Stepper, WholeStep};

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

    /// `act'` at pre-activation `z` (activation `a`) as this variant computes it: the
    /// mistake's own derivative if it changes it, else under the conventions.
    pub fn derivative(&self, act: Activation, z: f64, a: f64) -> f64 {
        match self.bug.and_then(|b| b.row().derivative()) {
            Some(derivative) => derivative(act, z, a),
            None => self.conventions.derivative(act, z),
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
/// losses, the variant's backward, and the update — or, for a mistake that updates
/// each layer before back-propagating through it ([`Bug::StaleWeights`]), each layer
/// updated as soon as its gradient is known.
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
    if variant
        .bug
        .is_some_and(|b| b.row().updates_before_backprop())
    {
        let grads = update_before_backprop(net, &fwd, y, lr, want_input_grad, &variant);
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
fn update_before_backprop(
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

/// `∂L̄/∂Ŷ (B, m)` as `bug` computes it ([`Loss::batch_derivative`] where it changes
/// nothing there).
fn loss_derivative(
    loss: Loss,
    y_hat: ArrayView2<f64>,
    y: ArrayView2<f64>,
    bug: Bug,
) -> Array2<f64> {
    bug.row()
        .loss_gradient(loss, y_hat, y)
        .unwrap_or_else(|| loss.batch_derivative(y_hat, y))
}

/// One layer's backward ([`Dense::backward`]) as a variant computes it: its own `act'`
/// (a mistake's, or other conventions at `z = 0`), and the mistake's `dW`, `db`, `dX`.
fn layer_backward(
    layer: &Dense<f64>,
    x: ArrayView2<f64>,
    out: &DenseOutput<f64>,
    da: ArrayView2<f64>,
    want_dx: bool,
    variant: &Variant,
) -> DenseGrad {
    let act = layer.activation;
    let row = variant.bug.map(Bug::row);
    let own_derivative =
        row.is_some_and(|r| r.derivative().is_some()) || !variant.conventions.is_default();
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
    let dw = row
        .and_then(|r| r.dw(x, dz.view()))
        .unwrap_or_else(|| Dense::grad_w(dz.view(), x));
    let db = row
        .and_then(|r| r.db(dz.view()))
        .unwrap_or_else(|| Dense::grad_b(dz.view()));
    let dx = want_dx.then(|| grad_x(layer, dz.view(), variant.bug));
    DenseGrad { dz, dw, db, dx }
}

/// `dX` as `bug` computes it ([`Dense::grad_x`] where it changes nothing there).
fn grad_x(layer: &Dense<f64>, dz: ArrayView2<f64>, bug: Option<Bug>) -> Array2<f64> {
    bug.and_then(|b| b.row().dx(layer, dz))
        .unwrap_or_else(|| layer.grad_x(dz))
}

/// `act'` as `bug`'s backward computes it (`act'(z)` where it changes nothing).
#[cfg(test)]
fn buggy_derivative(bug: Bug, act: Activation, z: f64, a: f64) -> f64 {
    match bug.row().derivative() {
        Some(derivative) => derivative(act, z, a),
        None => act.derivative(z),
    }
}

/// The update as a variant applies it: with the mistake's sign ([`Bug::UpdatePlus`]
/// climbs the gradient); a gradient of the wrong shape (from [`Bug::DwTransposed`]) is
/// applied element by element in memory order, as a NumPy port with a reshape would;
/// otherwise [`Dense::descend`].
fn update(layer: &mut Dense<f64>, g: &DenseGrad, lr: f64, bug: Option<Bug>) {
    let sign = bug.map_or(1.0, |b| b.row().update_sign());
    if sign != 1.0 {
        layer.descend(g.dw.view(), g.db.view(), sign * lr);
    } else if layer.w.dim() == g.dw.dim() {
        layer.descend(g.dw.view(), g.db.view(), lr);
    } else {
        for (w, &d) in layer.w.iter_mut().zip(g.dw.iter()) {
            *w -= lr * d;
        }
        layer.b.zip_mut_with(&g.db, |b, &d| *b -= lr * d);
    }
}

/// A [`Stepper`] that trains as a [`Variant`] ([`train_step`]); with the default
/// variant it is the reference's own step.
#[derive(Debug, Default)]
pub struct VariantStepper {
    /// The variant.
    pub variant: Variant,
    last: Option<WholeStep>,
}

impl VariantStepper {
    /// A stepper for `variant` (a bug, conventions, or both).
    pub fn new(variant: impl Into<Variant>) -> Self {
        VariantStepper {
            variant: variant.into(),
            last: None,
        }
    }
}

impl Stepper for VariantStepper {
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

    /// The conventions' values and which variant is the reference itself.
    #[test]
    fn conventions_and_the_reference() {
        assert_eq!(Conventions::RELU, [0.0, 0.5, 1.0]);
        // leaky_relu's left branch 0.01, the mean of both sides, the right branch.
        assert_eq!(Conventions::LEAKY[0], 0.01);
        assert!((Conventions::LEAKY[1] - 0.505).abs() < 1e-15);
        assert_eq!(Conventions::LEAKY[2], 1.0);
        let half = Conventions {
            relu_grad_at_zero: 0.5,
            ..Conventions::default()
        };
        assert!(Conventions::default().is_default() && !half.is_default());
        assert!(Variant::default().is_reference());
        let buggy = Variant {
            bug: Some(Bug::StaleWeights),
            conventions: Conventions::default(),
        };
        let other = Variant {
            bug: None,
            conventions: half,
        };
        assert!(!buggy.is_reference() && !other.is_reference());
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
        // Without the max shift the softmax is the same up to rounding until a logit
        // overflows exp (~709): a finite check cannot tell, and says why.
        let why = Bug::SoftmaxNoMaxShift
            .harmless_for(Loss::SoftmaxCrossEntropy, &[Relu, Identity], 3, 2)
            .expect("harmless without overflow");
        assert!(
            why.contains("709") && why.contains("shifted softmax"),
            "{why}"
        );
        // The BCE summed over outputs and batch changes nothing only when m·B = 1.
        let bce =
            |m, b| Bug::BceSumNotMean.harmless_for(Loss::BinaryCrossEntropy, &[Identity], m, b);
        assert!(bce(1, 1).is_some_and(|w| w.contains("1/(m·B) = 1")));
        assert!(bce(2, 1).is_none() && bce(1, 2).is_none() && bce(2, 2).is_none());
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
        // The same logits shifted by 400: the fused mistake's softmax subtracts the max
        // as the reference's does (exp(±800) would overflow or vanish without it).
        let shifted = y_hat.mapv(|v| v + 400.0);
        let d_shifted = loss_derivative(ce, shifted.view(), y.view(), Bug::SoftmaxJacobianOnFused);
        close(
            d_shifted,
            array![[3.0 / 64.0, -3.0 / 64.0], [3.0 / 64.0, -3.0 / 64.0]],
        );
        // Overflow: exp(800) is inf, inf/inf is NaN.
        let big = array![[800.0, 0.0]];
        let y1 = array![[1.0, 0.0]];
        let d = loss_derivative(ce, big.view(), y1.view(), Bug::SoftmaxNoMaxShift);
        assert!(d[[0, 0]].is_nan());
        // BCE summed, not averaged, over m = 1 output and B = 2 samples: σ(0) − 1 = −1/2
        // per entry instead of −1/2 / (m·B) = −1/4.
        let d = loss_derivative(
            Loss::BinaryCrossEntropy,
            array![[0.0], [0.0]].view(),
            array![[1.0], [1.0]].view(),
            Bug::BceSumNotMean,
        );
        close(d, array![[-0.5], [-0.5]]);
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
    fn update_plus_climbs_the_gradient_at_any_rate() {
        // As above at lr 0.125 (at 0.5, −1 + lr = −1·lr hides a sign applied by adding).
        // One identity layer, W = 1, b = 0, x = 3, y = 2: ŷ = 3, dŷ = 2·(3 − 2) = 2,
        // dW = 2·3 = 6, db = 2; climbing: W = 1 + 0.125·6 = 1.75, b = 0 + 0.125·2 = 0.25.
        let mut net = Network {
            layers: vec![Dense {
                w: array![[1.0]],
                b: array![0.0],
                activation: Identity,
            }],
            loss: Loss::Mse,
        };
        let (x, y) = (array![[3.0]], array![[2.0]]);
        let (_, _, g) = train_step(
            &mut net,
            x.view(),
            y.view(),
            0.125,
            Some(Bug::UpdatePlus),
            false,
        );
        assert_eq!(g.layers[0].dw, array![[6.0]]);
        assert_eq!(net.layers[0].w, array![[1.75]]);
        assert_eq!(net.layers[0].b, array![0.25]);
    }

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

#[cfg(test)]
mod row_tests {
    use super::*;
    use ndarray::array;

    /// Each mistake's loss, by hand: the MSE, softmax and BCE mistakes name their loss,
    /// the others none (they can be made with every loss).
    #[test]
    fn each_mistake_names_the_loss_whose_code_it_is_in() {
        use Bug::*;
        for bug in Bug::ALL {
            let loss = match bug {
                MseWithoutTwo | MseWithoutSize => Some(Loss::Mse),
                SoftmaxNoMaxShift | SoftmaxJacobianOnFused | SoftmaxWrongAxis => {
                    Some(Loss::SoftmaxCrossEntropy)
                }
                BceOnProbabilities | BceSumNotMean => Some(Loss::BinaryCrossEntropy),
                _ => None,
            };
            assert_eq!(bug.loss(), loss, "{bug:?}");
        }
    }

    /// The bias mistakes' `db` on `dZ = [[1, 2], [3, 4]]` (B = 2): the sum is `[4, 6]`;
    /// the first row `[1, 2]`; the mean `[2, 3]`.
    #[test]
    fn the_bias_mistakes_have_their_hand_values() {
        let dz = array![[1.0, 2.0], [3.0, 4.0]];
        assert_eq!(
            Bug::BiasNotSummed.row().db(dz.view()),
            Some(array![1.0, 2.0])
        );
        assert_eq!(
            Bug::BiasMeanNotSum.row().db(dz.view()),
            Some(array![2.0, 3.0])
        );
        assert_eq!(Bug::DwTransposed.row().db(dz.view()), None);
    }
}
