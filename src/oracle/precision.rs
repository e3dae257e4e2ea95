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
//! final parameters) the measured drift of the reference when its parameters and data
//! are rounded to the port's precision after every update ([`drift_bound`]).

use ndarray::{ArrayD, ArrayView2};

use crate::check::bugs::{Buggy, Variant};
use crate::error::Result;
use crate::io::spec::Spec;
use crate::nn::network::Network;
use crate::nn::sgd::{Outcome, Stepper};
use crate::oracle::trajectory::{record_with, Trajectory};
use crate::tolerance::Tolerance;

/// A port's floating-point precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// IEEE binary32.
    F32,
    /// IEEE binary64 (the reference's).
    F64,
}

/// How many times the measured float32 drift of the reference a port may drift.
pub const DRIFT_FACTOR: f64 = 8.0;

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

/// The drift bound of one array, from the reference (`reference`) and its twin with
/// parameters and data rounded to the port's precision (`rounded`): [`DRIFT_FACTOR`]
/// times the twin's deviation, plus 16 roundings of each value (`16·u·|e|`). The
/// deviation is taken as an envelope, not element by element (where the twin may land
/// close to the reference by chance): for the epoch losses its running maximum relative
/// to each epoch's loss (drift accumulates), for any other array its largest absolute
/// value over the array.
pub fn drift_bound(
    reference: &ArrayD<f64>,
    rounded: &ArrayD<f64>,
    u: f64,
    epochs: bool,
) -> ArrayD<f64> {
    let mut out = reference.clone();
    if epochs {
        let mut envelope = 0.0f64;
        out.zip_mut_with(rounded, |e, &r| {
            envelope = envelope.max((r - *e).abs() / e.abs().max(f64::MIN_POSITIVE));
            *e = DRIFT_FACTOR * envelope * e.abs() + 16.0 * u * e.abs();
        });
    } else {
        let envelope = reference
            .iter()
            .zip(rounded.iter())
            .map(|(e, r)| (r - e).abs())
            .fold(0.0, f64::max);
        out.mapv_inplace(|e| DRIFT_FACTOR * envelope + 16.0 * u * e.abs());
    }
    out
}

/// A stepper whose parameters are rounded to a precision before and after every step.
struct Rounded {
    inner: Buggy,
    precision: Precision,
}

fn round_net(net: &mut Network<f64>, p: Precision) {
    for l in &mut net.layers {
        l.w.mapv_inplace(|v| p.round(v));
        l.b.mapv_inplace(|v| p.round(v));
    }
}

impl Stepper for Rounded {
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_> {
        round_net(net, self.precision);
        let out = self.inner.step(net, x, y, lr, record);
        round_net(net, self.precision);
        let finite = out.finite && net.first_non_finite().is_none();
        Outcome { finite, ..out }
    }
}

/// The reference run (as `variant`) with its data and, before and after every update,
/// its parameters rounded to `precision`: the drift that rounding alone causes, which
/// bounds how far a correct port in that precision may drift ([`drift_bound`]).
pub fn record_rounded(
    spec: &Spec,
    trace_steps: usize,
    variant: Variant,
    precision: Precision,
) -> Result<Trajectory> {
    let rounded = Spec {
        x: spec.x.mapv(|v| precision.round(v)),
        y: spec.y.mapv(|v| precision.round(v)),
        ..spec.clone()
    };
    let mut stepper = Rounded {
        inner: Buggy::new(variant),
        precision,
    };
    record_with(&rounded, trace_steps, &mut stepper)
}
