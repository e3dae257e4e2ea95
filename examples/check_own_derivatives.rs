//! Checking hand-written derivatives of your own code beyond a gradient: a softmax
//! Jacobian, a layer normalisation's vector-Jacobian product and the Rosenbrock
//! function's Hessian — each right, and each with the slip people make, which the
//! checker catches and names (the entry, its claimed, dual and finite-difference
//! values, and the verdict).
//!
//! Run: `cargo run --example check_own_derivatives` (tests: `tests/check_derivatives.rs`)

use backprop_oracle::check::report::TensorReport;
use backprop_oracle::check::{
    check_hessian, check_jacobian, check_vjp, CheckConfig, Directions, Objective, VectorFunction,
};
use backprop_oracle::scalar::Scalar;
use ndarray::{array, Array1, Array2, ArrayView1};

/// `softmax(z)_k = e^{z_k − c} / Σ_j e^{z_j − c}`, `c = max z`.
pub struct Softmax;

impl VectorFunction for Softmax {
    fn eval<T: Scalar>(&self, z: ArrayView1<T>) -> Array1<T> {
        let c = z
            .iter()
            .map(|v| v.value())
            .fold(f64::NEG_INFINITY, f64::max);
        let e = z.mapv(|v| (v - c).exp());
        let s = e.iter().fold(T::zero(), |a, &v| a + v);
        e.mapv(|v| v / s)
    }
}

/// The softmax's Jacobian, `J = diag(p) − p pᵀ` (`J[i][j] = p_i (δ_ij − p_j)`); with
/// `wrong`, the slip `diag(p)` alone (the softmax treated as elementwise).
pub fn softmax_jacobian(z: ArrayView1<f64>, wrong: bool) -> Array2<f64> {
    let p = Softmax.eval(z);
    let n = p.len();
    Array2::from_shape_fn((n, n), |(i, j)| {
        let diagonal = if i == j { p[i] } else { 0.0 };
        if wrong {
            diagonal
        } else {
            diagonal - p[i] * p[j]
        }
    })
}

/// Layer normalisation without scale and shift: `y = (x − μ)/σ`, `μ = mean x`,
/// `σ = √(mean (x − μ)² + 10⁻⁵)`.
pub struct LayerNorm;

const LN_EPS: f64 = 1e-5;

impl VectorFunction for LayerNorm {
    fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
        let n = x.len() as f64;
        let mu = x.iter().fold(T::zero(), |a, &v| a + v) / n;
        let var = x.iter().fold(T::zero(), |a, &v| a + (v - mu) * (v - mu)) / n;
        let sigma = (var + LN_EPS).sqrt();
        x.mapv(|v| (v - mu) / sigma)
    }
}

/// Layer normalisation's vector-Jacobian product, hand-derived:
/// `vᵀJ = (v − mean v − y·mean(v ⊙ y)) / σ`. With `wrong`, the slip that forgets that σ
/// depends on x (the `− y·mean(v ⊙ y)` term).
pub fn layer_norm_vjp(x: ArrayView1<f64>, v: ArrayView1<f64>, wrong: bool) -> Array1<f64> {
    let y = LayerNorm.eval(x);
    let n = x.len() as f64;
    let mu = x.sum() / n;
    let sigma = (x.mapv(|a| (a - mu) * (a - mu)).sum() / n + LN_EPS).sqrt();
    let mean_v = v.sum() / n;
    let mean_vy = (&v * &y).sum() / n;
    if wrong {
        v.mapv(|a| (a - mean_v) / sigma)
    } else {
        Array1::from_shape_fn(x.len(), |i| (v[i] - mean_v - y[i] * mean_vy) / sigma)
    }
}

/// Rosenbrock: `f(a, b) = (1 − a)² + 100 (b − a²)²`.
pub struct Rosenbrock;

impl Objective for Rosenbrock {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        (T::one() - p[0]).powi(2) + (p[1] - p[0] * p[0]).powi(2) * 100.0
    }
}

/// Rosenbrock's Hessian, `[[2 − 400(b − a²) + 800a², −400a], [−400a, 200]]`; with
/// `wrong`, the slip `−200a` in the cross terms (the 2 of the square's derivative lost).
pub fn rosenbrock_hessian(a: f64, b: f64, wrong: bool) -> Array2<f64> {
    let cross = if wrong { -200.0 * a } else { -400.0 * a };
    array![
        [2.0 - 400.0 * (b - a * a) + 800.0 * a * a, cross],
        [cross, 200.0]
    ]
}

/// The three checks, right (`wrong = false`) or with the slips.
pub fn reports(wrong: bool) -> [TensorReport; 3] {
    let cfg = CheckConfig::default();
    let z = array![1.0, -0.5, 2.0, 0.25];
    let softmax = check_jacobian(
        &Softmax,
        z.view(),
        softmax_jacobian(z.view(), wrong).view(),
        &cfg,
    )
    .expect("valid input");
    let x = array![0.3, -1.2, 2.5, 0.7, -0.1];
    let vjp = |v: ArrayView1<f64>| layer_norm_vjp(x.view(), v, wrong);
    let layer_norm =
        check_vjp(&LayerNorm, x.view(), vjp, Directions::default(), &cfg).expect("valid input");
    let (a, b) = (0.5, 2.0);
    let rosenbrock = check_hessian(
        &Rosenbrock,
        &[a, b],
        rosenbrock_hessian(a, b, wrong).view(),
        &cfg,
    )
    .expect("valid input");
    [softmax, layer_norm, rosenbrock]
}

#[allow(dead_code)]
fn main() {
    for wrong in [false, true] {
        println!("== {}", if wrong { "with the slips" } else { "right" });
        for report in reports(wrong) {
            print!("{}", report.to_text());
            assert_eq!(report.passed(), !wrong);
        }
    }
}
