//! `backprop-oracle conformance --port 'CMD … {spec} … {out}'`: the whole battery of
//! cases against a port, as a scorecard.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::{eprint_line, write_stdout, ConventionArgs};
use crate::error::{Error, Result};
use crate::oracle::compare::CompareOptions;
use crate::oracle::conformance::{export_cases, select, CaseResult, Init, Port, Runner, Scorecard};
use crate::oracle::precision::Precision;
use crate::variant::Conventions;

/// Scorecard format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreFormat {
    /// A line per case.
    Text,
    /// One JSON object.
    Json,
    /// JUnit XML, one test case per case.
    Junit,
}

/// The file a port writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A trajectory.json.
    Json,
    /// A reference.npz-style archive.
    Npz,
}

/// How the cases give the initial parameters (`--init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// `seed` and `init_scale`: the port draws them with NumPy's legacy generator.
    Seeded,
    /// `initial`: the parameters themselves, so a port needs no generator.
    Given,
}

/// Arguments of `conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The port's command; `{spec}` is replaced by the case's spec file and `{out}` by
    /// the path its output must be written to (run with `sh -c`), quoted for where they
    /// stand: bare, `'{spec}'` or `"{spec}"` all pass the path as one argument.
    #[arg(long, value_name = "'CMD … {spec} … {out}'")]
    pub port: Option<String>,
    /// Run only this case (repeatable; see --list).
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,
    /// List the cases and their purposes, and exit.
    #[arg(long)]
    pub list: bool,
    /// The port's precision (default: detected from each output).
    #[arg(long, value_name = "f32|f64")]
    pub precision: Option<String>,
    /// The derivative conventions at z = 0 the port uses (default: the reference's, or
    /// those its outputs declare).
    #[command(flatten)]
    pub conventions: ConventionArgs,
    /// Seconds one case may run (at most 86400, one day).
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// What the port writes to `{out}`.
    #[arg(long, value_enum, default_value = "json")]
    pub output: Output,
    /// Write every case's spec and expected trajectory into this new folder instead of
    /// running a port (for ports that cannot be driven by a command).
    #[arg(long, value_name = "DIR")]
    pub export_cases: Option<PathBuf>,
    /// Traced steps in the exported cases.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub trace_steps: usize,
    /// Scorecard format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ScoreFormat,
    /// How each case's spec gives the initial parameters: `seeded` (seed and
    /// init_scale: the test of the port's generator) or `given` (key initial: the
    /// parameters themselves, for a port in any language).
    #[arg(long, value_enum, default_value = "seeded")]
    pub init: InitArg,
}

/// Runs `conformance`: exit 0 every case passes, 1 some fail, 2 bad usage or a port
/// that cannot run at all.
pub fn run(args: &ConformanceArgs) -> Result<ExitCode> {
    let init = match args.init {
        InitArg::Seeded => Init::Seeded,
        InitArg::Given => Init::Given,
    };
    let cases = select(&args.cases)
        .map_err(|e| e.rename_field(|_| Some("--case".into())))?
        .into_iter()
        .map(|c| c.with_init(init))
        .collect::<Result<Vec<_>>>()?;
    if args.list {
        let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let text: String = cases
            .iter()
            .map(|c| format!("{:<width$}  {}\n", c.name, c.purpose))
            .collect();
        write_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(out) = &args.export_cases {
        // Recorded in each case's header, without this machine's paths.
        let name = crate::cli::export::folder_name(out);
        let command =
            crate::cli::portable_command(std::env::args_os().skip(1), &[("--export-cases", &name)]);
        export_cases(&cases, out, args.trace_steps, &command)?;
        write_stdout(&format!(
            "wrote {} case{} into {} (each: spec.json, purpose.txt, trajectory.json, reference.npz)\n",
            cases.len(),
            if cases.len() == 1 { "" } else { "s" },
            out.display()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(command) = &args.port else {
        return Err(Error::invalid(
            "--port",
            "is required (or --list, or --export-cases DIR)",
        ));
    };
    let precision = args
        .precision
        .as_deref()
        .map(|p| {
            Precision::parse(p).ok_or_else(|| {
                Error::invalid("--precision", format!("must be f32 or f64, got {p:?}"))
            })
        })
        .transpose()?;
    let opts = CompareOptions {
        precision,
        slack: None,
        conventions: args.conventions.conventions(Conventions::default())?,
    };
    let output = match args.output {
        Output::Json => "json",
        Output::Npz => "npz",
    };
    let port = Port::new(command, args.timeout, output)?;
    let runner = Runner::new()?;
    // Progress on stderr: on a terminal, a bar (text scorecards only); elsewhere (a CI
    // log, a file), one line per finished case, whatever the scorecard's format.
    let terminal = std::io::stderr().is_terminal();
    let show = terminal && args.format == ScoreFormat::Text;
    let mut results: Vec<CaseResult> = Vec::with_capacity(cases.len());
    // Lines held back while no case's port has started: a command that cannot start at
    // all is one error line, not a line per case and then the error.
    let mut held: Vec<String> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if show {
            eprint!("\r\x1b[Kcase {}/{}: {} …", i + 1, cases.len(), case.name);
        }
        let result = runner.run(case, &port, &opts)?;
        if !terminal {
            held.push(progress_line(i + 1, cases.len(), &result));
            if result.started || results.iter().any(|r| r.started) {
                held.drain(..).for_each(|line| eprint_line(&line));
            }
        }
        results.push(result);
    }
    if show {
        eprint!("\r\x1b[K");
    }
    // The port's process group is killed and the work folder removed.
    drop(runner);
    if let Some(first) = results
        .first()
        .filter(|_| results.iter().all(|r| !r.started))
    {
        return Err(Error::invalid(
            "--port",
            format!(
                "the port's command could not be started (case {}: {})",
                first.name,
                first.problem.as_deref().unwrap_or("no output")
            ),
        ));
    }
    let card = Scorecard {
        command,
        init,
        results: &results,
    };
    let text = match args.format {
        ScoreFormat::Text => card.text(),
        ScoreFormat::Json => format!("{}\n", card.json()),
        ScoreFormat::Junit => card.junit(),
    };
    write_stdout(&text)?;
    Ok(if results.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One finished case, as the progress line written to stderr when it is not a terminal:
/// `[3/25] relu_at_zero: pass (0.4 s)`, or `… fail (0.4 s): WHY` where `WHY` is what the
/// scorecard says below a failed case (the problem, the first divergence, the diagnoses),
/// joined by `; `. Printed through [`eprint_line`]: one line, control characters escaped.
fn progress_line(index: usize, total: usize, r: &CaseResult) -> String {
    let verdict = if r.passed { "pass" } else { "fail" };
    let mut line = format!(
        "[{index}/{total}] {}: {verdict} ({:.1} s)",
        r.name, r.seconds
    );
    if !r.passed {
        let text = r
            .comparison
            .as_ref()
            .map(|c| c.to_text())
            .unwrap_or_default();
        let why: Vec<&str> = r
            .problem
            .as_deref()
            .into_iter()
            .chain(
                text.lines()
                    .filter(|l| l.starts_with("first divergence") || l.starts_with("diagnosis")),
            )
            .collect();
        if !why.is_empty() {
            line.push_str(": ");
            line.push_str(&why.join("; "));
        }
    }
    line
}
