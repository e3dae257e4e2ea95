//! Hostile input for every subcommand: malformed JSON, wrong types, unknown keys, shape
//! mismatches, non-finite numbers (as JSON text and inside hand-made `.npy`/`.npz` bytes),
//! empty and zero-length arrays, negative and absurd sizes, truncated files, directories
//! and unreadable paths where files are expected, deeply nested JSON, a sparse file over
//! 1 GiB, non-finite tolerances, existing output paths.
//!
//! Each case runs the real binary in its own temporary folder (its working directory, so
//! every path is relative) and must exit 2 with exactly one stderr line naming the field
//! or file, print nothing on stdout, never panic, finish in under 2 s, and leave the
//! folder exactly as the case made it (no partial outputs, no temporary files).
//!
//! Inputs that once exposed a bug in `src/` (a huge `--directions`, a `.npy` header with
//! a duplicated key, `/dev/zero` and FIFOs, an unbounded `--trace-steps`, …) have their
//! own `fixed_*` regression tests at the end of the file.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Every case must finish within this (absurd sizes and the 1 GiB file included).
const CASE_LIMIT: Duration = Duration::from_secs(2);

/// A child still running after this is killed (and the case fails as a hang).
const HANG_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Scratch folders and running the binary
// ---------------------------------------------------------------------------------------

mod common;
use common::{
    article_spec as article, article_with, crc32, f64_bytes, npy_dict as dict, npy_f64,
    npy_versioned, Scratch, BIN,
};

/// What a finished (or killed) child did.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    hung: bool,
}

/// Runs `cmd` with piped output, killing it after `limit`.
fn run_cmd(mut cmd: Command, limit: Duration) -> Outcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn backprop-oracle");
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut hung = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break s;
        }
        if start.elapsed() > limit {
            hung = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed child");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stdout = out_thread.join().expect("stdout reader");
    let stderr = err_thread.join().expect("stderr reader");
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
        hung,
    }
}

/// Runs the binary with `args` in `dir`.
fn run_in(dir: &Path, args: &[String], limit: Duration) -> Outcome {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    run_cmd(cmd, limit)
}

/// Every entry below `dir` (relative path, `/` for folders, and the length of files).
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(format!("{rel} ({} bytes)", meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The problems with `o` as the outcome of a bad input (empty: as required).
fn problems(o: &Outcome, needle: &str, limit: Duration) -> Vec<String> {
    let mut p = Vec::new();
    if o.hung {
        p.push(format!("hung: killed after {:?}", o.elapsed));
    }
    if o.code != Some(2) {
        p.push(format!("exit code {:?}, expected 2", o.code));
    }
    let one_line = o.stderr.ends_with('\n')
        && o.stderr.matches('\n').count() == 1
        && !o.stderr.trim().is_empty();
    if !one_line {
        p.push("stderr is not exactly one line".into());
    }
    if !o.stderr.starts_with("error: ") {
        p.push("stderr does not start with \"error: \"".into());
    }
    if !o.stderr.contains(needle) {
        p.push(format!("stderr does not contain {needle:?}"));
    }
    if o.stderr.contains("panicked") || o.stdout.contains("panicked") {
        p.push("panicked".into());
    }
    if !o.stdout.is_empty() {
        p.push(format!("stdout not empty: {:?}", truncate(&o.stdout)));
    }
    if o.elapsed > limit {
        p.push(format!("took {:?}, limit {limit:?}", o.elapsed));
    }
    p
}

fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(300).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

// ---------------------------------------------------------------------------------------
// Hand-made NumPy and zip bytes
// ---------------------------------------------------------------------------------------

/// A `.npy` v1 document with the header dict `dict` (padded with spaces and '\n' to a
/// multiple of 64 bytes), then `data`.
fn npy_raw(dict: &str, data: &[u8]) -> Vec<u8> {
    npy_versioned(1, dict, data)
}

/// One zip member: its name, its bytes, and the uncompressed size the archive declares
/// for it (`None`: the true size).
struct Member<'a> {
    name: &'a str,
    data: Vec<u8>,
    declared: Option<u32>,
}

fn member(name: &str, data: Vec<u8>) -> Member<'_> {
    Member {
        name,
        data,
        declared: None,
    }
}

/// An uncompressed zip archive (as `np.savez` writes).
fn zip_stored(members: &[Member]) -> Vec<u8> {
    let u16le = |v: usize| u16::try_from(v).expect("fits u16").to_le_bytes();
    let u32le = |v: usize| u32::try_from(v).expect("fits u32").to_le_bytes();
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len();
        let crc = crc32(&m.data).to_le_bytes();
        let size = m
            .declared
            .map_or_else(|| u32le(m.data.len()), u32::to_le_bytes);
        let name = m.name.as_bytes();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        out.extend_from_slice(&crc);
        out.extend_from_slice(&size);
        out.extend_from_slice(&size);
        out.extend_from_slice(&u16le(name.len()));
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(name);
        out.extend_from_slice(&m.data);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes()); // flags
        central.extend_from_slice(&0u16.to_le_bytes()); // stored
        central.extend_from_slice(&0u16.to_le_bytes()); // time
        central.extend_from_slice(&0x21u16.to_le_bytes()); // date
        central.extend_from_slice(&crc);
        central.extend_from_slice(&size);
        central.extend_from_slice(&size);
        central.extend_from_slice(&u16le(name.len()));
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&u32le(offset));
        central.extend_from_slice(name);
    }
    let central_offset = out.len();
    out.extend_from_slice(&central);
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&u16le(members.len()));
    out.extend_from_slice(&u16le(members.len()));
    out.extend_from_slice(&u32le(central.len()));
    out.extend_from_slice(&u32le(central_offset));
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

// ---------------------------------------------------------------------------------------
// The article's model and data
// ---------------------------------------------------------------------------------------

const ARTICLE_X: [f64; 8] = [1.0, 2.0, 2.0, 1.0, 3.0, 1.0, 1.0, 3.0];
const ARTICLE_Y: [f64; 4] = [4.0, 3.0, 5.0, 5.0];

/// The article's spec with `x` and `y` replaced.
fn article_xy(x: Value, y: Value) -> String {
    let mut v = article();
    v["x"] = x;
    v["y"] = y;
    v.to_string()
}

