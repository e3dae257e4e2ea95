//! `backprop-oracle train`: train and print the loss every `--log-every` epochs.
//!
//! Its memory is planned with the run's before training starts
//! ([`Spec::check_memory_with`]): the loss history is held once (the JSON output is
//! streamed from it, the plot decimated from it: [`crate::cli::plot`]), and the
//! evaluations at logged epochs (classification losses or a held-out set) are held only
//! when the JSON output or `--plot-accuracy` needs them, counted at
//! [`EVALUATION_BYTES`] each and named by `--log-every` when they are what is too large.

use std::process::ExitCode;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::cli::{write_stdout, write_stdout_json, Format, ModelArgs};
use crate::error::Result;
use crate::io::json::write::Net;
use crate::io::spec::Spec;
use crate::io::spec_json::Sorted;
use crate::nn::network::Network;
use crate::nn::sgd::Observer;
use crate::run::{self, Engine, Evaluation};

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model and its overrides.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print a line every N epochs (text format).
    #[arg(long, value_name = "N")]
    pub log_every: Option<usize>,
    /// `text`: `Epoch {e}, Loss: {total:.4f}` lines; `json`: one object with every
    /// epoch's loss and the initial and final parameters.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also draw the loss curve into an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    /// Also draw the accuracy curves (training set and held-out set, at the evaluated
    /// epochs) into an SVG file: classification losses only.
    #[arg(long, value_name = "FILE.svg")]
    pub plot_accuracy: Option<std::path::PathBuf>,
    /// Put the plot's loss axis on a log scale.
    #[arg(long, requires = "plot")]
    pub log_scale: bool,
    /// Use the reference's exact arithmetic for every layer (bit-identical to
    /// `export`'s trajectories and to `src/nn/`; slower for large layers, which
    /// otherwise use a tuned GEMM).
    // Selects `Engine::exact()`: the fast engine on `Kernels::Exact`, not
    // `Engine::Reference` (the teaching stepper), with the same bits. The flag keeps its
    // name and help for users; the help above is what `train --help` prints.
    #[arg(long)]
    pub reference: bool,
}

/// The bytes one evaluation at a logged epoch takes while it is held.
pub const EVALUATION_BYTES: u128 = std::mem::size_of::<EpochEval>() as u128;

/// Runs `train` on the fast engine: [`Engine::fast`], or with `--reference`
/// [`Engine::exact`] (its exact kernels, the reference's bits; not
/// [`Engine::Reference`]).
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let spec = args.model.spec(args.log_every)?;
    let evaluate = spec.loss.is_classification() || spec.test.is_some();
    // Every evaluation is kept for the JSON output and the accuracy plot; otherwise
    // only the last.
    let keep_evaluations =
        evaluate && (args.format == Format::Json || args.plot_accuracy.is_some());
    let name = |flag: Option<usize>, key: &str| {
        if flag.is_some() {
            format!("Overrides.{key}")
        } else {
            format!("spec.{key}")
        }
    };
    let held = if keep_evaluations {
        (spec.epochs.div_ceil(spec.log_every) as u128 + 1) * EVALUATION_BYTES
    } else {
        0
    };
    spec.check_memory_with(
        &[
            &name(args.model.epochs, "epochs"),
            &name(args.model.batch_size, "batch_size"),
            "spec.sizes",
        ],
        &[(
            &name(args.log_every, "log_every"),
            "evaluations at logged epochs",
            held,
        )],
    )?;
    if let Some(plot) = &args.plot {
        crate::cli::plot::check_target(plot, "--plot")?;
    }
    if let Some(plot) = &args.plot_accuracy {
        if !spec.loss.is_classification() {
            return Err(crate::error::Error::invalid(
                "--plot-accuracy",
                format!(
                    "needs a classification loss; the spec's loss is {}",
                    spec.loss.name()
                ),
            ));
        }
        crate::cli::plot::check_target(plot, "--plot-accuracy")?;
    }
    let engine = if args.reference {
        Engine::exact()
    } else {
        Engine::fast()
    };
    let mut epochs = Epochs {
        spec: &spec,
        text: args.format == Format::Text,
        evaluate,
        keep_evaluations,
        io_result: Ok(()),
        progress: Progress::new(spec.epochs, spec.x.nrows()),
        total: 0.0,
        evaluations: Vec::new(),
    };
    let run = run::train(&spec, engine, &mut epochs);
    epochs.progress.finish();
    let run = run?;
    epochs.io_result?;
    plot(args, &run.loss)?;
    if let Some(path) = &args.plot_accuracy {
        let curve = |f: fn(&EpochEval) -> Option<f64>| -> Vec<(f64, f64)> {
            epochs
                .evaluations
                .iter()
                .filter_map(|e| f(e).map(|a| (e.epoch as f64, a)))
                .collect()
        };
        let mut curves = vec![("training set", curve(|e| e.train.accuracy))];
        if spec.test.is_some() {
            curves.push(("held-out set", curve(|e| e.test.and_then(|t| t.accuracy))));
        }
        crate::cli::plot::accuracy_curves(path, &curves, "backprop-oracle: accuracy per epoch")?;
    }
    if epochs.text {
        if let Some(last) = epochs.evaluations.last() {
            write_stdout(&format!("Final (epoch {}){}\n", last.epoch, last.text()))?;
        }
    } else {
        // Streamed from the run (no value tree, no text copy of the loss history).
        write_stdout_json(&TrainDoc {
            spec: &spec,
            run: &run,
            evaluations: epochs.evaluate.then_some(epochs.evaluations.as_slice()),
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The evaluation of the network at the end of an epoch: its accuracy on the training
/// set (classification losses) and its mean loss and accuracy on the held-out set.
struct EpochEval {
    epoch: usize,
    train: Evaluation,
    test: Option<Evaluation>,
}

impl EpochEval {
    /// `, Accuracy: 98.47%, Test loss: 0.1536, Test accuracy: 97.22%` (the parts that
    /// apply).
    fn text(&self) -> String {
        let pct = |a: f64| format!("{:.2}%", 100.0 * a);
        let mut s = String::new();
        if let Some(a) = self.train.accuracy {
            s += &format!(", Accuracy: {}", pct(a));
        }
        if let Some(t) = &self.test {
            s += &format!(", Test loss: {:.4}", t.loss);
            if let Some(a) = t.accuracy {
                s += &format!(", Test accuracy: {}", pct(a));
            }
        }
        s
    }
}

/// `{"accuracy", "epoch", "test_accuracy", "test_loss"}` (`null` where it does not apply).
impl Serialize for EpochEval {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("accuracy", &self.train.accuracy)?;
        m.serialize_entry("epoch", &self.epoch)?;
        m.serialize_entry("test_accuracy", &self.test.and_then(|t| t.accuracy))?;
        m.serialize_entry("test_loss", &self.test.map(|t| t.loss))?;
        m.end()
    }
}

/// `train --format json`'s document, its keys in alphabetical order: `evaluation` (when
/// there is anything to evaluate), `final`, `initial`, `loss` (every epoch's), `spec`.
struct TrainDoc<'a> {
    spec: &'a Spec,
    run: &'a run::Run,
    evaluations: Option<&'a [EpochEval]>,
}

impl Serialize for TrainDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(e) = self.evaluations {
            m.serialize_entry("evaluation", e)?;
        }
        m.serialize_entry("final", &Net(&self.run.final_))?;
        m.serialize_entry("initial", &Net(&self.run.initial))?;
        m.serialize_entry("loss", &self.run.loss)?;
        m.serialize_entry("spec", &Sorted(self.spec))?;
        m.end()
    }
}

