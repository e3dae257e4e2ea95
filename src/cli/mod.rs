//! The subcommands behind the `backprop-oracle` binary: parse, call the library, print.
//! This is the only code that knows flag names (cargo feature `cli`).
//!
//! Exit codes: 0 success; 1 a check or comparison found a difference; 2 bad input or
//! usage; 3 training diverged. Errors print as one line, `error: {e:#}` (with their
//! sources); library fields that a flag set are renamed to the flag ([`flag_for`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::io::spec::{Overrides, Spec};
use crate::variant::Conventions;

pub mod compare;
pub mod conformance;
pub mod export;
pub mod gradient_check;
pub mod plot;
pub mod rng;
pub mod train;

/// A vectorized reference neural network with a proven backward pass.
#[derive(Debug, Parser)]
#[command(name = "backprop-oracle", version, about)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the network (by default the article's 2-3-1 example) and print the loss.
    Train(train::TrainArgs),
    /// Verify the hand-derived backward pass against dual numbers and finite differences.
    GradientCheck(gradient_check::GradientCheckArgs),
    /// Write golden files for ports: trajectory.json, reference.npz (and .npy files).
    Export(export::ExportArgs),
    /// Compare a port's output with the reference, name the first divergence and
    /// what mistake explains it.
    Compare(compare::CompareArgs),
    /// Run a port on the whole battery of cases and print a scorecard.
    Conformance(conformance::ConformanceArgs),
    /// Print the generator's first draws for a seed (normals, uniforms or raw 32-bit
    /// words), for a port author to diff against (docs/generator.md).
    Rng(rng::RngArgs),
}

/// The model spec and the flags that override its keys (shared by every subcommand).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A JSON model spec (default: the article's 2-3-1 network and data).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Seed for `np.random.seed` (0 ..= 4294967295).
    #[arg(long)]
    pub seed: Option<u32>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate.
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Samples per update (1 = per-sample SGD, as in the article).
    #[arg(long)]
    pub batch_size: Option<usize>,
}

impl ModelArgs {
    /// Loads the spec and applies the flags (plus `log_every`, which only `train` has).
    pub fn spec(&self, log_every: Option<usize>) -> Result<Spec> {
        Spec::load(
            self.model.as_deref(),
            &Overrides {
                seed: self.seed,
                epochs: self.epochs,
                lr: self.lr,
                batch_size: self.batch_size,
                log_every,
            },
        )
    }
}

/// The flags that choose the reference's derivative conventions at `z = 0` (shared by
/// `compare`, `export` and `conformance`).
#[derive(Debug, Clone, Args)]
pub struct ConventionArgs {
    /// relu'(0): 0 (the reference's, NumPy's and PyTorch's), 0.5 (jnp.maximum) or 1.
    #[arg(long, value_name = "0|0.5|1")]
    pub relu_grad_at_zero: Option<f64>,
    /// leaky_relu'(0): 0.01 (the reference's), 0.505 or 1 (jax.nn.leaky_relu).
    #[arg(long, value_name = "0.01|0.505|1")]
    pub leaky_grad_at_zero: Option<f64>,
}

