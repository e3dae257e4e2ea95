//! Central finite differences with a relative step, Richardson extrapolation, kink
//! avoidance and a retry ladder.
//!
//! `D(h) = (f(θ+h) − f(θ−h)) / 2h`, `h = step·max(1, |θ|)`, rounded so that `θ ± h` is
//! exact (`h = (θ + h) − θ`). Truncation error `O(h²)`, rounding error about
//! `ε·|f|/h`; the estimate carries that rounding-noise bound for the comparison.
//!
//! A probe reports whether it crossed a kink (a relu/leaky_relu pre-activation that
//! changed sign). Then the step is halved up to [`KINK_HALVINGS`] times to stay on one
//! side; if the kink sits at the base point itself, one-sided differences are tried.

use crate::tolerance::Tolerance;

/// How many times the step is halved to step off a kink.
pub const KINK_HALVINGS: u32 = 24;

/// A non-differentiable point between the base point and a probe: a network's
/// pre-activation that changed sign, or a kink a user's function reported
/// ([`crate::check::Objective::kink`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kink {
    /// The layer (0-based); 0 for a user's kink.
    pub layer: usize,
    /// The unit (row of `W`) whose pre-activation `z` crossed 0; for a user's kink, the
    /// coordinate probed.
    pub unit: usize,
    /// The sample (row of the batch); 0 for a user's kink.
    pub sample: usize,
    /// How far the kink is from the base point (`|z|` there for a network).
    pub distance: f64,
    /// Whether the user's function reported it (else a network's relu/leaky_relu unit).
    pub user: bool,
}

impl Kink {
    /// A kink the user's function reported on coordinate (or direction) `k`, at
    /// `distance` from the base point.
    pub fn reported(k: usize, distance: f64) -> Kink {
        Kink {
            layer: 0,
            unit: k,
            sample: 0,
            distance,
            user: true,
        }
    }
}

/// The value of `f` at a probe, and a kink it crossed relative to the base point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// `f(θ + δ)`.
    pub value: f64,
    /// A kink between `θ` and `θ + δ`, if any.
    pub kink: Option<Kink>,
}

impl From<f64> for Probe {
    fn from(value: f64) -> Self {
        Probe { value, kink: None }
    }
}

/// A finite-difference estimate with its noise bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FdEstimate {
    /// The estimate of `∂f/∂θ` that was finally used.
    pub value: f64,
    /// The step of that estimate.
    pub step: f64,
    /// Rounding-noise bound of the estimate, `2ε·(|f₊| + |f₋|) / 2h`.
    pub noise: f64,
    /// The kink crossed at the default step, if any.
    pub kink: Option<Kink>,
    /// Whether an estimate from the retry ladder (other steps, Richardson) agreed with
    /// the dual value when the default one did not.
    pub retry_agrees: bool,
}

impl FdEstimate {
    /// Whether the estimate agrees with `oracle` within `tol` plus its own noise.
    pub fn agrees(&self, oracle: f64, tol: &Tolerance) -> bool {
        tol.accepts_with(self.value, oracle, self.noise)
    }
}

/// An exactly representable step for coordinate value `theta`: `(θ + h) − θ`.
pub fn step_for(theta: f64, step: f64) -> f64 {
    let h = step * theta.abs().max(1.0);
    (theta + h) - theta
}

fn central(f: &mut dyn FnMut(f64) -> Probe, h: f64) -> (f64, f64, Option<Kink>) {
    let (p, m) = (f(h), f(-h));
    let noise = 2.0 * f64::EPSILON * (p.value.abs() + m.value.abs()) / (2.0 * h);
    ((p.value - m.value) / (2.0 * h), noise, p.kink.or(m.kink))
}

/// Estimates `∂f/∂θ` at a coordinate with value `theta`. `f(δ)` evaluates the function
/// with the coordinate moved by `δ`. `oracle` (the dual value) and `tol` steer only the
/// retry ladder, which runs when the first estimate disagrees or crosses a kink.
pub fn estimate(
    theta: f64,
    f: &mut dyn FnMut(f64) -> Probe,
    step: f64,
    richardson: bool,
    oracle: f64,
    tol: &Tolerance,
) -> FdEstimate {
    let h = step_for(theta, step);
    let (mut value, mut noise, kink) = central(f, h);
    if richardson && kink.is_none() {
        let (half, half_noise, _) = central(f, h / 2.0);
        value = (4.0 * half - value) / 3.0;
        noise = (4.0 * half_noise + noise) / 3.0;
    }
    let mut est = FdEstimate {
        value,
        step: h,
        noise,
        kink,
        retry_agrees: false,
    };
    if est.agrees(oracle, tol) {
        return est;
    }
    if kink.is_some() {
        // Halve the step until neither probe crosses a kink.
        let mut hh = h;
        for _ in 0..KINK_HALVINGS {
            hh /= 2.0;
            let (v, n, k) = central(f, hh);
            if k.is_none() {
                est.value = v;
                est.noise = n;
                est.step = hh;
                est.retry_agrees = tol.accepts_with(v, oracle, n);
                return est;
            }
        }
        // The kink is at the base point: one-sided differences on a side without a crossing.
        let base = f(0.0).value;
        for dir in [1.0, -1.0] {
            let hh = dir * h / f64::from(1u32 << 10);
            let p = f(hh);
            if p.kink.is_none() {
                let v = (p.value - base) / hh;
                let n = 2.0 * f64::EPSILON * (p.value.abs() + base.abs()) / hh.abs();
                if tol.accepts_with(v, oracle, n + tol.rtol.sqrt() * hh.abs()) {
                    est.value = v;
                    est.noise = n;
                    est.step = hh;
                    est.retry_agrees = true;
                    return est;
                }
            }
        }
        return est;
    }
    // No kink: is it finite-difference noise? Try other steps and Richardson.
    for factor in [0.1, 10.0, 0.01] {
        let hh = step_for(theta, step * factor);
        let (d1, n1, k1) = central(f, hh);
        let (d2, n2, k2) = central(f, hh / 2.0);
        if k1.is_some() || k2.is_some() {
            continue;
        }
        let rich = (4.0 * d2 - d1) / 3.0;
        for (v, n) in [(d1, n1), (rich, (4.0 * n2 + n1) / 3.0)] {
            if tol.accepts_with(v, oracle, n) {
                est.retry_agrees = true;
                return est;
            }
        }
    }
    est
}
