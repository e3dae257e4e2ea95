//! The committed outputs of the PyTorch and JAX example ports (`examples/torch_port.py`,
//! `examples/jax_port.py`; how each was made: `tests/fixtures/port/README.md`) through
//! `compare`: correct float64 ports pass at float64 tolerances, correct float32 ports pass
//! as float32 (declared in the header, stored as `<f4` in the `.npz`, or detected from the
//! values), a float32 port compared as float64 is diagnosed as precision, and ports with
//! a real mistake fail at their first wrong step with the mistake named.

mod common;

use std::path::Path;
use std::process::Output;

use common::{fixture_path as fixture, run, stdout, success, Scratch};
use serde_json::Value;

fn compare(candidate: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["compare", candidate.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    run(&args)
}

/// The `max rel err` of compare's first line.
fn max_rel_err(out: &str) -> f64 {
    let at = out.find("max rel err ").expect("max rel err in the report") + 12;
    out[at..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number after max rel err")
}

/// Exit 1 with a first divergence; returns stdout.
fn diverges(o: &Output) -> String {
    let out = stdout(o);
    assert_eq!(o.status.code(), Some(1), "exit code; stdout: {out}");
    assert!(out.contains("first divergence: "), "{out}");
    out
}

#[test]
fn float64_torch_and_jax_ports_pass_within_a_few_ulps() {
    for f in [
        "torch_f64_trajectory.json",
        "jax_f64_trajectory.json",
        "torch_f64_minibatch_trajectory.json",
    ] {
        let out = success(&compare(&fixture(&format!("port/{f}")), &[]));
        assert!(out.contains("as float64 (from the header)"), "{f}: {out}");
        assert!(out.contains("all within tolerance"), "{f}: {out}");
        // Another summation order than the reference's: not bit for bit, but a few ulps.
        assert!(max_rel_err(&out) < 1e-12, "{f}: {out}");
    }
}

#[test]
fn float32_ports_pass_as_float32_from_the_header() {
    for f in ["torch_f32_trajectory.json", "jax_f32_trajectory.json"] {
        let out = success(&compare(&fixture(&format!("port/{f}")), &[]));
        assert!(out.contains("as float32 (from the header)"), "{f}: {out}");
        assert!(out.contains("all within tolerance"), "{f}: {out}");
        // Every step was judged from the port's own parameters.
        assert!(out.contains("8 traced step(s) recomputed"), "{f}: {out}");
        // Float32 rounding is visible: these are not float64 results.
        assert!(max_rel_err(&out) > 1e-7, "{f}: {out}");
    }
}

#[test]
fn float32_npz_passes_as_float32_from_its_dtype() {
    let out = success(&compare(
        &fixture("port/torch_f32_reference.npz"),
        &["--model", "article"],
    ));
    assert!(out.contains("as float32 (from the .npz dtype)"), "{out}");
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn float32_values_without_a_declared_precision_are_detected() {
    let s = Scratch::new("f32_detected");
    let text = std::fs::read_to_string(fixture("port/torch_f32_trajectory.json")).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["header"]
        .as_object_mut()
        .unwrap()
        .remove("precision")
        .expect("the fixture declares its precision");
    let path = s.file("undeclared.json", doc.to_string());
    let out = success(&compare(&path, &[]));
    assert!(out.contains("as float32 (from the values"), "{out}");
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn a_float32_port_compared_as_float64_is_diagnosed_as_precision() {
    let o = compare(
        &fixture("port/torch_f32_trajectory.json"),
        &["--precision", "f64"],
    );
    let out = diverges(&o);
    assert!(
        out.contains("first divergence: initial layers[0].W[0][0]"),
        "{out}"
    );
    assert!(out.contains("diagnosis: precision float32"), "{out}");
}

#[test]
fn a_float32_port_with_one_wrong_gradient_entry_fails_there_from_its_own_parameters() {
    let s = Scratch::new("f32_perturbed");
    let text = std::fs::read_to_string(fixture("port/jax_f32_trajectory.json")).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    // A relative error of 1e-3 in one entry: far below what a float32 user sees in the
    // losses, far above one step's float32 rounding bound.
    let entry = &mut doc["steps"][5]["backward"][1]["dW"][0][2];
    let v = entry.as_f64().unwrap();
    *entry = Value::from(v * (1.0 + 1e-3));
    let path = s.file("perturbed.json", doc.to_string());
    let out = diverges(&compare(&path, &[]));
    assert!(
        out.contains("first divergence: step 5, layers[1].dW[0][2]: expected")
            && out.contains("computed from the candidate's own parameters before step 5"),
        "{out}"
    );
    assert!(out.contains("diagnosis: unknown"), "{out}");
}

#[test]
fn a_float32_port_with_stale_weights_is_caught_and_named() {
    let out = diverges(&compare(
        &fixture("port/torch_f32_stale_weights_trajectory.json"),
        &[],
    ));
    assert!(out.contains("as float32 (from the header)"), "{out}");
    assert!(
        out.contains("first divergence: step 0, layers[1].dx[0][0]"),
        "{out}"
    );
    assert!(
        out.contains(
            "diagnosis: bug stale-weights: layer 1 back-propagates through the updated W2"
        ),
        "{out}"
    );
}

#[test]
fn jnp_maximum_relu_is_named_as_a_convention_and_passes_under_it() {
    let path = fixture("port/jax_f32_relu_maximum_trajectory.json");
    let out = diverges(&compare(&path, &[]));
    assert!(
        out.contains("first divergence: step 0, layers[0].db[0]"),
        "{out}"
    );
    assert!(
        out.contains("diagnosis: convention relu'(0) = 0.5"),
        "{out}"
    );
    let out = success(&compare(&path, &["--relu-grad-at-zero", "0.5"]));
    assert!(out.contains("conventions: relu'(0) = 0.5"), "{out}");
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn json_report_of_a_named_bug_carries_the_diagnosis_object() {
    let o = compare(
        &fixture("port/torch_f32_stale_weights_trajectory.json"),
        &["--format", "json"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON report");
    let d = &v["diagnosis"];
    let first = if d.is_array() { &d[0] } else { d };
    assert_eq!(first["kind"], "bug", "{v}");
    assert_eq!(first["name"], "stale-weights", "{v}");
    assert!(first["explanation"]
        .as_str()
        .unwrap()
        .contains("updated W2"));
}

/// The classifier ports (softmax cross-entropy from PyTorch in float32, binary
/// cross-entropy from NumPy in float64 and JAX in float32) pass; their specs come from
/// the header alone, the precision from the header or the values.
#[test]
fn classifier_ports_pass_in_their_precision() {
    for (f, precision) in [
        ("torch_f32_classifier_trajectory.json", "float32"),
        ("numpy_bce_trajectory.json", "float64"),
        ("jax_f32_bce_trajectory.json", "float32"),
    ] {
        let out = success(&compare(&fixture(&format!("port/{f}")), &[]));
        // (the NumPy port declares no precision: float64 is read off its values)
        assert!(
            out.contains(&format!("as {precision} (from the")),
            "{f}: {out}"
        );
        assert!(out.contains("all within tolerance"), "{f}: {out}");
        assert!(out.contains("6 traced step(s) recomputed"), "{f}: {out}");
    }
}

/// PyTorch classifiers with a mistake: the softmax over the batch axis, and the
/// cross-entropies summed (`reduction="sum"`: over the batch for softmax, over every
/// output of the batch for binary), each named from step 0.
#[test]
fn classifier_port_mistakes_are_caught_and_named() {
    for (f, named) in [
        (
            "torch_f32_classifier_softmax_wrong_axis_trajectory.json",
            "diagnosis: bug softmax-wrong-axis: the softmax is normalised over the batch",
        ),
        (
            "torch_f32_classifier_ce_sum_trajectory.json",
            "diagnosis: bug batch-sum-not-mean: the batch gradient is summed, not averaged",
        ),
        (
            "torch_f32_bce_sum_trajectory.json",
            "diagnosis: bug bce-sum-not-mean: the binary cross-entropy is summed over the outputs and the batch",
        ),
    ] {
        let out = diverges(&compare(&fixture(&format!("port/{f}")), &[]));
        assert!(
            out.contains("first divergence: step 0, d_output[0][0]"),
            "{f}: {out}"
        );
        assert!(out.contains(named), "{f}: {out}");
    }
}

// ---------------------------------------------------------------------------------------
// Archives that mix float32 and float64 members (issue 20): judged member by member.
// ---------------------------------------------------------------------------------------

/// The members of `src` (an `.npz`), rewritten into `dst`: `f32` names the members
/// stored as float32, `scale` one element to multiply (member, flat index, factor).
fn rewrite_npz(src: &Path, dst: &Path, f32: &[&str], scale: Option<(&str, usize, f64)>) {
    use ndarray::{ArrayD, IxDyn, OwnedRepr};
    use ndarray_npy::{NpzReader, NpzWriter};
    let mut r = NpzReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut w = NpzWriter::new(std::fs::File::create(dst).unwrap());
    for name in r.names().unwrap() {
        let read = r.by_name::<OwnedRepr<f64>, IxDyn>(&name).or_else(|_| {
            r.by_name::<OwnedRepr<f32>, IxDyn>(&name)
                .map(|a| a.mapv(f64::from))
        });
        let Ok(mut a) = read else {
            // Integer members (sample indices) are copied as they are.
            let ints: ArrayD<i64> = r.by_name::<OwnedRepr<i64>, IxDyn>(&name).unwrap();
            w.add_array(name, &ints).unwrap();
            continue;
        };
        if let Some((member, at, factor)) = scale.filter(|(m, _, _)| *m == name) {
            let v = a.as_slice_mut().expect("standard layout");
            assert!(v[at] != 0.0, "{member}[{at}] must be nonzero to perturb");
            v[at] *= factor;
        }
        if f32.contains(&name.as_str()) {
            w.add_array(name, &a.mapv(|v| v as f32)).unwrap();
        } else {
            w.add_array(name, &a).unwrap();
        }
    }
    w.finish().unwrap();
}

#[test]
fn a_float64_member_3e_8_off_fails_in_an_archive_with_a_float32_member() {
    let s = Scratch::new("mixed_dtypes");
    let golden = s.path("golden");
    success(&run(&[
        "export",
        "--out",
        golden.to_str().unwrap(),
        "--trace-steps",
        "2",
    ]));
    let reference = golden.join("reference.npz");
    let model = ["--model", "article"];
    // Alone, the float64 archive with step0_dW2 3e-8 off fails there.
    let off = s.path("off.npz");
    rewrite_npz(&reference, &off, &[], Some(("step0_dW2", 1, 1.0 + 3e-8)));
    let out = diverges(&compare(&off, &model));
    assert!(out.contains("first divergence: step0_dW2[0][1]"), "{out}");
    // One float32 member (the epoch losses) must not loosen the others' bounds.
    let mixed_off = s.path("mixed_off.npz");
    rewrite_npz(
        &reference,
        &mixed_off,
        &["loss"],
        Some(("step0_dW2", 1, 1.0 + 3e-8)),
    );
    let out = diverges(&compare(&mixed_off, &model));
    assert!(out.contains("first divergence: step0_dW2[0][1]"), "{out}");
    assert!(out.contains("member by member"), "{out}");
    // The same archive unperturbed passes, each member within its own dtype's bounds.
    let mixed = s.path("mixed.npz");
    rewrite_npz(&reference, &mixed, &["loss"], None);
    let out = success(&compare(&mixed, &model));
    assert!(out.contains("member by member"), "{out}");
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn a_float32_archive_with_a_float64_member_is_judged_by_each_members_dtype() {
    let s = Scratch::new("mixed_dtypes_f32");
    let model = ["--model", "article"];
    let port = fixture("port/torch_f32_reference.npz");
    // float32 numbers widened to float64 (a port's `.item()` losses): still float32.
    let widened = s.path("widened.npz");
    let names_f32: Vec<String> = {
        let mut r = ndarray_npy::NpzReader::new(std::fs::File::open(&port).unwrap()).unwrap();
        r.names().unwrap()
    };
    let all_but_w1: Vec<&str> = names_f32
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "step0_dW1")
        .collect();
    rewrite_npz(&port, &widened, &all_but_w1, None);
    let out = success(&compare(&widened, &model));
    assert!(
        out.contains("float64 members hold float32 numbers"),
        "{out}"
    );
    // A float64 member with a float64 value where float32 rounding went: judged by
    // float64 bounds, it fails, and the diagnosis says it is float32 rounding.
    let precise = s.path("precise.npz");
    rewrite_npz(
        &port,
        &precise,
        &all_but_w1,
        Some(("step0_dW1", 0, 1.0 + 1e-12)),
    );
    let out = diverges(&compare(&precise, &model));
    assert!(out.contains("member by member"), "{out}");
    assert!(out.contains("first divergence: step0_dW1"), "{out}");
    assert!(out.contains("diagnosis: precision float32"), "{out}");
}
