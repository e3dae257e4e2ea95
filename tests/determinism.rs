//! The same command gives byte-identical stdout and byte-identical output files, run
//! twice, with `RAYON_NUM_THREADS=1` and with `=2`, and across the two thread counts.
//!
//! Covered: `train --format json` (the article, and a 64-128-10 net on 256 samples of 64
//! features in batches of 64, large enough for the GEMM path and its two-thread split),
//! `train` text, `train --plot` (the SVG's bytes), `export --out` (every file:
//! `trajectory.json`, `reference.npz`, `npy/*.npy`), `gradient-check --format json`
//! (exhaustive on the article, sampled on a 20-30-5 net) and `compare --format json`.
//!
//! Each run happens in a fresh folder (its working directory) holding the same input
//! files, so every path on the command line — and in the export header's `command` —
//! is identical from run to run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use backprop_oracle::rng::RandomState;
use serde_json::{json, Value};

mod common;
use common::{fixture_path as fixture, npy_f64, Scratch, BIN};

/// `n` uniform values in `[-1, 1)` from `RandomState(seed)`.
fn uniform(seed: u32, n: usize) -> Vec<f64> {
    let mut r = RandomState::new(seed);
    (0..n).map(|_| 2.0 * r.random_sample() - 1.0).collect()
}

/// One command: its arguments, the input files it needs, the exit code it must give.
struct Scenario {
    name: &'static str,
    args: Vec<&'static str>,
    inputs: Vec<(&'static str, Vec<u8>)>,
    code: i32,
    /// Files the run must write (relative), checked to exist and be non-empty.
    outputs: Vec<&'static str>,
}

fn scenario(name: &'static str, args: &[&'static str]) -> Scenario {
    Scenario {
        name,
        args: args.to_vec(),
        inputs: Vec::new(),
        code: 0,
        outputs: Vec::new(),
    }
}

impl Scenario {
    fn input(mut self, name: &'static str, bytes: impl Into<Vec<u8>>) -> Scenario {
        self.inputs.push((name, bytes.into()));
        self
    }

    fn output(mut self, name: &'static str) -> Scenario {
        self.outputs.push(name);
        self
    }

    fn exit(mut self, code: i32) -> Scenario {
        self.code = code;
        self
    }
}

/// What one run produced: stdout and every file in its folder (path → bytes).
#[derive(PartialEq)]
struct Produced {
    stdout: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
}