impl ConventionArgs {
    /// The conventions the flags set on top of `base` (`None`: no flag given).
    pub fn conventions(&self, base: Conventions) -> Result<Option<Conventions>> {
        if self.relu_grad_at_zero.is_none() && self.leaky_grad_at_zero.is_none() {
            return Ok(None);
        }
        let c = Conventions {
            relu_grad_at_zero: self.relu_grad_at_zero.unwrap_or(base.relu_grad_at_zero),
            leaky_grad_at_zero: self.leaky_grad_at_zero.unwrap_or(base.leaky_grad_at_zero),
        };
        c.validate()?;
        Ok(Some(c))
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON object.
    Json,
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Train(args) => train::run(&args),
        Command::GradientCheck(args) => gradient_check::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Conformance(args) => conformance::run(&args),
        Command::Rng(args) => rng::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let e = e.rename_field(|f| flag_for(f).map(str::to_string));
            // One line, whatever a path or a port's output holds (no terminal codes).
            eprint_line(&format!("error: {e:#}"));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The flag that sets a library field, for the fields the CLI fills from flags
/// (`Overrides.lr` → `--lr`, `CheckConfig.dual.rtol` → `--rtol`, …).
pub fn flag_for(field: &str) -> Option<&'static str> {
    Some(match field {
        "Overrides.lr" => "--lr",
        "Overrides.seed" => "--seed",
        "Overrides.epochs" => "--epochs",
        "Overrides.batch_size" | "NetworkCheckOptions.batch_size" => "--batch-size",
        "Overrides.log_every" => "--log-every",
        "CheckConfig.dual.rtol" => "--rtol",
        "CheckConfig.dual.atol" => "--atol",
        "CheckConfig.fd.rtol" => "--fd-rtol",
        "CheckConfig.fd.atol" => "--fd-atol",
        "CheckConfig.step" => "--step",
        "NetworkCheckOptions.mode.per_tensor" => "--samples",
        "NetworkCheckOptions.mode.directions" => "--directions",
        "NetworkCheckOptions.at_epochs" => "--at-epochs",
        "NetworkCheckOptions.mode" => "--mode",
        "NetworkCheckOptions.batches" => "--batches",
        "ExportOptions.out" => "--out",
        "export_cases.out" => "--export-cases",
        "trace_steps" => "--trace-steps",
        "max_steps" => "--max-steps",
        "model" => "--model",
        "Conventions.relu_grad_at_zero" => "--relu-grad-at-zero",
        "Conventions.leaky_grad_at_zero" => "--leaky-grad-at-zero",
        "Port.command" => "--port",
        "Port.timeout" => "--timeout",
        _ => return None,
    })
}

/// A command line as a file's header records it, without the paths of the machine that
/// ran it: the program as `backprop-oracle`, and the value of each flag in `replaced`
/// (`--flag VALUE` or `--flag=VALUE`) as the replacement given. Arguments that are not
/// UTF-8 are written lossily (never a panic).
pub(crate) fn portable_command(
    args: impl Iterator<Item = std::ffi::OsString>,
    replaced: &[(&str, &str)],
) -> String {
    let mut words = vec!["backprop-oracle".to_string()];
    let mut replace_next: Option<&str> = None;
    for a in args {
        let a = a.to_string_lossy().into_owned();
        if let Some(v) = replace_next.take() {
            words.push(v.to_string());
            continue;
        }
        let with_value = replaced.iter().find_map(|&(flag, v)| {
            let rest = a.strip_prefix(flag)?;
            rest.starts_with('=').then(|| format!("{flag}={v}"))
        });
        if let Some(w) = with_value {
            words.push(w);
            continue;
        }
        replace_next = replaced
            .iter()
            .find(|(flag, _)| a == *flag)
            .map(|&(_, v)| v);
        words.push(a);
    }
    words.join(" ")
}

/// On SIGINT, SIGTERM or SIGHUP, removes the temporary output this process is writing
/// (an export's temporary folder, a plot's temporary file; a conformance run's port is
/// killed, with its whole process group, and its work folder removed) and exits with
/// `128 + signal`.
fn remove_temporaries_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                crate::io::outdir::remove_registered();
                std::process::exit(128 + sig);
            }
        });
    }
}

/// Parses `std::env::args` and runs; usage errors print one line and exit 2.
pub fn main() -> ExitCode {
    remove_temporaries_on_signals();
    match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // clap's message, folded onto one line (it may list the arguments below its
            // first line), without the usage and help hints that follow a blank line.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect();
            let line = if message.is_empty() {
                "error: invalid usage".to_string()
            } else {
                message.join(" ")
            };
            eprint_line(&line);
            ExitCode::from(2)
        }
    }
}

/// Prints one line to stderr, control characters escaped ([`crate::error::printable`]).
pub(crate) fn eprint_line(text: &str) {
    eprintln!("{}", crate::error::printable(text, false));
}

/// Writes to stdout; a closed pipe (e.g. `| head`) ends quietly rather than panicking.
/// Every report, scorecard and message goes through here: control characters other than
/// newlines and tabs are written as `\u00XX` escapes ([`crate::error::printable`]; to
/// JSON output, whose strings hold no raw control characters, that changes nothing).
pub(crate) fn write_stdout(text: &str) -> Result<()> {
    let text = crate::error::printable(text, true);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}

/// Writes `value` as one line of compact JSON to stdout, streamed through a buffer (no
/// value tree, no text copy); a closed pipe ends quietly, as [`write_stdout`].
pub(crate) fn write_stdout_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}
