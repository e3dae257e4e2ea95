//! A toy port: an independent re-implementation of the dense network, used as a test
//! double by `tests/conformance.rs` so that `backprop-oracle conformance --port '…'`
//! can be driven end to end without Python.
//!
//! ```text
//! toy_port --spec SPEC.json --out OUT.json [--dtype f32|f64] [--trace-steps N] [--mistake NAME]
//! ```
//!
//! It reads a spec as `conformance` writes it (every key, `x`/`y` inline), trains it and
//! writes a `trajectory.json` (schema version 1) with the first `N` steps (default 8)
//! traced in full. The initial parameters are the spec's `initial` when it gives them;
//! otherwise, only the initial draws come from the crate
//! ([`backprop_oracle::rng::RandomState`], NumPy's legacy generator); the forward pass,
//! the loss (MSE, softmax or binary cross-entropy), the backward pass and the update
//! are written here with plain loops over
//! `Vec<T>`, generic over `f32`/`f64`, so that they check the crate instead of
//! repeating it. With `--dtype f32` everything (data, initial weights, arithmetic) is
//! float32 and the header says `"precision": "float32"`.
//!
//! `--mistake NAME` makes it behave like a port with one realistic mistake, written
//! here independently of the crate's bug catalogue: `stale-weights` (layer k−1
//! back-propagates through the updated W_k), `mse-without-2`, `bias-grad-mean`,
//! `init-transposed` (randn(in, out).T), `drop-last-batch`, `wrong-seed` (seed + 1),
//! `bad-generator` (the Box–Muller pair in the textbook order) and `uniform-init`
//! (uniform draws in [−1, 1), a `Math.random` port; a spec's `initial`, when given, is
//! read and these slips then change nothing),
//! `lr-typo` (1.5 lr), `relu-half` (relu'(0) = 0.5), `leaky-one` (leaky_relu'(0) = 1),
//! `ce-sum-not-mean` (the softmax cross-entropy's batch gradient not divided by B),
//! `softmax-wrong-axis` (the softmax normalised over the batch);
//! or like a broken port: `nan` (the last epoch loss is 0/0, written as `NaN`), `crash`
//! (exit 3), `garbage` (half a JSON document), `sleep` (30 s before training).
//!
//! Exit codes: 0 written; 2 bad arguments or spec (one `toy_port: error: …` line on
//! stderr); 3 a crash (nothing written), or training diverged (a non-finite epoch loss;
//! the run is written all the same, non-finite values as `NaN`/`Infinity` in the epoch
//! losses and `null` elsewhere).

use std::ops::{Add, Div, Mul, Sub};
use std::process::ExitCode;

use backprop_oracle::rng::RandomState;
use serde::Deserialize;
use serde_json::{json, Value};

const MISTAKES: &str = "stale-weights mse-without-2 bias-grad-mean init-transposed \
    drop-last-batch wrong-seed bad-generator uniform-init lr-typo relu-half leaky-one ce-sum-not-mean softmax-wrong-axis \
    nan crash garbage sleep";

/// The scalar the port computes in: `f32` or `f64`.
trait Float:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    const PRECISION: &'static str;
    fn of(v: f64) -> Self;
    fn get(self) -> f64;
    fn exp(self) -> Self;
    fn tanh(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
}

macro_rules! float {
    ($t:ident, $name:literal) => {
        impl Float for $t {
            const PRECISION: &'static str = $name;
            fn of(v: f64) -> Self {
                v as $t
            }
            fn get(self) -> f64 {
                f64::from(self)
            }
            fn exp(self) -> Self {
                $t::exp(self)
            }
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            fn ln(self) -> Self {
                $t::ln(self)
            }
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
        }
    };
}
float!(f32, "float32");
float!(f64, "float64");

/// A row-major `rows × cols` matrix.
#[derive(Clone)]
struct Mat<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Float> Mat<T> {
    fn new(rows: usize, cols: usize, data: Vec<T>) -> Self {
        Mat { rows, cols, data }
    }
    fn at(&self, r: usize, c: usize) -> T {
        self.data[r * self.cols + c]
    }
    fn map(&self, f: impl Fn(usize, T) -> T) -> Mat<T> {
        let data = self
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| f(i, v))
            .collect();
        Mat { data, ..*self }
    }
    fn json(&self) -> Value {
        let row = |r: usize| {
            (0..self.cols)
                .map(|c| self.at(r, c).get())
                .collect::<Vec<_>>()
        };
        json!((0..self.rows).map(row).collect::<Vec<_>>())
    }
}

