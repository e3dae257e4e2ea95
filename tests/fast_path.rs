//! The fast trainer against the reference path: bit-identical with the reference
//! kernels, within 1e-12 relative per step on the GEMM path, the same bits for 1 and
//! 2 threads and from run to run.

mod common;

use backprop_oracle::engine::{FastStepper, Kernels};
use backprop_oracle::error::Error;
use backprop_oracle::io::spec::Spec;
use backprop_oracle::nn::network::Network;
use backprop_oracle::run::{train_network, Engine};
use common::{parity_names, parity_spec, rel_err};
use ndarray::s;

fn fast_train(spec: &Spec, kernels: Kernels, threads: usize) -> Result<(Vec<f64>, Network), Error> {
    let mut net = backprop_oracle::run::network(spec).unwrap();
    let loss = train_network(
        &mut net,
        spec,
        spec.train_config(),
        Engine::Fast { kernels, threads },
        &mut (),
    )?;
    Ok((loss, net))
}

fn fast_run(spec: &Spec, kernels: Kernels, threads: usize) -> (Vec<f64>, Network) {
    fast_train(spec, kernels, threads).unwrap()
}

/// Normwise relative difference per tensor, `max |a − b| / max |b|`, the largest over
/// all tensors (elementwise ratios blow up at parameters that cancel to ~0).
fn max_param_rel(a: &Network, b: &Network) -> f64 {
    let norm = |x: ndarray::ArrayViewD<f64>, y: ndarray::ArrayViewD<f64>| {
        let diff = x
            .iter()
            .zip(y.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        let scale = y.iter().map(|q| q.abs()).fold(0.0, f64::max);
        if diff == 0.0 {
            0.0
        } else {
            diff / scale
        }
    };
    a.layers
        .iter()
        .zip(&b.layers)
        .flat_map(|(x, y)| {
            [
                norm(x.w.view().into_dyn(), y.w.view().into_dyn()),
                norm(x.b.view().into_dyn(), y.b.view().into_dyn()),
            ]
        })
        .fold(0.0, f64::max)
}

#[test]
fn reference_and_auto_kernels_reproduce_the_reference_path_bit_for_bit() {
    for name in parity_names() {
        let spec = parity_spec(&common::fixture_json(&format!("parity/{name}.json")));
        let reference =
            backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
                .unwrap();
        for kernels in [Kernels::Exact, Kernels::Auto] {
            let (loss, net) = fast_run(&spec, kernels, 1);
            assert_eq!(loss, reference.loss, "{name} {kernels:?}: epoch losses");
            assert_eq!(
                net, reference.final_,
                "{name} {kernels:?}: final parameters"
            );
        }
    }
}

/// The exact kernels on large layers (vectorised, blocked, split over threads):
/// bit-identical to the reference stepper for every activation, a batch that leaves
/// remainders in every tile, a last partial batch, and 1 and 2 threads.
#[test]
fn exact_kernels_on_large_layers_reproduce_the_reference_path_bit_for_bit() {
    use backprop_oracle::Activation::{Identity, LeakyRelu, Relu, Sigmoid, Tanh};
    let spec = Spec {
        // 19·45·130 multiply-adds in the first layer: split over 2 threads.
        sizes: vec![130, 45, 23, 9, 3],
        activations: vec![Relu, Tanh, Sigmoid, LeakyRelu],
        x: ndarray::Array2::from_shape_fn((53, 130), |(r, c)| {
            ((r * 31 + c * 7) % 17) as f64 / 17.0 - 0.5
        }),
        y: ndarray::Array2::from_shape_fn((53, 3), |(r, c)| ((r + c) % 3) as f64 / 3.0),
        init_scale: 0.2,
        epochs: 3,
        batch_size: 19,
        ..Spec::article()
    };
    for acts in [
        spec.activations.clone(),
        vec![Identity, Relu, Relu, Identity],
    ] {
        let spec = Spec {
            activations: acts,
            ..spec.clone()
        };
        let reference =
            backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
                .unwrap();
        for threads in [1, 2] {
            let (loss, net) = fast_run(&spec, Kernels::Exact, threads);
            assert_eq!(loss, reference.loss, "{threads} threads: epoch losses");
            assert_eq!(net, reference.final_, "{threads} threads: final parameters");
        }
    }
}

/// One step from the same parameters: the updated parameters agree to 1e-12 (normwise
/// per tensor) and the step's loss to 1e-12.
#[test]
fn gemm_kernels_agree_with_the_reference_within_1e_12_per_step() {
    for name in parity_names() {
        let spec = parity_spec(&common::fixture_json(&format!("parity/{name}.json")));
        let b = spec.batch_size.min(spec.x.nrows());
        let (xb, yb) = (spec.x.slice(s![..b, ..]), spec.y.slice(s![..b, ..]));
        // A point inside training, not only the initialisation.
        let mut start = backprop_oracle::run::network(&spec).unwrap();
        let cfg = backprop_oracle::TrainConfig {
            epochs: 3,
            ..spec.train_config()
        };
        train_network(&mut start, &spec, cfg, Engine::Reference, &mut ()).unwrap();

        let mut reference = start.clone();
        let (_, losses, _) = reference.train_step(xb, yb, spec.lr, false);
        for threads in [1, 2] {
            let mut fast = start.clone();
            let mut trainer = FastStepper::new(&fast, b, Kernels::Gemm, threads);
            let (sum, finite) = trainer.step(&mut fast, xb, yb, spec.lr);
            assert!(finite);
            assert!(rel_err(sum, losses.sum()) <= 1e-12, "{name}: step loss");
            let err = max_param_rel(&fast, &reference);
            assert!(
                err <= 1e-12,
                "{name} ({threads} threads): updated parameters differ by {err:e}"
            );
        }
    }
}

#[test]
fn gemm_path_is_bit_identical_between_threads_and_runs() {
    let spec = Spec {
        // Large enough that the GEMM really splits the work over 2 threads.
        sizes: vec![256, 384, 32, 4],
        activations: vec![
            backprop_oracle::Activation::Relu,
            backprop_oracle::Activation::Tanh,
            backprop_oracle::Activation::Identity,
        ],
        x: ndarray::Array2::from_shape_fn((256, 256), |(r, c)| {
            ((r * 31 + c * 7) % 17) as f64 / 17.0 - 0.5
        }),
        y: ndarray::Array2::from_shape_fn((256, 4), |(r, c)| ((r + c) % 3) as f64 / 3.0),
        init_scale: 0.05,
        epochs: 3,
        batch_size: 128,
        ..Spec::article()
    };
    let (l1, n1) = fast_run(&spec, Kernels::Gemm, 1);
    let (l2, n2) = fast_run(&spec, Kernels::Gemm, 2);
    let (l2b, n2b) = fast_run(&spec, Kernels::Gemm, 2);
    assert_eq!(l1, l2, "1 vs 2 threads: losses");
    assert_eq!(n1, n2, "1 vs 2 threads: parameters");
    assert_eq!((l2, n2), (l2b, n2b), "run to run");
    // And the whole GEMM run stays close to the reference run.
    // The reference kernels on the fast trainer: bit-identical to the reference path
    // (the first test), and quick enough for this size.
    let (ref_loss, ref_net) = fast_run(&spec, Kernels::Exact, 1);
    let loss_err = l1
        .iter()
        .zip(&ref_loss)
        .map(|(&a, &b)| rel_err(a, b))
        .fold(0.0, f64::max);
    let param_err = max_param_rel(&n1, &ref_net);
    println!("256-384-32-4, 3 epochs: GEMM vs reference max rel err: loss {loss_err:.2e}, params {param_err:.2e}");
    assert!(
        loss_err <= 1e-12 && param_err <= 1e-12,
        "loss {loss_err:e}, params {param_err:e}"
    );
}

/// Every tiny two-layer shape `n0-n1-n2` (each width 1…4) — the shapes the per-sample
/// path compiles with constant sizes — and tiny three-layer nets, with every activation,
/// per-sample (B = 1) and in batches of 3 (the run-time-size kernels): the fast trainer
/// reproduces the reference path bit for bit.
#[test]
fn tiny_shapes_reproduce_the_reference_path_bit_for_bit() {
    use backprop_oracle::rng::RandomState;
    use backprop_oracle::Activation::{self, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
    let acts: [Activation; 5] = [Relu, Identity, Tanh, Sigmoid, LeakyRelu];
    let mut rng = RandomState::new(7);
    let mut shapes: Vec<Vec<usize>> = Vec::new();
    for n0 in 1..=4 {
        for n1 in 1..=4 {
            for n2 in 1..=4 {
                shapes.push(vec![n0, n1, n2]);
            }
        }
    }
    shapes.extend([
        vec![2, 3, 2, 1],
        vec![4, 1, 4, 2],
        vec![1, 2],
        vec![5, 3, 1],
    ]);
    for (i, sizes) in shapes.iter().enumerate() {
        let depth = sizes.len() - 1;
        let activations: Vec<Activation> = (0..depth).map(|k| acts[(i + 2 * k) % 5]).collect();
        let n = 5;
        for batch_size in [1, 3] {
            let spec = Spec {
                sizes: sizes.clone(),
                activations: activations.clone(),
                seed: i as u32,
                init_scale: 0.5,
                x: ndarray::Array2::from_shape_simple_fn((n, sizes[0]), || rng.gauss()),
                y: ndarray::Array2::from_shape_simple_fn((n, sizes[depth]), || rng.gauss()),
                lr: 0.05,
                epochs: 4,
                batch_size,
                ..Spec::article()
            };
            let reference = backprop_oracle::run::train(
                &spec,
                backprop_oracle::run::Engine::Reference,
                &mut (),
            )
            .unwrap();
            let (loss, net) = fast_run(&spec, Kernels::Auto, 1);
            let what = format!("{sizes:?} {activations:?} B={batch_size}");
            assert_eq!(loss, reference.loss, "{what}: epoch losses");
            assert_eq!(net, reference.final_, "{what}: final parameters");
        }
    }
}

/// A step whose weight update overflows while the loss and the biases stay finite is
/// caught on every path — the fused GEMM update checks the weights it writes — and
/// reported like the reference path does: the same epoch, sample and weight.
#[test]
fn weight_overflow_is_caught_on_every_path_like_the_reference() {
    use backprop_oracle::rng::RandomState;
    use backprop_oracle::Activation::Identity;
    let mut rng = RandomState::new(3);
    // Feature 0 is 1e100: Z ~ 1e100 (loss ~ 1e200, finite), dZ ~ 1e100, so
    // lr·db ~ 1e250 stays finite while lr·dW[·][0] ~ 1e350 overflows.
    let mut x = ndarray::Array2::from_shape_simple_fn((16, 64), || rng.gauss());
    x.column_mut(0).fill(1e100);
    let spec = Spec {
        sizes: vec![64, 16],
        activations: vec![Identity],
        init_scale: 1.0,
        x,
        y: ndarray::Array2::from_shape_simple_fn((16, 16), || rng.gauss()),
        lr: 1e150,
        epochs: 2,
        batch_size: 8,
        ..Spec::article()
    };
    let reference =
        backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
            .unwrap_err()
            .to_string();
    assert!(
        reference.contains("diverged at epoch 0, sample 0") && reference.contains(".W["),
        "{reference}"
    );
    for kernels in [Kernels::Exact, Kernels::Auto, Kernels::Gemm] {
        for threads in [1, 2] {
            let err = fast_train(&spec, kernels, threads).unwrap_err().to_string();
            assert_eq!(err, reference, "{kernels:?}, {threads} threads");
        }
    }
}

/// An observer that wants every step (so the training loop steps batch by batch).
struct EveryStep(usize);

impl backprop_oracle::nn::sgd::Observer for EveryStep {
    fn step(&mut self, _: &backprop_oracle::nn::sgd::Step<'_>) {
        self.0 += 1;
    }
}

/// An observer of the network after every epoch (so the engine's loop runs one epoch
/// per call).
struct Networks(usize);

impl backprop_oracle::nn::sgd::Observer for Networks {
    fn wants_steps(&self) -> bool {
        false
    }
    fn wants_network(&self) -> bool {
        true
    }
    fn epoch_network(&mut self, _: usize, _: &backprop_oracle::Network) {
        self.0 += 1;
    }
}

/// The engine's own epoch loop for tiny per-sample nets (taken when the observer wants
/// no per-step events) is the training loop's step-by-step path: the same losses and
/// parameters bit for bit, and on divergence the same error at the same sample —
/// including the first sample of an epoch and mid-epoch, from a loss and from a
/// parameter; whether the engine runs all epochs in one call (no observer) or one per
/// call (an observer of the network after each). Every tiny width is covered by
/// `tiny_shapes_...` above; here the article and two other shapes, at learning rates
/// that train and that blow up.
#[test]
fn the_engines_epoch_loop_is_the_step_by_step_loop() {
    use backprop_oracle::Activation::{Identity, Relu, Tanh};
    let cases = [
        (vec![2, 3, 1], vec![Relu, Identity]),
        (vec![1, 4, 4], vec![Tanh, Identity]),
        (vec![4, 2, 3], vec![Relu, Relu]),
    ];
    let mut diverged = 0;
    for (sizes, activations) in cases {
        for lr in [0.01, 0.3, 3.0, 40.0, 1e6] {
            let (n_in, n_out) = (sizes[0], sizes[2]);
            let spec = Spec {
                sizes: sizes.clone(),
                activations: activations.clone(),
                x: ndarray::Array2::from_shape_fn((5, n_in), |(r, c)| {
                    (r * 3 + c) as f64 / 4.0 - 0.6
                }),
                y: ndarray::Array2::from_shape_fn((5, n_out), |(r, c)| (r + 2 * c) as f64),
                lr,
                epochs: 40,
                ..Spec::article()
            };
            let engine = Engine::Fast {
                kernels: Kernels::Auto,
                threads: 1,
            };
            let fused = backprop_oracle::run::train(&spec, engine, &mut ());
            // An observer of the network after each epoch: one epoch per engine loop.
            let mut per_epoch = Networks(0);
            let one_by_one = backprop_oracle::run::train(&spec, engine, &mut per_epoch);
            match (&fused, &one_by_one) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.loss, b.loss, "{sizes:?} lr {lr}");
                    assert_eq!(a.final_, b.final_, "{sizes:?} lr {lr}");
                    assert_eq!(per_epoch.0, 40);
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                _ => panic!("{sizes:?} lr {lr}: chunked and one-epoch loops disagree"),
            }
            let mut every = EveryStep(0);
            let stepped = backprop_oracle::run::train(&spec, engine, &mut every);
            let reference = backprop_oracle::run::train(&spec, Engine::Reference, &mut ());
            match (fused, stepped, reference) {
                (Ok(a), Ok(b), Ok(c)) => {
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a.loss), bits(&b.loss), "{sizes:?} lr {lr}");
                    assert_eq!(bits(&a.loss), bits(&c.loss), "{sizes:?} lr {lr}");
                    assert_eq!(a.final_, b.final_, "{sizes:?} lr {lr}");
                    assert_eq!(a.final_, c.final_, "{sizes:?} lr {lr}");
                    assert_eq!(every.0, 40 * 5);
                }
                (Err(a), Err(b), Err(c)) => {
                    diverged += 1;
                    assert_eq!(a.to_string(), b.to_string(), "{sizes:?} lr {lr}");
                    assert_eq!(a.to_string(), c.to_string(), "{sizes:?} lr {lr}");
                }
                (a, b, c) => panic!(
                    "{sizes:?} lr {lr}: fused {:?}, stepped {:?}, reference {:?}",
                    a.map(|r| r.loss.len()),
                    b.map(|r| r.loss.len()),
                    c.map(|r| r.loss.len())
                ),
            }
        }
    }
    assert!(
        diverged >= 4,
        "only {diverged} runs diverged: the stop path is not exercised"
    );
}

