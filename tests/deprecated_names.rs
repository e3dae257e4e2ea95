//! The old names of renamed public items still compile and mean what they meant
//! (issue 21: one meaning per name; a renamed item keeps a deprecated alias).
#![allow(deprecated)]

use backprop_oracle::engine::Kernels;
use backprop_oracle::io::spec::{Overrides, Spec};
use backprop_oracle::oracle::{against, reference};

#[test]
fn kernels_reference_is_kernels_exact() {
    assert_eq!(Kernels::Reference, Kernels::Exact);
    assert!(matches!(Kernels::Exact, Kernels::Reference));
}

#[test]
fn oracle_reference_forwards_to_oracle_against() {
    assert_eq!(reference::ARTICLE, against::ARTICLE);
    assert_eq!(reference::DEFAULT_MAX_STEPS, against::DEFAULT_MAX_STEPS);
    let spec = Spec::article();
    assert_eq!(reference::run_work(&spec), against::run_work(&spec));
    assert_eq!(
        reference::compare_bytes(&spec, 7),
        against::compare_bytes(&spec, 7)
    );
    assert!(reference::differences(&spec, &spec, &Overrides::default()).is_empty());
    let cand = backprop_oracle::oracle::candidate::from_json_str("{\"loss\": [1.0]}", "c").unwrap();
    let old = reference::reference_spec(Some(spec.clone()), &cand, &Overrides::default(), 1, false);
    assert_eq!(old.unwrap().sizes, spec.sizes);
}

#[test]
fn root_train_is_the_training_loop() {
    let spec = Spec {
        epochs: 2,
        ..Spec::article()
    };
    let run = backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
        .unwrap();
    let mut net = run.initial.clone();
    let mut stepper = backprop_oracle::nn::sgd::Reference::default();
    let (x, y) = (spec.x.view(), spec.y.view());
    let loss = backprop_oracle::train(&mut net, x, y, &spec.train_config(), &mut stepper, &mut ())
        .unwrap();
    assert_eq!(loss, run.loss);
}

#[cfg(feature = "cli")]
#[test]
fn cli_compare_convention_args_is_cli_convention_args() {
    let args = backprop_oracle::cli::compare::ConventionArgs {
        relu_grad_at_zero: Some(0.5),
        leaky_grad_at_zero: None,
    };
    let c = args.conventions(Default::default()).unwrap().unwrap();
    assert_eq!(c.relu_grad_at_zero, 0.5);
}
