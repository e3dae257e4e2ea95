//! `backprop-oracle train`: train and print the loss every `--log-every` epochs.

use std::process::ExitCode;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::Result;
use crate::io::json::write::Net;
use crate::run::{self, Engine};

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
    /// Put the plot's loss axis on a log scale.
    #[arg(long, requires = "plot")]
    pub log_scale: bool,
    /// Use the reference's exact arithmetic for every layer (bit-identical to
    /// `export`'s trajectories and to `src/nn/`; slower for large layers, which
    /// otherwise use a tuned GEMM).
    // The fast engine with its exact kernels (`Engine::exact`).
    #[arg(long)]
    pub reference: bool,
}

/// Runs `train` on the fast engine (`--reference`: with its exact kernels).
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let spec = args.model.spec(args.log_every)?;
    if let Some(plot) = &args.plot {
        crate::cli::plot::check_target(plot)?;
    }
    let engine = if args.reference {
        Engine::exact()
    } else {
        Engine::fast()
    };
    let every = spec.log_every;
    let text = args.format == Format::Text;
    let mut io_result = Ok(());
    let mut progress = Progress::new(spec.epochs, spec.x.nrows());
    let mut on_epoch = |epoch: usize, total: f64| {
        if text && epoch.is_multiple_of(every) && io_result.is_ok() {
            io_result = write_stdout(&format!("Epoch {epoch}, Loss: {total:.4}\n"));
        }
        progress.epoch_done(epoch, total);
    };
    let run = run::train(&spec, engine, &mut on_epoch);
    progress.finish();
    let run = run?;
    io_result?;
    plot(args, &run.loss)?;
    if !text {
        let doc = json!({
            "spec": spec.to_json(),
            "loss": run.loss,
            "initial": serde_json::to_value(Net(&run.initial)).unwrap_or_default(),
            "final": serde_json::to_value(Net(&run.final_)).unwrap_or_default(),
        });
        write_stdout(&format!("{doc}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
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