/// The engine's loop called directly ([`backprop_oracle::engine::epochs::train`], many
/// epochs per call) against the teaching loop driving the same stepper
/// ([`backprop_oracle::nn::sgd::train`], one step at a time): the article's net at rates
/// that train and that diverge, bits and errors.
#[test]
fn the_engines_loop_called_directly_is_the_teaching_loop() {
    use backprop_oracle::engine::epochs;
    use backprop_oracle::nn::sgd;
    let spec = Spec::article();
    for lr in [0.01, 0.5, 40.0, 1e6] {
        let cfg = backprop_oracle::TrainConfig {
            lr,
            epochs: 5000,
            ..spec.train_config()
        };
        let (x, y) = (spec.x.view(), spec.y.view());
        let start = backprop_oracle::run::network(&spec).unwrap();
        let run = |engines_loop: bool| {
            let mut net = start.clone();
            let mut fast = FastStepper::new(&net, 1, Kernels::Auto, 1);
            let loss = if engines_loop {
                epochs::train(&mut net, x, y, &cfg, &mut fast, &mut ())
            } else {
                sgd::train(&mut net, x, y, &cfg, &mut fast, &mut EveryStep(0))
            };
            loss.map(|l| (l.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), net))
                .map_err(|e| e.to_string())
        };
        assert_eq!(run(true), run(false), "lr {lr}");
    }
}
