//! The general gradient checker `check_gradient` on user-defined objectives: a correct
//! gradient passes, a wrong element is named, a tiny (1e-7 relative) error that finite
//! differences cannot see is caught by the dual oracle, bad inputs are refused with the
//! field named, and the behaviour next to a kink of `|x|` is pinned down.

use backprop_oracle::check::{check_gradient, CheckConfig, Objective, Verdict};
use backprop_oracle::scalar::Scalar;
use backprop_oracle::Error;

/// Rosenbrock in n dimensions: `Σ_{i<n−1} 100 (x_{i+1} − x_i²)² + (1 − x_i)²`.
struct Rosenbrock;

impl Objective for Rosenbrock {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        let mut f = T::zero();
        for i in 0..p.len() - 1 {
            f += (p[i + 1] - p[i] * p[i]).powi(2) * 100.0 + (T::one() - p[i]).powi(2);
        }
        f
    }
}

fn rosenbrock_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut g = vec![0.0; n];
    for i in 0..n - 1 {
        let r = x[i + 1] - x[i] * x[i];
        g[i] += -400.0 * x[i] * r - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * r;
    }
    g
}

/// `Σ_i sin(x_i)·exp(x_{i+1}/2)` (cyclic), a smooth function of products.
struct SinExp;

impl Objective for SinExp {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        let n = p.len();
        let mut f = T::zero();
        for i in 0..n {
            f += p[i].sin() * (p[(i + 1) % n] * 0.5).exp();
        }
        f
    }
}

fn sin_exp_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut g = vec![0.0; n];
    for i in 0..n {
        let j = (i + 1) % n;
        let e = (0.5 * x[j]).exp();
        g[i] += x[i].cos() * e;
        g[j] += x[i].sin() * 0.5 * e;
    }
    g
}

/// `|x_0| + x_1² + x_0·x_1`: a kink along `x_0 = 0`. `|·|` is written by branching
/// on the value, so the dual derivative is the branch's (`±1`).
struct AbsKink;

impl Objective for AbsKink {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        let abs0 = if p[0].value() >= 0.0 { p[0] } else { -p[0] };
        abs0 + p[1] * p[1] + p[0] * p[1]
    }

    /// `|x_0|`'s kink at 0: crossed when the probe's `x_0` is on the other side.
    fn kink(&self, theta: &[f64], probe: &[f64]) -> Option<f64> {
        ((theta[0] >= 0.0) != (probe[0] >= 0.0)).then_some(theta[0].abs())
    }
}

const X5: [f64; 5] = [0.3, -1.2, 0.8, 1.7, -0.4];

#[test]
fn correct_gradients_of_smooth_functions_are_verified_everywhere() {
    let cfg = CheckConfig::default();
    for (name, report) in [
        (
            "rosenbrock",
            check_gradient(&Rosenbrock, &X5, &rosenbrock_grad(&X5), &cfg).unwrap(),
        ),
        (
            "sin_exp",
            check_gradient(&SinExp, &X5, &sin_exp_grad(&X5), &cfg).unwrap(),
        ),
    ] {
        assert!(report.passed(), "{name}:\n{}", report.to_text());
        assert_eq!((report.checked, report.total), (5, 5), "{name}");
        assert_eq!(
            (report.failures, report.kinks, report.fd_noise),
            (0, 0, 0),
            "{name}"
        );
        assert_eq!(
            report.verdict(),
            "verified",
            "{name}:\n{}",
            report.to_text()
        );
        // The worst element is the most severe one: Verified means every element is.
        let (worst, _) = report.worst.as_ref().expect("something was checked");
        assert_eq!(
            worst.verdict,
            Verdict::Verified,
            "{name}:\n{}",
            report.to_text()
        );
        assert!(
            report.max_rel_dual <= 1e-12,
            "{name}: {:e}",
            report.max_rel_dual
        );
        assert!(report.max_rel_fd <= 1e-6, "{name}: {:e}", report.max_rel_fd);
        println!("{name}: {}", report.to_text().trim_end());
    }
}

