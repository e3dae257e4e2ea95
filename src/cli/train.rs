//! `backprop-oracle train`: train and print the loss every `--log-every` epochs.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::Result;
use crate::nn::network::Network;
use crate::spec::matrix_json;

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
            spec.train(&mut log)?;
            io_result?;
        }
        Format::Json => {
            let run = spec.train(&mut ())?;
            let doc = json!({
                "spec": spec.to_json(),
                "loss": run.loss,
                "initial": params_json(&run.initial),
                "final": params_json(&run.final_),
            });
            write_stdout(&format!("{doc}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `{"layers": [{"W": [[…]], "b": […]}, …]}` in full round-trip precision.
pub fn params_json(net: &Network<f64>) -> serde_json::Value {
    let layers: Vec<_> = net
        .layers
        .iter()
        .map(|l| json!({"W": matrix_json(l.w.view()), "b": l.b.to_vec()}))
        .collect();
    json!({ "layers": layers })
}
