//! Non-finite values in a candidate are judged, not refused (issue 22): `NaN`,
//! `Infinity`, `-Infinity` (Python's `json.dump`) and `null` inside a numeric array
//! (JavaScript's `JSON.stringify`) are read as non-finite values; one where the reference
//! is finite is a divergence, reported at the first such element in time order with
//! the value spelled out, never as a figure (the error maxima stay finite).

use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{stderr, stdout, Scratch, BIN};

fn compare(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("compare")
        .args(args)
        .output()
        .expect("run backprop-oracle")
}

/// The article's own export, as text (the reference's run, every value finite).
fn article_trajectory(s: &Scratch) -> String {
    let out = s.path("golden");
    let o = Command::new(BIN)
        .args(["export", "--out", out.to_str().expect("UTF-8")])
        .output()
        .expect("export");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::read_to_string(out.join("trajectory.json")).expect("trajectory")
}

#[test]
fn every_spelling_of_a_non_finite_value_is_a_divergence_at_its_element() {
    let s = Scratch::new("spellings");
    // The article's first epoch loss (tests/fixtures/article_stdout.txt: 10.8979…),
    // then a non-finite second one.
    for (text, shown) in [
        ("NaN", "NaN"),
        ("null", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ] {
        let c = s.file(
            "c.json",
            format!(r#"{{"loss": [10.897856236694128, {text}]}}"#),
        );
        let o = compare(&[c.to_str().expect("UTF-8"), "--model", "article"]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{text}: {out}{}", stderr(&o));
        assert!(
            out.contains(&format!(
                "first divergence: epoch 1 loss: expected 5.30032204950073e0, got {shown} (non-finite where the reference is finite"
            )),
            "{text}: {out}"
        );
        assert!(out.contains("max abs err 0.000e0"), "{text}: {out}");
        let o = compare(&[
            c.to_str().expect("UTF-8"),
            "--model",
            "article",
            "--format",
            "json",
        ]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let d = &v["first_divergence"];
        assert_eq!(
            (d["key"].as_str(), d["got"].is_null()),
            (Some("loss"), true),
            "{v}"
        );
        assert_eq!(d["got_non_finite"], shown, "{v}");
    }
}

/// A trajectory that goes non-finite at step 3 after diverging (finitely) at step 2:
/// the first divergence is step 2's; with only the non-finite value, it is step 3's.
#[test]
fn the_first_divergence_is_the_first_in_time_order() {
    let s = Scratch::new("order");
    let text = article_trajectory(&s);
    let mut t: Value = serde_json::from_str(&text).expect("JSON");
    t["steps"][3]["after"]["layers"][0]["W"][1][0] = Value::Null;
    let c = s.file("nan.json", t.to_string());
    let o = compare(&[c.to_str().expect("UTF-8")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains("first divergence: step 3, layers[0].W[1][0] after the update: expected "),
        "{out}"
    );
    assert!(out.contains(", got NaN (non-finite"), "{out}");
    let w = t["steps"][2]["forward"][0]["z"][0][0].as_f64().expect("z");
    t["steps"][2]["forward"][0]["z"][0][0] = Value::from(w * 1.5);
    let c = s.file("both.json", t.to_string());
    let out = stdout(&compare(&[c.to_str().expect("UTF-8")]));
    assert!(
        out.contains("first divergence: step 2, layers[0].z[0][0]: expected "),
        "{out}"
    );
}

/// Where the schema wants whole numbers (sample indices), a non-finite value is still
/// refused: exit 2, one line naming the element.
#[test]
fn non_finite_sample_indices_are_refused() {
    let s = Scratch::new("samples");
    let c = s.file(
        "c.json",
        r#"{"steps": [{"step": 0, "samples": [0, Infinity]}]}"#,
    );
    let o = compare(&[c.to_str().expect("UTF-8"), "--model", "article"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("step 0, samples[1]: must be a whole number, got inf"),
        "{err}"
    );
}

/// In an `.npz`, a NaN or an infinity is judged at its element too.
#[test]
fn non_finite_members_of_an_npz_are_judged() {
    use backprop_oracle::io::npy::{write_npz, Npz};
    let s = Scratch::new("npz");
    article_trajectory(&s);
    let mut npz = Npz::open(&s.path("golden/reference.npz")).expect("reference.npz");
    let mut w1 = npz.f64("W1_init").expect("W1_init");
    w1[[2, 0]] = f64::NAN;
    let loss = npz.f64("loss").expect("loss").mapv(|v| v * f64::INFINITY);
    let c = s.path("c.npz");
    write_npz(&c, &[("W1_init".into(), w1), ("loss".into(), loss)], &[]).expect("write");
    let o = compare(&[c.to_str().expect("UTF-8"), "--model", "article"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains("first divergence: W1_init[2][0] (initial layers[0].W[2][0]): expected 1.8675579901499675e0, got NaN (non-finite"),
        "{out}"
    );
}