fn files_below(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read run dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).expect("read output"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn run_once(s: &Scratch, sc: &Scenario, threads: usize, rep: usize) -> Produced {
    let dir = s.dir.join(format!("{}-t{threads}-r{rep}", sc.name));
    std::fs::create_dir_all(&dir).expect("run dir");
    for (name, bytes) in &sc.inputs {
        std::fs::write(dir.join(name), bytes).expect("write input");
    }
    let o = Command::new(BIN)
        .args(&sc.args)
        .current_dir(&dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .expect("run backprop-oracle");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(sc.code),
        "{} with {threads} thread(s): stderr {err}",
        sc.name
    );
    assert!(o.stderr.is_empty(), "{}: stderr {err}", sc.name);
    assert!(!o.stdout.is_empty(), "{}: no stdout", sc.name);
    // Data files are referred to by absolute path (in a trajectory's or train's spec):
    // the run's own folder differs from run to run, so it is replaced by `<RUN>`.
    let root = std::path::absolute(&dir).expect("absolute run dir");
    let root = root.to_str().expect("utf-8 run dir").as_bytes().to_vec();
    let files: BTreeMap<String, Vec<u8>> = files_below(&dir)
        .into_iter()
        .map(|(name, bytes)| (name, unrooted(bytes, &root)))
        .collect();
    for out in &sc.outputs {
        assert!(
            files.get(*out).is_some_and(|b| !b.is_empty()),
            "{}: {out} not written; files {:?}",
            sc.name,
            files.keys().collect::<Vec<_>>()
        );
    }
    Produced {
        stdout: unrooted(o.stdout, &root),
        files,
    }
}

/// `bytes` with every occurrence of `root` replaced by `<RUN>`.
fn unrooted(bytes: Vec<u8>, root: &[u8]) -> Vec<u8> {
    if root.is_empty() || bytes.len() < root.len() {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(root) {
            out.extend_from_slice(b"<RUN>");
            i += root.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Where two runs first differ, for the failure message.
fn first_difference(a: &Produced, b: &Produced) -> String {
    if a.stdout != b.stdout {
        let i = a
            .stdout
            .iter()
            .zip(&b.stdout)
            .position(|(x, y)| x != y)
            .unwrap_or(a.stdout.len().min(b.stdout.len()));
        let from = i.saturating_sub(80);
        return format!(
            "stdout differs at byte {i} (lengths {} and {}):\n{}\nvs\n{}",
            a.stdout.len(),
            b.stdout.len(),
            String::from_utf8_lossy(&a.stdout[from..(i + 80).min(a.stdout.len())]),
            String::from_utf8_lossy(&b.stdout[from..(i + 80).min(b.stdout.len())])
        );
    }
    let names_a: Vec<&String> = a.files.keys().collect();
    let names_b: Vec<&String> = b.files.keys().collect();
    if names_a != names_b {
        return format!("different files: {names_a:?} vs {names_b:?}");
    }
    for (name, bytes) in &a.files {
        if b.files[name] != *bytes {
            return format!("{name} differs");
        }
    }
    "identical".into()
}

/// A 64-128-10 relu/identity net on 256 samples of 64 features (as `.npy` files),
/// batches of 64, 3 epochs: every product has 64·128·64 multiply-adds or more, so the
/// fast trainer takes the GEMM path and splits it in two.
fn gemm_scenario() -> Scenario {
    let (n, d, m) = (256, 64, 10);
    let x = uniform(11, n * d);
    let y = uniform(12, n * m);
    let spec = json!({
        "sizes": [64, 128, 10], "activations": ["relu", "identity"], "seed": 5,
        "init_scale": 0.1, "x": "x.npy", "y": "y.npy", "lr": 0.01, "epochs": 3,
        "batch_size": 64, "log_every": 1
    });
    scenario(
        "train_json_64_128_10",
        &["train", "--model", "spec.json", "--format", "json"],
    )
    .input("spec.json", spec.to_string())
    .input("x.npy", npy_f64(&[n, d], &x))
    .input("y.npy", npy_f64(&[n, m], &y))
}

/// A 20-30-5 tanh/sigmoid net, 12 samples, batches of 4 (inline JSON).
fn net_20_30_5() -> String {
    let (n, d, m) = (12, 20, 5);
    let x = uniform(21, n * d);
    let y: Vec<f64> = uniform(22, n * m).iter().map(|v| 0.5 + 0.4 * v).collect();
    let rows =
        |v: &[f64], w: usize| -> Value { Value::Array(v.chunks(w).map(|r| json!(r)).collect()) };
    json!({
        "sizes": [20, 30, 5], "activations": ["tanh", "sigmoid"], "seed": 3,
        "init_scale": 0.3, "x": rows(&x, d), "y": rows(&y, m), "lr": 0.05, "epochs": 4,
        "batch_size": 4
    })
    .to_string()
}

fn scenarios() -> Vec<Scenario> {
    let port_json = std::fs::read(fixture("port/numpy_port_trajectory.json")).expect("fixture");
    let port_npz = std::fs::read(fixture("port/numpy_port_reference.npz")).expect("fixture");
    let minibatch = std::fs::read(fixture("port/minibatch_trajectory.json")).expect("fixture");
    let perturbed = {
        let mut doc: Value = serde_json::from_slice(&port_json).expect("fixture JSON");
        let v = doc["steps"][3]["backward"][0]["dW"][1][0]
            .as_f64()
            .expect("a number");
        doc["steps"][3]["backward"][0]["dW"][1][0] = json!(v + 1e-6);
        doc.to_string()
    };
    vec![
        scenario("train_text_article", &["train"]),
        scenario("train_json_article", &["train", "--format", "json"]),
        gemm_scenario(),
        scenario(
            "train_plot_article",
            &["train", "--format", "json", "--plot", "loss.svg"],
        )
        .output("loss.svg"),
        scenario(
            "train_plot_log_64_128_10",
            &[
                "train",
                "--model",
                "spec.json",
                "--plot",
                "loss.svg",
                "--log-scale",
            ],
        )
        .input("spec.json", gemm_scenario().inputs[0].1.clone())
        .input("x.npy", gemm_scenario().inputs[1].1.clone())
        .input("y.npy", gemm_scenario().inputs[2].1.clone())
        .output("loss.svg"),
        scenario(
            "export_article",
            &["export", "--out", "golden", "--npy", "--trace-steps", "6"],
        )
        .output("golden/trajectory.json")
        .output("golden/reference.npz")
        .output("golden/npy/W1_init.npy"),
        scenario(
            "export_20_30_5",
            &["export", "--out", "golden", "--model", "spec.json"],
        )
        .input("spec.json", net_20_30_5())
        .output("golden/trajectory.json")
        .output("golden/reference.npz"),
        scenario(
            "gradient_check_exhaustive_article",
            &[
                "gradient-check",
                "--format",
                "json",
                "--at-epochs",
                "0,500,999",
            ],
        ),
        scenario(
            "gradient_check_sampled_20_30_5",
            &[
                "gradient-check",
                "--model",
                "spec.json",
                "--mode",
                "sampled",
                "--samples",
                "8",
                "--at-epochs",
                "0,2,4",
                "--format",
                "json",
            ],
        )
        .input("spec.json", net_20_30_5()),
        scenario(
            "gradient_check_directional_20_30_5",
            &[
                "gradient-check",
                "--model",
                "spec.json",
                "--mode",
                "directional",
                "--directions",
                "4",
                "--format",
                "json",
            ],
        )
        .input("spec.json", net_20_30_5()),
        scenario(
            "compare_json_port",
            &["compare", "cand.json", "--format", "json"],
        )
        .input("cand.json", port_json),
        scenario(
            "compare_npz_port",
            &[
                "compare", "cand.npz", "--model", "article", "--format", "json",
            ],
        )
        .input("cand.npz", port_npz),
        scenario(
            "compare_minibatch_header_spec",
            &["compare", "cand.json", "--format", "json"],
        )
        .input("cand.json", minibatch),
        scenario(
            "compare_perturbed_diverges",
            &["compare", "cand.json", "--format", "json"],
        )
        .input("cand.json", perturbed)
        .exit(1),
    ]
}

#[test]
fn same_command_same_bytes_with_one_and_two_threads() {
    let s = Scratch::new("all");
    let start = Instant::now();
    let mut failures = Vec::new();
    for sc in scenarios() {
        let t0 = Instant::now();
        let runs: Vec<((usize, usize), Produced)> = [(1, 0), (1, 1), (2, 0), (2, 1)]
            .into_iter()
            .map(|(t, r)| ((t, r), run_once(&s, &sc, t, r)))
            .collect();
        let (first_key, first) = &runs[0];
        for (key, p) in &runs[1..] {
            if p != first {
                failures.push(format!(
                    "{}: threads/repetition {key:?} differs from {first_key:?}: {}",
                    sc.name,
                    first_difference(first, p)
                ));
            }
        }
        let bytes: usize = first.files.values().map(Vec::len).sum::<usize>() + first.stdout.len();
        println!(
            "{:<36} 4 runs in {:>8.2?}: {} files, {} bytes identical",
            sc.name,
            t0.elapsed(),
            first.files.len(),
            bytes
        );
    }
    println!("total {:.2?}", start.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_gemm_scenario_really_takes_the_gemm_path() {
    // 64·128·64 multiply-adds per product, over the fast trainer's small-layer limit,
    // so `Kernels::Auto` uses the GEMM; `--reference` (no GEMM) rounds differently.
    const { assert!(64 * 128 * 64 > backprop_oracle::engine::SMALL_LAYER) };
    let s = Scratch::new("gemm_path");
    let sc = gemm_scenario();
    let auto = run_once(&s, &sc, 2, 0);
    let mut reference = gemm_scenario();
    reference.args.push("--reference");
    let reference = run_once(&s, &reference, 2, 1);
    let loss = |p: &Produced| -> Vec<f64> {
        let doc: Value = serde_json::from_slice(&p.stdout).expect("JSON stdout");
        serde_json::from_value(doc["loss"].clone()).expect("loss")
    };
    let (a, r) = (loss(&auto), loss(&reference));
    assert_eq!(a.len(), 3);
    for (x, y) in a.iter().zip(&r) {
        assert!(
            (x - y).abs() <= 1e-9 * y.abs(),
            "GEMM and reference kernels agree within rounding: {a:?} vs {r:?}"
        );
    }
    assert_ne!(
        auto.stdout, reference.stdout,
        "the GEMM run is not the reference kernels' bits, so it did take the GEMM path"
    );
}
