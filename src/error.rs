//! The library's one error type.
//!
//! Every variant names the field (or file) and the problem. Library errors name
//! fields and values the way a Rust caller wrote them (`spec.sizes[1]`,
//! `CheckConfig.dual.rtol`, `Overrides.lr`), never command-line flags: the CLI maps
//! the fields it set from a flag to that flag's name ([`Error::rename_field`]).
//!
//! Errors caused by the operating system or by a parser keep that error as their
//! [`source`](std::error::Error::source). `{}` prints this error's own line; `{:#}`
//! appends the chain of sources (`model.json: No such file or directory (os error 2)`),
//! which is what the binary prints. See [`Error::exit_code`] for the process exit
//! codes.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in `backprop-oracle`.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A parameter or spec field is out of range or inconsistent.
    /// `field` is a path such as `spec.sizes[1]` or `CheckConfig.step`.
    InvalidParameter {
        /// Where the bad value is, e.g. `spec.activations[0]`.
        field: String,
        /// What is wrong with it, e.g. `must be ≥ 1, got 0`.
        problem: String,
    },

    /// The operating system could not open, read or write a file.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A file exists but cannot be used as it is (a folder, a device, too large, not
    /// UTF-8, …).
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A JSON document could not be parsed (syntax, a repeated key, too large).
    Json {
        /// What was being parsed, e.g. the spec file's path.
        what: String,
        /// The reader's error, with line and column.
        source: ParseError,
    },

    /// Training produced a non-finite loss or parameter.
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

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::File`].
    pub fn file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Shorthand for [`Error::Json`].
    pub fn json(what: impl Into<String>, source: ParseError) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Diverged`].
    pub fn diverged(epoch: usize, sample: usize, what: impl Into<String>) -> Self {
        Error::Diverged {
            epoch,
            sample,
            what: what.into(),
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

    /// The same error with an [`Error::InvalidParameter`] field renamed by `rename`
    /// (which returns `None` to keep it). The CLI uses this to name flags.
    pub fn rename_field(self, rename: impl FnOnce(&str) -> Option<String>) -> Self {
        match self {
            Error::InvalidParameter { field, problem } => Error::InvalidParameter {
                field: rename(&field).unwrap_or(field),
                problem,
            },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidParameter { field, problem } => write!(f, "{field}: {problem}")?,
            Error::Io { path, .. } => write!(f, "{}", path.display())?,
            Error::File { path, problem } => write!(f, "{}: {problem}", path.display())?,
            Error::Json { what, .. } => write!(f, "{what}")?,
            Error::Diverged {
                epoch,
                sample,
                what,
            } => write!(
                f,
                "training diverged at epoch {epoch}, sample {sample}: {what} is not finite"
            )?,
        }
        if f.alternate() {
            let mut source = std::error::Error::source(self);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A JSON syntax error (or a document over the memory limit), with its position; the
/// source of [`Error::Json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, e.g. `duplicate key "loss"`.
    pub message: String,
    /// Line (from 1).
    pub line: u64,
    /// Column in bytes (from 1).
    pub column: u64,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for ParseError {}

/// `s` with every control character written as a visible `\u00XX` escape (C0 controls
/// but `\n` and `\t` when `keep_lines`, DEL, the C1 controls and the non-characters
/// U+FFFE/U+FFFF), so that text from a port, a file or a path cannot drive a terminal
/// (ANSI codes), break an error message over lines, or make an XML document ill-formed.
/// The escapes are JSON's, so applied to serialized JSON (whose strings hold no raw C0
/// controls) the result is the same JSON.
pub fn printable(s: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        let kept = keep_lines && (c == '\n' || c == '\t');
        (c.is_control() && !kept) || c == '\u{fffe}' || c == '\u{ffff}'
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `x` in a short form for messages: the shortest digits that give `x` back, with an
/// exponent when large or small (`1e300`, `1e-7`, `0.5`, `120`), never hundreds of
/// digits.
pub fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x}")
    } else {
        format!("{x:?}")
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_form_appends_the_source_chain() {
        let e = Error::io(
            "model.json",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.to_string(), "model.json");
        assert_eq!(format!("{e:#}"), "model.json: gone");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::invalid("spec.lr", "must be > 0");
        assert_eq!(format!("{e:#}"), "spec.lr: must be > 0");
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn printable_escapes_controls_and_short_numbers_stay_short() {
        assert_eq!(
            printable("a\u{1b}[31mb\0\nc", false),
            "a\\u001b[31mb\\u0000\\u000ac"
        );
        assert_eq!(
            printable("a\n\tb\u{7f}\u{9b}", true),
            "a\n\tb\\u007f\\u009b"
        );
        assert!(matches!(
            printable("plain ü", false),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(short(1e20), "1e20");
        assert_eq!(short(1e300), "1e300");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(120.0), "120");
        assert_eq!(short(-1e-7), "-1e-7");
        assert_eq!(short(f64::NAN), "NaN");
    }

    #[test]
    fn rename_field_renames_only_invalid_parameters() {
        let e = Error::invalid("Overrides.lr", "bad")
            .rename_field(|f| (f == "Overrides.lr").then(|| "--lr".to_string()));
        assert_eq!(e.to_string(), "--lr: bad");
        let e = Error::invalid("spec.lr", "bad").rename_field(|_| None);
        assert_eq!(e.to_string(), "spec.lr: bad");
    }
}
