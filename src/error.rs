//! The library's one error type.
//!
//! Every variant names the field (or file) and the problem, on one line, so the
//! binary can print it with `{}` and exit. See [`Error::exit_code`] for the
//! mapping to process exit codes used by the CLI.

use std::path::PathBuf;

/// Everything that can go wrong in `backprop-oracle`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter or spec field is out of range or inconsistent.
    /// `field` is a path such as `spec.sizes[1]` or `--lr`.
    #[error("{field}: {problem}")]
    InvalidParameter {
        /// Where the bad value is, e.g. `spec.activations[0]`.
        field: String,
        /// What is wrong with it, e.g. `must be ≥ 1, got 0`.
        problem: String,
    },

    /// A file could not be read or written.
    #[error("{}: {problem}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message, or our own ("is a directory").
        problem: String,
    },

    /// A JSON document could not be parsed (syntax, types, unknown keys).
    #[error("{what}: {problem}")]
    Json {
        /// What was being parsed, e.g. the spec file's path.
        what: String,
        /// serde_json's one-line message, with line and column.
        problem: String,
    },

    /// Training produced a non-finite loss or parameter.
    #[error("training diverged at epoch {epoch}, sample {sample}: {what} is not finite")]
    Diverged {
        /// The epoch (0-based) in which it happened.
        epoch: usize,
        /// The index of the first sample of the step (0-based, in data order).
        sample: usize,
        /// What became non-finite, e.g. `loss` or `layers[1].W[0][2]`.
        what: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidParameter {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The process exit code the CLI uses for this error:
    /// 2 for bad input or usage, 3 for divergence.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Diverged { .. } => 3,
            _ => 2,
        }
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
