//! The checks of vector-valued functions and second derivatives on the examples of
//! `examples/check_own_derivatives.rs`: a softmax Jacobian, a layer normalisation VJP and
//! the Rosenbrock Hessian pass when right; the slip in each is caught and named at the
//! entries it corrupts, as a backward bug (the claimed value differs from the exact dual
//! one, and finite differences agree with the dual one).

#[allow(dead_code)]
#[path = "../examples/check_own_derivatives.rs"]
mod derivatives;

use backprop_oracle::check::Verdict;

#[test]
fn the_right_derivatives_pass() {
    for report in derivatives::reports(false) {
        assert!(report.passed(), "{}", report.to_text());
        assert_eq!(report.checked, report.total);
    }
}

#[test]
fn each_slip_is_caught_and_named() {
    let [softmax, layer_norm, rosenbrock] = derivatives::reports(true);
    // diag(p) alone: every entry is off by p_i p_j, the diagonal too.
    assert_eq!(softmax.failures, 16, "{}", softmax.to_text());
    // Forgetting σ's dependence on x: every entry of every direction.
    assert_eq!(layer_norm.failures, 4 * 5, "{}", layer_norm.to_text());
    // −200a for −400a: exactly the two cross terms.
    assert_eq!(rosenbrock.failures, 2, "{}", rosenbrock.to_text());
    for report in [&softmax, &layer_norm, &rosenbrock] {
        let (worst, _) = report.worst.as_ref().expect("a worst entry");
        assert_eq!(worst.verdict, Verdict::BackwardBug, "{}", report.to_text());
        assert!(
            report.to_text().contains("backward bug"),
            "{}",
            report.to_text()
        );
    }
    let (worst, _) = rosenbrock.worst.as_ref().unwrap();
    assert!(worst.index == vec![0, 1] || worst.index == vec![1, 0]);
}
