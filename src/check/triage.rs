//! The verdict of one checked element, from its three values: claimed, dual, finite
//! difference (see the [module docs of `check`](crate::check)).

use crate::check::config::CheckConfig;
use crate::check::finite_diff::{FdEstimate, Kink};

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
        fd: &FdEstimate,
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
pub fn triage(claimed: f64, dual: f64, fd: &FdEstimate, cfg: &CheckConfig) -> Verdict {
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
                user: false,
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
}
