//! A catalogue of classic backprop mistakes that can be injected into the real
//! backward pass and update (`--inject-bug NAME`), to show that the checker catches
//! each one and names the tensors it corrupts.
//!
//! The injection points are marked `Bug::` in `nn/dense.rs`, `nn/network.rs` and
//! `nn/train.rs`; with no bug injected those branches are never taken.

use crate::error::{Error, Result};

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
    /// Batch gradients summed where the mean is needed: the `1/B` dropped
    /// (harmless with one sample per batch).
    BatchSumNotMean,
    /// `W ← W + lr·dW`: the update climbs the gradient.
    UpdatePlus,
    /// Each layer is updated as soon as its gradient is known, so the layer below
    /// back-propagates through the already-updated weights.
    StaleWeights,
}

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: [Bug; 11] = [
        Bug::DwTransposed,
        Bug::DxNoTranspose,
        Bug::ReluMaskInverted,
        Bug::DerivativeOfA,
        Bug::ActivationDerivativeDropped,
        Bug::MseWithoutTwo,
        Bug::MseWithoutSize,
        Bug::BiasNotSummed,
        Bug::BatchSumNotMean,
        Bug::UpdatePlus,
        Bug::StaleWeights,
    ];

    /// The name used by `--inject-bug`.
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
            Bug::BatchSumNotMean => "batch-sum-not-mean",
            Bug::UpdatePlus => "update-plus",
            Bug::StaleWeights => "stale-weights",
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
            Bug::BatchSumNotMean => "dL/dY without 1/B — every tensor, with batches of 2 or more",
            Bug::UpdatePlus => "W += lr*dW — every layer's update",
            Bug::StaleWeights => "update layer k before back-propagating through it — updates of all layers but the last",
        }
    }

    /// Why this bug cannot change any gradient or update of a network with these
    /// activations, output width and batch size — or `None` when it can.
    pub fn harmless_for(
        self,
        activations: &[crate::nn::activation::Activation],
        outputs: usize,
        batch_size: usize,
    ) -> Option<&'static str> {
        use crate::nn::activation::Activation::{Sigmoid, Tanh};
        match self {
            Bug::DerivativeOfA if !activations.iter().any(|a| matches!(a, Sigmoid | Tanh)) => Some(
                "no sigmoid/tanh layer, and for relu, leaky_relu and identity act'(a) = act'(z)",
            ),
            Bug::MseWithoutSize if outputs == 1 => Some("with one output, 1/m = 1"),
            Bug::BiasNotSummed | Bug::BatchSumNotMean if batch_size == 1 => {
                Some("with one sample per batch, the sum is the first row and the mean is the sum")
            }
            _ => None,
        }
    }

    /// Parses `--inject-bug NAME`.
    pub fn parse(name: &str) -> Result<Bug> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "--inject-bug",
                    format!(
                        "unknown bug {name:?}; --list-bugs shows the {} names",
                        Bug::ALL.len()
                    ),
                )
            })
    }
}
