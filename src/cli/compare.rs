//! `backprop-oracle compare CANDIDATE`: the first place a port diverges, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::{Error, Result};
use crate::io::spec::Overrides;
use crate::oracle::against::{load_candidate_and_spec, DEFAULT_MAX_STEPS};
use crate::oracle::compare::{compare, CompareOptions};
use crate::oracle::diagnose::compare_and_diagnose;
use crate::oracle::precision::Precision;
use crate::tolerance::Tolerance;
use crate::variant::Conventions;

/// The old path of [`crate::cli::ConventionArgs`] (shared by `compare`, `export` and
/// `conformance`).
#[deprecated(note = "moved to `cli::ConventionArgs`")]
pub type ConventionArgs = crate::cli::ConventionArgs;

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The port's output: a trajectory.json or a .npz with the documented names.
    pub candidate: PathBuf,
    /// The spec the port ran (a file, or "article"; default: the candidate's
    /// header.spec) and overrides.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Compare against --model even where the candidate's header.spec differs.
    #[arg(long)]
    pub trust_model: bool,
    /// The port's precision (default: detected from the candidate).
    #[arg(long, value_name = "f32|f64")]
    pub precision: Option<String>,
    /// Relative slack on top of the rounding bounds (default: 1e-9 for float64, 0 for
    /// float32).
    #[arg(long, allow_negative_numbers = true)]
    pub rtol: Option<f64>,
    /// Absolute slack on top of the rounding bounds (default: 1e-12 for float64, 1e-30
    /// for float32).
    #[arg(long, allow_negative_numbers = true)]
    pub atol: Option<f64>,
    /// The reference's derivative conventions at z = 0 (default: the candidate's
    /// header.conventions, else the reference's own).
    #[command(flatten)]
    pub conventions: crate::cli::ConventionArgs,
    /// Do not look for what explains a divergence.
    #[arg(long)]
    pub no_diagnosis: bool,
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
        if let Some(v) = v {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    name,
                    format!("must be finite and ≥ 0, got {}", crate::error::short(v)),
                ));
            }
        }
    }
    let precision = args
        .precision
        .as_deref()
        .map(|p| {
            Precision::parse(p).ok_or_else(|| {
                Error::invalid("--precision", format!("must be f32 or f64, got {p:?}"))
            })
        })
        .transpose()?;
    let conventions = args.conventions.conventions(Conventions::default())?;
    let m = &args.model;
    let overrides = Overrides {
        seed: m.seed,
        epochs: m.epochs,
        lr: m.lr,
        batch_size: m.batch_size,
        log_every: None,
    };
    let (cand, spec) = load_candidate_and_spec(
        &args.candidate,
        m.model.as_deref(),
        &overrides,
        args.max_steps,
        args.trust_model,
    )?;
    let slack = match (args.rtol, args.atol) {
        (None, None) => None,
        (rtol, atol) => {
            let d = precision
                .or(cand.precision)
                .unwrap_or(Precision::F64)
                .default_slack();
            Some(Tolerance {
                rtol: rtol.unwrap_or(d.rtol),
                atol: atol.unwrap_or(d.atol),
            })
        }
    };
    let opts = CompareOptions {
        precision,
        slack,
        conventions,
    };
    let result = if args.no_diagnosis {
        compare(&spec, &cand, &opts)?
    } else {
        compare_and_diagnose(&spec, &cand, &opts)?
    };
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
