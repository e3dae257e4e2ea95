//! The JSON model spec: parsed and validated once, at the boundary.
//!
//! ```json
//! {"sizes": [2,3,1], "activations": ["relu","identity"], "loss": "mse", "seed": 0,
//!  "init_scale": 1.0, "x": [[1,2],[2,1],[3,1],[1,3]], "y": [4,3,5,5],
//!  "lr": 0.01, "epochs": 1000, "batch_size": 1, "log_every": 100}
//! ```
//!
//! `sizes`, `activations`, `x` and `y` are required; every other key is optional
//! and defaults to the article's value shown above. `y` is flat when the network
//! has one output, or one row per sample. Instead of inline arrays, `x` and `y` may
//! name a float64 `.npy` file or an `.npz` holding arrays `x` and `y` (paths relative
//! to the spec file). Unknown keys are errors. [`Overrides`] (the command line's
//! flags) replace the file's values and are validated as `Overrides.<field>`. Every
//! error names its field, e.g. `spec.sizes[1]: must be ≥ 1, got 0`.
//!
//! This module parses and validates only; [`crate::run`] initialises and trains.

use std::path::Path;

use ndarray::Array2;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::data::{self, DataFile, Role, Sources};
use crate::io::initial::Initial;
use crate::io::json::value::{Item, Json};
use crate::io::targets;
use crate::io::values::{matrix, number, positive_int};
use crate::io::MAX_BYTES;
use crate::nn::activation::Activation;
use crate::nn::loss::Loss;
use crate::nn::sgd::TrainConfig;

/// The keys a spec may have.
pub(crate) const KEYS: [&str; 14] = [
    "sizes",
    "activations",
    "loss",
    "seed",
    "init_scale",
    "initial",
    "x",
    "y",
    "x_test",
    "y_test",
    "lr",
    "epochs",
    "batch_size",
    "log_every",
];

/// A validated model spec: network shape, initialisation, data and training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Layer widths `[n_0, …, n_L]`, each `≥ 1`, at least two entries.
    pub sizes: Vec<usize>,
    /// One activation per layer (`sizes.len() − 1`).
    pub activations: Vec<Activation>,
    /// The loss (`mse`, or a classification loss on logits; see [`crate::io::targets`]).
    pub loss: Loss,
    /// `np.random.seed` value, `0 ≤ seed < 2³²`.
    pub seed: u32,
    /// Initial weights are `init_scale · randn(out, in)`; finite, `> 0`.
    pub init_scale: f64,
    /// The initial parameters, when the spec gives them (key `initial`,
    /// [`crate::io::initial`]) instead of `seed` and `init_scale`, which are then unused.
    pub initial: Option<Initial>,
    /// Inputs `X (N, n_0)`, `N ≥ 1`, finite.
    pub x: Array2<f64>,
    /// Targets `Y (N, n_L)`, finite, in the loss's domain (class labels are read
    /// into one-hot rows).
    pub y: Array2<f64>,
    /// A held-out set, evaluated (not trained on) at each logged epoch and at the end.
    pub test: Option<TestSet>,
    /// Learning rate, finite, `> 0`.
    pub lr: f64,
    /// Epochs, `≥ 1`.
    pub epochs: usize,
    /// Samples per update, `≥ 1`.
    pub batch_size: usize,
    /// Print the loss every `log_every` epochs, `≥ 1`.
    pub log_every: usize,
    /// The files `x` and `y` were read from (`None` for inline data). A spec whose `x`
    /// or `y` is changed must drop its source ([`Sources::default`]).
    pub sources: Sources,
}

/// A held-out set: `x_test (N', n_0)` and `y_test (N', n_L)`, read and checked as `x`
/// and `y` are.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSet {
    /// Inputs.
    pub x: Array2<f64>,
    /// Targets.
    pub y: Array2<f64>,
}

