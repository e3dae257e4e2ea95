//! `backprop-oracle rng` against NumPy, bit for bit, and `docs/generator.md` against the
//! binary and the fixture.
//!
//! Fixture: `tests/fixtures/rng_vectors.json`, made by `python3 scripts/rng_vectors.py`
//! (NumPy's `MT19937()._legacy_seeding(s).random_raw`, `RandomState(s).random_sample`,
//! `RandomState(s).randn`, for seeds 0, 1 and 4294967295; floats as IEEE-754 bit
//! patterns in hex).

mod common;

use std::path::PathBuf;

use common::{run, stderr, stdout, success};
use serde_json::Value;

const SEEDS: [&str; 3] = ["0", "1", "4294967295"];
const KINDS: [&str; 3] = ["raw", "uniform", "randn"];

/// The fixture's draws of `kind` for `seed`, as bit patterns (raw words widened to u64).
fn want(fixture: &Value, seed: &str, kind: &str) -> Vec<u64> {
    let values = fixture["seeds"][seed][kind]
        .as_array()
        .expect("fixture array");
    values
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_u64().expect("raw word"),
            Value::String(s) => u64::from_str_radix(s, 16).expect("hex bits"),
            other => panic!("unexpected fixture value {other}"),
        })
        .collect()
}

/// One printed value as the fixture stores it: a raw word, or a double's bits. The text is
/// parsed with Rust's correctly rounding `str::parse`.
fn printed(kind: &str, text: &str) -> u64 {
    if kind == "raw" {
        u64::from(text.parse::<u32>().expect("a decimal u32"))
    } else {
        text.parse::<f64>().expect("a decimal double").to_bits()
    }
}

fn assert_same(what: &str, got: &[u64], want: &[u64]) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g,
            w,
            "{what}[{i}]: printed {:e} ({g:016x}), NumPy {:e} ({w:016x})",
            f64::from_bits(*g),
            f64::from_bits(*w)
        );
    }
}

#[test]
fn text_output_is_numpys_draws_bit_for_bit_for_every_seed_and_kind() {
    let fixture = common::fixture_json("rng_vectors.json");
    for seed in SEEDS {
        for kind in KINDS {
            let want = want(&fixture, seed, kind);
            assert!(want.len() >= 1000, "{seed} {kind}: fixture too short");
            let count = want.len().to_string();
            let out = success(&run(&[
                "rng", "--seed", seed, "--count", &count, "--kind", kind,
            ]));
            assert!(out.ends_with('\n'), "text ends with a newline");
            let got: Vec<u64> = out.lines().map(|l| printed(kind, l)).collect();
            assert_same(&format!("seed {seed} {kind}"), &got, &want);
            // Shortest round-trip: each line is exactly Rust's `{:?}` of the double.
            if kind != "raw" {
                for line in out.lines() {
                    let x: f64 = line.parse().expect("double");
                    assert_eq!(line, format!("{x:?}"), "not the shortest round-trip form");
                }
            }
        }
    }
}

#[test]
fn json_output_is_one_object_with_numpys_draws() {
    let fixture = common::fixture_json("rng_vectors.json");
    for seed in SEEDS {
        for kind in KINDS {
            let want = want(&fixture, seed, kind);
            let count = want.len().to_string();
            let out = success(&run(&[
                "rng", "--seed", seed, "--count", &count, "--kind", kind, "--format", "json",
            ]));
            assert_eq!(out.lines().count(), 1, "one line");
            let v: Value = serde_json::from_str(&out).expect("valid JSON");
            assert_eq!(
                v["seed"].as_u64().map(|s| s.to_string()).as_deref(),
                Some(seed)
            );
            assert_eq!(v["kind"], kind);
            assert_eq!(v["count"].as_u64(), Some(want.len() as u64));
            assert_eq!(v["values"].as_array().map(Vec::len), Some(want.len()));
            // The numbers' own text, parsed by `str::parse` (not through serde's f64).
            let inner = out
                .trim_end()
                .strip_suffix("]}")
                .and_then(|s| s.split_once("\"values\":["))
                .expect("values last")
                .1;
            let got: Vec<u64> = inner.split(',').map(|t| printed(kind, t)).collect();
            assert_same(&format!("seed {seed} {kind} json"), &got, &want);
        }
    }
}