/// The `rows × cols` matrix `C[r][c] = Σ_k a(r, k)·b(k, c)`, summed in order of `k`.
fn product<T: Float>(
    (rows, cols, inner): (usize, usize, usize),
    a: impl Fn(usize, usize) -> T,
    b: impl Fn(usize, usize) -> T,
) -> Mat<T> {
    let mut data = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            data.push((0..inner).fold(T::of(0.0), |s, k| s + a(r, k) * b(k, c)));
        }
    }
    Mat::new(rows, cols, data)
}

fn vec_json<T: Float>(v: &[T]) -> Value {
    json!(v.iter().map(|x| x.get()).collect::<Vec<_>>())
}

/// Each layer's `W (out, in)` and `b (out)`.
type Net<T> = Vec<(Mat<T>, Vec<T>)>;

fn net_json<T: Float>(net: &Net<T>) -> Value {
    let layers: Vec<Value> = net
        .iter()
        .map(|(w, b)| json!({"W": w.json(), "b": vec_json(b)}))
        .collect();
    json!({ "layers": layers })
}

/// The spec's fields this port uses (`conformance` writes every key; others are ignored).
#[derive(Deserialize)]
struct Spec {
    sizes: Vec<usize>,
    activations: Vec<String>,
    loss: String,
    lr: f64,
    epochs: usize,
    batch_size: usize,
    /// Absent when the spec gives `initial`.
    #[serde(default)]
    seed: u32,
    #[serde(default)]
    init_scale: f64,
    /// The initial parameters, when given (`conformance --init given`).
    initial: Option<Initial>,
    x: Vec<Vec<f64>>,
    y: Targets,
}

/// `{"layers": [{"W": [[…]], "b": […]}, …]}`.
#[derive(Deserialize)]
struct Initial {
    layers: Vec<InitialLayer>,
}