#[test]
fn one_wrong_element_is_named_as_a_backward_bug() {
    let cfg = CheckConfig::default();
    let mut g = rosenbrock_grad(&X5);
    g[2] += 0.5;
    let report = check_gradient(&Rosenbrock, &X5, &g, &cfg).unwrap();
    assert!(!report.passed());
    assert_eq!(report.failures, 1, "{}", report.to_text());
    assert_eq!(report.first_failures.len(), 1);
    let (e, at) = &report.first_failures[0];
    assert_eq!(e.index, vec![2]);
    assert_eq!(e.verdict, Verdict::BackwardBug);
    assert_eq!(e.claimed, g[2]);
    assert!(at.is_none());
    assert!((e.dual - rosenbrock_grad(&X5)[2]).abs() <= 1e-12 * e.dual.abs().max(1.0));
    assert_eq!(report.verdict(), "backward bug");
    assert!(
        report.to_text().contains("backward bug: theta[2]"),
        "{}",
        report.to_text()
    );
}

#[test]
fn a_1e7_relative_error_is_caught_by_the_dual_oracle_but_not_by_fd() {
    let cfg = CheckConfig::default();
    for (name, exact, i) in [
        ("rosenbrock", rosenbrock_grad(&X5), 3usize),
        ("sin_exp", sin_exp_grad(&X5), 1usize),
    ] {
        assert!(exact[i].abs() > 0.1, "{name}: pick a well-scaled element");
        let mut g = exact.clone();
        g[i] *= 1.0 + 1e-7;
        let report = match name {
            "rosenbrock" => check_gradient(&Rosenbrock, &X5, &g, &cfg),
            _ => check_gradient(&SinExp, &X5, &g, &cfg),
        }
        .unwrap();
        assert_eq!(report.failures, 1, "{name}:\n{}", report.to_text());
        let (e, _) = &report.first_failures[0];
        assert_eq!(
            (e.index.as_slice(), e.verdict),
            ([i].as_slice(), Verdict::BackwardBug),
            "{name}"
        );
        // The dual oracle sees the error (1e-7 ≫ its 1e-10 tolerance) …
        assert!(!cfg.dual.accepts(e.claimed, e.dual));
        // … finite differences alone could not: the wrong value is inside FD's tolerance
        // of the FD estimate, exactly as the correct one is.
        assert!(
            cfg.fd.accepts(e.claimed, e.fd),
            "{name}: claimed {:e}, fd {:e}",
            e.claimed,
            e.fd
        );
        assert!(
            cfg.fd.accepts(exact[i], e.fd),
            "{name}: exact {:e}, fd {:e}",
            exact[i],
            e.fd
        );
        println!(
            "{name}[{i}]: claimed {:.15e}, dual {:.15e}, fd {:.15e}, |claimed−fd|/|fd| = {:.1e}",
            e.claimed,
            e.dual,
            e.fd,
            (e.claimed - e.fd).abs() / e.fd.abs()
        );
    }
}

fn field_of(err: Error) -> String {
    match err {
        Error::InvalidParameter { field, .. } => field,
        other => panic!("expected an invalid-parameter error, got {other}"),
    }
}

