//! `backprop-oracle gradient-check`: verify the backward pass against both oracles.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::check::network::{
    check_network_within, Mode, NetworkCheckOptions, Plan, DEFAULT_MAX_WORK,
};
use crate::check::{CheckConfig, Tolerance};
use crate::cli::{write_stdout, Format, ModelArgs};
use crate::error::{Error, Result};
use crate::variant::Bug;

/// Check mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Every coordinate of every tensor.
    Exhaustive,
    /// `--samples K` random coordinates of each W and of x, and every bias element.
    Sampled,
    /// `--directions K` random unit directions per tensor.
    Directional,
}

/// Arguments of `gradient-check`.
#[derive(Debug, Args)]
pub struct GradientCheckArgs {
    /// The model and its overrides.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Check after these numbers of training epochs (comma-separated; 0 = initial).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0",
        value_name = "E,E,.."
    )]
    pub at_epochs: Vec<usize>,
    /// Which coordinates to check.
    #[arg(long, value_enum, default_value = "exhaustive")]
    pub mode: ModeArg,
    /// Coordinates per tensor in sampled mode.
    #[arg(long, default_value_t = 16, value_name = "K")]
    pub samples: usize,
    /// Directions per tensor in directional mode.
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub directions: usize,
    /// Seed for the sampled coordinates and directions.
    #[arg(long, default_value_t = 0)]
    pub check_seed: u32,
    /// Batches of each checked epoch to check, evenly spread (first and last included)
    /// [default: every batch in exhaustive mode, at most 8 in the sampled and
    /// directional modes].
    #[arg(long, value_name = "K")]
    pub batches: Option<usize>,
    /// Relative tolerance of backprop vs the dual oracle.
    #[arg(long, default_value_t = 1e-10, allow_negative_numbers = true)]
    pub rtol: f64,
    /// Absolute tolerance of backprop vs the dual oracle.
    #[arg(long, default_value_t = 1e-12, allow_negative_numbers = true)]
    pub atol: f64,
    /// Relative tolerance vs finite differences.
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    pub fd_rtol: f64,
    /// Absolute tolerance vs finite differences.
    #[arg(long, default_value_t = 1e-8, allow_negative_numbers = true)]
    pub fd_atol: f64,
    /// Relative finite-difference step (default ε^(1/3) ≈ 6.06e-6).
    #[arg(long, allow_negative_numbers = true)]
    pub step: Option<f64>,
    /// Richardson-extrapolate the finite differences.
    #[arg(long)]
    pub richardson: bool,
    /// Inject a classic backprop mistake (see --list-bugs).
    #[arg(long, value_name = "NAME")]
    pub inject_bug: Option<String>,
    /// List the injectable bugs and exit.
    #[arg(long)]
    pub list_bugs: bool,
    /// The most work the check may do, in multiply-adds × rows: training to the last
    /// of --at-epochs (epochs × samples × parameters) plus every check's probes (each
    /// recomputes its layer's unit, the layers above and the loss over every output, for
    /// each row of its batch). A check over it is refused before it starts.
    #[arg(long, default_value_t = DEFAULT_MAX_WORK, value_name = "N")]
    pub max_steps: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `gradient-check`: exit 0 verified, 1 a real mismatch, 2 bad input.
pub fn run(args: &GradientCheckArgs) -> Result<ExitCode> {
    if args.list_bugs {
        let mut text = String::new();
        for b in Bug::ALL {
            text.push_str(&format!("{:<30} {}\n", b.name(), b.description()));
        }
        write_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let spec = args.model.spec(None)?;
    let bug = match args.inject_bug.as_deref() {
        None => None,
        Some(name) => Some(Bug::from_name(name).ok_or_else(|| {
            Error::invalid(
                "--inject-bug",
                format!(
                    "unknown bug {name:?}; --list-bugs shows the {} names",
                    Bug::ALL.len()
                ),
            )
        })?),
    };
    if let (Some(b), Some(l)) = (bug, bug.and_then(Bug::loss)) {
        if l != spec.loss {
            return Err(Error::invalid(
                "--inject-bug",
                format!(
                    "{} is a mistake in {} code, but the spec's loss is {}",
                    b.name(),
                    l.name(),
                    spec.loss.name()
                ),
            ));
        }
    }
    let defaults = CheckConfig::default();
    let config = CheckConfig {
        dual: Tolerance {
            rtol: args.rtol,
            atol: args.atol,
        },
        fd: Tolerance {
            rtol: args.fd_rtol,
            atol: args.fd_atol,
        },
        step: args.step.unwrap_or(defaults.step),
        richardson: args.richardson,
    };
    let mode = match args.mode {
        ModeArg::Exhaustive => Mode::Exhaustive,
        ModeArg::Sampled => Mode::Sampled {
            per_tensor: args.samples,
        },
        ModeArg::Directional => Mode::Directional {
            directions: args.directions,
        },
    };
    let opts = NetworkCheckOptions {
        mode,
        at_epochs: args.at_epochs.clone(),
        batch_size: args.model.batch_size,
        bug,
        config,
        sample_seed: args.check_seed,
        batches: args.batches,
    };
    let planned = Plan::within(&spec, &opts, args.max_steps).map_or(0, |p| p.checks(&spec.sizes));
    // A bar only for long checks, on a terminal, in text mode (≈ 20k checks take ~1 s).
    let bar = (args.format == Format::Text && std::io::stderr().is_terminal() && planned > 20_000)
        .then(|| {
            let pb = indicatif::ProgressBar::new(planned);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} checks, {per_sec}, eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        });
    let progress = |n: u64| {
        if let Some(pb) = &bar {
            pb.inc(n)
        }
    };
    let report = check_network_within(&spec, &opts, args.max_steps, &progress);
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let report = report?;
    match args.format {
        Format::Text => write_stdout(&report.to_text())?,
        Format::Json => write_stdout(&format!("{}\n", report.to_json()))?,
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

impl From<indicatif::style::TemplateError> for Error {
    fn from(e: indicatif::style::TemplateError) -> Self {
        Error::invalid("progress bar", e.to_string())
    }
}