#[derive(Deserialize)]
struct InitialLayer {
    #[serde(rename = "W")]
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

/// The initial draws: NumPy's legacy `randn` stream (the cached normal carried from one
/// layer's draw to the next), `count` values. Under `bad-generator` the stream's
/// Box–Muller pairs come in the textbook order: NumPy's legacy `gauss` returns `f·x2`
/// and caches `f·x1`; this slip returns `f·x1` first, so each pair is swapped.
fn normals(rng: &mut RandomState, count: usize, swapped: bool, uniform: bool) -> Vec<f64> {
    if uniform {
        // The `Math.random` slip: uniform draws in [−1, 1) where normals belong.
        return (0..count)
            .map(|_| 2.0 * rng.random_sample() - 1.0)
            .collect();
    }
    if !swapped {
        return rng.randn(1, count).iter().copied().collect();
    }
    let mut v: Vec<f64> = rng.randn(1, count + count % 2).iter().copied().collect();
    v.chunks_mut(2).for_each(|p| p.swap(0, 1));
    v.truncate(count);
    v
}

/// `y`: flat for a one-output net, else one row per sample.
#[derive(Deserialize)]
#[serde(untagged)]
enum Targets {
    Flat(Vec<f64>),
    Rows(Vec<Vec<f64>>),
}

/// `act(z)`.
fn act<T: Float>(name: &str, z: T) -> T {
    let (zero, one) = (T::of(0.0), T::of(1.0));
    match name {
        "relu" | "leaky_relu" if z > zero => z,
        "relu" => zero,
        "leaky_relu" => z * T::of(0.01),
        "sigmoid" if z >= zero => one / (one + (zero - z).exp()),
        "sigmoid" => z.exp() / (one + z.exp()),
        "tanh" => z.tanh(),
        _ => z,
    }
}

/// `act'(z)` from `z` and `a = act(z)`, with relu'(0) = `relu0`, leaky_relu'(0) = `leaky0`.
fn act_grad<T: Float>(name: &str, z: T, a: T, (relu0, leaky0): (f64, f64)) -> T {
    let (zero, one) = (T::of(0.0), T::of(1.0));
    match name {
        "relu" | "leaky_relu" if z > zero => one,
        "relu" if z == zero => T::of(relu0),
        "relu" => zero,
        "leaky_relu" if z == zero => T::of(leaky0),
        "leaky_relu" => T::of(0.01),
        "sigmoid" => a * (one - a),
        "tanh" => one - a * a,
        _ => one,
    }
}

/// The per-sample losses of a batch's output `Ŷ (B, m)` and `dŶ = ∂L̄/∂Ŷ` (the batch
/// mean's gradient):
/// * `mse`: `L_r = mean_k (ŷ − y)²`, `dŶ = 2(Ŷ − Y)/(m·B)`;
/// * `softmax_cross_entropy`: `L_r = c + ln Σ_k e^{ŷ_k − c} − Σ_k y_k ŷ_k` (`c` the
///   row's max), `dŶ = (softmax(Ŷ) − Y)/B`;
/// * `binary_cross_entropy`: `L_r = mean_k [max(ŷ, 0) − ŷ y + ln(1 + e^{−|ŷ|})]`,
///   `dŶ = (σ(Ŷ) − Y)/(m·B)`.
fn loss<T: Float>(name: &str, y_hat: &Mat<T>, y: &[Vec<T>], mistake: &str) -> (Mat<T>, Vec<T>) {
    let (rows, m) = (y_hat.rows, y_hat.cols);
    let (zero, one) = (T::of(0.0), T::of(1.0));
    let (mf, bf) = (T::of(m as f64), T::of(rows as f64));
    let t = |i: usize| y[i / m][i % m];
    match name {
        "softmax_cross_entropy" => {
            let max = |r: usize| {
                (0..m)
                    .map(|j| y_hat.at(r, j))
                    .fold(y_hat.at(r, 0), |a, v| if v > a { v } else { a })
            };
            let e = y_hat.map(|i, v| (v - max(i / m)).exp());
            let sums: Vec<T> = (0..rows)
                .map(|r| (0..m).fold(zero, |s, j| s + e.at(r, j)))
                .collect();
            let losses = (0..rows)
                .map(|r| {
                    let dot = (0..m).fold(zero, |s, j| s + y[r][j] * y_hat.at(r, j));
                    max(r) + sums[r].ln() - dot
                })
                .collect();
            let d = if mistake == "softmax-wrong-axis" {
                // Normalised over the batch (axis 0) instead of the classes.
                let raw = y_hat.map(|_, v| v.exp());
                let cols: Vec<T> = (0..m)
                    .map(|j| (0..rows).fold(zero, |s, r| s + raw.at(r, j)))
                    .collect();
                raw.map(|i, v| (v / cols[i % m] - t(i)) / bf)
            } else if mistake == "ce-sum-not-mean" {
                e.map(|i, v| v / sums[i / m] - t(i))
            } else {
                e.map(|i, v| (v / sums[i / m] - t(i)) / bf)
            };
            (d, losses)
        }
        "binary_cross_entropy" => {
            let abs = |v: T| if v < zero { zero - v } else { v };
            let losses = (0..rows)
                .map(|r| {
                    let sum = (0..m).fold(zero, |s, j| {
                        let v = y_hat.at(r, j);
                        let pos = if v > zero { v } else { zero };
                        s + (pos - v * y[r][j] + (zero - abs(v)).exp().ln_1p())
                    });
                    sum / mf
                })
                .collect();
            let sigmoid = |v: T| {
                if v >= zero {
                    one / (one + (zero - v).exp())
                } else {
                    v.exp() / (one + v.exp())
                }
            };
            (y_hat.map(|i, v| (sigmoid(v) - t(i)) / (mf * bf)), losses)
        }
        _ => {
            let err = y_hat.map(|i, v| v - t(i));
            let two = if mistake == "mse-without-2" { 1.0 } else { 2.0 };
            let d_out = err.map(|_, e| T::of(two) / (mf * bf) * e);
            let losses = (0..rows)
                .map(|r| (0..m).fold(zero, |s, j| s + err.at(r, j) * err.at(r, j)) / mf)
                .collect();
            (d_out, losses)
        }
    }
}

/// `W −= lr dW`, `b −= lr db`.
fn update<T: Float>((w, b): &mut (Mat<T>, Vec<T>), dw: &Mat<T>, db: &[T], lr: T) {
    w.data
        .iter_mut()
        .zip(&dw.data)
        .for_each(|(w, &g)| *w = *w - lr * g);
    b.iter_mut().zip(db).for_each(|(b, &g)| *b = *b - lr * g);
}

/// A training run: initial parameters, every epoch's loss, final parameters, traced steps.
struct Run {
    initial: Value,
    losses: Vec<f64>,
    final_: Value,
    steps: Vec<Value>,
}

fn train<T: Float>(spec: &Spec, trace: usize, mistake: &str) -> Run {
    let is = |m: &str| mistake == m;
    // The spec's `initial` when it gives one; else np.random.seed(seed), then
    // W = init_scale * randn(out, in) per layer (one stream of normals), b = 0.
    let mut rng = RandomState::new(spec.seed.wrapping_add(u32::from(is("wrong-seed"))));
    let mut net: Net<T> = spec
        .sizes
        .windows(2)
        .enumerate()
        .map(|(k, io)| {
            let (inp, out, t) = (io[0], io[1], is("init-transposed"));
            if let Some(given) = &spec.initial {
                let l = &given.layers[k];
                let w = Mat::new(out, inp, l.w.concat().into_iter().map(T::of).collect());
                return (w, l.b.iter().map(|&v| T::of(v)).collect());
            }
            let drawn: Vec<f64> =
                normals(&mut rng, inp * out, is("bad-generator"), is("uniform-init"))
                    .iter()
                    .map(|v| spec.init_scale * v)
                    .collect();
            let w = |k: usize| {
                if t {
                    drawn[(k % inp) * out + k / inp]
                } else {
                    drawn[k]
                }
            };
            let w = Mat::new(out, inp, (0..out * inp).map(|k| T::of(w(k))).collect());
            (w, vec![T::of(0.0); out])
        })
        .collect();
    let initial = net_json(&net);
    let cast = |rows: &[Vec<f64>]| -> Vec<Vec<T>> {
        rows.iter()
            .map(|r| r.iter().map(|&v| T::of(v)).collect())
            .collect()
    };
    let y = match &spec.y {
        Targets::Flat(y) => y.iter().map(|&v| vec![v]).collect(),
        Targets::Rows(y) => y.clone(),
    };
    let (x, y) = (cast(&spec.x), cast(&y));
    let (n, bs) = (x.len(), spec.batch_size.max(1));
    let lr = T::of(spec.lr * if is("lr-typo") { 1.5 } else { 1.0 });
    let conventions = (
        if is("relu-half") { 0.5 } else { 0.0 },
        if is("leaky-one") { 1.0 } else { 0.01 },
    );
    let (mut losses, mut steps, mut step) = (Vec::new(), Vec::new(), 0);
    for epoch in 0..spec.epochs {
        let mut total = T::of(0.0);
        for start in (0..n).step_by(bs) {
            let end = (start + bs).min(n);
            if is("drop-last-batch") && end - start < bs && start > 0 {
                break;
            }
            let rows = end - start;
            // Forward: Z = A_prev W^T + b, A = act(Z); acts[0] is the batch of X.
            let mut acts = vec![Mat::new(rows, x[0].len(), x[start..end].concat())];
            let mut zs = Vec::new();
            for (k, (w, b)) in net.iter().enumerate() {
                let a_prev = &acts[k];
                let z = product(
                    (rows, w.rows, w.cols),
                    |r, i| a_prev.at(r, i),
                    |i, o| w.at(o, i),
                );
                let z = z.map(|i, v| v + b[i % w.rows]);
                acts.push(z.map(|_, v| act(&spec.activations[k], v)));
                zs.push(z);
            }
            let y_hat = &acts[net.len()];
            let (d_out, sample_loss) = loss(&spec.loss, y_hat, &y[start..end], mistake);
            for &l in &sample_loss {
                total = total + l;
            }
            // Backward, last layer first: dZ = dA ⊙ act'(Z), dW = dZ^T A_prev,
            // db = column sums of dZ, dA_prev = dZ W (W before its update).
            let mut grads = Vec::new();
            let mut da = d_out.clone();
            for k in (0..net.len()).rev() {
                let (z, a, a_in) = (&zs[k], &acts[k + 1], &acts[k]);
                let g =
                    |i: usize| act_grad(&spec.activations[k], z.data[i], a.data[i], conventions);
                let dz = da.map(|i, v| v * g(i));
                let (out, inp) = (net[k].0.rows, net[k].0.cols);
                let dw = product((out, inp, rows), |o, r| dz.at(r, o), |r, i| a_in.at(r, i));
                let mut db = product((1, out, rows), |_, _| T::of(1.0), |r, o| dz.at(r, o)).data;
                if is("bias-grad-mean") {
                    db.iter_mut().for_each(|v| *v = *v / T::of(rows as f64));
                }
                if is("stale-weights") {
                    update(&mut net[k], &dw, &db, lr);
                }
                let w = &net[k].0;
                da = product((rows, inp, out), |r, o| dz.at(r, o), |o, i| w.at(o, i));
                grads.push((dw, db, da.clone()));
            }
            grads.reverse();
            if !is("stale-weights") {
                for (layer, (dw, db, _)) in net.iter_mut().zip(&grads) {
                    update(layer, dw, db, lr);
                }
            }
            if step < trace {
                let forward: Vec<Value> = zs
                    .iter()
                    .zip(&acts[1..])
                    .map(|(z, a)| json!({"z": z.json(), "a": a.json()}))
                    .collect();
                let backward: Vec<Value> = grads
                    .iter()
                    .map(|(dw, db, dx)| json!({"dW": dw.json(), "db": vec_json(db), "dx": dx.json()}))
                    .collect();
                steps.push(json!({
                    "step": step, "epoch": epoch, "samples": (start..end).collect::<Vec<_>>(),
                    "forward": forward, "loss": vec_json(&sample_loss), "d_output": d_out.json(),
                    "backward": backward, "after": net_json(&net),
                }));
            }
            step += 1;
        }
        losses.push(total);
    }
    if let (Some(last), true) = (losses.last_mut(), is("nan")) {
        // "The last batch's mean loss", over an empty batch: 0/0.
        *last = *last * T::of(0.0) / T::of(0.0);
    }
    let losses = losses.iter().map(|v| v.get()).collect();
    Run {
        initial,
        losses,
        final_: net_json(&net),
        steps,
    }
}

/// The trajectory document's text; a non-finite epoch loss is written as the literal
/// `NaN`/`Infinity` (as Python's `json.dump` does), which JSON proper has not.
fn document(spec: &Value, precision: &str, run: &Run) -> String {
    let doc = json!({
        "format": "backprop-oracle trajectory",
        "schema_version": 1,
        "header": {"tool": "toy_port", "precision": precision, "spec": spec},
        "initial": run.initial,
        "loss": "@LOSS@",
        "final": run.final_,
        "steps": run.steps,
    });
    let loss: Vec<String> = run
        .losses
        .iter()
        .map(|v| match v {
            v if v.is_nan() => "NaN".into(),
            v if v.is_infinite() => (if *v > 0.0 { "Infinity" } else { "-Infinity" }).into(),
            v => json!(v).to_string(),
        })
        .collect();
    doc.to_string()
        .replacen("\"@LOSS@\"", &format!("[{}]", loss.join(",")), 1)
}

/// Runs the port; `Err((exit code, message))`.
fn run() -> Result<(), (u8, String)> {
    let usage = |m: String| (2, m);
    let (mut spec, mut out, mut f32, mut trace, mut mistake) =
        (None, None, false, 8, String::new());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--spec" => spec = Some(value),
            "--out" => out = Some(value),
            "--dtype" if value == "f32" || value == "f64" => f32 = value == "f32",
            "--trace-steps" => {
                trace = value
                    .parse()
                    .map_err(|_| usage(format!("--trace-steps {value:?}")))?
            }
            "--mistake" if MISTAKES.split_whitespace().any(|m| m == value) => mistake = value,
            _ => {
                return Err(usage(format!(
                    "bad argument {flag} {value:?}; see the module docs"
                )))
            }
        }
    }
    let (spec_path, out) = spec
        .zip(out)
        .ok_or_else(|| usage("--spec and --out are required".into()))?;
    let text =
        std::fs::read_to_string(&spec_path).map_err(|e| usage(format!("{spec_path}: {e}")))?;
    let spec_value: Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("{spec_path}: {e}")))?;
    let spec: Spec = serde_json::from_value(spec_value.clone())
        .map_err(|e| usage(format!("{spec_path}: {e}")))?;
    if !["mse", "softmax_cross_entropy", "binary_cross_entropy"].contains(&spec.loss.as_str()) {
        return Err(usage(format!("{spec_path}: unknown loss {:?}", spec.loss)));
    }
    match mistake.as_str() {
        "crash" => return Err((3, "simulated crash: index out of range in layer 1".into())),
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(30)),
        _ => {}
    }
    let (run, precision) = if f32 {
        (train::<f32>(&spec, trace, &mistake), f32::PRECISION)
    } else {
        (train::<f64>(&spec, trace, &mistake), f64::PRECISION)
    };
    let mut text = document(&spec_value, precision, &run);
    if mistake == "garbage" {
        text.truncate(text.len() / 2);
    }
    std::fs::write(&out, text).map_err(|e| usage(format!("{out}: {e}")))?;
    // A diverged run is written all the same (its non-finite values as `NaN`/`Infinity`
    // in the losses and as `null` elsewhere, as serde_json and JSON.stringify do), then
    // reported by the exit status.
    match (
        run.losses.iter().position(|v| !v.is_finite()),
        mistake == "nan",
    ) {
        (Some(e), false) => Err((
            3,
            format!("training diverged: epoch {e} loss is {}", run.losses[e]),
        )),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            let kind = if code == 2 { "error: " } else { "" };
            eprintln!("toy_port: {kind}{message}");
            ExitCode::from(code)
        }
    }
}
