//! The gradient checker: a claimed gradient against two independent oracles.
//!
//! For a scalar function `f(θ)` and a claimed gradient `g`:
//!
//! * **dual** — the exact forward-mode derivative: run the *same* generic code on
//!   `Dual64` numbers with `θ_i + 1·ε`; the `ε` part of `f` is `∂f/∂θ_i`, exact up to
//!   the rounding of the arithmetic itself.
//! * **finite differences** — `(f(θ + h e_i) − f(θ − h e_i)) / 2h` with the relative step
//!   `h_i = step·max(1, |θ_i|)`, `step = ε^(1/3)` by default (the step that balances
//!   truncation `O(h²)` against rounding `O(ε/h)`), optionally Richardson-extrapolated:
//!   `(4·D(h/2) − D(h)) / 3`.
//!
//! Comparison: `|a − b| ≤ atol + rtol·|b|`, with `b` the oracle. Claimed vs dual uses a
//! tight tolerance (default `rtol = 1e-10`, `atol = 1e-12`); finite differences a loose
//! one (default `rtol = 1e-6`, `atol = 1e-8`, plus the estimated rounding noise of the
//! difference quotient, `2ε·(|f(θ+h)| + |f(θ−h)|) / 2h`).
//!
//! Triage per element ([`Verdict`]): claimed ≠ dual → **backward bug** (the dual oracle
//! is exact, so the claimed value is wrong whatever finite differences say); claimed =
//! dual = FD → verified; claimed = dual ≠ FD and the FD probe crossed a kink → **kink**;
//! no kink, but FD agrees at another step or with Richardson → **FD noise**; otherwise
//! → **forward/oracle inconsistency** (the generic forward and its dual run disagree with
//! the f64 function itself). Only a backward bug, an inconsistency or a non-finite
//! value fails a check.
//!
//! Modules: [`general`] checks any user function; [`network`] checks the network's
//! backward pass; [`report`] aggregates and prints; [`bugs`] is the catalogue of
//! injectable mistakes.

pub mod bugs;
pub mod finite_diff;
pub mod general;
pub mod network;
pub mod report;

pub use general::{check_gradient, Objective};

/// `|a − b| ≤ atol + rtol·|b|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part, scaled by the oracle's magnitude.
    pub rtol: f64,
    /// Absolute part.
    pub atol: f64,
}

impl Tolerance {
    /// Whether `value` agrees with the `oracle` (never, if either is non-finite).
    pub fn accepts(&self, value: f64, oracle: f64) -> bool {
        self.accepts_with(value, oracle, 0.0)
    }

    /// As [`Tolerance::accepts`], with `extra` added to the absolute part.
    pub fn accepts_with(&self, value: f64, oracle: f64, extra: f64) -> bool {
        value.is_finite()
            && oracle.is_finite()
            && (value - oracle).abs() <= self.atol + extra + self.rtol * oracle.abs()
    }
}

/// Settings of a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckConfig {
    /// Claimed gradient vs the dual-number oracle.
    pub dual: Tolerance,
    /// Claimed gradient vs finite differences.
    pub fd: Tolerance,
    /// Relative finite-difference step factor: `h_i = step·max(1, |θ_i|)`.
    pub step: f64,
    /// Richardson-extrapolate the central difference (`(4·D(h/2) − D(h))/3`).
    pub richardson: bool,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            dual: Tolerance {
                rtol: 1e-10,
                atol: 1e-12,
            },
            fd: Tolerance {
                rtol: 1e-6,
                atol: 1e-8,
            },
            step: f64::EPSILON.cbrt(),
            richardson: false,
        }
    }
}

impl CheckConfig {
    /// Checks that tolerances and the step are finite and non-negative (step > 0).
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        for (name, v) in [
            ("--rtol", self.dual.rtol),
            ("--atol", self.dual.atol),
            ("--fd-rtol", self.fd.rtol),
            ("--fd-atol", self.fd.atol),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        if !(self.step.is_finite() && self.step > 0.0 && self.step < 1.0) {
            return Err(Error::invalid(
                "--step",
                format!("must be in (0, 1), got {}", self.step),
            ));
        }
        Ok(())
    }
}

