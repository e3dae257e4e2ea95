//! The time of this crate's derivative checks on the shared examples of
//! `benches/derivative_checks.py` (PyTorch's `gradcheck`/`gradgradcheck` and JAX's
//! `check_grads` on the same functions and points):
//!
//! * layer normalisation `f: R⁶⁴ → R⁶⁴`, `y = (x − μ)/√(var + 10⁻⁵)`, at
//!   `x_i = sin(0.7 i) + 0.1 i`: the whole Jacobian (64×64 entries), and the VJP and JVP
//!   in four seeded random directions each;
//! * the chained Rosenbrock function `f: R¹⁶ → R`, `Σ (1 − x_i)² + 100 (x_{i+1} − x_i²)²`,
//!   at `x_i = 0.5 + 0.05 i`: the whole Hessian (16×16 entries).
//!
//! `cargo bench --bench derivative_checks` prints one line per check: the median of 11
//! runs, in milliseconds.

use std::time::Instant;

use backprop_oracle::check::{
    check_hessian, check_jacobian, check_jvp, check_vjp, CheckConfig, Directions, Objective,
    VectorFunction,
};
use backprop_oracle::scalar::Scalar;
use ndarray::{Array1, Array2, ArrayView1};

struct LayerNorm;

impl VectorFunction for LayerNorm {
    fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
        let n = x.len() as f64;
        let mu = x.iter().fold(T::zero(), |a, &v| a + v) / n;
        let var = x.iter().fold(T::zero(), |a, &v| a + (v - mu) * (v - mu)) / n;
        let sigma = (var + 1e-5).sqrt();
        x.mapv(|v| (v - mu) / sigma)
    }
}

/// Layer normalisation's Jacobian: `J = (I − 1/n − y yᵀ/n)/σ`.
fn layer_norm_jacobian(x: ArrayView1<f64>) -> (Array2<f64>, Array1<f64>, f64) {
    let n = x.len() as f64;
    let mu = x.sum() / n;
    let sigma = (x.mapv(|a| (a - mu) * (a - mu)).sum() / n + 1e-5).sqrt();
    let y = x.mapv(|a| (a - mu) / sigma);
    let j = Array2::from_shape_fn((x.len(), x.len()), |(i, k)| {
        (f64::from(u8::from(i == k)) - 1.0 / n - y[i] * y[k] / n) / sigma
    });
    (j, y, sigma)
}

struct Rosenbrock;

impl Objective for Rosenbrock {
    fn eval<T: Scalar>(&self, p: &[T]) -> T {
        p.windows(2).fold(T::zero(), |acc, w| {
            acc + (T::one() - w[0]).powi(2) + (w[1] - w[0] * w[0]).powi(2) * 100.0
        })
    }
}

fn rosenbrock_hessian(x: &[f64]) -> Array2<f64> {
    let n = x.len();
    let mut h = Array2::zeros((n, n));
    for i in 0..n - 1 {
        let (a, b) = (x[i], x[i + 1]);
        h[[i, i]] += 2.0 - 400.0 * (b - a * a) + 800.0 * a * a;
        h[[i, i + 1]] += -400.0 * a;
        h[[i + 1, i]] += -400.0 * a;
        h[[i + 1, i + 1]] += 200.0;
    }
    h
}

fn median_ms(mut f: impl FnMut() -> bool) -> f64 {
    let mut times: Vec<f64> = (0..11)
        .map(|_| {
            let start = Instant::now();
            assert!(f(), "the check must pass");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let cfg = CheckConfig::default();
    let x = Array1::from_shape_fn(64, |i| (0.7 * i as f64).sin() + 0.1 * i as f64);
    let (j, _, _) = layer_norm_jacobian(x.view());
    let report = |name: &str, ms: f64| println!("{name:<44} {ms:9.3} ms");
    report(
        "layer_norm_64 jacobian (4096 entries)",
        median_ms(|| {
            check_jacobian(&LayerNorm, x.view(), j.view(), &cfg)
                .unwrap()
                .passed()
        }),
    );
    let vjp = |v: ArrayView1<f64>| v.dot(&j);
    report(
        "layer_norm_64 vjp (4 random directions)",
        median_ms(|| {
            check_vjp(&LayerNorm, x.view(), vjp, Directions::default(), &cfg)
                .unwrap()
                .passed()
        }),
    );
    let jvp = |u: ArrayView1<f64>| j.dot(&u);
    report(
        "layer_norm_64 jvp (4 random directions)",
        median_ms(|| {
            check_jvp(&LayerNorm, x.view(), jvp, Directions::default(), &cfg)
                .unwrap()
                .passed()
        }),
    );
    let theta: Vec<f64> = (0..16).map(|i| 0.5 + 0.05 * i as f64).collect();
    let h = rosenbrock_hessian(&theta);
    report(
        "rosenbrock_16 hessian (256 entries)",
        median_ms(|| {
            check_hessian(&Rosenbrock, &theta, h.view(), &cfg)
                .unwrap()
                .passed()
        }),
    );
}
