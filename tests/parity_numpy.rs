//! Training parity with an independent NumPy implementation.
//!
//! Fixtures: `tests/fixtures/parity/*.json`, made by
//! `python3 scripts/gen_parity_fixtures.py` (NumPy 2.4, OpenBLAS). Each holds a spec,
//! the initial parameters, every epoch's total loss and the final parameters.
//!
//! Tolerances (relative, `|a − b| / max(|a|, |b|)`): 1e-12 for relu/identity networks,
//! 1e-9 where `exp` or `tanh` are involved (NumPy's SIMD `exp`/`tanh` and libm differ
//! in the last bits). The initial parameters must be bit-identical (same RNG), and the
//! article's run bit-identical in every epoch loss and final parameter.

mod common;

use common::{params, parity_names, parity_spec, rel_err};

struct MaxErr {
    loss: f64,
    params: f64,
}

fn check(name: &str) -> MaxErr {
    let fixture = common::fixture_json(&format!("parity/{name}.json"));
    let spec = parity_spec(&fixture);
    let smooth = spec.activations.iter().any(|a| {
        !matches!(
            a,
            backprop_oracle::Activation::Relu
                | backprop_oracle::Activation::Identity
                | backprop_oracle::Activation::LeakyRelu
        )
    });
    let tol = if smooth { 1e-9 } else { 1e-12 };

    let run = backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    for (k, ((w, b), layer)) in params(&fixture["initial"])
        .iter()
        .zip(&run.initial.layers)
        .enumerate()
    {
        assert_eq!(
            &layer.w, w,
            "{name}: initial layers[{k}].W must be bit-identical"
        );
        assert_eq!(&layer.b, b, "{name}: initial layers[{k}].b");
    }

    let want_loss: Vec<f64> = serde_json::from_value(fixture["loss"].clone()).expect("loss");
    assert_eq!(run.loss.len(), want_loss.len(), "{name}: epoch count");
    let mut max = MaxErr {
        loss: 0.0,
        params: 0.0,
    };
    for (e, (&got, &want)) in run.loss.iter().zip(&want_loss).enumerate() {
        let err = rel_err(got, want);
        assert!(
            err <= tol,
            "{name}: epoch {e} loss {got:e} vs NumPy {want:e} (rel {err:e} > {tol:e})"
        );
        max.loss = max.loss.max(err);
    }
    let finals = params(&fixture["final"]);
    assert_eq!(finals.len(), run.final_.layers.len());
    for (k, ((w, b), layer)) in finals.iter().zip(&run.final_.layers).enumerate() {
        assert_eq!(layer.w.dim(), w.dim());
        for ((idx, &got), &want) in layer.w.indexed_iter().zip(w.iter()) {
            let err = rel_err(got, want);
            assert!(
                err <= tol,
                "{name}: final layers[{k}].W{idx:?} {got:e} vs {want:e} (rel {err:e})"
            );
            max.params = max.params.max(err);
        }
        for ((i, &got), &want) in layer.b.indexed_iter().zip(b.iter()) {
            let err = rel_err(got, want);
            assert!(
                err <= tol,
                "{name}: final layers[{k}].b[{i}] {got:e} vs {want:e} (rel {err:e})"
            );
            max.params = max.params.max(err);
        }
    }
    println!(
        "{name:<26} max rel err: loss {:.2e}, final params {:.2e} (tolerance {tol:e})",
        max.loss, max.params
    );
    max
}

#[test]
fn every_parity_fixture_matches_numpy_within_its_tolerance() {
    let names = parity_names();
    assert!(
        names.len() >= 6,
        "the article plus at least five other configurations"
    );
    for name in &names {
        check(name);
    }
}

#[test]
fn the_article_run_is_bit_identical_to_numpy() {
    let m = check("article");
    assert_eq!(m.loss, 0.0, "every epoch loss bit-identical");
    assert_eq!(m.params, 0.0, "every final parameter bit-identical");
}
