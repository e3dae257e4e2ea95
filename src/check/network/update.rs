//! The update check: a training step must move the parameters by `−lr·g` with the
//! exact `g` of the dual oracle.

use crate::check::config::CheckConfig;
use crate::check::network::options::Tensor;
use crate::check::network::probe::ProbeKind;
use crate::check::triage::{ElementCheck, Verdict};
use crate::nn::network::Network;

/// Checks that the step moved the probed coordinate (or direction) by `−lr·g` with the
/// exact `g` from the dual oracle, to the rounding of `θ − lr·g`.
pub fn update_check(
    before: &Network<f64>,
    after: &Network<f64>,
    t: Tensor,
    probe: &ProbeKind,
    e: &ElementCheck,
    lr: f64,
    cfg: &CheckConfig,
) -> ElementCheck {
    // Views, not copies: this runs once per element check.
    fn params(net: &Network<f64>, t: Tensor) -> ndarray::ArrayViewD<'_, f64> {
        match t {
            Tensor::W(k) => net.layers[k].w.view().into_dyn(),
            Tensor::B(k) => net.layers[k].b.view().into_dyn(),
            Tensor::X => unreachable!("inputs are not updated"),
        }
    }
    let (p0, p1) = (params(before, t), params(after, t));
    let ulp = |x: f64| 4.0 * f64::EPSILON * x.abs();
    let (moved, expected, tol, index) = match probe {
        ProbeKind::Coord(idx) => {
            let (a, b) = (p0[idx.as_slice()], p1[idx.as_slice()]);
            let want = a - lr * e.dual;
            let tol = ulp(a.abs().max(b.abs())) + lr * cfg.dual.allowed(e.dual, 0.0);
            (b - a, want - a, tol, idx.clone())
        }
        ProbeKind::Direction(v) => {
            let moved: f64 = p1
                .iter()
                .zip(p0.iter())
                .zip(v.iter())
                .map(|((b, a), d)| (b - a) * d)
                .sum();
            let tol: f64 = p0
                .iter()
                .zip(p1.iter())
                .zip(v.iter())
                .map(|((a, b), d)| d.abs() * ulp(a.abs().max(b.abs())))
                .sum::<f64>()
                + lr * cfg.dual.allowed(e.dual, 0.0);
            (moved, -lr * e.dual, tol, vec![])
        }
    };
    let verdict = if !moved.is_finite() || !expected.is_finite() {
        Verdict::NonFinite
    } else if (moved - expected).abs() <= tol {
        Verdict::Verified
    } else {
        Verdict::UpdateBug
    };
    ElementCheck {
        index,
        claimed: moved,
        dual: expected,
        fd: f64::NAN,
        fd_step: 0.0,
        kink: None,
        verdict,
    }
}