/// Command-line overrides of spec keys; `None` keeps the spec's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--seed`.
    pub seed: Option<u32>,
    /// `--epochs`.
    pub epochs: Option<usize>,
    /// `--lr`.
    pub lr: Option<f64>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--log-every`.
    pub log_every: Option<usize>,
}

impl Spec {
    /// The article's model: 2-3-1, relu/identity, seed 0, its four samples, lr 0.01,
    /// 1000 epochs, per-sample SGD, a log line every 100 epochs.
    pub fn article() -> Spec {
        Spec {
            sizes: vec![2, 3, 1],
            activations: vec![Activation::Relu, Activation::Identity],
            loss: Loss::Mse,
            seed: 0,
            init_scale: 1.0,
            initial: None,
            x: ndarray::array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]],
            y: ndarray::array![[4.0], [3.0], [5.0], [5.0]],
            test: None,
            lr: 0.01,
            epochs: 1000,
            batch_size: 1,
            log_every: 100,
            sources: Sources::default(),
        }
    }

    /// Reads a spec file (or takes the article's spec when `path` is `None`), then
    /// applies the overrides and validates everything.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Spec> {
        let spec = match path {
            None => Spec::article(),
            Some(p) => {
                let base = p.parent().unwrap_or(Path::new("."));
                Spec::from_json_in(&crate::io::json::read(p, false)?, "spec", base)?
            }
        };
        spec.with_overrides(overrides)
    }

    /// Parses and validates a spec document. `name` prefixes field names in errors.
    pub fn from_json_str(text: &str, name: &str) -> Result<Spec> {
        Spec::from_json(&crate::io::json::parse_str(text, name, false)?, name)
    }

    /// Validates a parsed JSON value as a spec. `name` prefixes field names in errors.
    /// File names in `x`/`y` are relative to the current directory.
    pub fn from_json(value: &Json, name: &str) -> Result<Spec> {
        Spec::from_json_in(value, name, Path::new("."))
    }

    /// As [`Spec::from_json`], with `x`/`y` file names relative to `base` (the spec
    /// file's folder).
    pub fn from_json_in(value: &Json, name: &str, base: &Path) -> Result<Spec> {
        Spec::from_json_like(value, name, base, None)
    }

    /// [`Spec::from_json_in`], where data references with the SHA-256 of `like`'s data
    /// files take `like`'s arrays instead of reading the files again (a trajectory's
    /// header checked against the spec it was made from).
    pub fn from_json_like(
        value: &Json,
        name: &str,
        base: &Path,
        like: Option<&Spec>,
    ) -> Result<Spec> {
        let places = data::Places {
            dirs: &[(base, "")],
            fix: data::SPEC_FIX,
        };
        Spec::from_json_at(value, name, places, like)
    }

    /// [`Spec::from_json_like`], a relative data file looked for in each of `places` in
    /// turn (a candidate's header: beside the candidate, then in the current folder;
    /// [`data::read_from`]).
    pub fn from_json_at(
        value: &Json,
        name: &str,
        places: data::Places<'_>,
        like: Option<&Spec>,
    ) -> Result<Spec> {
        let obj = value.as_object().ok_or_else(|| {
            Error::invalid(name, format!("must be a JSON object, got {}", value.kind()))
        })?;
        if let Some((k, _)) = obj.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
            return Err(Error::invalid(
                format!("{name}.{k}"),
                format!("unknown key, expected one of {}", KEYS.join(", ")),
            ));
        }
        let f = Fields { obj: value, name };
        let article = Spec::article();
        let sizes: Vec<usize> = f
            .array("sizes")?
            .into_iter()
            .enumerate()
            .map(|(i, v)| positive_int(v, &f.at("sizes", i)))
            .collect::<Result<_>>()?;
        if sizes.len() < 2 {
            return Err(Error::invalid(
                f.path("sizes"),
                format!(
                    "needs at least two entries (inputs and outputs), got {}",
                    sizes.len()
                ),
            ));
        }
        let activations: Vec<Activation> = f
            .array("activations")?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let field = f.at("activations", i);
                let s = match v {
                    Item::Value(Json::String(s)) => s,
                    other => {
                        return Err(Error::invalid(
                            &field,
                            format!("must be a string, got {}", other.kind()),
                        ))
                    }
                };
                Activation::parse(s, &field)
            })
            .collect::<Result<_>>()?;
        if activations.len() != sizes.len() - 1 {
            return Err(Error::invalid(
                f.path("activations"),
                format!(
                    "needs one entry per layer: sizes has {} entries so {} layers, got {} activations",
                    sizes.len(),
                    sizes.len() - 1,
                    activations.len()
                ),
            ));
        }
        let loss = match f.get("loss") {
            None => article.loss,
            Some(v) => Loss::parse(
                v.as_str().ok_or_else(|| {
                    Error::invalid(
                        f.path("loss"),
                        format!("must be a string, got {}", v.kind()),
                    )
                })?,
                &f.path("loss"),
            )?,
        };
        let seed = match f.get("seed") {
            None => article.seed,
            Some(v) => {
                let s = v
                    .as_whole()
                    .filter(|&s| s <= u32::MAX as u64)
                    .ok_or_else(|| {
                        Error::invalid(
                            f.path("seed"),
                            format!(
                                "must be a whole number in [0, 4294967295], got {}",
                                v.show()
                            ),
                        )
                    })?;
                s as u32
            }
        };
        let init_scale = f.opt_f64("init_scale")?.unwrap_or(article.init_scale);
        let initial = match f.get("initial") {
            None => None,
            Some(v) => {
                if let Some(k) = ["seed", "init_scale"]
                    .into_iter()
                    .find(|k| f.get(k).is_some())
                {
                    return Err(Error::invalid(
                        f.path("initial"),
                        format!(
                            "is given with {}: the initial parameters come from one source, either initial, or seed and init_scale; remove one",
                            f.path(k)
                        ),
                    ));
                }
                Some(Initial::read(v, &f.path("initial"), &sizes, places)?)
            }
        };
        let n_out = sizes[sizes.len() - 1];
        targets::check_network(loss, &sizes, &activations, name)?;
        let labels = targets::takes_labels(loss, n_out);
        let mut sources = Sources::default();
        // `x` or `x_test` (inputs), `y` or `y_test` (targets, class labels one-hot
        // encoded), inline or from a file (one already read by `like` is not read again).
        let read = |key: &str, v: &Json, inputs: bool| -> Result<(Array2<f64>, Option<DataFile>)> {
            let field = f.path(key);
            if !data::names_file(v) {
                let a = if inputs {
                    matrix(v, &field, Some(sizes[0]))?
                } else {
                    targets(v, &field, n_out, labels)?
                };
                return Ok((a, None));
            }
            let known = like.and_then(|s| {
                let (file, a) = match key {
                    "x" => (s.sources.x.as_ref(), &s.x),
                    "y" => (s.sources.y.as_ref(), &s.y),
                    "x_test" => (s.sources.x_test.as_ref(), &s.test.as_ref()?.x),
                    _ => (s.sources.y_test.as_ref(), &s.test.as_ref()?.y),
                };
                file.map(|f| (f, a))
            });
            let (cols, role) = if inputs {
                (sizes[0], Role::Inputs)
            } else {
                (n_out, Role::Targets { labels })
            };
            let (mut a, file) = data::read_from(v, places, (key, &field), (cols, role), known)?;
            if labels && a.ncols() == 1 {
                a = targets::one_hot(
                    a.view(),
                    n_out,
                    &format!("{field} ({})", file.path.display()),
                )?;
            }
            Ok((a, Some(file)))
        };
        let (x, file) = read("x", f.require("x")?, true)?;
        sources.x = file;
        let (y, file) = read("y", f.require("y")?, false)?;
        sources.y = file;
        let test = match (f.get("x_test"), f.get("y_test")) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::invalid(
                    f.path("y_test"),
                    "is required when x_test is given",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    f.path("x_test"),
                    "is required when y_test is given",
                ))
            }
            (Some(xv), Some(yv)) => {
                let (x, file) = read("x_test", xv, true)?;
                sources.x_test = file;
                let (y, file) = read("y_test", yv, false)?;
                sources.y_test = file;
                if y.nrows() != x.nrows() {
                    return Err(Error::invalid(
                        f.path("y_test"),
                        format!(
                            "has {} targets for {} samples in x_test",
                            y.nrows(),
                            x.nrows()
                        ),
                    ));
                }
                Some(TestSet { x, y })
            }
        };
        if y.nrows() != x.nrows() {
            return Err(Error::invalid(
                f.path("y"),
                format!("has {} targets for {} samples in x", y.nrows(), x.nrows()),
            ));
        }
        let spec = Spec {
            sizes,
            activations,
            loss,
            seed,
            init_scale,
            initial,
            x,
            y,
            test,
            lr: f.opt_f64("lr")?.unwrap_or(article.lr),
            epochs: f.opt_usize("epochs")?.unwrap_or(article.epochs),
            batch_size: f.opt_usize("batch_size")?.unwrap_or(article.batch_size),
            log_every: f.opt_usize("log_every")?.unwrap_or(article.log_every),
            sources,
        };
        spec.validate(name)?;
        Ok(spec)
    }

    /// Applies overrides and re-validates; errors name `Overrides.<field>`.
    pub fn with_overrides(mut self, o: &Overrides) -> Result<Spec> {
        if let Some(v) = o.seed {
            if self.initial.is_some() {
                return Err(Error::invalid(
                    "Overrides.seed",
                    "cannot be set: the spec gives its initial parameters (key initial), so no seed is drawn from",
                ));
            }
            self.seed = v;
        }
        if let Some(v) = o.lr {
            check_lr(v, "Overrides.lr")?;
            self.lr = v;
        }
        for (value, field, slot) in [
            (o.epochs, "Overrides.epochs", &mut self.epochs),
            (o.batch_size, "Overrides.batch_size", &mut self.batch_size),
            (o.log_every, "Overrides.log_every", &mut self.log_every),
        ] {
            if let Some(v) = value {
                if v == 0 {
                    return Err(Error::invalid(field, "must be ≥ 1, got 0"));
                }
                *slot = v;
            }
        }
        self.check_memory(&["Overrides.epochs", "Overrides.batch_size", "sizes"])?;
        Ok(self)
    }

    /// Range checks of the scalar settings and the memory plan.
    fn validate(&self, name: &str) -> Result<()> {
        let field = |k: &str| format!("{name}.{k}");
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(Error::invalid(
                field("init_scale"),
                format!(
                    "must be finite and > 0, got {}",
                    crate::error::short(self.init_scale)
                ),
            ));
        }
        check_lr(self.lr, &field("lr"))?;
        targets::check_network(self.loss, &self.sizes, &self.activations, name)?;
        targets::check(self.loss, self.y.view(), &field("y"))?;
        if let Some(t) = &self.test {
            targets::check(self.loss, t.y.view(), &field("y_test"))?;
        }
        for (k, v) in [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return Err(Error::invalid(field(k), "must be ≥ 1, got 0"));
            }
        }
        self.check_memory(&[&field("epochs"), &field("batch_size"), &field("sizes")])
    }

    /// Refuses runs whose parameters, gradients, batch activations and loss history
    /// would together need more than [`MAX_BYTES`], before anything is allocated.
    /// The error names the field with the largest share (`names` are the field names
    /// of `epochs` and `batch_size`; the sizes always come from the spec).
    fn check_memory(&self, names: &[&str; 3]) -> Result<()> {
        self.check_memory_with(names, &[])
    }

    /// The network's parameter count, `Σ_k out_k·(in_k + 1)` (weights and biases of
    /// every layer, [`Spec::layer_parameter_count`]), in `u128` so that the work and
    /// memory plans of any spec can be worked out before it is refused.
    ///
    /// ```
    /// use backprop_oracle::io::spec::Spec;
    /// // The article's 2-3-1 network: 3·(2 + 1) + 1·(3 + 1).
    /// assert_eq!(Spec::article().parameter_count(), 13);
    /// ```
    pub fn parameter_count(&self) -> u128 {
        (0..self.sizes.len().saturating_sub(1))
            .map(|k| self.layer_parameter_count(k))
            .sum()
    }

    /// The parameter count of layer `k`, `out_k·(in_k + 1)` (its `W` and `b`).
    pub fn layer_parameter_count(&self, k: usize) -> u128 {
        self.sizes[k + 1] as u128 * (self.sizes[k] as u128 + 1)
    }

    /// The run's memory plan ([`MAX_BYTES`] for its parameters, gradients, batch
    /// activations and loss history) with the parts a caller holds besides, each
    /// `(field, what, bytes)` (e.g. `train`'s evaluations at logged epochs): refused
    /// before anything is allocated, naming the field with the largest share (`names`:
    /// the field names of `epochs`, `batch_size` and `sizes`) and every part's figure.
    pub fn check_memory_with(&self, names: &[&str; 3], extra: &[(&str, &str, u128)]) -> Result<()> {
        let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
        let params = self.parameter_count();
        let batch = self.batch_size.min(self.x.nrows()) as u128;
        let widths: u128 = self.sizes.iter().map(|&s| s as u128).sum();
        let mut parts = vec![
            // parameters, initial copy, gradients, final copy
            (names[2], 8 * 4 * params),
            // Z, A, dZ, dX of every layer for one batch
            (names[1], 8 * 4 * batch * widths),
            // one f64 per epoch
            (names[0], 8 * self.epochs as u128),
        ];
        parts.extend(extra.iter().map(|&(field, _, bytes)| (field, bytes)));
        let total: u128 = parts.iter().map(|p| p.1).sum();
        if total <= MAX_BYTES as u128 {
            return Ok(());
        }
        let (field, _) = parts
            .iter()
            .max_by_key(|p| p.1)
            .copied()
            .unwrap_or(parts[0]);
        let more: String = extra
            .iter()
            .map(|&(_, what, bytes)| format!(", {what} {:.1} GiB", gib(bytes)))
            .collect();
        Err(Error::invalid(
            field,
            format!(
                "the run would need {:.1} GiB (parameters and gradients of {params} parameters {:.1} GiB, \
                 activations of a batch of {batch} {:.1} GiB, loss history {:.1} GiB{more}), more than the 1 GiB limit",
                gib(total),
                gib(parts[0].1),
                gib(parts[1].1),
                gib(parts[2].1)
            ),
        ))
    }

    /// The training settings.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            lr: self.lr,
            epochs: self.epochs,
            batch_size: self.batch_size,
        }
    }

    /// The fully resolved spec as JSON (every key present; `y` flat for one output).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn check_lr(lr: f64, field: &str) -> Result<()> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be finite and > 0, got {}", crate::error::short(lr)),
        ))
    }
}

