//! `backprop-oracle train`: train and print the loss every `--log-every` epochs.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::Result;

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
}

/// Runs `train`.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let spec = args.model.spec(args.log_every)?;
    match args.format {
        Format::Text => {
            let every = spec.log_every;
            let mut io_result = Ok(());
            let mut log = |epoch: usize, total: f64| {
                if epoch % every == 0 && io_result.is_ok() {
                    io_result = write_stdout(&format!("Epoch {epoch}, Loss: {total:.4}\n"));
                }
            };
            let run = spec.train(&mut log)?;
            io_result?;
            plot(args, &run.loss)?;
        }
        Format::Json => {
            let run = spec.train(&mut ())?;
            plot(args, &run.loss)?;
            let doc = json!({
                "spec": spec.to_json(),
                "loss": run.loss,
                "initial": run.initial.to_json(),
                "final": run.final_.to_json(),
            });
            write_stdout(&format!("{doc}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn plot(args: &TrainArgs, loss: &[f64]) -> Result<()> {
    match &args.plot {
        Some(path) => crate::plot::loss_curve(
            path,
            loss,
            args.log_scale,
            "backprop-oracle: total loss per epoch",
        ),
        None => Ok(()),
    }
}