/// A pre-activation that changed sign between the base point and a probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kink {
    /// The layer (0-based).
    pub layer: usize,
    /// The unit (row of `W`) whose pre-activation `z` crossed 0.
    pub unit: usize,
    /// The sample (row of the batch).
    pub sample: usize,
    /// `|z|` at the base point: how far the kink is.
    pub distance: f64,
}

/// The verdict for one checked element (or direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Claimed = dual = finite differences.
    Verified,
    /// Claimed = dual; the finite difference at the default step disagreed, but agreed at
    /// another step or with Richardson extrapolation, and crossed no kink.
    FdNoise,
    /// Claimed = dual; the finite-difference probe crossed a kink of relu/leaky_relu and
    /// no one-sided step avoided it. Does not fail the check.
    Kink,
    /// Dual ≠ finite differences away from any kink: the forward pass on dual numbers and
    /// on f64 disagree. Fails.
    Inconsistent,
    /// Claimed ≠ dual: the hand-derived backward pass is wrong here. Fails.
    BackwardBug,
    /// The parameters after a training step are not `θ − lr·g` with the exact `g`. Fails.
    UpdateBug,
    /// A compared value is NaN or infinite. Fails.
    NonFinite,
}

impl Verdict {
    /// Whether this element fails the check.
    pub fn fails(self) -> bool {
        matches!(
            self,
            Verdict::Inconsistent | Verdict::BackwardBug | Verdict::UpdateBug | Verdict::NonFinite
        )
    }

    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::FdNoise => "finite-difference noise",
            Verdict::Kink => "kink",
            Verdict::Inconsistent => "forward/oracle inconsistency",
            Verdict::BackwardBug => "backward bug",
            Verdict::UpdateBug => "update bug",
            Verdict::NonFinite => "non-finite value",
        }
    }
}

/// One checked element: the claimed value, both oracles, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementCheck {
    /// Index within the tensor (or `[d]` for direction `d`).
    pub index: Vec<usize>,
    /// The claimed (hand-derived) value.
    pub claimed: f64,
    /// The exact dual-number value.
    pub dual: f64,
    /// The finite-difference estimate used.
    pub fd: f64,
    /// The step of that estimate.
    pub fd_step: f64,
    /// A kink the default-step probe crossed, if any.
    pub kink: Option<Kink>,
    /// The verdict.
    pub verdict: Verdict,
}

impl ElementCheck {
    /// The element's record: its three values and the [`triage`] verdict.
    pub fn judge(
        index: Vec<usize>,
        claimed: f64,
        dual: f64,
        fd: &finite_diff::FdEstimate,
        cfg: &CheckConfig,
    ) -> Self {
        ElementCheck {
            index,
            claimed,
            dual,
            fd: fd.value,
            fd_step: fd.step,
            kink: fd.kink,
            verdict: triage(claimed, dual, fd, cfg),
        }
    }
}

/// Decides the verdict of one element from its three values (see the module docs).
pub fn triage(claimed: f64, dual: f64, fd: &finite_diff::FdEstimate, cfg: &CheckConfig) -> Verdict {
    if !claimed.is_finite() || !dual.is_finite() {
        return Verdict::NonFinite;
    }
    if !cfg.dual.accepts(claimed, dual) {
        return Verdict::BackwardBug;
    }
    if fd.agrees(dual, &cfg.fd) {
        Verdict::Verified
    } else if fd.kink.is_some() {
        Verdict::Kink
    } else if fd.retry_agrees {
        Verdict::FdNoise
    } else if !fd.value.is_finite() {
        Verdict::NonFinite
    } else {
        Verdict::Inconsistent
    }
}

#[cfg(test)]
mod tests {
    use super::finite_diff::FdEstimate;
    use super::*;

