//! Training parity with an independent NumPy implementation.
//!
//! Fixtures: `tests/fixtures/parity/*.json`, made by
//! `python3 scripts/gen_parity_fixtures.py` (NumPy 2.4, OpenBLAS). Each holds a spec,
//! the initial parameters, every epoch's total loss and the final parameters.
//!
//! Tolerances (relative, `|a − b| / max(|a|, |b|)`): 1e-12 for relu/identity networks
//! (the cross-entropies' `exp`/`log` included), 1e-9 where `exp` or `tanh` are in the
//! hidden layers (NumPy's SIMD `exp`/`tanh` and libm differ in the last bits, and
//! training compounds it), and 1e-9 for a cross-entropy whose logits reach 50 (measured:
//! 1.8e-10 on `softmax_large_logits`, whose run amplifies last-bit differences: NumPy
//! itself moves by 2.6e-11 when only its summation order changes; see `check`). The
//! classification fixtures also pin the final accuracy on the training set exactly. The initial parameters must be bit-identical (same RNG), and the
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
    let run = backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // Logits of size |ŷ| ≥ 50 (init_scale 10 in `softmax_large_logits`) make a run
    // whose last-bit differences grow for a while: NumPy against itself with only its
    // matmul summation order changed moves by 2.6e-11 (scripts/gen_parity_fixtures.py),
    // this project by at most 1.8e-10 (epoch 70–80 of 200), so the exp tier applies.
    let largest_logit = run
        .initial
        .forward(spec.x.view())
        .output()
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let large_logits = spec.loss.is_classification() && largest_logit >= 50.0;
    let tol = if smooth || large_logits { 1e-9 } else { 1e-12 };

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
    if let Some(want) = fixture.get("final_accuracy").and_then(|v| v.as_f64()) {
        let got = backprop_oracle::run::evaluate(&run.final_, spec.x.view(), spec.y.view())
            .accuracy
            .expect("a classification loss has an accuracy");
        assert_eq!(got, want, "{name}: final accuracy on the training set");
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
