//! The bug catalogue: every injected mistake is detected and localised to the tensors
//! it corrupts, at the initialisation and after some training; the correct backward
//! pass is verified on the same network.

use std::collections::BTreeSet;

use backprop_oracle::check::bugs::Bug;
use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::io::spec::Spec;
use backprop_oracle::Activation::{Relu, Sigmoid, Tanh};

/// 3-4-3-2 relu/tanh/sigmoid, 6 samples in batches of 2: every bug can show here.
fn spec() -> Spec {
    let x = ndarray::array![
        [0.5, -1.0, 1.5],
        [1.0, 0.3, -0.2],
        [-1.5, 0.7, 0.4],
        [0.2, 0.2, -1.1],
        [1.3, -0.4, 0.9],
        [-0.6, 1.8, 0.1]
    ];
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
    let opts = NetworkCheckOptions {
        mode,
        at_epochs: vec![0, 5],
        bug,
        ..Default::default()
    };
    let report = check_network(&spec(), &opts, &|_| {}).expect("check runs");
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

#[test]
fn every_bug_is_detected_and_localised_exhaustively() {
    assert!(Bug::ALL.len() >= 8);
    for bug in Bug::ALL {
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
    for bug in Bug::ALL {
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
    for bug in Bug::ALL {
        let harmless = bug.harmless_for(&[Relu, backprop_oracle::Activation::Identity], 1, 1);
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
