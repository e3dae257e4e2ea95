//! `backprop-oracle rng --seed N --count K [--kind randn|uniform|raw] [--format text|json]`:
//! the reference generator's first draws after `np.random.seed(N)`, for a port author to
//! diff against, one layer of the generator at a time (`docs/generator.md`).
//!
//! * `raw`: the tempered 32-bit MT19937 words, in decimal;
//! * `uniform`: `((a ≫ 5)·2²⁶ + (b ≫ 6)) / 2⁵³` from two words `a`, `b` — `random_sample()`;
//! * `randn`: the polar Box–Muller normals, cache included — `np.random.randn(K)`.
//!
//! Doubles print as the shortest decimal that reads back to the same bits (Rust's `{:?}`:
//! `1.764052345967664`, `0.00011437481734488664`, `1e-5`), so parsing a line with any
//! correctly rounding parser gives the reference's exact `f64`. Output is streamed.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::Format;
use crate::error::{Error, Result};
use crate::rng::RandomState;

/// The largest `--count`: ten million draws (~200 MB of text).
pub const MAX_COUNT: u64 = 10_000_000;

/// Which layer of the generator to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Standard normals, `np.random.randn(K)` (polar Box–Muller, cached second value).
    Randn,
    /// Doubles in [0, 1) with 53 random bits, `np.random.random_sample(K)`.
    Uniform,
    /// The tempered 32-bit MT19937 outputs, in decimal.
    Raw,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Randn => "randn",
            Kind::Uniform => "uniform",
            Kind::Raw => "raw",
        }
    }
}

/// Arguments of `rng`.
#[derive(Debug, Args)]
pub struct RngArgs {
    /// The seed of `np.random.seed` (0 ..= 4294967295).
    #[arg(
        long,
        default_value = "0",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub seed: String,
    /// How many draws (1 ..= 10000000).
    #[arg(
        long,
        default_value = "10",
        value_name = "K",
        allow_hyphen_values = true
    )]
    pub count: String,
    /// Which draws: normals, uniforms, or the raw 32-bit words.
    #[arg(long, value_enum, default_value = "randn")]
    pub kind: Kind,
    /// One value per line, or one JSON object `{"seed", "kind", "count", "values"}`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `--seed`: an integer in `0 ..= 2³² − 1` (what `np.random.seed` takes as one integer).
fn parse_seed(text: &str) -> Result<u32> {
    text.parse::<u32>().map_err(|_| {
        Error::invalid(
            "--seed",
            format!("must be an integer in 0..=4294967295, got {text:?}"),
        )
    })
}

/// `--count`: an integer in `1 ..= MAX_COUNT`.
fn parse_count(text: &str) -> Result<u64> {
    match text.parse::<u64>() {
        Ok(k) if (1..=MAX_COUNT).contains(&k) => Ok(k),
        _ => Err(Error::invalid(
            "--count",
            format!("must be an integer in 1..={MAX_COUNT}, got {text:?}"),
        )),
    }
}

/// Runs `rng`: exit 0, or 2 for a bad flag (nothing on stdout).
pub fn run(args: &RngArgs) -> Result<ExitCode> {
    let seed = parse_seed(&args.seed)?;
    let count = parse_count(&args.count)?;
    let mut rng = RandomState::new(seed);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write_draws(&mut out, &mut rng, seed, count, args.kind, args.format) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) ends quietly.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
    }
}

/// Writes `count` draws of `kind`, one per line (text) or as one JSON object.
fn write_draws(
    out: &mut impl Write,
    rng: &mut RandomState,
    seed: u32,
    count: u64,
    kind: Kind,
    format: Format,
) -> Result<()> {
    let io = |e| Error::io("<stdout>", e);
    if format == Format::Json {
        write!(
            out,
            "{{\"seed\":{seed},\"kind\":\"{}\",\"count\":{count},\"values\":[",
            kind.name()
        )
        .map_err(io)?;
    }
    for i in 0..count {
        let value = match kind {
            Kind::Raw => rng.next_u32().to_string(),
            Kind::Uniform => finite(rng.random_sample(), i)?,
            Kind::Randn => finite(rng.gauss(), i)?,
        };
        let sep = match format {
            Format::Json if i + 1 < count => ",",
            Format::Json => "",
            Format::Text => "\n",
        };
        write!(out, "{value}{sep}").map_err(io)?;
    }
    if format == Format::Json {
        out.write_all(b"]}\n").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// `x` as its shortest round-trip decimal; a non-finite draw (impossible: `u ∈ [0, 1)`,
/// `0 < r² < 1`) is an error, never printed.
fn finite(x: f64, index: u64) -> Result<String> {
    if x.is_finite() {
        Ok(format!("{x:?}"))
    } else {
        Err(Error::invalid(
            format!("rng draw {index}"),
            format!("is not finite ({x})"),
        ))
    }
}