    fn fd(value: f64, kink: bool, retry_agrees: bool) -> FdEstimate {
        FdEstimate {
            value,
            step: 1e-5,
            noise: 0.0,
            kink: kink.then_some(Kink {
                layer: 0,
                unit: 0,
                sample: 0,
                distance: 1e-7,
            }),
            retry_agrees,
        }
    }

    #[test]
    fn triage_decides_each_verdict() {
        let cfg = CheckConfig::default();
        let v = |claimed, dual, f| triage(claimed, dual, &f, &cfg);
        assert_eq!(v(1.0, 1.0, fd(1.0, false, false)), Verdict::Verified);
        assert_eq!(
            v(1.0 + 1e-6, 1.0, fd(1.0, false, false)),
            Verdict::BackwardBug
        );
        // The dual oracle decides even when finite differences agree with the claim.
        assert_eq!(v(1.1, 1.0, fd(1.1, false, false)), Verdict::BackwardBug);
        assert_eq!(v(1.0, 1.0, fd(3.0, true, false)), Verdict::Kink);
        assert_eq!(v(1.0, 1.0, fd(3.0, false, true)), Verdict::FdNoise);
        assert_eq!(v(1.0, 1.0, fd(3.0, false, false)), Verdict::Inconsistent);
        assert_eq!(v(1.0, 1.0, fd(f64::NAN, false, false)), Verdict::NonFinite);
        // Either claimed or dual alone non-finite is enough.
        assert_eq!(v(f64::NAN, 1.0, fd(1.0, false, false)), Verdict::NonFinite);
        assert_eq!(
            v(1.0, f64::INFINITY, fd(1.0, false, false)),
            Verdict::NonFinite
        );
        for ok in [Verdict::Verified, Verdict::FdNoise, Verdict::Kink] {
            assert!(!ok.fails());
        }
        for bad in [
            Verdict::Inconsistent,
            Verdict::BackwardBug,
            Verdict::UpdateBug,
            Verdict::NonFinite,
        ] {
            assert!(bad.fails());
        }
    }

    #[test]
    fn tolerance_is_atol_plus_rtol_times_the_oracle() {
        let t = Tolerance {
            rtol: 1e-3,
            atol: 1e-6,
        };
        assert!(t.accepts(100.1, 100.0)); // |0.1| ≤ 1e-6 + 0.1
        assert!(!t.accepts(100.2, 100.0));
        assert!(t.accepts(1e-6, 0.0));
        assert!(!t.accepts(2e-6, 0.0));
        assert!(t.accepts_with(3e-6, 0.0, 2e-6));
        assert!(!t.accepts(f64::NAN, 0.0) && !t.accepts(0.0, f64::INFINITY));
    }

    #[test]
    fn config_validation_names_the_flag() {
        let ok = CheckConfig::default();
        assert!(ok.validate().is_ok());
        let bad = |c: CheckConfig, flag: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(flag), "{e}");
        };
        bad(
            CheckConfig {
                dual: Tolerance {
                    rtol: f64::NAN,
                    atol: 0.0,
                },
                ..ok
            },
            "--rtol",
        );
        bad(
            CheckConfig {
                dual: Tolerance {
                    rtol: 0.0,
                    atol: -1.0,
                },
                ..ok
            },
            "--atol",
        );
        bad(
            CheckConfig {
                fd: Tolerance {
                    rtol: f64::INFINITY,
                    atol: 0.0,
                },
                ..ok
            },
            "--fd-rtol",
        );
        bad(
            CheckConfig {
                fd: Tolerance {
                    rtol: 0.0,
                    atol: -0.5,
                },
                ..ok
            },
            "--fd-atol",
        );
        for step in [0.0, 1.0, -1e-6, f64::NAN] {
            bad(CheckConfig { step, ..ok }, "--step");
        }
        assert!(CheckConfig {
            step: 0.999,
            dual: Tolerance {
                rtol: 0.0,
                atol: 0.0
            },
            ..ok
        }
        .validate()
        .is_ok());
    }
}
