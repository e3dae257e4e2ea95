//! Randomised end-to-end check of the network's hand-derived backward pass.
//!
//! Several hundred random networks (depth 1–4, widths 1–16, every activation, single
//! and multi-output, batch sizes 1–8, 1–10 samples, random data, init scale and seed),
//! each drawn deterministically from its own fixed seed with the crate's NumPy-compatible
//! `RandomState`. Every coordinate of every `W`, `b` and `X` is checked exhaustively
//! against the dual-number oracle and finite differences, at the initial parameters and,
//! for half the networks, again after two epochs of training; the training step itself
//! is checked too (`update` tensors).
//!
//! Assertions: every report passes (per element, `|claimed − dual| ≤ 1e-12 + 1e-10·|dual|`
//! and, away from kinks, FD agreement within `1e-8 + 1e-6·|dual|` plus FD rounding noise:
//! a passing report has no `Inconsistent`); and per tensor the normwise error
//! `max|claimed − dual| / max|claimed| ≤ 1e-10`. The *elementwise* relative error
//! `|claimed − dual| / max(|claimed|, |dual|)` is printed, not asserted ≤ 1e-10: an element
//! that is a near-cancelling sum (e.g. 1.8e-6 in a tensor of scale 45) differs from the
//! dual value by a few ulps of its summands (5e-16), which is ~3e-10 relative to itself
//! although the backward pass is exact to rounding. Likewise the printed FD errors:
//! elementwise over kink-free tensors, and normwise over kink-free, well-scaled ones.
//! Training may diverge before epoch 2 for deep, nearly linear nets with a large
//! init; such networks are checked at epoch 0 only (counted in the summary).
//!
//! The same checks run over 300 random classifiers ([`random_classifier`]): softmax
//! cross-entropy (one-hot or probability targets) and binary cross-entropy (0/1 or
//! fractional targets) on an identity last layer.

use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::check::CheckConfig;
use backprop_oracle::io::spec::Spec;
use backprop_oracle::nn::sgd::train;
use backprop_oracle::nn::sgd::Reference;
use backprop_oracle::rng::RandomState;
use backprop_oracle::{Activation, Error, Loss, TrainConfig};
use ndarray::{s, Array2};
use std::collections::HashMap;

/// Gradient scales (largest |claimed| of a tensor) over which the normwise FD error is
/// meaningful: below, FD's absolute noise (~1e-11, far inside its 1e-8 atol) dominates; far above, the network is
/// near divergence and the loss so large that FD's rounding-noise bound swallows the
/// gradient itself.
const WELL_SCALED: (f64, f64) = (1e-3, 1e6);

/// How many random networks are checked.
const NETWORKS: u32 = 1000;
/// The first network's seed; network `i` uses `BASE_SEED + i`.
const BASE_SEED: u32 = 0x5eed_0000;

/// A uniform integer in `lo..=hi`.
fn int_in(rng: &mut RandomState, lo: usize, hi: usize) -> usize {
    let n = hi - lo + 1;
    lo + ((rng.random_sample() * n as f64) as usize).min(n - 1)
}

/// A uniform real in `[lo, hi)`.
fn real_in(rng: &mut RandomState, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random_sample()
}

