//! Targets as each loss needs them, and the network a loss needs.
//!
//! * `mse`: any finite targets, one row of `n_L` per sample (flat for one output).
//! * `softmax_cross_entropy`: the last layer is `identity` (its outputs are logits; the
//!   softmax is inside the loss), at least two outputs, and each sample's target is a
//!   probability row — entries in `[0, 1]` summing to 1 (within `1e-9`; one-hot for a
//!   plain class) — or a class label: a flat `y` of whole numbers `0 … n_L − 1` (inline,
//!   or a 1-D float64/int64 array in a file), one-hot encoded when read.
//! * `binary_cross_entropy`: the last layer is `identity` (logits; the sigmoid is
//!   inside the loss) and every target is in `[0, 1]` (0/1 labels, or probabilities).

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::loss::Loss;

/// How far a probability row's sum may be from 1 (rounding in the port that wrote it).
pub const ROW_SUM_SLACK: f64 = 1e-9;

/// Whether a flat `y` holds class labels for this loss and number of outputs.
pub fn takes_labels(loss: Loss, n_out: usize) -> bool {
    loss == Loss::SoftmaxCrossEntropy && n_out >= 2
}

/// One-hot rows `(N, classes)` from a column of class labels `(N, 1)`; `field` names
/// the labels in errors (`field[i]`).
pub fn one_hot(labels: ArrayView2<f64>, classes: usize, field: &str) -> Result<Array2<f64>> {
    let mut y = Array2::zeros((labels.nrows(), classes));
    for (i, &c) in labels.iter().enumerate() {
        if !(c >= 0.0 && c < classes as f64 && c.fract() == 0.0) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!(
                    "must be a class label, a whole number in 0..={} (the network has {classes} outputs), got {}",
                    classes - 1,
                    crate::error::short(c)
                ),
            ));
        }
        y[[i, c as usize]] = 1.0;
    }
    Ok(y)
}

/// Refuses a loss on a network it does not fit: the cross-entropies take logits from
/// an `identity` last layer; softmax cross-entropy needs two outputs or more. `name`
/// is the spec's name in errors.
pub fn check_network(
    loss: Loss,
    sizes: &[usize],
    activations: &[Activation],
    name: &str,
) -> Result<()> {
    if loss == Loss::Mse {
        return Ok(());
    }
    let last = activations.len().saturating_sub(1);
    if let Some(&act) = activations.get(last) {
        if act != Activation::Identity {
            let inside = match loss {
                Loss::BinaryCrossEntropy => "sigmoid",
                _ => "softmax",
            };
            return Err(Error::invalid(
                format!("{name}.activations[{last}]"),
                format!(
                    "must be identity with the loss {}: the network's outputs are logits and the {inside} is inside the loss, got {}",
                    loss.name(),
                    act.name()
                ),
            ));
        }
    }
    let n_out = sizes.last().copied().unwrap_or(0);
    if loss == Loss::SoftmaxCrossEntropy && n_out < 2 {
        return Err(Error::invalid(
            format!("{name}.sizes[{}]", sizes.len().saturating_sub(1)),
            format!(
                "must be ≥ 2 with the loss softmax_cross_entropy (one output per class; for one yes/no output use binary_cross_entropy), got {n_out}"
            ),
        ));
    }
    Ok(())
}

/// Refuses targets the loss cannot take (see the module docs); `field` names them.
pub fn check(loss: Loss, y: ArrayView2<f64>, field: &str) -> Result<()> {
    if loss == Loss::Mse {
        return Ok(());
    }
    for (r, row) in y.rows().into_iter().enumerate() {
        if let Some((c, &v)) = row
            .iter()
            .enumerate()
            .find(|(_, &v)| !(0.0..=1.0).contains(&v))
        {
            return Err(Error::invalid(
                format!("{field}[{r}][{c}]"),
                format!(
                    "must be in [0, 1] with the loss {} (a probability or a 0/1 label), got {}",
                    loss.name(),
                    crate::error::short(v)
                ),
            ));
        }
        if loss == Loss::SoftmaxCrossEntropy {
            let sum: f64 = row.sum();
            if (sum - 1.0).abs() > ROW_SUM_SLACK {
                return Err(Error::invalid(
                    format!("{field}[{r}]"),
                    format!(
                        "must sum to 1 with the loss softmax_cross_entropy (a probability row, one-hot for a class; or give y as class labels), sums to {sum}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn labels_become_one_hot_rows_and_bad_labels_are_named() {
        let y = one_hot(array![[2.0], [0.0]].view(), 3, "spec.y").unwrap();
        assert_eq!(y, array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
        for bad in [3.0, -1.0, 0.5] {
            let e = one_hot(array![[0.0], [bad]].view(), 3, "spec.y").unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("spec.y[1]: must be a class label"),
                "{e}"
            );
        }
    }

    #[test]
    fn targets_outside_the_loss_domain_are_refused() {
        let ce = Loss::SoftmaxCrossEntropy;
        assert!(check(ce, array![[0.25, 0.75]].view(), "y").is_ok());
        let e = check(ce, array![[0.5, 0.75]].view(), "y").unwrap_err();
        assert!(e.to_string().starts_with("y[0]: must sum to 1"), "{e}");
        let e = check(Loss::BinaryCrossEntropy, array![[1.0], [2.0]].view(), "y").unwrap_err();
        assert!(
            e.to_string().starts_with("y[1][0]: must be in [0, 1]"),
            "{e}"
        );
        assert!(check(Loss::Mse, array![[7.0]].view(), "y").is_ok());
    }

    #[test]
    fn cross_entropies_need_logits() {
        use Activation::{Identity, Relu, Sigmoid};
        let e = check_network(
            Loss::BinaryCrossEntropy,
            &[2, 3, 1],
            &[Relu, Sigmoid],
            "spec",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.activations[1]: must be identity"),
            "{e}"
        );
        let e = check_network(Loss::SoftmaxCrossEntropy, &[2, 1], &[Identity], "spec").unwrap_err();
        assert!(
            e.to_string().starts_with("spec.sizes[1]: must be ≥ 2"),
            "{e}"
        );
        assert!(check_network(Loss::Mse, &[2, 1], &[Relu], "spec").is_ok());
    }
}