/// What `train` does at each epoch's end: the text line every `log_every` epochs, the
/// evaluations (at those epochs and the last), the progress bar.
struct Epochs<'a> {
    spec: &'a Spec,
    text: bool,
    /// Whether there is anything to evaluate (a classification loss or a test set).
    evaluate: bool,
    /// Whether every evaluation is kept (else only the last).
    keep_evaluations: bool,
    io_result: Result<()>,
    progress: Progress,
    /// The epoch's total loss, from `epoch_end`.
    total: f64,
    evaluations: Vec<EpochEval>,
}

impl Observer for Epochs<'_> {
    fn wants_steps(&self) -> bool {
        false
    }

    fn epoch_end(&mut self, epoch: usize, total: f64) {
        self.total = total;
        self.progress.epoch_done(epoch, total);
        if !self.evaluate {
            self.line(epoch, "");
        }
    }

    fn wants_network(&self) -> bool {
        // Only to evaluate it; without, the engine may run many epochs per call.
        self.evaluate
    }

    fn epoch_network(&mut self, epoch: usize, net: &Network<f64>) {
        let logged = epoch.is_multiple_of(self.spec.log_every);
        if logged || epoch + 1 == self.spec.epochs {
            let spec = self.spec;
            let eval = EpochEval {
                epoch,
                train: run::evaluate(net, spec.x.view(), spec.y.view()),
                test: spec
                    .test
                    .as_ref()
                    .map(|t| run::evaluate(net, t.x.view(), t.y.view())),
            };
            let line = eval.text();
            if !self.keep_evaluations {
                self.evaluations.clear();
            }
            self.evaluations.push(eval);
            self.line(epoch, &line);
        }
    }
}

impl Epochs<'_> {
    /// The text line of a logged epoch: `Epoch {e}, Loss: {total:.4}` and `rest`.
    fn line(&mut self, epoch: usize, rest: &str) {
        if self.text && epoch.is_multiple_of(self.spec.log_every) && self.io_result.is_ok() {
            let total = self.total;
            self.io_result = write_stdout(&format!("Epoch {epoch}, Loss: {total:.4}{rest}\n"));
        }
    }
}

/// A progress bar on stderr (epoch, loss, samples/s) that appears only when training
/// has run for more than a second and stderr is a terminal.
struct Progress {
    start: Instant,
    epochs: usize,
    samples: usize,
    terminal: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(epochs: usize, samples: usize) -> Self {
        Progress {
            start: Instant::now(),
            epochs,
            samples,
            terminal: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    fn epoch_done(&mut self, epoch: usize, total: f64) {
        if !self.terminal {
            return;
        }
        let elapsed = self.start.elapsed();
        if self.bar.is_none() && elapsed > Duration::from_secs(1) {
            let bar = indicatif::ProgressBar::new(self.epochs as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} epoch {pos}/{len} {msg} eta {eta}",
            ) {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            let rate = ((epoch + 1) * self.samples) as f64 / elapsed.as_secs_f64();
            bar.set_position(epoch as u64 + 1);
            bar.set_message(format!("loss {total:.4}, {rate:.0} samples/s"));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn plot(args: &TrainArgs, loss: &[f64]) -> Result<()> {
    match &args.plot {
        Some(path) => crate::cli::plot::loss_curve(
            path,
            loss,
            args.log_scale,
            "backprop-oracle: total loss per epoch",
        ),
        None => Ok(()),
    }
}
