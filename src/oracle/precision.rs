//! The precision a port computes in, and what it allows.
//!
//! | precision | unit roundoff `u` | slack on top of the rounding bounds |
//! |---|---|---|
//! | float64 | 2⁻⁵³ ≈ 1.1e-16 | `rtol = 1e-9`, `atol = 1e-12` |
//! | float32 | 2⁻²⁴ ≈ 6.0e-8 | `atol = 1e-30` (subnormals flushed to zero) |
//!
//! Compare accepts `|got − expected| ≤ bound + atol + rtol·|expected|`, where the bound
//! is derived from `u` for each value: its rounding from float64 for the initial
//! parameters (`u·|expected|`), the first-order rounding bound of a re-anchored step
//! ([`crate::oracle::rounding`]), and for what cannot be re-anchored (epoch losses,
//! final parameters) a multiple of the drift of the reference's twin run
//! ([`crate::oracle::drift`]).

use crate::tolerance::Tolerance;

/// A port's floating-point precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// IEEE binary32.
    F32,
    /// IEEE binary64 (the reference's).
    F64,
}

impl Precision {
    /// The unit roundoff `u` (half the machine epsilon).
    pub fn unit_roundoff(self) -> f64 {
        match self {
            Precision::F32 => f64::from(f32::EPSILON) / 2.0,
            Precision::F64 => f64::EPSILON / 2.0,
        }
    }

    /// `float32` or `float64`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "float32",
            Precision::F64 => "float64",
        }
    }

    /// Parses `f32`/`float32` or `f64`/`float64`.
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "f32" | "float32" => Some(Precision::F32),
            "f64" | "float64" => Some(Precision::F64),
            _ => None,
        }
    }

    /// The slack added to the derived bounds (the table in the module docs).
    pub fn default_slack(self) -> Tolerance {
        match self {
            Precision::F64 => Tolerance {
                rtol: 1e-9,
                atol: 1e-12,
            },
            Precision::F32 => Tolerance {
                rtol: 0.0,
                atol: 1e-30,
            },
        }
    }

    /// `x` rounded to this precision.
    pub fn round(self, x: f64) -> f64 {
        match self {
            Precision::F32 => x as f32 as f64,
            Precision::F64 => x,
        }
    }

    /// Whether every value is exactly representable in this precision.
    pub fn holds<'a>(self, mut values: impl Iterator<Item = &'a f64>) -> bool {
        values.all(|&v| !v.is_finite() || self.round(v) == v)
    }
}
