//! `backprop-oracle compare CANDIDATE`: the first place a port diverges.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::{Error, Result};
use crate::io::spec::Overrides;
use crate::oracle::candidate::load_candidate;
use crate::oracle::compare::{compare, reference_spec, DEFAULT_MAX_STEPS};
use crate::tolerance::Tolerance;

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The port's output: a trajectory.json or a .npz with the documented names.
    pub candidate: PathBuf,
    /// The model (default: the candidate's header spec, else the article's) and overrides.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Relative tolerance.
    #[arg(long, default_value_t = 1e-9, allow_negative_numbers = true)]
    pub rtol: f64,
    /// Absolute tolerance.
    #[arg(long, default_value_t = 1e-12, allow_negative_numbers = true)]
    pub atol: f64,
    /// The most work compare recomputes for a spec read from the candidate's own header:
    /// parameter-updates × batch rows (epochs × samples × parameters). A spec given with
    /// --model is trusted and not limited.
    #[arg(long, default_value_t = DEFAULT_MAX_STEPS, value_name = "N")]
    pub max_steps: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `compare`: exit 0 all within tolerance, 1 a divergence, 2 bad input.
pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    for (name, v) in [("--rtol", args.rtol), ("--atol", args.atol)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::invalid(
                name,
                format!("must be finite and ≥ 0, got {v}"),
            ));
        }
    }
    let cand = load_candidate(&args.candidate)?;
    let m = &args.model;
    let overrides = Overrides {
        seed: m.seed,
        epochs: m.epochs,
        lr: m.lr,
        batch_size: m.batch_size,
        log_every: None,
    };
    let spec = reference_spec(m.model.as_deref(), &cand, &overrides, args.max_steps)?;
    let result = compare(
        &spec,
        &cand,
        Tolerance {
            rtol: args.rtol,
            atol: args.atol,
        },
    )?;
    match args.format {
        Format::Text => write_stdout(&result.to_text())?,
        Format::Json => write_stdout(&format!("{}\n", result.to_json()))?,
    }
    Ok(if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