#[test]
fn the_defaults_are_seed_0_ten_normals_as_text() {
    let fixture = common::fixture_json("rng_vectors.json");
    let out = success(&run(&["rng"]));
    let got: Vec<u64> = out.lines().map(|l| printed("randn", l)).collect();
    assert_same("defaults", &got, &want(&fixture, "0", "randn")[..10]);
}

/// Bad flags: exit 2, one line on stderr naming the flag, nothing on stdout.
#[test]
fn bad_flags_exit_2_with_one_line_naming_the_flag_and_no_stdout() {
    let cases: &[(&[&str], &str)] = &[
        (&["--seed", "-1"], "--seed"),
        (&["--seed", "4294967296"], "--seed"),
        (&["--seed", "1.5"], "--seed"),
        (&["--seed", ""], "--seed"),
        (&["--seed"], "--seed"),
        (&["--count", "0"], "--count"),
        (&["--count", "-3"], "--count"),
        (&["--count", "10000001"], "--count"),
        (&["--count", "99999999999999999999999"], "--count"),
        (&["--kind", "gauss"], "--kind"),
        (&["--format", "csv"], "--format"),
        (&["--seed", "1", "--count", "0"], "--count"),
    ];
    for (args, flag) in cases {
        let mut argv = vec!["rng"];
        argv.extend_from_slice(args);
        let o = run(&argv);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: exit code; stderr {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: stdout {:?}", stdout(&o));
        assert_eq!(err.lines().count(), 1, "{args:?}: one stderr line: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(flag),
            "{args:?}: stderr names {flag}: {err}"
        );
    }
}

/// The largest count is accepted (its first and last lines are checked; reading the
/// whole 10⁷-line output is the test's only cost).
#[test]
fn the_documented_maximum_count_is_accepted() {
    let o = run(&["rng", "--count", "10000000", "--kind", "raw"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 10_000_000);
    assert_eq!(out.lines().next(), Some("2357136044"));
}

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/generator.md");
    std::fs::read_to_string(path).expect("read docs/generator.md")
}

/// Every `$ backprop-oracle …` session in `docs/generator.md` is run: its output (stdout,
/// then stderr) must be the lines shown under it, and an `error:` line means exit 2.
#[test]
fn every_session_in_the_generator_doc_prints_what_the_doc_shows() {
    let doc = doc();
    let mut sessions: Vec<(String, String)> = Vec::new();
    for block in doc.split("```").skip(1).step_by(2) {
        for chunk in block.split("$ backprop-oracle ").skip(1) {
            let (command, shown) = chunk.split_once('\n').expect("a command line");
            sessions.push((command.to_string(), shown.to_string()));
        }
    }
    assert!(sessions.len() >= 5, "found {} sessions", sessions.len());
    for (command, shown) in sessions {
        assert!(
            !command.contains(['\'', '"']),
            "plain words only: {command}"
        );
        let args: Vec<&str> = command.split_whitespace().collect();
        let o = run(&args);
        let printed = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(printed, shown, "`backprop-oracle {command}`");
        let expected = if shown.starts_with("error: ") { 2 } else { 0 };
        assert_eq!(
            o.status.code(),
            Some(expected),
            "`backprop-oracle {command}`"
        );
    }
}

/// The doc's table of first draws is the fixture's (each value the fixture's, printed as
/// the binary prints it).
#[test]
fn the_generator_docs_test_vectors_are_the_fixtures() {
    let fixture = common::fixture_json("rng_vectors.json");
    let doc = doc();
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 5 || !SEEDS.contains(&cells[1]) {
            continue;
        }
        let (seed, kind) = (cells[1], cells[2]);
        let values: Vec<&str> = cells[3].split(", ").collect();
        let want = want(&fixture, seed, kind);
        for (i, text) in values.iter().enumerate() {
            assert_eq!(
                printed(kind, text),
                want[i],
                "doc table: seed {seed} {kind}[{i}]"
            );
            if kind != "raw" {
                let x = f64::from_bits(want[i]);
                assert_eq!(*text, format!("{x:?}"), "seed {seed} {kind}[{i}]");
            }
        }
        rows += 1;
    }
    assert_eq!(rows, 9, "three seeds × three kinds");
}
