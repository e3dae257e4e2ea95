//! Checking your own hand-written derivative with the general checker.
//!
//! Run: `cargo run --example check_own_gradient`
//!
//! The function is written once, generic over the scalar, so the checker can run it on
//! dual numbers (exact derivative) and on f64 (finite differences).

use backprop_oracle::check::{check_gradient, CheckConfig, Objective};
use backprop_oracle::scalar::Scalar;

/// Softplus regression loss for one sample: `f(w, b) = ln(1 + e^(w·x + b)) − y·(w·x + b)`
/// with `x = (0.5, −1.2, 2.0)`, `y = 1` (logistic regression's negative log-likelihood).
struct Logistic;

const X: [f64; 3] = [0.5, -1.2, 2.0];

impl Objective for Logistic {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        let z = p[0] * X[0] + p[1] * X[1] + p[2] * X[2] + p[3];
        (z.exp() + 1.0).ln() - z
    }
}

/// The hand-derived gradient: `∂f/∂w_i = (σ(z) − y)·x_i`, `∂f/∂b = σ(z) − y`.
fn gradient(p: &[f64]) -> Vec<f64> {
    let z = p[0] * X[0] + p[1] * X[1] + p[2] * X[2] + p[3];
    let r = 1.0 / (1.0 + (-z).exp()) - 1.0;
    vec![r * X[0], r * X[1], r * X[2], r]
}

fn main() {
    let theta = [0.3, -0.1, 0.8, 0.05];
    let report = check_gradient(
        &Logistic,
        &theta,
        &gradient(&theta),
        &CheckConfig::default(),
    )
    .expect("valid input");
    print!("{}", report.to_text());
    assert!(report.passed());

    // A typical mistake: the sign of the residual flipped.
    let wrong: Vec<f64> = gradient(&theta).iter().map(|g| -g).collect();
    let report =
        check_gradient(&Logistic, &theta, &wrong, &CheckConfig::default()).expect("valid input");
    print!("{}", report.to_text());
    assert!(!report.passed());
}