/// The random spec of network number `i`, and the epochs to check it at.
fn random_case(i: u32) -> (Spec, Vec<usize>) {
    let mut rng = RandomState::new(BASE_SEED.wrapping_add(i));
    let depth = int_in(&mut rng, 1, 4);
    let mut sizes: Vec<usize> = (0..=depth).map(|_| int_in(&mut rng, 1, 16)).collect();
    // Make sure a good share of the networks are multi-output (and some single-output).
    match i % 4 {
        0 => *sizes.last_mut().unwrap() = int_in(&mut rng, 2, 16),
        1 => *sizes.last_mut().unwrap() = 1,
        _ => {}
    }
    let activations: Vec<Activation> = (0..depth)
        .map(|_| Activation::ALL[int_in(&mut rng, 0, Activation::ALL.len() - 1)])
        .collect();
    let samples = int_in(&mut rng, 1, 10);
    let batch_size = int_in(&mut rng, 1, 8);
    let (n_in, n_out) = (sizes[0], *sizes.last().unwrap());
    let x = Array2::from_shape_simple_fn((samples, n_in), || real_in(&mut rng, -2.0, 2.0));
    let y = Array2::from_shape_simple_fn((samples, n_out), || real_in(&mut rng, -2.0, 2.0));
    let init_scale = real_in(&mut rng, 0.3, 1.5);
    let seed = rng.next_u32();
    let at_epochs = if i.is_multiple_of(2) {
        vec![0, 2]
    } else {
        vec![0]
    };
    let spec = Spec {
        sizes,
        activations,
        loss: Loss::Mse,
        seed,
        init_scale,
        initial: None,
        x,
        y,
        test: None,
        lr: 0.01,
        epochs: 3,
        batch_size,
        log_every: 1,
        sources: Default::default(),
    };
    (spec, at_epochs)
}

/// The largest `|claimed gradient|` of every checked tensor (by report name), over all
/// batches and checked epochs: the scale for a normwise error `max|claimed − dual| / scale`.
fn gradient_scales(spec: &Spec, at_epochs: &[usize]) -> HashMap<String, f64> {
    let mut scales: HashMap<String, f64> = HashMap::new();
    let mut bump = |name: String, it: &mut dyn Iterator<Item = &f64>| {
        let m = it.fold(0.0f64, |m, v| m.max(v.abs()));
        let e = scales.entry(name).or_insert(0.0);
        *e = e.max(m);
    };
    let mut net = backprop_oracle::run::network(spec).expect("network");
    let mut trained = 0;
    for &epoch in at_epochs {
        if epoch > trained {
            let cfg = TrainConfig {
                epochs: epoch - trained,
                ..spec.train_config()
            };
            train(
                &mut net,
                spec.x.view(),
                spec.y.view(),
                &cfg,
                &mut Reference::default(),
                &mut (),
            )
            .expect("training");
            trained = epoch;
        }
        let n = spec.x.nrows();
        for first in (0..n).step_by(spec.batch_size) {
            let last = (first + spec.batch_size).min(n);
            let (xb, yb) = (
                spec.x.slice(s![first..last, ..]),
                spec.y.slice(s![first..last, ..]),
            );
            let fwd = net.forward(xb);
            let g = net.backward(&fwd, yb, true);
            for (k, l) in g.layers.iter().enumerate() {
                bump(format!("layers[{k}].W"), &mut l.dw.iter());
                bump(format!("layers[{k}].b"), &mut l.db.iter());
            }
            bump("x".into(), &mut g.layers[0].dx.as_ref().expect("dx").iter());
        }
    }
    scales
}

fn describe(i: u32, spec: &Spec, at_epochs: &[usize]) -> String {
    let acts: Vec<&str> = spec.activations.iter().map(|a| a.name()).collect();
    format!(
        "network #{i} (rng seed {}): sizes {:?}, activations {:?}, {} samples, batch size {}, \
         init_scale {}, seed {}, at_epochs {:?}\nspec: {}",
        BASE_SEED.wrapping_add(i),
        spec.sizes,
        acts,
        spec.x.nrows(),
        spec.batch_size,
        spec.init_scale,
        spec.seed,
        at_epochs,
        spec.to_json()
    )
}

#[test]
fn random_networks_backprop_matches_dual_and_fd() {
    check_random("random networks", NETWORKS, random_case);
}

/// How many random classifiers are checked.
const CLASSIFIERS: u32 = 300;
/// The first classifier's seed.
const CLASSIFIER_SEED: u32 = 0xc1a5_0000;

