//! The teaching loop `nn::sgd::train` on its own: config validation, observer events
//! (steps numbered over the run, detail only on request, every epoch), and divergence
//! errors that name the epoch and sample. (Moved from `src/nn/sgd.rs`'s unit tests,
//! assertions unchanged.)

use backprop_oracle::error::Error;
use backprop_oracle::nn::sgd::{train, Observer, Reference, Step, TrainConfig};
use backprop_oracle::Activation::{Identity, Relu};
use backprop_oracle::{Loss, Network};
use ndarray::array;

#[test]
fn config_validation_names_the_field() {
    let ok = TrainConfig {
        lr: 0.01,
        epochs: 1,
        batch_size: 1,
    };
    assert!(ok.validate().is_ok());
    let field = |c: TrainConfig| c.validate().unwrap_err().to_string();
    for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(field(TrainConfig { lr, ..ok }).starts_with("lr: must be finite and > 0"));
    }
    assert!(field(TrainConfig { epochs: 0, ..ok }).starts_with("epochs:"));
    assert!(field(TrainConfig {
        batch_size: 0,
        ..ok
    })
    .starts_with("batch_size:"));
}

/// Records each step's index and first sample, and whether it came with detail
/// and with layer 0's `dX`.
#[derive(Default)]
struct Seen {
    detail: Vec<Option<bool>>,
    steps: Vec<(usize, usize, usize)>,
    wants: bool,
}

impl Observer for Seen {
    fn step(&mut self, s: &Step<'_>) {
        self.detail
            .push(s.detail.map(|d| d.grads.layers[0].dx.is_some()));
        self.steps.push((s.epoch, s.index, s.first_sample));
    }
    fn wants_detail(&self) -> bool {
        self.wants
    }
}

/// Layer 0's `dX` (`∂L̄/∂X`) is computed only when an observer asks for detail; the
/// default observer does not.
#[test]
fn the_input_gradient_is_computed_only_on_request() {
    let net = Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap();
    let (x, y) = (array![[1.0, 2.0], [2.0, 1.0]], array![[4.0], [3.0]]);
    let cfg = TrainConfig {
        lr: 0.01,
        epochs: 1,
        batch_size: 1,
    };
    struct Default_;
    impl Observer for Default_ {}
    assert!(!Default_.wants_detail() && !().wants_detail());
    for wants in [false, true] {
        let mut seen = Seen {
            wants,
            ..Seen::default()
        };
        let mut n = net.clone();
        train(
            &mut n,
            x.view(),
            y.view(),
            &cfg,
            &mut Reference::default(),
            &mut seen,
        )
        .unwrap();
        assert_eq!(seen.detail, vec![Some(wants); 2]);
    }
}

/// The loop numbers steps over the whole run and hands closures every epoch.
#[test]
fn observers_see_every_step_and_epoch_in_order() {
    let net = Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap();
    let (x, y) = (
        array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0]],
        array![[4.0], [3.0], [5.0]],
    );
    let cfg = TrainConfig {
        lr: 0.01,
        epochs: 2,
        batch_size: 2,
    };
    let mut seen = Seen::default();
    let mut n = net.clone();
    let loss = train(
        &mut n,
        x.view(),
        y.view(),
        &cfg,
        &mut Reference::default(),
        &mut seen,
    );
    assert_eq!(
        seen.steps,
        [(0, 0, 0), (0, 1, 2), (1, 2, 0), (1, 3, 2)],
        "(epoch, index, first sample)"
    );
    let mut epochs = Vec::new();
    let mut n = net.clone();
    let mut on_epoch = |e: usize, total: f64| epochs.push((e, total));
    train(
        &mut n,
        x.view(),
        y.view(),
        &cfg,
        &mut Reference::default(),
        &mut on_epoch,
    )
    .unwrap();
    assert_eq!(
        epochs,
        [(0, loss.as_ref().unwrap()[0]), (1, loss.unwrap()[1])]
    );
}

/// Divergence names the sample: the batch's first sample plus the row of the first
/// non-finite loss; an epoch total that overflows names the epoch's last sample.
#[test]
fn divergence_names_the_epoch_and_sample() {
    let net = Network::init(&[1, 1], &[Identity], Loss::Mse, 0, 1.0).unwrap();
    let diverged = |y: ndarray::Array2<f64>, lr: f64, batch_size: usize| {
        let x = ndarray::Array2::from_elem((y.nrows(), 1), 0.5);
        let cfg = TrainConfig {
            lr,
            epochs: 1,
            batch_size,
        };
        let mut n = net.clone();
        match train(
            &mut n,
            x.view(),
            y.view(),
            &cfg,
            &mut Reference::default(),
            &mut (),
        ) {
            Err(Error::Diverged {
                epoch,
                sample,
                what,
            }) => (epoch, sample, what),
            other => panic!("{other:?}"),
        }
    };
    // Sample 3 (row 1 of the batch starting at 2) squares to infinity.
    assert_eq!(
        diverged(array![[1.0], [1.0], [1.0], [1e200]], 1e-300, 2),
        (0, 3, "loss".to_string())
    );
    // Each loss is finite (about 1e308), their sum is not: the epoch's last sample.
    assert_eq!(
        diverged(array![[1e154], [1e154]], 1e-300, 1),
        (0, 1, "epoch total loss".to_string())
    );
}

/// Plain observers (nothing, and a closure of epoch losses) want neither single steps
/// nor the network after each epoch: that is what lets `run` take the engine's epoch
/// loop for them (results are the same bits either way; `tests/fast_path.rs`).
#[test]
fn plain_observers_want_no_steps_and_no_network() {
    assert!(!().wants_steps());
    assert!(!().wants_network());
    let mut losses = Vec::new();
    let closure = |_: usize, total: f64| losses.push(total);
    assert!(!closure.wants_steps());
    assert!(!closure.wants_network());
}
