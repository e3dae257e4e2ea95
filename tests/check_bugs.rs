//! The bug catalogue: every injected mistake is detected and localised to the tensors
//! it corrupts, at the initialisation and after some training; the correct backward
//! pass is verified on the same network.

use std::collections::BTreeSet;

use backprop_oracle::check::bugs::Bug;
use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::io::spec::Spec;
use backprop_oracle::Activation::{Identity, Relu, Sigmoid, Tanh};
use backprop_oracle::Loss;

/// The six samples of three features both networks here train on.
fn inputs() -> ndarray::Array2<f64> {
    ndarray::array![
        [0.5, -1.0, 1.5],
        [1.0, 0.3, -0.2],
        [-1.5, 0.7, 0.4],
        [0.2, 0.2, -1.1],
        [1.3, -0.4, 0.9],
        [-0.6, 1.8, 0.1]
    ]
}

/// 3-4-3-2 relu/tanh/sigmoid, 6 samples in batches of 2: every bug can show here.
fn spec() -> Spec {
    let x = inputs();
    let y = ndarray::array![
        [0.1, 0.9],
        [0.4, 0.2],
        [0.8, 0.5],
        [0.3, 0.3],
        [0.6, 0.1],
        [0.2, 0.7]
    ];
    Spec {
        sizes: vec![3, 4, 3, 2],
        activations: vec![Relu, Tanh, Sigmoid],
        seed: 3,
        x,
        y,
        lr: 0.1,
        epochs: 5,
        batch_size: 2,
        log_every: 1,
        ..Spec::article()
    }
}

fn failing(bug: Option<Bug>, mode: Mode) -> BTreeSet<String> {
    failing_on(&spec(), bug, mode)
}