/// Random classifier number `i`: a random network (as [`random_case`]) whose last layer is
/// `identity` with softmax cross-entropy (2–10 classes; targets one-hot, or random
/// probability rows for every third) or binary cross-entropy (1–6 outputs, 0/1 or
/// fractional targets); logits of any size the init gives.
fn random_classifier(i: u32) -> (Spec, Vec<usize>) {
    let (mut spec, at_epochs) =
        random_case(CLASSIFIER_SEED.wrapping_sub(BASE_SEED).wrapping_add(i));
    let mut rng = RandomState::new(!CLASSIFIER_SEED.wrapping_add(i));
    let n = spec.x.nrows();
    *spec.activations.last_mut().unwrap() = Activation::Identity;
    if i.is_multiple_of(2) {
        let m = int_in(&mut rng, 2, 10);
        *spec.sizes.last_mut().unwrap() = m;
        spec.loss = Loss::SoftmaxCrossEntropy;
        spec.y = Array2::zeros((n, m));
        for mut row in spec.y.rows_mut() {
            if i.is_multiple_of(3) {
                row.mapv_inplace(|_| real_in(&mut rng, 0.0, 1.0));
                let sum = row.sum();
                row.mapv_inplace(|v| v / sum);
            } else {
                row[int_in(&mut rng, 0, m - 1)] = 1.0;
            }
        }
    } else {
        let m = int_in(&mut rng, 1, 6);
        *spec.sizes.last_mut().unwrap() = m;
        spec.loss = Loss::BinaryCrossEntropy;
        let fractional = i.is_multiple_of(3);
        spec.y = Array2::from_shape_simple_fn((n, m), || {
            let v = real_in(&mut rng, 0.0, 1.0);
            if fractional {
                v
            } else {
                v.round()
            }
        });
    }
    (spec, at_epochs)
}

#[test]
fn random_classifiers_backprop_matches_dual_and_fd() {
    check_random("random classifiers", CLASSIFIERS, random_classifier);
}

