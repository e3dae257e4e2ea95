//! Seeded, deterministic fuzzing of the three input parsers: mutated spec JSON texts,
//! mutated candidate trajectories, and mutated `.npy` bytes. Every library call runs
//! under `catch_unwind`; the test asserts that nothing panics (errors are fine, and
//! counted), prints the Ok/Err counts, and checks that the mutations reach both sides.
//!
//! The generator is the crate's own NumPy-compatible `RandomState`, so every run makes
//! the same cases. Inputs that would abort the process (not a catchable panic) are
//! known bugs documented in `tests/hostile_input.rs` and are not generated here (a
//! duplicated `'shape'` key in a `.npy` header); a step index of `u64::MAX` is kept out
//! for the reason in `bug_compare_step_u64_max_overflows` below.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::check::Tolerance;
use backprop_oracle::io::npy::f64_from_npy_bytes;
use backprop_oracle::io::spec::{Overrides, Spec};
use backprop_oracle::oracle::against::spec_to_compare;
use backprop_oracle::oracle::candidate::from_json_str;
use backprop_oracle::oracle::compare::{compare, CompareOptions};
use backprop_oracle::oracle::diagnose::compare_and_diagnose;
use backprop_oracle::rng::RandomState;
use serde_json::{json, Map, Value};

/// Cases per part.
const SPEC_CASES: usize = 20_000;
const CANDIDATE_CASES: usize = 6_000;
const NPY_CASES: usize = 20_000;

// ---------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------

struct Gen(RandomState);

impl Gen {
    fn new(seed: u32) -> Gen {
        Gen(RandomState::new(seed))
    }

    /// Uniform in `0..n` (`n ≥ 1`).
    fn below(&mut self, n: usize) -> usize {
        assert!(n >= 1);
        ((u64::from(self.0.next_u32()) * n as u64) >> 32) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.0.random_sample() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Counts of one part's outcomes.
#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    ok: usize,
    err: usize,
    panics: Vec<String>,
}

impl Tally {
    /// Runs `f` under `catch_unwind`; `input` describes the case for the panic report.
    fn run<T, E>(
        &mut self,
        input: impl FnOnce() -> String,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Option<T> {
        self.cases += 1;
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => {
                self.ok += 1;
                Some(v)
            }
            Ok(Err(_)) => {
                self.err += 1;
                None
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let mut text = input();
                text.truncate(600);
                self.panics.push(format!("{msg} — input: {text}"));
                None
            }
        }
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} {:>6} cases: {:>6} Ok, {:>6} Err, {} panics",
            self.cases,
            self.ok,
            self.err,
            self.panics.len()
        )
    }
}

// ---------------------------------------------------------------------------------------
// (a) spec JSON texts
// ---------------------------------------------------------------------------------------

const ARTICLE_SPEC: &str = r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "loss": "mse", "seed": 0,
 "init_scale": 1.0, "x": [[1, 2], [2, 1], [3, 1], [1, 3]], "y": [4, 3, 5, 5],
 "lr": 0.01, "epochs": 2, "batch_size": 1, "log_every": 100}"#;

const TANH_SIGMOID_SPEC: &str = r#"{"sizes": [3, 4, 2], "activations": ["tanh", "sigmoid"], "seed": 7,
 "init_scale": 0.5, "x": [[0.1, -0.2, 0.3], [1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-1.5, 2.0, 0.25]],
 "y": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.25, 0.75]], "lr": 0.1, "epochs": 2, "batch_size": 2}"#;

/// Numbers swapped in for numbers (`u64::MAX` is deliberately absent: see the top).
const NUMBERS: [&str; 20] = [
    "1e308",
    "-1e308",
    "0",
    "-0.0",
    "1e-320",
    "-1",
    "1",
    "2",
    "3",
    "0.5",
    "1.5",
    "1e6",
    "1000000",
    "99999999",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551614",
    "18446744073709551616",
    "123456789012345678901234567890",
];

/// JSON fragments inserted at random places.
const TOKENS: [&str; 28] = [
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "false",
    "-",
    "0",
    "1e400",
    "NaN",
    "Infinity",
    "[[]]",
    "{}",
    "[]",
    "\"x\"",
    "\"sizes\"",
    "\"relu\"",
    "\"tanh\"",
    "-1",
    "1.5",
    "\"a.npy\"",
    "\"b.npz\"",
    "\\u0000",
    "\u{e9}",
];

/// Key names swapped in for keys.
const KEYS: [&str; 16] = [
    "sizes",
    "activations",
    "x",
    "y",
    "lr",
    "epochs",
    "batch_size",
    "log_every",
    "seed",
    "init_scale",
    "loss",
    "bogus",
    "Sizes",
    "",
    "x ",
    "layers",
];