/// The tensors (and updates) the check of `spec`'s network fails, at epochs 0 and 5.
fn failing_on(spec: &Spec, bug: Option<Bug>, mode: Mode) -> BTreeSet<String> {
    let opts = NetworkCheckOptions {
        mode,
        at_epochs: vec![0, 5],
        bug,
        ..Default::default()
    };
    let report = check_network(spec, &opts, &|_| {}).expect("check runs");
    report
        .failed()
        .iter()
        .map(|t| {
            if t.kind == "update" {
                format!("{} update", t.name)
            } else {
                t.name.clone()
            }
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Gradient tensors of the given layers (and `x` when asked), plus their updates.
fn corrupt(layers: &[usize], x: bool, w_only: bool) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for k in layers {
        let mut ts = vec![format!("layers[{k}].W")];
        if !w_only {
            ts.push(format!("layers[{k}].b"));
        }
        for t in ts {
            s.insert(format!("{t} update"));
            s.insert(t);
        }
    }
    if x {
        s.insert("x".into());
    }
    s
}

fn expected(bug: Bug) -> BTreeSet<String> {
    match bug {
        Bug::DwTransposed => corrupt(&[0, 1, 2], false, true),
        Bug::DxNoTranspose => corrupt(&[0, 1], true, false),
        Bug::ReluMaskInverted => corrupt(&[0], true, false),
        Bug::DerivativeOfA
        | Bug::ActivationDerivativeDropped
        | Bug::MseWithoutTwo
        | Bug::MseWithoutSize
        | Bug::BatchSumNotMean => corrupt(&[0, 1, 2], true, false),
        Bug::BiasNotSummed | Bug::BiasMeanNotSum => set(&[
            "layers[0].b",
            "layers[1].b",
            "layers[2].b",
            "layers[0].b update",
            "layers[1].b update",
            "layers[2].b update",
        ]),
        Bug::UpdatePlus => set(&[
            "layers[0].W update",
            "layers[0].b update",
            "layers[1].W update",
            "layers[1].b update",
            "layers[2].W update",
            "layers[2].b update",
        ]),
        Bug::StaleWeights => set(&[
            "layers[0].W update",
            "layers[0].b update",
            "layers[1].W update",
            "layers[1].b update",
        ]),
        other => panic!("no expectation for {other:?}"),
    }
}

#[test]
fn the_correct_backward_pass_is_verified_on_the_bug_network() {
    assert_eq!(failing(None, Mode::Exhaustive), BTreeSet::new());
}

/// The bugs that can be made in the MSE network of [`spec`].
fn mse_bugs() -> impl Iterator<Item = Bug> {
    Bug::ALL.into_iter().filter(|b| b.applies_to(Loss::Mse))
}

#[test]
fn every_bug_is_detected_and_localised_exhaustively() {
    assert!(Bug::ALL.len() >= 8);
    for bug in mse_bugs() {
        assert_eq!(
            failing(Some(bug), Mode::Exhaustive),
            expected(bug),
            "bug {}",
            bug.name()
        );
    }
}

#[test]
fn every_bug_is_detected_by_the_sampled_and_directional_modes() {
    for bug in mse_bugs() {
        for mode in [
            Mode::Sampled { per_tensor: 4 },
            Mode::Directional { directions: 3 },
        ] {
            assert_eq!(
                failing(Some(bug), mode),
                expected(bug),
                "bug {} in {mode:?}",
                bug.name()
            );
        }
    }
}

#[test]
fn bugs_that_cannot_matter_on_the_article_network_are_explained() {
    for bug in mse_bugs() {
        let harmless = bug.harmless_for(Loss::Mse, &[Relu, Identity], 1, 1);
        let expect = matches!(
            bug,
            Bug::DerivativeOfA
                | Bug::MseWithoutSize
                | Bug::BiasNotSummed
                | Bug::BiasMeanNotSum
                | Bug::BatchSumNotMean
        );
        assert_eq!(harmless.is_some(), expect, "{}", bug.name());
    }
}

/// A classifier: 3-4-3 relu/identity with softmax cross-entropy on class labels, or
/// 3-4-2 tanh/identity with binary cross-entropy, 6 samples in batches of 2;
/// `init_scale` 300 makes the logits pass 709 (where an unshifted softmax overflows).
fn classifier(loss: Loss, init_scale: f64) -> Spec {
    let x = inputs();
    let (sizes, activations, y) = match loss {
        Loss::SoftmaxCrossEntropy => (
            vec![3, 4, 3],
            vec![Relu, Identity],
            ndarray::array![
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
                [0.0, 1.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0]
            ],
        ),
        _ => (
            vec![3, 4, 2],
            vec![Tanh, Identity],
            ndarray::array![
                [1.0, 0.0],
                [0.0, 1.0],
                [1.0, 1.0],
                [0.0, 0.0],
                [1.0, 0.0],
                [0.25, 0.75]
            ],
        ),
    };
    Spec {
        sizes,
        activations,
        loss,
        seed: 3,
        init_scale,
        x,
        y,
        lr: 0.05,
        epochs: 5,
        batch_size: 2,
        log_every: 1,
        ..Spec::article()
    }
}

/// Every tensor of a two-layer network: its gradients, its updates and `x`.
fn everything_of_two_layers() -> BTreeSet<String> {
    corrupt(&[0, 1], true, false)
}

#[test]
fn the_correct_backward_pass_is_verified_on_both_classifiers() {
    for loss in [Loss::SoftmaxCrossEntropy, Loss::BinaryCrossEntropy] {
        for mode in [Mode::Exhaustive, Mode::Directional { directions: 3 }] {
            assert_eq!(
                failing_on(&classifier(loss, 1.0), None, mode),
                BTreeSet::new(),
                "{loss:?}"
            );
        }
    }
}

#[test]
fn every_classification_bug_is_detected_and_localised() {
    let ce = Loss::SoftmaxCrossEntropy;
    for bug in [
        Bug::SoftmaxJacobianOnFused,
        Bug::SoftmaxWrongAxis,
        // The cross-entropy's gradient summed over the batch instead of averaged.
        Bug::BatchSumNotMean,
    ] {
        for mode in [Mode::Exhaustive, Mode::Sampled { per_tensor: 4 }] {
            assert_eq!(
                failing_on(&classifier(ce, 1.0), Some(bug), mode),
                everything_of_two_layers(),
                "{} in {mode:?}",
                bug.name()
            );
        }
    }
    let bce = classifier(Loss::BinaryCrossEntropy, 1.0);
    for bug in [
        Bug::BceOnProbabilities,
        Bug::BceSumNotMean,
        Bug::BatchSumNotMean,
    ] {
        assert_eq!(
            failing_on(&bce, Some(bug), Mode::Exhaustive),
            everything_of_two_layers(),
            "{}",
            bug.name()
        );
    }
}

/// Without the max shift the softmax is right until `exp` overflows: on small logits
/// nothing is wrong; on logits past 709 every gradient is NaN, which the checker reports
/// as a non-finite claimed value (a failed check, exit 1), not a crash.
#[test]
fn softmax_without_the_max_shift_fails_as_a_numerical_bug_on_large_logits() {
    let ce = Loss::SoftmaxCrossEntropy;
    let bug = Some(Bug::SoftmaxNoMaxShift);
    assert_eq!(
        failing_on(&classifier(ce, 1.0), bug, Mode::Exhaustive),
        BTreeSet::new()
    );
    let large = classifier(ce, 300.0);
    let net = backprop_oracle::run::network(&large).unwrap();
    let biggest = net
        .forward(large.x.view())
        .output()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(biggest > 709.8, "the logits overflow exp: {biggest}");
    let opts = NetworkCheckOptions {
        mode: Mode::Exhaustive,
        at_epochs: vec![0],
        bug,
        ..Default::default()
    };
    let report = check_network(&large, &opts, &|_| {}).expect("check runs");
    let failed: BTreeSet<String> = report.failed().iter().map(|t| t.name.clone()).collect();
    assert!(
        failed.contains("layers[1].W") && failed.contains("x"),
        "{failed:?}"
    );
    assert!(
        report.to_text().contains("non-finite"),
        "{}",
        report.to_text()
    );
    // The same network without the bug is verified: the shifted softmax does not overflow.
    let opts = NetworkCheckOptions { bug: None, ..opts };
    let report = check_network(&large, &opts, &|_| {}).expect("check runs");
    assert!(report.failed().is_empty(), "{}", report.to_text());
}