/// Checks `count` networks made by `case` exhaustively (see the module docs); `what`
/// names them in the summary.
fn check_random(what: &str, count: u32, case: fn(u32) -> (Spec, Vec<usize>)) {
    let start = std::time::Instant::now();
    let mut element_checks = 0usize;
    let mut update_checks = 0usize;
    let mut max_rel_dual = 0.0f64;
    let mut max_norm_dual = 0.0f64;
    let mut max_norm_fd = 0.0f64;
    let mut raw_rel_outliers: Vec<String> = Vec::new();
    let mut fd_uninformative: Vec<String> = Vec::new();
    let mut diverged_fallbacks = 0usize;
    let mut max_rel_fd_kink_free = 0.0f64;
    let mut kink_free_tensors = 0usize;
    let mut total_kinks = 0usize;
    let mut total_fd_noise = 0usize;
    let mut multi_output = 0usize;
    let mut activations_seen = std::collections::HashSet::new();
    let mut failures: Vec<String> = Vec::new();

    for i in 0..count {
        let (spec, mut at_epochs) = case(i);
        if spec.sizes.last().copied().unwrap_or(1) > 1 {
            multi_output += 1;
        }
        activations_seen.extend(spec.activations.iter().copied());
        let opts = |at_epochs: &[usize]| NetworkCheckOptions {
            mode: Mode::Exhaustive,
            at_epochs: at_epochs.to_vec(),
            batch_size: None,
            bug: None,
            config: CheckConfig::default(),
            sample_seed: 0,
            batches: None,
        };
        let mut result = check_network(&spec, &opts(&at_epochs), &|_| {});
        if matches!(result, Err(Error::Diverged { .. })) && at_epochs != [0] {
            // Plain SGD on a deep, nearly linear net with a large init can blow up within
            // two epochs: there is nothing to check after training, so check the start only.
            diverged_fallbacks += 1;
            at_epochs = vec![0];
            result = check_network(&spec, &opts(&at_epochs), &|_| {});
        }
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{}\ncheck_network returned an error: {e}",
                    describe(i, &spec, &at_epochs)
                ));
                continue;
            }
        };
        let scales = gradient_scales(&spec, &at_epochs);
        if !report.passed() {
            failures.push(format!(
                "{}\n{}",
                describe(i, &spec, &at_epochs),
                report.to_text()
            ));
        }
        for t in &report.tensors {
            match t.kind.as_str() {
                "gradient" => {
                    element_checks += t.checked;
                    assert_eq!(
                        t.checked, t.total,
                        "exhaustive mode must check everything: {}",
                        t.name
                    );
                    max_rel_dual = max_rel_dual.max(t.max_rel_dual);
                    total_kinks += t.kinks;
                    total_fd_noise += t.fd_noise;
                    if t.kinks == 0 {
                        kink_free_tensors += 1;
                        max_rel_fd_kink_free = max_rel_fd_kink_free.max(t.max_rel_fd);
                    }
                    let scale = scales[&t.name];
                    let norm_dual = if scale > 0.0 {
                        t.max_abs_dual / scale
                    } else {
                        t.max_abs_dual
                    };
                    max_norm_dual = max_norm_dual.max(norm_dual);
                    if t.kinks == 0 {
                        let nf = if scale > 0.0 {
                            t.max_abs_fd / scale
                        } else {
                            t.max_abs_fd
                        };
                        if (WELL_SCALED.0..=WELL_SCALED.1).contains(&scale) {
                            max_norm_fd = max_norm_fd.max(nf);
                        } else if nf > 1e-3 {
                            fd_uninformative.push(format!(
                                "network #{i} {} (gradient scale {scale:.1e}): max|claimed − fd| = {:.1e}",
                                t.name, t.max_abs_fd
                            ));
                        }
                    }
                    if norm_dual > 1e-10 {
                        failures.push(format!(
                            "{}\n{}: normwise err vs dual max|claimed − dual| / max|claimed| = {:.3e} / {:.3e} = {norm_dual:.3e} > 1e-10\n{}",
                            describe(i, &spec, &at_epochs),
                            t.name,
                            t.max_abs_dual,
                            scale,
                            report.to_text()
                        ));
                    }
                    if t.max_rel_dual > 1e-10 {
                        let w = t.worst.as_ref().map(|(e, at)| {
                            format!(
                                "{:?} at {}: claimed {:e}, dual {:e}, |diff| {:.1e}",
                                e.index,
                                at.map(|l| l.to_string()).unwrap_or_default(),
                                e.claimed,
                                e.dual,
                                (e.claimed - e.dual).abs()
                            )
                        });
                        raw_rel_outliers.push(format!(
                            "network #{i} {}: elementwise rel err {:.2e} (max abs {:.1e}, tensor scale {:.1e}); worst {}",
                            t.name,
                            t.max_rel_dual,
                            t.max_abs_dual,
                            scale,
                            w.unwrap_or_default()
                        ));
                    }
                }
                "update" => update_checks += t.checked,
                other => panic!("unexpected tensor kind {other:?} in exhaustive mode"),
            }
        }
    }

    for o in &raw_rel_outliers {
        println!("elementwise rel err vs dual above 1e-10 (worst-verdict element shown): {o}");
    }
    for o in fd_uninformative.iter().take(10) {
        println!("FD uninformative (gradient scale outside {WELL_SCALED:?}): {o}");
    }
    println!(
        "{what}: {count} networks ({multi_output} multi-output), {element_checks} gradient element checks \
         (+{update_checks} update checks), max rel err backprop-vs-dual {max_rel_dual:.3e} elementwise / {max_norm_dual:.3e} normwise, \
         max rel err backprop-vs-FD {max_rel_fd_kink_free:.3e} elementwise / {max_norm_fd:.3e} normwise (over {kink_free_tensors} kink-free tensors; normwise only where the gradient scale is in {WELL_SCALED:?}), \
         {total_kinks} kinks, {total_fd_noise} FD-noise retries, {} ill-scaled kink-free tensors with normwise FD err > 1e-3, \
         {diverged_fallbacks} networks diverged before epoch 2 (checked at epoch 0 only), {:.2?}",
        fd_uninformative.len(),
        start.elapsed()
    );
    assert_eq!(
        activations_seen.len(),
        Activation::ALL.len(),
        "every activation must be exercised"
    );
    assert!(multi_output > 0 && multi_output < count as usize);
    assert!(
        failures.is_empty(),
        "{} of {count} {what} failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        max_norm_dual <= 1e-10,
        "normwise err vs dual {max_norm_dual:e}"
    );
}
