//! Pins the seeded 2-3-1 run of the article: all 1000 epoch losses and the initial
//! and final parameters, as an insta snapshot in `snapshots/`.
//!
//! Formatting: every number is printed with `{:.14e}` (15 significant digits). The
//! run itself is bit-reproducible (explicit summation order, `mul_add`), and its bits
//! are checked against NumPy in `parity_numpy.rs`; the snapshot rounds to 15 digits so
//! that it reads well in review and cannot churn on a platform whose libm `log` (used
//! once per Gaussian draw) differs in the last bit. With `CI=true` a changed or missing
//! snapshot fails the test.

mod common;

use backprop_oracle::io::spec::Spec;
use backprop_oracle::Network;
use std::fmt::Write;

fn params(out: &mut String, label: &str, net: &Network) {
    for (k, l) in net.layers.iter().enumerate() {
        for ((i, j), v) in l.w.indexed_iter() {
            writeln!(out, "{label} layers[{k}].W[{i}][{j}] = {v:.14e}").unwrap();
        }
        for (i, v) in l.b.indexed_iter() {
            writeln!(out, "{label} layers[{k}].b[{i}] = {v:.14e}").unwrap();
        }
    }
}

#[test]
fn seeded_article_run_is_pinned() {
    let spec = Spec::article();
    let run = backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
        .expect("the article's run trains");
    // The pinned numbers are NumPy's: the same bits as the independent NumPy run
    // (tests/fixtures/parity/article.json, `python3 scripts/gen_parity_fixtures.py`).
    let numpy: Vec<f64> =
        serde_json::from_value(common::fixture_json("parity/article.json")["loss"].clone())
            .unwrap();
    assert_eq!(
        run.loss, numpy,
        "the run must equal NumPy's bit for bit before it is pinned"
    );
    let mut text = String::new();
    params(&mut text, "initial", &run.initial);
    for (e, l) in run.loss.iter().enumerate() {
        writeln!(text, "epoch {e:>4} loss = {l:.14e}").unwrap();
    }
    params(&mut text, "final", &run.final_);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("article_2_3_1_run", text);
    });
}