#[test]
fn bad_inputs_are_refused_naming_the_field() {
    let cfg = CheckConfig::default();
    let g = rosenbrock_grad(&X5);

    let mut theta = X5;
    theta[1] = f64::NAN;
    let err = check_gradient(&Rosenbrock, &theta, &g, &cfg).unwrap_err();
    assert!(
        err.to_string().starts_with("theta[1]: must be finite"),
        "{err}"
    );
    assert_eq!(field_of(err), "theta[1]");

    theta = X5;
    theta[4] = f64::NEG_INFINITY;
    let err = check_gradient(&Rosenbrock, &theta, &g, &cfg).unwrap_err();
    assert_eq!(field_of(err), "theta[4]");

    let mut bad = g.clone();
    bad[0] = f64::INFINITY;
    let err = check_gradient(&Rosenbrock, &X5, &bad, &cfg).unwrap_err();
    assert!(
        err.to_string().starts_with("claimed[0]: must be finite"),
        "{err}"
    );
    assert_eq!(field_of(err), "claimed[0]");

    bad = g.clone();
    bad[3] = f64::NAN;
    let err = check_gradient(&Rosenbrock, &X5, &bad, &cfg).unwrap_err();
    assert_eq!(field_of(err), "claimed[3]");

    let err = check_gradient(&Rosenbrock, &X5, &g[..4], &cfg).unwrap_err();
    assert_eq!(err.to_string(), "claimed: has 4 entries for 5 parameters");
    assert_eq!(field_of(err), "claimed");

    let mut long = g.clone();
    long.push(0.0);
    let err = check_gradient(&Rosenbrock, &X5, &long, &cfg).unwrap_err();
    assert_eq!(err.to_string(), "claimed: has 6 entries for 5 parameters");
}

/// `|x|` within 1e-9 of its kink. The correct gradient (`sign(x_0) + x_1`, `2x_1 + x_0`)
/// must not be failed. The central difference at the default step (~6e-6 ≫ 1e-9) crosses
/// the kink and cannot agree; `AbsKink` reports its kink (`Objective::kink`), so the
/// checker steps off it as it does off a relu unit and does not blame the claimed
/// gradient (claimed = dual exactly). Without the report every point failed as
/// `Inconsistent` (at x0 = 5e-10: claimed = dual = 1.7, fd = 0.70008, step 6.1e-6).
#[test]
fn correct_gradient_next_to_an_abs_kink_is_not_failed() {
    let cfg = CheckConfig::default();
    let mut failed = Vec::new();
    for x0 in [5e-10f64, -5e-10, 1e-9, -1e-9] {
        let theta = [x0, 0.7];
        let claimed = [x0.signum() + theta[1], 2.0 * theta[1] + x0];
        let report = check_gradient(&AbsKink, &theta, &claimed, &cfg).unwrap();
        println!("x0 = {x0:e}:\n{}", report.to_text().trim_end());
        let e0 = report
            .worst
            .iter()
            .chain(report.first_failures.iter())
            .find(|(e, _)| e.index == [0])
            .map(|(e, _)| e.clone());
        if let Some(e0) = e0 {
            println!(
                "  element [0]: verdict {:?} ({})",
                e0.verdict,
                e0.verdict.label()
            );
        }
        if !report.passed() {
            failed.push(format!(
                "x0 = {x0:e}: correct gradient failed near the kink:\n{}",
                report.to_text()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The same function without its kink reported: the finite difference across the kink
/// disagrees with the exact dual value, and with nothing to explain it the element is a
/// forward/oracle inconsistency (the check fails, but never blames the claimed value).
#[test]
fn an_unreported_kink_is_an_inconsistency_not_a_backward_bug() {
    struct Unreported;
    impl Objective for Unreported {
        fn eval<T: Scalar>(&self, p: &[T]) -> T {
            AbsKink.eval(p)
        }
    }
    let theta = [5e-10, 0.7];
    let claimed = [1.0 + theta[1], 2.0 * theta[1] + theta[0]];
    let report = check_gradient(&Unreported, &theta, &claimed, &CheckConfig::default()).unwrap();
    let (worst, _) = report.worst.as_ref().unwrap();
    assert_eq!(worst.index, vec![0]);
    assert_eq!(worst.verdict, backprop_oracle::check::Verdict::Inconsistent);
    let reported = check_gradient(&AbsKink, &theta, &claimed, &CheckConfig::default()).unwrap();
    assert!(reported.passed(), "{}", reported.to_text());
}