/// Byte ranges of the JSON numbers in `text`.
fn number_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        let starts =
            c.is_ascii_digit() || (c == b'-' && text.get(i + 1).is_some_and(u8::is_ascii_digit));
        let in_word = i > 0 && (text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'_');
        if starts && !in_word {
            let start = i;
            i += 1;
            while i < text.len()
                && matches!(text[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// Byte ranges of the quoted keys (a string followed by `:`) in `text`.
fn key_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'"' {
            let start = i;
            i += 1;
            while i < text.len() && text[i] != b'"' {
                i += 1;
            }
            let end = (i + 1).min(text.len());
            let mut j = end;
            while j < text.len() && text[j] == b' ' {
                j += 1;
            }
            if text.get(j) == Some(&b':') {
                spans.push((start, end));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    spans
}

/// One random mutation of a JSON text.
fn mutate_text(g: &mut Gen, t: &mut Vec<u8>) {
    let len = t.len();
    match g.below(8) {
        0 if len > 0 => {
            let i = g.below(len);
            t[i] ^= 1 << g.below(8);
        }
        1 if len > 0 => {
            let i = g.below(len);
            let n = 1 + g.below(8.min(len - i));
            t.drain(i..i + n);
        }
        2 => {
            let i = g.below(len + 1);
            let tok = g.pick(&TOKENS).as_bytes().to_vec();
            t.splice(i..i, tok);
        }
        3 if len > 0 => {
            t.truncate(g.below(len));
        }
        4 | 5 => {
            let spans = number_spans(t);
            if !spans.is_empty() {
                let (a, b) = *g.pick(&spans);
                let n = g.pick(&NUMBERS).as_bytes().to_vec();
                t.splice(a..b, n);
            }
        }
        6 => {
            let spans = key_spans(t);
            if !spans.is_empty() {
                let (a, b) = *g.pick(&spans);
                let k = format!("\"{}\"", g.pick(&KEYS)).into_bytes();
                t.splice(a..b, k);
            }
        }
        _ if len > 1 => {
            // Copy a slice somewhere else (duplicated rows, keys, brackets).
            let a = g.below(len);
            let b = a + 1 + g.below(16.min(len - a));
            let piece = t[a..b].to_vec();
            let at = g.below(len + 1);
            t.splice(at..at, piece);
        }
        _ => t.push(b'}'),
    }
}

/// Whether training `spec` is cheap enough to do for every fuzz case.
fn small(spec: &Spec) -> bool {
    let product = spec
        .sizes
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .unwrap_or(usize::MAX);
    let work = spec.epochs.saturating_mul(spec.x.nrows());
    product < 10_000 && work < 10_000
}

#[derive(Default, Debug)]
struct SpecStats {
    parse: Tally,
    train: Tally,
    check: Tally,
    skipped: usize,
}

fn fuzz_specs(cases: usize) -> SpecStats {
    let mut g = Gen::new(1_234_567);
    let bases = [ARTICLE_SPEC, TANH_SIGMOID_SPEC];
    let mut st = SpecStats::default();
    for i in 0..cases {
        let mut bytes = bases[i % bases.len()].as_bytes().to_vec();
        let rounds = if g.chance(0.6) { 1 } else { 2 + g.below(2) };
        for _ in 0..rounds {
            mutate_text(&mut g, &mut bytes);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let shown = || text.clone();
        let Some(spec) = st.parse.run(shown, || Spec::from_json_str(&text, "spec")) else {
            continue;
        };
        if !small(&spec) {
            st.skipped += 1;
            continue;
        }
        if let Some(run) = st.train.run(shown, || {
            backprop_oracle::run::train(&spec, backprop_oracle::run::Engine::Reference, &mut ())
        }) {
            assert_eq!(run.loss.len(), spec.epochs, "{text}");
            assert!(
                run.loss.iter().all(|l| l.is_finite()),
                "an Ok run has a non-finite loss: {text}"
            );
        }
        if g.chance(0.15) {
            let opts = NetworkCheckOptions {
                mode: Mode::Sampled {
                    per_tensor: 1 + g.below(4),
                },
                at_epochs: vec![0, spec.epochs.min(1)],
                sample_seed: g.below(1000) as u32,
                ..NetworkCheckOptions::default()
            };
            st.check.run(shown, || check_network(&spec, &opts, &|_| {}));
        }
    }
    st
}

// ---------------------------------------------------------------------------------------
// (b) candidate trajectories
// ---------------------------------------------------------------------------------------

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(fixture(rel)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A random small value to put somewhere.
fn random_value(g: &mut Gen) -> Value {
    match g.below(10) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!("1.0"),
        3 => json!([]),
        4 => json!({}),
        5 => json!([[1.0, 2.0], [3.0]]),
        6 => json!([1.0, 2.0, 3.0]),
        7 => json!({"layers": [{"W": [[0.5]], "b": [0.0]}]}),
        8 => number(g),
        _ => json!([[[1.0]]]),
    }
}

fn number(g: &mut Gen) -> Value {
    let text = *g.pick(&NUMBERS);
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Keys that the schema knows (and one it does not).
const CANDIDATE_KEYS: [&str; 21] = [
    "format",
    "schema_version",
    "header",
    "initial",
    "loss",
    "final",
    "steps",
    "step",
    "epoch",
    "samples",
    "forward",
    "d_output",
    "backward",
    "after",
    "layers",
    "W",
    "b",
    "z",
    "a",
    "dW",
    "bogus",
];

/// Descends from `v` to a random node (stopping early with some probability).
fn random_node<'a>(g: &mut Gen, v: &'a mut Value) -> &'a mut Value {
    let stop = g.chance(0.25);
    let n = match &*v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if stop || n == 0 {
        return v;
    }
    let i = g.below(n);
    match v {
        Value::Array(a) => random_node(g, &mut a[i]),
        Value::Object(o) => {
            let key = o.keys().nth(i).expect("key").clone();
            random_node(g, o.get_mut(&key).expect("value"))
        }
        _ => unreachable!(),
    }
}

/// One random mutation of a candidate document.
fn mutate_value(g: &mut Gen, doc: &mut Value) {
    let donor = random_node(g, &mut doc.clone()).clone();
    let node = random_node(g, doc);
    match g.below(9) {
        0 | 1 => {
            if node.is_number() || g.chance(0.3) {
                *node = number(g);
            }
        }
        2 => match node {
            Value::Object(o) if !o.is_empty() => {
                let key = o.keys().nth(g.below(o.len())).expect("key").clone();
                o.remove(&key);
            }
            Value::Array(a) if !a.is_empty() => {
                let i = g.below(a.len());
                a.remove(i);
            }
            _ => *node = Value::Null,
        },
        3 => {
            let key = g.pick(&CANDIDATE_KEYS).to_string();
            let val = random_value(g);
            match node {
                Value::Object(o) => {
                    o.insert(key, val);
                }
                other => {
                    let mut o = Map::new();
                    o.insert(key, val);
                    *other = Value::Object(o);
                }
            }
        }
        4 => match node {
            Value::Array(a) if !a.is_empty() => {
                if g.chance(0.5) {
                    let n = g.below(a.len());
                    a.truncate(n);
                } else {
                    let last = a[a.len() - 1].clone();
                    a.push(last);
                }
            }
            other => *other = json!([other.clone()]),
        },
        5 => *node = json!([node.clone()]),
        6 => {
            if let Some(x) = node.as_f64() {
                *node = json!(x.to_string());
            } else {
                *node = random_value(g);
            }
        }
        7 => *node = donor,
        _ => *node = random_value(g),
    }
}

#[derive(Default, Debug)]
struct CandidateStats {
    parse: Tally,
    header_spec: Tally,
    compare: Tally,
    passed: usize,
}

fn fuzz_candidates(cases: usize) -> CandidateStats {
    let mut g = Gen::new(7_654_321);
    let base = read_json("port/minibatch_trajectory.json");
    let spec_text = std::fs::read_to_string(fixture("port/minibatch_spec.json")).expect("spec");
    let spec = Spec::from_json_str(&spec_text, "spec").expect("minibatch spec");
    assert!(spec.epochs <= 50, "the minibatch spec stays small");
    let tol = CompareOptions {
        slack: Some(Tolerance {
            rtol: 1e-9,
            atol: 1e-12,
        }),
        ..CompareOptions::default()
    };
    let mut st = CandidateStats::default();
    for _ in 0..cases {
        let mut doc = base.clone();
        let rounds = if g.chance(0.6) { 1 } else { 2 + g.below(2) };
        for _ in 0..rounds {
            mutate_value(&mut g, &mut doc);
        }
        let shown = || doc.to_string();
        let Some(cand) = st
            .parse
            .run(shown, || from_json_str(&doc.to_string(), "candidate"))
        else {
            continue;
        };
        if cand.spec.is_some() {
            // Parsed and validated only: a mutated header may ask for a long run.
            st.header_spec.run(shown, || {
                spec_to_compare(None, &cand, &Overrides::default(), u64::MAX, false)
            });
        }
        if let Some(cmp) = st
            .compare
            .run(shown, || compare_and_diagnose(&spec, &cand, &tol))
        {
            assert!(cmp.divergent <= cmp.values, "{}", doc);
            assert!(cmp.arrays >= 1, "{}", doc);
            if cmp.passed() {
                st.passed += 1;
            }
        }
    }
    st
}

// ---------------------------------------------------------------------------------------
// (c) .npy bytes
// ---------------------------------------------------------------------------------------

fn npy(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    let pre = if version == 1 { 10 } else { 12 };
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.push(version);
    out.push(0);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn npy_bases() -> Vec<Vec<u8>> {
    let d = |shape: &str| format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    vec![
        npy(
            1,
            &d("(4, 2)"),
            &f64_bytes(&[1.0, 2.0, 2.0, 1.0, 3.0, 1.0, 1.0, 3.0]),
        ),
        npy(1, &d("(3,)"), &f64_bytes(&[4.0, f64::NAN, -0.0])),
        npy(1, &d("(0, 2)"), &[]),
        npy(1, &d("(2, 2, 2)"), &f64_bytes(&[0.5; 8])),
        npy(1, &d("()"), &f64_bytes(&[7.0])),
        npy(
            2,
            &d("(2, 3)"),
            &f64_bytes(&[1e308, -1e308, 1e-320, 0.0, 1.0, f64::INFINITY]),
        ),
        npy(
            1,
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            &f64_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ),
    ]
}

/// Replacements for the text between `'shape': ` and the next `)` (inclusive).
const SHAPES: [&str; 12] = [
    "(-1, 2)",
    "(99999999999999, 2)",
    "(18446744073709551615, 18446744073709551615)",
    "()",
    "(0,)",
    "(1, 2, 3)",
    "(4 2)",
    "(4, 2",
    "[4, 2]",
    "(8,)",
    "(2, 4)",
    "(+8,)",
];

const DESCRS: [&str; 7] = ["<f4", "<i8", ">f8", "|b1", "<c16", "f8", "<f8"];

fn replace_between(bytes: &mut Vec<u8>, start_pat: &[u8], end: u8, with: &[u8]) {
    if let Some(i) = bytes.windows(start_pat.len()).position(|w| w == start_pat) {
        let a = i + start_pat.len();
        if let Some(len) = bytes[a..].iter().position(|&b| b == end) {
            bytes.splice(a..a + len + 1, with.iter().copied());
        }
    }
}

/// One random mutation of `.npy` bytes (never a second `'shape'` key: see the top).
fn mutate_npy(g: &mut Gen, b: &mut Vec<u8>) {
    let len = b.len();
    match g.below(10) {
        0 if len > 0 => {
            // In the preamble and header, where the parsing happens.
            let i = g.below(len.min(80));
            b[i] ^= 1 << g.below(8);
        }
        1 if len > 0 => {
            // Anywhere (mostly the data: a changed value, maybe NaN or inf).
            let i = len - 1 - g.below(len.min(64));
            b[i] ^= 1 << g.below(8);
        }
        2 if len > 0 => b.truncate(g.below(len)),
        3 => {
            let n = 1 + g.below(16);
            for _ in 0..n {
                b.push(g.below(256) as u8);
            }
        }
        4 => {
            let s = g.pick(&SHAPES).as_bytes().to_vec();
            replace_between(b, b"'shape': ", b')', &s);
        }
        5 => {
            let d = format!("{}'", g.pick(&DESCRS)).into_bytes();
            replace_between(b, b"'descr': '", b'\'', &d);
        }
        6 if len > 6 => b[6] = *g.pick(&[0u8, 1, 2, 3, 4, 255]),
        7 if len > 9 => {
            // The header length.
            let v = *g.pick(&[0u16, 1, 10, 54, 118, 500, 65535]);
            b[8..10].copy_from_slice(&v.to_le_bytes());
        }
        8 if len > 10 => {
            // Remove or duplicate a piece of the data or header.
            let a = g.below(len);
            let n = 1 + g.below(16.min(len - a));
            if g.chance(0.5) {
                b.drain(a..a + n);
            } else {
                let piece = b[a..a + n].to_vec();
                b.splice(a..a, piece);
            }
        }
        _ => {
            if let Some(i) = b.windows(5).position(|w| w == b"False") {
                b.splice(i..i + 5, b"True".iter().copied());
            }
        }
    }
}

fn fuzz_npy(cases: usize) -> Tally {
    let mut g = Gen::new(42);
    let bases = npy_bases();
    let mut t = Tally::default();
    for i in 0..cases {
        let mut bytes = bases[i % bases.len()].clone();
        let rounds = if g.chance(0.6) { 1 } else { 2 + g.below(2) };
        for _ in 0..rounds {
            mutate_npy(&mut g, &mut bytes);
        }
        let shown = || format!("{:?}", String::from_utf8_lossy(&bytes));
        if let Some(a) = t.run(shown, || f64_from_npy_bytes(&bytes, "x")) {
            let header_and_data = bytes.len();
            assert!(
                a.len() * 8 <= header_and_data,
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    t
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

#[test]
fn mutated_specs_candidates_and_npy_bytes_never_panic() {
    let start = Instant::now();
    let specs = fuzz_specs(SPEC_CASES);
    let t_specs = start.elapsed();
    let cands = fuzz_candidates(CANDIDATE_CASES);
    let t_cands = start.elapsed() - t_specs;
    let npy = fuzz_npy(NPY_CASES);
    let t_npy = start.elapsed() - t_specs - t_cands;

    println!("{}", specs.parse.line("(a) Spec::from_json_str"));
    println!(
        "{}  ({} skipped as too large to train)",
        specs.train.line("(a) Spec::train"),
        specs.skipped
    );
    println!("{}", specs.check.line("(a) check_network sampled"));
    println!("{}", cands.parse.line("(b) compare::from_json"));
    println!("{}", cands.header_spec.line("(b) spec_to_compare (header)"));
    println!(
        "{}  ({} within tolerance)",
        cands.compare.line("(b) compare"),
        cands.passed
    );
    println!("{}", npy.line("(c) f64_from_npy_bytes"));
    println!(
        "time: specs {t_specs:.2?}, candidates {t_cands:.2?}, npy {t_npy:.2?}, total {:.2?}",
        start.elapsed()
    );

    let tallies = [
        ("Spec::from_json_str", &specs.parse),
        ("Spec::train", &specs.train),
        ("check_network", &specs.check),
        ("compare::from_json", &cands.parse),
        ("spec_to_compare", &cands.header_spec),
        ("compare", &cands.compare),
        ("f64_from_npy_bytes", &npy),
    ];
    let panics: Vec<String> = tallies
        .iter()
        .flat_map(|(name, t)| t.panics.iter().map(move |p| format!("{name}: {p}")))
        .collect();
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );

    let total = specs.parse.cases + cands.parse.cases + npy.cases;
    assert!(total >= 10_000, "{total} cases");
    // The mutations reach both sides of every parser.
    for (name, t) in [
        ("specs", &specs.parse),
        ("candidates", &cands.parse),
        ("npy", &npy),
    ] {
        assert!(t.ok * 20 >= t.cases, "{name}: too few Ok: {t:?}");
        assert!(t.err * 20 >= t.cases, "{name}: too few Err: {t:?}");
    }
    assert!(specs.train.ok >= 100, "{:?}", specs.train);
    assert!(specs.check.ok >= 20, "{:?}", specs.check);
    assert!(cands.compare.ok >= 100, "{:?}", cands.compare);
    assert!(cands.compare.err >= 10, "{:?}", cands.compare);
}

/// `Candidate::steps_needed` computes `1 + max s` over `step{s}_*` keys; with
/// `s = u64::MAX` the `+ 1` overflows: a panic where overflow checks are on (the `test`
/// profile, i.e. plain `cargo test`), a silent wrap to 0 in release builds (and then an
/// error that names the array rather than the out-of-range step).
#[test]
fn fixed_compare_step_u64_max_overflows() {
    let spec_text = std::fs::read_to_string(fixture("port/minibatch_spec.json")).expect("spec");
    let spec = Spec::from_json_str(&spec_text, "spec").expect("minibatch spec");
    let doc = json!({"steps": [{"step": u64::MAX, "loss": [1.0, 2.0, 3.0]}]});
    let result = catch_unwind(|| {
        let cand = from_json_str(&doc.to_string(), "candidate")?;
        compare(
            &spec,
            &cand,
            &CompareOptions {
                slack: Some(Tolerance {
                    rtol: 1e-9,
                    atol: 1e-12,
                }),
                ..CompareOptions::default()
            },
        )
    });
    let result = result.expect("no panic");
    let err = result
        .expect_err("step u64::MAX is beyond the run")
        .to_string();
    assert!(
        err.contains("18446744073709551615") && err.contains("updates"),
        "the error names the step beyond the run: {err}"
    );
}