/// A JSON object being read, with its name for error paths.
struct Fields<'a> {
    obj: &'a Json,
    name: &'a str,
}

impl Fields<'_> {
    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.name)
    }

    fn at(&self, key: &str, i: usize) -> String {
        format!("{}.{key}[{i}]", self.name)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        self.obj.get(key)
    }

    fn require(&self, key: &str) -> Result<&Json> {
        self.obj
            .get(key)
            .ok_or_else(|| Error::invalid(self.path(key), "is required but missing"))
    }

    fn array(&self, key: &str) -> Result<Vec<Item<'_>>> {
        let v = self.require(key)?;
        v.items().ok_or_else(|| {
            Error::invalid(
                self.path(key),
                format!("must be an array, got {}", v.kind()),
            )
        })
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| number(Item::Value(v), &self.path(key)))
            .transpose()
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| positive_int(Item::Value(v), &self.path(key)))
            .transpose()
    }
}

/// Targets: a flat array (one output) or one row of `n_out` numbers per sample.
fn targets(v: &Json, field: &str, n_out: usize, labels: bool) -> Result<Array2<f64>> {
    let items = v.items().ok_or_else(|| {
        Error::invalid(
            field,
            format!("must be an array of targets, got {}", v.kind()),
        )
    })?;
    match items.first() {
        None => Err(Error::invalid(
            field,
            "needs at least one target, got an empty array",
        )),
        Some(Item::Value(first)) if first.len().is_some() => matrix(v, field, Some(n_out)),
        Some(_) if n_out == 1 || labels => {
            let col: Vec<f64> = items
                .into_iter()
                .enumerate()
                .map(|(i, x)| number(x, &format!("{field}[{i}]")))
                .collect::<Result<_>>()?;
            let n = col.len();
            let col = Array2::from_shape_vec((n, 1), col)
                .map_err(|e| Error::invalid(field, e.to_string()))?;
            if labels {
                return targets::one_hot(col.view(), n_out, field);
            }
            Ok(col)
        }
        Some(_) => Err(Error::invalid(
            field,
            format!("must have one row of {n_out} values per sample (the network has {n_out} outputs), got a flat array"),
        )),
    }
}