/// The article's `x` as a (4, 2) `.npy`, `y` as a (4,) `.npy`.
fn article_x_npy() -> Vec<u8> {
    npy_f64(&[4, 2], &ARTICLE_X)
}

fn article_y_npy() -> Vec<u8> {
    npy_f64(&[4], &ARTICLE_Y)
}

/// A candidate whose header spec would need 10^12 parameters.
fn absurd_header_spec() -> String {
    json!({"header": {"spec": {"sizes": [1, 1_000_000, 1_000_000, 1],
            "activations": ["relu", "relu", "identity"], "x": [[0]], "y": [1]}},
           "loss": [1.0]})
    .to_string()
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// An input a case creates in its folder before running.
enum Input {
    Bytes(Vec<u8>),
    Dir,
    /// A sparse file of this many bytes (nothing is written).
    Sparse(u64),
}

/// One hostile input: the files it makes, the arguments (paths relative to the case's
/// folder, which is the working directory) and a substring of the one stderr line.
struct Case {
    name: String,
    files: Vec<(String, Input)>,
    args: Vec<String>,
    needle: String,
}

fn case(name: &str, args: &[&str], needle: &str) -> Case {
    Case {
        name: name.to_string(),
        files: Vec::new(),
        args: args.iter().map(|s| s.to_string()).collect(),
        needle: needle.to_string(),
    }
}

impl Case {
    fn file(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Case {
        self.files
            .push((name.to_string(), Input::Bytes(bytes.into())));
        self
    }

    fn dir(mut self, name: &str) -> Case {
        self.files.push((name.to_string(), Input::Dir));
        self
    }

    fn sparse(mut self, name: &str, len: u64) -> Case {
        self.files.push((name.to_string(), Input::Sparse(len)));
        self
    }

    /// Creates the inputs in `dir`.
    fn create(&self, dir: &Path) {
        for (name, input) in &self.files {
            let p = dir.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("input parent");
            }
            match input {
                Input::Bytes(b) => std::fs::write(&p, b).expect("write input"),
                Input::Dir => std::fs::create_dir_all(&p).expect("input dir"),
                Input::Sparse(len) => {
                    let f = std::fs::File::create(&p).expect("create sparse file");
                    f.set_len(*len).expect("set_len");
                }
            }
        }
    }
}

/// `train --model spec.json` with `spec` as the file's text.
fn train_spec(name: &str, spec: impl Into<Vec<u8>>, needle: &str) -> Case {
    case(name, &["train", "--model", "spec.json"], needle).file("spec.json", spec)
}

/// A spec whose `x` and `y` name files (relative to the spec file).
fn npy_spec(x: &str, y: &str) -> String {
    article_xy(json!(x), json!(y))
}

fn cases() -> Vec<Case> {
    let one_million_zeros = format!("[[{}0]]", "0,".repeat(999_999));
    let deep = "[".repeat(100_000);
    let deep_in_x =
        format!("{{\"sizes\": [2, 3, 1], \"activations\": [\"relu\", \"identity\"], \"x\": {deep}");
    let sparse_len = (1u64 << 30) + 1;
    let nan_x = {
        let mut x = ARTICLE_X;
        x[1] = f64::NAN;
        npy_f64(&[4, 2], &x)
    };
    let inf_y = {
        let mut y = ARTICLE_Y;
        y[2] = f64::INFINITY;
        npy_f64(&[4], &y)
    };
    let neg_inf_x = {
        let mut x = ARTICLE_X;
        x[6] = f64::NEG_INFINITY;
        npy_f64(&[4, 2], &x)
    };
    let good_npz = zip_stored(&[
        member("x.npy", article_x_npy()),
        member("y.npy", article_y_npy()),
    ]);
    let corrupt_npz = {
        // One data byte of x changed after the CRC was computed.
        let mut z = good_npz.clone();
        let x_npy = article_x_npy();
        let at = 30 + "x.npy".len() + x_npy.len() - 3;
        z[at] ^= 0x40;
        z
    };
    let w1 = [
        1.764_052_345_967_664,
        0.400_157_208_367_223_3,
        0.978_737_984_105_739_2,
        2.240_893_199_201_458,
        1.867_557_990_149_967_5,
        -0.977_277_879_876_411,
    ];
    let i8_member = zip_stored(&[member(
        "W1_init.npy",
        npy_raw(&dict("<i8", "(3, 2)"), &[0u8; 48]),
    )]);
    let unknown_member = zip_stored(&[member("velocity.npy", npy_f64(&[2], &[1.0, 2.0]))]);
    let huge_member = zip_stored(&[
        Member {
            name: "x.npy",
            data: article_x_npy(),
            declared: Some(0xFFFF_FFF0),
        },
        member("y.npy", article_y_npy()),
    ]);
    // Two members declaring 2²⁹ bytes each: exactly the 1 GiB an archive may declare in
    // all (so not refused as a whole), each member then found short of its declared size.
    let exactly_1gib = zip_stored(&[
        Member {
            name: "W1_init.npy",
            data: npy_f64(&[3, 2], &w1),
            declared: Some(1 << 29),
        },
        Member {
            name: "W2_init.npy",
            data: npy_f64(&[1, 3], &w1[..3]),
            declared: Some(1 << 29),
        },
    ]);
    let dup_shape = npy_raw(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), 'shape': (1099511627776, 2), }",
        &f64_bytes(&w1),
    );
    let dup_shape_npz = zip_stored(&[member("W1_init.npy", dup_shape.clone())]);
    let dup_shape_x_npz =
        zip_stored(&[member("x.npy", dup_shape), member("y.npy", article_y_npy())]);
    let loss_twice = zip_stored(&[
        member("loss.npy", npy_f64(&[1], &[1.0])),
        member("loss.npy", npy_f64(&[1], &[2.0])),
    ]);
    let loss_and_loss_npy = zip_stored(&[
        member("loss", npy_f64(&[1], &[1.0])),
        member("loss.npy", npy_f64(&[1], &[2.0])),
    ]);
    // A deflated member whose header says (1,) but which inflates to 1,000,000 values:
    // the archive declares the header and one value.
    let inflating = {
        let mut data = npy_raw(&dict("<f8", "(1,)"), &[]);
        let declared = data.len() + 8;
        data.resize(data.len() + 8_000_000, 0);
        zip_deflated("loss.npy", &data, declared)
    };
    // A deflated member whose header claims more data than the archive declares.
    let declared_short = {
        let data = npy_f64(&[1000], &[0.5; 1000]);
        zip_deflated("loss.npy", &data, 200)
    };
    // A well-formed candidate (its values need not match: the flags are refused first).
    let trajectory =
        json!({"initial": {"layers": [{"W": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}]}}).to_string();

    vec![
        // ---- train: JSON syntax and text ------------------------------------------------
        train_spec(
            "truncated JSON",
            r#"{"sizes": [2, 3, 1],"#,
            "spec.json: EOF while parsing",
        ),
        train_spec("empty spec file", "", "spec.json: EOF while parsing"),
        train_spec("byte-order mark", "\u{feff}{}", "spec.json"),
        train_spec(
            "not UTF-8",
            b"{\"sizes\": \"\xff\xfe\"}".to_vec(),
            "spec.json: is not UTF-8",
        ),
        train_spec(
            "NaN literal in x",
            r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[NaN, 1]], "y": [1]}"#,
            "spec.json: expected value",
        ),
        train_spec(
            "Infinity literal in y",
            r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[0, 1]], "y": [Infinity]}"#,
            "spec.json: expected value",
        ),
        train_spec(
            "-Infinity literal as lr",
            r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[0, 1]], "y": [1], "lr": -Infinity}"#,
            "spec.json",
        ),
        train_spec(
            "1e999 overflows f64",
            r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[1e999, 1]], "y": [1]}"#,
            "spec.json: number out of range",
        ),
        train_spec(
            "100000 nested arrays",
            deep.clone(),
            "recursion limit exceeded",
        ),
        train_spec(
            "deep nesting inside x",
            deep_in_x,
            "recursion limit exceeded",
        ),
        train_spec("top-level null", "null", "spec: must be a JSON object"),
        // ---- train: types, keys, shapes -------------------------------------------------
        train_spec(
            "sizes is a string",
            article_with("sizes", json!("2-3-1")),
            "spec.sizes",
        ),
        train_spec(
            "epochs is fractional",
            article_with("epochs", json!(1.5)),
            "spec.epochs",
        ),
        train_spec(
            "lr is a string",
            article_with("lr", json!("0.01")),
            "spec.lr",
        ),
        train_spec(
            "activations is an object",
            article_with("activations", json!({"0": "relu"})),
            "spec.activations",
        ),
        train_spec(
            "seed is a boolean",
            article_with("seed", json!(true)),
            "spec.seed",
        ),
        train_spec(
            "unknown key",
            article_with("learning_rate", json!(0.1)),
            "spec.learning_rate",
        ),
        train_spec(
            "x row of the wrong width",
            article_with("x", json!([[1, 2], [2, 1, 0], [3, 1], [1, 3]])),
            "spec.x[1]",
        ),
        train_spec(
            "more targets than samples",
            article_with("y", json!([4, 3, 5, 5, 6])),
            "spec.y",
        ),
        train_spec("x is empty", article_with("x", json!([])), "spec.x"),
        train_spec("y is empty", article_with("y", json!([])), "spec.y"),
        train_spec(
            "x holds an empty row",
            article_xy(json!([[]]), json!([1])),
            "spec.x[0]",
        ),
        train_spec(
            "negative size",
            article_with("sizes", json!([2, -3, 1])),
            "spec.sizes[1]",
        ),
        train_spec(
            "sizes written as floats 1e6",
            article_with("sizes", json!([1e6, 1e6, 1])),
            "spec.sizes[0]",
        ),
        train_spec(
            "sizes [1000000, 1000000, 1] (10^12 parameters) refused before allocating",
            format!(
                r#"{{"sizes": [1000000, 1000000, 1], "activations": ["relu", "identity"], "x": {one_million_zeros}, "y": [1]}}"#
            ),
            "spec.sizes",
        ),
        train_spec(
            "sizes [1, 10^6, 10^6, 1] refused before allocating",
            json!({"sizes": [1, 1_000_000, 1_000_000, 1],
                   "activations": ["relu", "relu", "identity"], "x": [[0]], "y": [1]})
            .to_string(),
            "spec.sizes",
        ),
        train_spec(
            "a size of u64::MAX",
            json!({"sizes": [1, u64::MAX, 1], "activations": ["relu", "identity"],
                   "x": [[0]], "y": [1]})
            .to_string(),
            "spec.sizes",
        ),
        // ---- train: .npy / .npz data ----------------------------------------------------
        train_spec(
            "NaN inside x.npy",
            npy_spec("x.npy", "y.npy"),
            "spec.x (x.npy)[0][1]",
        )
        .file("x.npy", nan_x.clone())
        .file("y.npy", article_y_npy()),
        train_spec(
            "inf inside y.npy",
            npy_spec("x.npy", "y.npy"),
            "spec.y (y.npy)[2][0]",
        )
        .file("x.npy", article_x_npy())
        .file("y.npy", inf_y),
        train_spec(
            "-inf inside x of an .npz",
            npy_spec("d.npz", "d.npz"),
            "spec.x (d.npz)[3][0]",
        )
        .file(
            "d.npz",
            zip_stored(&[member("x.npy", neg_inf_x), member("y.npy", article_y_npy())]),
        ),
        train_spec(
            "zero-length x.npy (0, 2)",
            npy_spec("x.npy", "y.npy"),
            "spec.x (x.npy)",
        )
        .file("x.npy", npy_f64(&[0, 2], &[]))
        .file("y.npy", article_y_npy()),
        train_spec(
            "zero-length y.npy (0,)",
            npy_spec("x.npy", "y.npy"),
            "spec.y (y.npy)",
        )
        .file("x.npy", article_x_npy())
        .file("y.npy", npy_f64(&[0], &[])),
        train_spec(
            "x.npy with 3 columns",
            npy_spec("x.npy", "y.npy"),
            "spec.x (x.npy)",
        )
        .file("x.npy", npy_f64(&[4, 3], &[0.5; 12]))
        .file("y.npy", article_y_npy()),
        train_spec(
            "x.npy is 1-D for two inputs",
            npy_spec("x.npy", "y.npy"),
            "spec.x (x.npy)",
        )
        .file("x.npy", npy_f64(&[8], &ARTICLE_X))
        .file("y.npy", article_y_npy()),
        train_spec("x.npy is 3-D", npy_spec("x.npy", "y.npy"), "spec.x (x.npy)")
            .file("x.npy", npy_f64(&[4, 2, 1], &ARTICLE_X))
            .file("y.npy", article_y_npy()),
        train_spec(
            "y.npy has 3 targets for 4 samples",
            npy_spec("x.npy", "y.npy"),
            "spec.y",
        )
        .file("x.npy", article_x_npy())
        .file("y.npy", npy_f64(&[3], &[1.0, 2.0, 3.0])),
        train_spec(
            "negative shape in x.npy",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file(
            "x.npy",
            npy_raw(&dict("<f8", "(-4, 2)"), &f64_bytes(&ARTICLE_X)),
        )
        .file("y.npy", article_y_npy()),
        train_spec(
            "absurd shape in x.npy (10^12 rows, 64 bytes)",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file(
            "x.npy",
            npy_raw(&dict("<f8", "(1000000000000, 2)"), &f64_bytes(&ARTICLE_X)),
        )
        .file("y.npy", article_y_npy()),
        train_spec(
            "overflowing shape in x.npy",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file(
            "x.npy",
            npy_raw(
                &dict("<f8", "(18446744073709551615, 18446744073709551615)"),
                &f64_bytes(&ARTICLE_X),
            ),
        )
        .file("y.npy", article_y_npy()),
        train_spec("truncated x.npy", npy_spec("x.npy", "y.npy"), "x.npy")
            .file(
                "x.npy",
                article_x_npy()[..article_x_npy().len() - 5].to_vec(),
            )
            .file("y.npy", article_y_npy()),
        train_spec(
            "x.npy cut inside its header",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file("x.npy", article_x_npy()[..40].to_vec())
        .file("y.npy", article_y_npy()),
        train_spec("x.npy is int64", npy_spec("x.npy", "y.npy"), "x.npy")
            .file("x.npy", npy_raw(&dict("<i8", "(4, 2)"), &[1u8; 64]))
            .file("y.npy", article_y_npy()),
        train_spec("x.npy is big-endian", npy_spec("x.npy", "y.npy"), "x.npy")
            .file("x.npy", npy_raw(&dict(">f8", "(4, 2)"), &[0u8; 64]))
            .file("y.npy", article_y_npy()),
        train_spec("x.npy is float32", npy_spec("x.npy", "y.npy"), "x.npy")
            .file("x.npy", npy_raw(&dict("<f4", "(4, 2)"), &[0u8; 32]))
            .file("y.npy", article_y_npy()),
        train_spec(
            "x.npy with format version 9",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file(
            "x.npy",
            npy_versioned(9, &dict("<f8", "(4, 2)"), &f64_bytes(&ARTICLE_X)),
        )
        .file("y.npy", article_y_npy()),
        train_spec(
            "x.npy without the magic",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file("x.npy", b"PK\x03\x04 this is not numpy".to_vec())
        .file("y.npy", article_y_npy()),
        train_spec("truncated .npz", npy_spec("d.npz", "d.npz"), "d.npz")
            .file("d.npz", good_npz[..good_npz.len() / 2].to_vec()),
        train_spec(
            ".npz without member y",
            npy_spec("d.npz", "d.npz"),
            "d.npz[y]",
        )
        .file("d.npz", zip_stored(&[member("x.npy", article_x_npy())])),
        train_spec(
            ".npz member declaring 4 GiB",
            npy_spec("d.npz", "d.npz"),
            "d.npz",
        )
        .file("d.npz", huge_member),
        train_spec(
            ".npz member with a bad CRC",
            npy_spec("d.npz", "d.npz"),
            "d.npz[x]",
        )
        .file("d.npz", corrupt_npz),
        // ---- train: paths ---------------------------------------------------------------
        case(
            "--model is a directory",
            &["train", "--model", "folder"],
            "folder: is a directory",
        )
        .dir("folder"),
        case(
            "--model does not exist",
            &["train", "--model", "missing.json"],
            "missing.json",
        ),
        case(
            "--model through a regular file (ENOTDIR)",
            &["train", "--model", "file.json/spec.json"],
            "file.json/spec.json",
        )
        .file("file.json", "{}"),
        train_spec(
            "x names a directory",
            npy_spec("data", "y.npy"),
            "data: is a directory",
        )
        .dir("data")
        .file("y.npy", article_y_npy()),
        train_spec(
            "x names a directory called x.npz",
            npy_spec("x.npz", "x.npz"),
            "x.npz: is a directory",
        )
        .dir("x.npz"),
        train_spec(
            "x through a regular file (ENOTDIR)",
            npy_spec("file.json/x.npy", "y.npy"),
            "file.json/x.npy",
        )
        .file("file.json", "{}")
        .file("y.npy", article_y_npy()),
        train_spec(
            "x names a missing file",
            npy_spec("nope.npy", "y.npy"),
            "nope.npy",
        )
        .file("y.npy", article_y_npy()),
        case(
            "spec file over 1 GiB (sparse)",
            &["train", "--model", "huge.json"],
            "1 GiB",
        )
        .sparse("huge.json", sparse_len),
        train_spec(
            "x.npy over 1 GiB (sparse)",
            npy_spec("x.npy", "y.npy"),
            "x.npy: is 1073741825 bytes",
        )
        .sparse("x.npy", sparse_len)
        .file("y.npy", article_y_npy()),
        // ---- train: flags and outputs ---------------------------------------------------
        case("--lr nan", &["train", "--lr", "nan"], "--lr"),
        case("--lr=-inf", &["train", "--lr=-inf"], "--lr"),
        case("--epochs -1", &["train", "--epochs", "-1"], "-1"),
        case(
            "--batch-size 0",
            &["train", "--batch-size", "0"],
            "--batch-size",
        ),
        case(
            "--epochs 2^64-1 (loss history) refused before allocating",
            &["train", "--epochs", "18446744073709551615"],
            "--epochs",
        ),
        case(
            "--plot inside a missing folder (json)",
            &["train", "--format", "json", "--plot", "missing/loss.svg"],
            "missing/loss.svg",
        ),
        case(
            "--plot through a regular file (json)",
            &["train", "--format", "json", "--plot", "file.json/loss.svg"],
            "file.json/loss.svg",
        )
        .file("file.json", "{}"),
        case(
            "--plot onto a directory (json)",
            &["train", "--format", "json", "--plot", "plots"],
            "plots",
        )
        .dir("plots"),
        case(
            "--log-scale with a zero loss (json)",
            &[
                "train",
                "--model",
                "zero.json",
                "--format",
                "json",
                "--plot",
                "p.svg",
                "--log-scale",
            ],
            "--log-scale",
        )
        .file(
            "zero.json",
            json!({"sizes": [1, 1, 1], "activations": ["identity", "identity"],
                   "x": [[0]], "y": [0], "epochs": 3})
            .to_string(),
        ),
        // ---- gradient-check -------------------------------------------------------------
        case(
            "gc: bad JSON",
            &["gradient-check", "--model", "spec.json"],
            "spec.json",
        )
        .file("spec.json", "{\"sizes\": [2, 3, 1]"),
        case(
            "gc: NaN literal",
            &["gradient-check", "--model", "spec.json"],
            "spec.json",
        )
        .file(
            "spec.json",
            article_with("x", json!(0)).replace("\"x\":0", "\"x\":[[NaN,1]]"),
        ),
        case(
            "gc: deep nesting",
            &["gradient-check", "--model", "spec.json"],
            "recursion limit",
        )
        .file("spec.json", deep.clone()),
        case(
            "gc: --model is a directory",
            &["gradient-check", "--model", "m"],
            "m: is a directory",
        )
        .dir("m"),
        case(
            "gc: NaN in x.npy",
            &["gradient-check", "--model", "spec.json"],
            "spec.x (x.npy)",
        )
        .file("spec.json", npy_spec("x.npy", "y.npy"))
        .file("x.npy", nan_x.clone())
        .file("y.npy", article_y_npy()),
        case(
            "gc: absurd sizes",
            &["gradient-check", "--model", "spec.json"],
            "spec.sizes",
        )
        .file(
            "spec.json",
            json!({"sizes": [1, 1_000_000, 1_000_000, 1],
                       "activations": ["tanh", "tanh", "identity"], "x": [[0]], "y": [1]})
            .to_string(),
        ),
        case(
            "gc: spec over 1 GiB (sparse)",
            &["gradient-check", "--model", "huge.json"],
            "1 GiB",
        )
        .sparse("huge.json", sparse_len),
        case(
            "gc: --at-epochs beyond epochs",
            &["gradient-check", "--at-epochs", "1001"],
            "--at-epochs",
        ),
        case(
            "gc: --at-epochs beyond --epochs 2",
            &["gradient-check", "--epochs", "2", "--at-epochs", "0,3"],
            "--at-epochs",
        ),
        case(
            "gc: --at-epochs empty",
            &["gradient-check", "--at-epochs", ""],
            "--at-epochs",
        ),
        case(
            "gc: --at-epochs -1",
            &["gradient-check", "--at-epochs", "-1"],
            "-1",
        ),
        case(
            "gc: --rtol nan",
            &["gradient-check", "--rtol", "nan"],
            "--rtol",
        ),
        case(
            "gc: --atol inf",
            &["gradient-check", "--atol", "inf"],
            "--atol",
        ),
        case(
            "gc: --fd-rtol -1",
            &["gradient-check", "--fd-rtol", "-1"],
            "--fd-rtol",
        ),
        case(
            "gc: --fd-atol nan",
            &["gradient-check", "--fd-atol", "nan"],
            "--fd-atol",
        ),
        case("gc: --step 0", &["gradient-check", "--step", "0"], "--step"),
        case(
            "gc: --step nan",
            &["gradient-check", "--step", "nan"],
            "--step",
        ),
        case("gc: --step 1", &["gradient-check", "--step", "1"], "--step"),
        case(
            "gc: --samples 0",
            &["gradient-check", "--mode", "sampled", "--samples", "0"],
            "--samples",
        ),
        case(
            "gc: --directions 0",
            &[
                "gradient-check",
                "--mode",
                "directional",
                "--directions",
                "0",
            ],
            "--directions",
        ),
        case(
            "gc: --inject-bug nope",
            &["gradient-check", "--inject-bug", "nope"],
            "--inject-bug",
        ),
        case(
            "gc: --batch-size 0",
            &["gradient-check", "--batch-size", "0"],
            "--batch-size",
        ),
        case(
            "gc: --mode fast",
            &["gradient-check", "--mode", "fast"],
            "--mode",
        ),
        case("gc: --lr nan", &["gradient-check", "--lr", "nan"], "--lr"),
        // ---- export ---------------------------------------------------------------------
        case(
            "export: --out is an existing file",
            &["export", "--out", "taken"],
            "--out",
        )
        .file("taken", "mine"),
        case(
            "export: --out is an existing file, --force",
            &["export", "--out", "taken", "--force"],
            "--out",
        )
        .file("taken", "mine"),
        case(
            "export: --out is an existing folder",
            &["export", "--out", "golden"],
            "--force",
        )
        .file("golden/keep.txt", "mine"),
        case(
            "export: --out inside a missing folder",
            &["export", "--out", "missing/golden"],
            "--out",
        ),
        case(
            "export: --out through a regular file",
            &["export", "--out", "file.json/golden"],
            "--out",
        )
        .file("file.json", "{}"),
        case(
            "export: --out . --force",
            &["export", "--out", ".", "--force"],
            "--out",
        ),
        case(
            "export: bad model, no output left",
            &["export", "--out", "golden", "--model", "spec.json"],
            "spec.sizes[1]",
        )
        .file("spec.json", article_with("sizes", json!([2, 0, 1]))),
        case(
            "export: NaN in x.npy",
            &["export", "--out", "golden", "--model", "spec.json"],
            "spec.x (x.npy)",
        )
        .file("spec.json", npy_spec("x.npy", "y.npy"))
        .file("x.npy", nan_x.clone())
        .file("y.npy", article_y_npy()),
        case(
            "export: --model is a directory",
            &["export", "--out", "golden", "--model", "m"],
            "m: is a directory",
        )
        .dir("m"),
        case(
            "export: spec over 1 GiB (sparse)",
            &["export", "--out", "golden", "--model", "huge.json"],
            "1 GiB",
        )
        .sparse("huge.json", sparse_len),
        case(
            "export: deep nesting",
            &["export", "--out", "golden", "--model", "spec.json"],
            "recursion limit",
        )
        .file("spec.json", deep.clone()),
        case(
            "export: --epochs 0",
            &["export", "--out", "golden", "--epochs", "0"],
            "--epochs",
        ),
        case(
            "export: --lr -1",
            &["export", "--out", "golden", "--lr", "-1"],
            "--lr",
        ),
        case(
            "export: --trace-steps -1",
            &["export", "--out", "golden", "--trace-steps", "-1"],
            "-1",
        ),
        case("export: no --out", &["export"], "--out"),
        // ---- compare --------------------------------------------------------------------
        case(
            "compare: missing file",
            &["compare", "missing.json"],
            "missing.json",
        ),
        case(
            "compare: a directory",
            &["compare", "cand"],
            "cand: is a directory",
        )
        .dir("cand"),
        case(
            "compare: a directory called .npz",
            &["compare", "cand.npz"],
            "cand.npz: is a directory",
        )
        .dir("cand.npz"),
        case(
            "compare: through a regular file",
            &["compare", "file.json/c.json"],
            "file.json/c.json",
        )
        .file("file.json", "{}"),
        case(
            "compare: over 1 GiB (sparse)",
            &["compare", "huge.json"],
            "1 GiB",
        )
        .sparse("huge.json", sparse_len),
        case(
            "compare: .npz over 1 GiB (sparse)",
            &["compare", "huge.npz"],
            "1 GiB",
        )
        .sparse("huge.npz", sparse_len),
        case(
            "compare: .npz declaring exactly 1 GiB in all",
            &["compare", "c.npz", "--model", "article"],
            "c.npz[W1_init]",
        )
        .file("c.npz", exactly_1gib),
        case("compare: truncated JSON", &["compare", "c.json"], "c.json")
            .file("c.json", r#"{"loss": [10.8979, 1.04"#),
        // NaN, Infinity and null are read as non-finite values (judged, see
        // tests/non_finite.rs), but not where the schema wants whole numbers.
        case(
            "compare: null sample index",
            &["compare", "c.json"],
            "c.json: step 0, samples[0]: must be a whole number, got NaN",
        )
        .file("c.json", r#"{"steps": [{"step": 0, "samples": [null]}]}"#),
        case(
            "compare: deep nesting",
            &["compare", "c.json"],
            "recursion limit",
        )
        .file("c.json", format!("{{\"loss\": {deep}")),
        case("compare: top-level array", &["compare", "c.json"], "c.json").file("c.json", "[1, 2]"),
        case(
            "compare: unknown top-level key",
            &["compare", "c.json"],
            "c.json.weights",
        )
        .file("c.json", r#"{"weights": [1]}"#),
        case(
            "compare: string for a number",
            &["compare", "c.json"],
            "c.json.loss[1]",
        )
        .file("c.json", r#"{"loss": [10.8, "1.04"]}"#),
        case(
            "compare: ragged W",
            &["compare", "c.json"],
            "c.json.initial.layers[0].W[1]",
        )
        .file(
            "c.json",
            r#"{"initial": {"layers": [{"W": [[1, 2], [3], [5, 6]]}]}}"#,
        ),
        case(
            "compare: W of the wrong shape",
            &["compare", "c.json", "--model", "article"],
            "layers[0].W",
        )
        .file("c.json", r#"{"initial": {"layers": [{"W": [[1, 2, 3]]}]}}"#),
        case(
            "compare: W nested three deep",
            &["compare", "c.json"],
            "c.json.initial.layers[0].W[0][0]",
        )
        .file(
            "c.json",
            r#"{"initial": {"layers": [{"W": [[[1], [2]]]}]}}"#,
        ),
        case(
            "compare: step beyond the run",
            &["compare", "c.json"],
            "candidate",
        )
        .file("c.json", r#"{"steps": [{"step": 999999, "loss": [1]}]}"#),
        case(
            "compare: negative step",
            &["compare", "c.json"],
            "c.json.steps[0].step",
        )
        .file("c.json", r#"{"steps": [{"step": -1, "loss": [1]}]}"#),
        case(
            "compare: holds nothing",
            &["compare", "c.json"],
            "candidate",
        )
        .file("c.json", "{}"),
        // The field should be `candidate.header.spec.sizes`: see the ignored test below.
        case(
            "compare: header spec with absurd sizes",
            &["compare", "c.json"],
            "spec.sizes",
        )
        .file("c.json", absurd_header_spec()),
        case(
            "compare: header spec with an unknown key",
            &["compare", "c.json"],
            "candidate.header.spec.foo",
        )
        .file(
            "c.json",
            json!({"header": {"spec": {"sizes": [2, 3, 1], "activations": ["relu", "identity"],
                        "x": [[1, 2]], "y": [1], "foo": 1}}, "loss": [1.0]})
            .to_string(),
        ),
        case(
            "compare: header spec x through a regular file",
            &["compare", "c.json"],
            "file.json/x.npy",
        )
        .file("file.json", "{}")
        .file(
            "c.json",
            json!({"header": {"spec": {"sizes": [2, 3, 1], "activations": ["relu", "identity"],
                        "x": "file.json/x.npy", "y": [1, 2, 3, 4]}}, "loss": [1.0]})
            .to_string(),
        ),
        // NaN and inf inside an .npz are judged (tests/non_finite.rs), not refused.
        case("compare: truncated .npz", &["compare", "c.npz"], "c.npz")
            .file("c.npz", good_npz[..good_npz.len() - 30].to_vec()),
        case(
            // float32 members are a float32 port's (compared as such); int64 weights are not.
            "compare: int64 weights",
            &["compare", "c.npz", "--model", "article"],
            "c.npz[W1_init]",
        )
        .file("c.npz", i8_member),
        case(
            "compare: unknown .npz member",
            &["compare", "c.npz"],
            "velocity",
        )
        .file("c.npz", unknown_member),
        case(
            "compare: --rtol nan",
            &["compare", "c.json", "--rtol", "nan"],
            "--rtol",
        )
        .file("c.json", trajectory.clone()),
        case(
            "compare: --atol -1",
            &["compare", "c.json", "--atol", "-1"],
            "--atol",
        )
        .file("c.json", trajectory.clone()),
        case(
            "compare: --rtol inf",
            &["compare", "c.json", "--rtol", "inf"],
            "--rtol",
        )
        .file("c.json", trajectory.clone()),
        case(
            "compare: --model is a directory",
            &["compare", "c.json", "--model", "m"],
            "m: is a directory",
        )
        .file("c.json", trajectory.clone())
        .dir("m"),
        case(
            "compare: --epochs 0",
            &["compare", "c.json", "--epochs", "0", "--model", "article"],
            "--epochs",
        )
        .file("c.json", trajectory),
        case("compare: no candidate", &["compare"], "CANDIDATE"),
        // ---- strict schema, duplicates, inflation (data safety) -------------------------
        case(
            "compare: schema_version 3",
            &["compare", "c.json"],
            "c.json.schema_version",
        )
        .file("c.json", r#"{"schema_version": 3, "loss": [1]}"#),
        case(
            "compare: schema_version \"1\"",
            &["compare", "c.json"],
            "c.json.schema_version",
        )
        .file("c.json", r#"{"schema_version": "1", "loss": [1]}"#),
        case(
            "compare: a wrong format",
            &["compare", "c.json"],
            "c.json.format",
        )
        .file("c.json", r#"{"format": "my port", "loss": [1]}"#),
        case(
            "compare: epoch \"banana\"",
            &["compare", "c.json"],
            "c.json.steps[0].epoch",
        )
        .file(
            "c.json",
            r#"{"steps": [{"step": 0, "epoch": "banana", "loss": [1]}]}"#,
        ),
        case(
            "compare: two steps claim step 0",
            &["compare", "c.json"],
            "c.json.steps[1].step",
        )
        .file(
            "c.json",
            r#"{"steps": [{"step": 0, "loss": [1]}, {"step": 0, "loss": [2]}]}"#,
        ),
        case(
            "compare: a JSON key given twice",
            &["compare", "c.json"],
            "duplicate key \"loss\"",
        )
        .file("c.json", r#"{"loss": [1], "loss": [2]}"#),
        case(
            "compare: loss.npy twice in an .npz",
            &["compare", "c.npz"],
            "c.npz",
        )
        .file("c.npz", loss_twice),
        case(
            "compare: loss and loss.npy in an .npz",
            &["compare", "c.npz"],
            "c.npz[loss]",
        )
        .file("c.npz", loss_and_loss_npy),
        case(
            "compare: duplicated shape key in an .npz member",
            &["compare", "c.npz"],
            "c.npz[W1_init]",
        )
        .file("c.npz", dup_shape_npz),
        case(
            "compare: a member that inflates past its declared size",
            &["compare", "c.npz"],
            "inflates to more than its declared size",
        )
        .file("c.npz", inflating),
        case(
            "compare: a member whose header needs more than declared",
            &["compare", "c.npz"],
            "c.npz[loss]",
        )
        .file("c.npz", declared_short),
        case(
            "compare: header spec asks for 10^8 epochs",
            &["compare", "c.json"],
            "--max-steps",
        )
        .file(
            "c.json",
            json!({"header": {"spec": {"sizes": [2, 3, 1], "activations": ["relu", "identity"],
                            "x": [[1, 2]], "y": [1], "epochs": 100_000_000}}, "loss": [1.0]})
            .to_string(),
        ),
        train_spec(
            "duplicated shape key in an x .npz member",
            npy_spec("d.npz", "d.npz"),
            "d.npz[x]",
        )
        .file("d.npz", dup_shape_x_npz),
        train_spec(
            "a spec key given twice",
            r#"{"sizes": [2, 3, 1], "sizes": [2, 3, 1]}"#,
            "duplicate key \"sizes\"",
        ),
        case(
            "gc: --step 1e-300 rounds to zero",
            &["gradient-check", "--step", "1e-300"],
            "--step: 1e-300 rounds to zero",
        ),
        case(
            "gc: --at-epochs 134000000",
            &["gradient-check", "--at-epochs", "134000000"],
            "--at-epochs",
        ),
    ]
}

/// A zip archive with one deflated member whose declared (uncompressed) size, in both
/// the local header and the central directory, is set to `declared`.
fn zip_deflated(name: &str, data: &[u8], declared: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).expect("start member");
    w.write_all(data).expect("write member");
    let mut z = w.finish().expect("finish zip").into_inner();
    let size = u32::try_from(declared).expect("fits u32").to_le_bytes();
    assert_eq!(&z[..4], &0x0403_4b50u32.to_le_bytes(), "local header first");
    z[22..26].copy_from_slice(&size);
    let central = z
        .windows(4)
        .rposition(|w| w == 0x0201_4b50u32.to_le_bytes())
        .expect("central directory");
    z[central + 24..central + 28].copy_from_slice(&size);
    z
}

#[test]
fn every_malformed_input_exits_2_with_one_line() {
    let s = Scratch::new("table");
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for sub in ["train", "gradient-check", "export", "compare"] {
        let n = cases
            .iter()
            .filter(|c| c.args.first().map(String::as_str) == Some(sub))
            .count();
        assert!(n >= 10, "only {n} cases for {sub}");
    }
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let start = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        let dir = s.dir.join(format!("case{i:03}"));
        std::fs::create_dir_all(&dir).expect("case dir");
        c.create(&dir);
        let before = listing(&dir);
        let o = run_in(&dir, &c.args, HANG_LIMIT);
        let mut p = problems(&o, &c.needle, CASE_LIMIT);
        let after = listing(&dir);
        if after != before {
            let added: Vec<&String> = after.iter().filter(|e| !before.contains(e)).collect();
            let removed: Vec<&String> = before.iter().filter(|e| !after.contains(e)).collect();
            p.push(format!(
                "folder changed: added {added:?}, removed {removed:?}"
            ));
        }
        if o.elapsed > slowest.0 {
            slowest = (o.elapsed, c.name.clone());
        }
        if !p.is_empty() {
            failures.push(format!(
                "[{i}] {} ({:?}): {} — stderr: {:?}",
                c.name,
                c.args,
                p.join("; "),
                truncate(&o.stderr)
            ));
        }
        // Sparse and large inputs are not kept around.
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "{} hostile inputs in {:.2?}; slowest {:.2?} ({})",
        cases.len(),
        start.elapsed(),
        slowest.0,
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Regression tests for bugs these inputs exposed (fixed; each keeps its own test)
// ---------------------------------------------------------------------------------------

/// Runs one bad-input case in a fresh folder and panics with every problem found.
fn assert_bad_input(test: &str, c: Case, limit: Duration) {
    let s = Scratch::new(test);
    c.create(&s.dir);
    let before = listing(&s.dir);
    let o = run_in(&s.dir, &c.args, HANG_LIMIT);
    let mut p = problems(&o, &c.needle, limit);
    let after = listing(&s.dir);
    if after != before {
        p.push(format!("folder changed: {before:?} -> {after:?}"));
    }
    assert!(
        p.is_empty(),
        "{} ({:?}): {}\nstdout: {:?}\nstderr: {:?}",
        c.name,
        c.args,
        p.join("; "),
        truncate(&o.stdout),
        truncate(&o.stderr)
    );
}

/// Runs the binary under `ulimit -v` (KiB) through `sh`, so a runaway allocation fails
/// instead of exhausting the machine.
fn run_limited(dir: &Path, args: &[&str], kib: u64, limit: Duration) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(dir);
    run_cmd(cmd, limit)
}

#[test]
fn fixed_train_text_output_precedes_a_plot_failure() {
    assert_bad_input(
        "bug_plot_text",
        case(
            "--plot inside a missing folder (text)",
            &["train", "--plot", "missing/loss.svg"],
            "missing/loss.svg",
        ),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_gradient_check_huge_directions_aborts() {
    assert_bad_input(
        "bug_directions",
        case(
            "--directions 10^12",
            &[
                "gradient-check",
                "--mode",
                "directional",
                "--directions",
                "1000000000000",
            ],
            "--directions",
        ),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_npy_duplicate_shape_key_aborts() {
    let dup = npy_raw(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), 'shape': (1099511627776, 2), }",
        &f64_bytes(&ARTICLE_X),
    );
    assert_bad_input(
        "bug_dup_shape",
        train_spec(
            "duplicated shape key in x.npy",
            npy_spec("x.npy", "y.npy"),
            "x.npy",
        )
        .file("x.npy", dup)
        .file("y.npy", article_y_npy()),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_empty_x_file_name_names_nothing() {
    assert_bad_input(
        "bug_empty_x",
        train_spec("x is an empty file name", npy_spec("", "y.npy"), "spec.x")
            .file("y.npy", article_y_npy()),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_memory_error_of_a_header_spec_names_the_wrong_field() {
    assert_bad_input(
        "bug_header_sizes",
        case(
            "compare: header spec with absurd sizes",
            &["compare", "c.json"],
            "candidate.header.spec.sizes",
        )
        .file("c.json", absurd_header_spec()),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_compare_passes_a_candidate_with_no_values() {
    assert_bad_input(
        "bug_empty_loss",
        case(
            "compare: empty loss",
            &["compare", "c.json", "--model", "article"],
            "loss",
        )
        .file("c.json", r#"{"loss": []}"#),
        CASE_LIMIT,
    );
}

#[test]
fn fixed_character_device_is_read_without_a_bound() {
    let s = Scratch::new("bug_dev_zero");
    for args in [
        vec!["train", "--model", "/dev/zero"],
        vec!["compare", "/dev/zero"],
    ] {
        // 2 GiB of address space: the unbounded read fails with "out of memory" after
        // ~2 s instead of taking the machine's memory.
        let o = run_limited(&s.dir, &args, 2 * 1024 * 1024, HANG_LIMIT);
        let mut p = problems(&o, "/dev/zero", Duration::from_millis(500));
        if o.stderr.contains("out of memory") {
            p.push("read until out of memory".into());
        }
        assert!(
            p.is_empty(),
            "{args:?}: {} — stderr {:?}",
            p.join("; "),
            o.stderr
        );
    }
}

#[test]
fn fixed_fifo_model_blocks_forever() {
    let s = Scratch::new("bug_fifo");
    let made = Command::new("mkfifo")
        .arg(s.dir.join("spec.json"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    let o = run_in(
        &s.dir,
        &["train".into(), "--model".into(), "spec.json".into()],
        Duration::from_secs(5),
    );
    let p = problems(&o, "spec.json", CASE_LIMIT);
    assert!(p.is_empty(), "{} — stderr {:?}", p.join("; "), o.stderr);
}

#[test]
fn fixed_export_trace_steps_is_not_bounded() {
    let s = Scratch::new("bug_trace_steps");
    let args = [
        "export",
        "--out",
        "golden",
        "--epochs",
        "250000",
        "--trace-steps",
        "1000000",
    ];
    // 2 GiB of address space: the run aborts after several seconds instead of taking
    // the machine's memory.
    let o = run_limited(&s.dir, &args, 2 * 1024 * 1024, Duration::from_secs(60));
    let mut p = problems(&o, "--trace-steps", CASE_LIMIT);
    let left = listing(&s.dir);
    if !left.is_empty() {
        p.push(format!("left {left:?}"));
    }
    assert!(
        p.is_empty(),
        "{} — stderr {:?}",
        p.join("; "),
        truncate(&o.stderr)
    );
}

/// One first row of N numbers followed by N one-number rows (about 1 MB of JSON) once
/// made the matrix readers reserve rows × (first row's length) numbers — 500 GB — and
/// abort; found by reading the code behind `fuzz/` (see fuzz/README.md).
#[test]
fn fixed_one_long_row_then_short_rows_reserved_quadratic_memory() {
    let n = 250_000;
    let long = vec!["0"; n].join(",");
    let short = vec!["0"; n].join(",");
    assert_bad_input(
        "bug_quadratic_spec",
        train_spec(
            "x: one long row, then short rows",
            format!(r#"{{"sizes":[{n},1],"activations":["identity"],"x":[[{long}],{short}]}}"#),
            "spec.x[1]",
        ),
        CASE_LIMIT,
    );
    assert_bad_input(
        "bug_quadratic_candidate",
        case(
            "candidate loss: one long row, then short rows",
            &["compare", "c.json", "--model", "article"],
            "c.json.loss[1]",
        )
        .file("c.json", format!(r#"{{"loss":[[{long}],{short}]}}"#)),
        CASE_LIMIT,
    );
}
