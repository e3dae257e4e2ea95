//! Assertions for `cargo test`: each runs a check and panics with the report's text when
//! it fails (or with the error when it cannot run), so a wrong derivative fails the test
//! and the message says which entry is wrong, its three values and the verdict.
//! Each takes an optional last argument, a [`CheckConfig`](crate::check::CheckConfig)
//! (and, for the products, [`Directions`](crate::check::Directions) before it); they need
//! no CLI (`backprop-oracle = { default-features = false }` is enough).

/// Asserts that `claimed` is the gradient of the [`Objective`](crate::check::Objective)
/// `f` at `theta` ([`check_gradient`](crate::check::check_gradient)).
///
/// ```
/// use backprop_oracle::{assert_gradient, check::Objective, scalar::Scalar};
///
/// /// f(a, b) = a²·b.
/// struct F;
/// impl Objective for F {
///     fn eval<T: Scalar>(&self, p: &[T]) -> T {
///         p[0] * p[0] * p[1]
///     }
/// }
/// let (a, b) = (1.5, -2.0);
/// assert_gradient!(F, [a, b], [2.0 * a * b, a * a]);
/// ```
///
/// A wrong gradient panics with the report:
///
/// ```should_panic
/// # use backprop_oracle::{assert_gradient, check::Objective, scalar::Scalar};
/// # struct F;
/// # impl Objective for F {
/// #     fn eval<T: Scalar>(&self, p: &[T]) -> T { p[0] * p[0] * p[1] }
/// # }
/// assert_gradient!(F, [1.5, -2.0], [-6.0, 2.0]); // ∂f/∂b is a², not a
/// ```
#[macro_export]
macro_rules! assert_gradient {
    ($f:expr, $theta:expr, $claimed:expr $(,)?) => {
        $crate::assert_gradient!($f, $theta, $claimed, &$crate::check::CheckConfig::default())
    };
    ($f:expr, $theta:expr, $claimed:expr, $cfg:expr $(,)?) => {
        match $crate::check::check_gradient(&$f, &$theta[..], &$claimed[..], $cfg) {
            Ok(report) if report.passed() => {}
            Ok(report) => panic!("gradient check failed:\n{}", report.to_text()),
            Err(e) => panic!("gradient check could not run: {e}"),
        }
    };
}

/// Asserts that `claimed (m, n)` is the Jacobian of the
/// [`VectorFunction`](crate::check::VectorFunction) `f` at `x (n)`
/// ([`check_jacobian`](crate::check::check_jacobian)).
///
/// ```
/// use backprop_oracle::{assert_jacobian, check::VectorFunction, scalar::Scalar};
/// use ndarray::{array, Array1, ArrayView1};
///
/// /// f(a, b) = (a·b, a + b).
/// struct F;
/// impl VectorFunction for F {
///     fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
///         Array1::from(vec![x[0] * x[1], x[0] + x[1]])
///     }
/// }
/// assert_jacobian!(F, array![2.0, 3.0], array![[3.0, 2.0], [1.0, 1.0]]);
/// ```
#[macro_export]
macro_rules! assert_jacobian {
    ($f:expr, $x:expr, $claimed:expr $(,)?) => {
        $crate::assert_jacobian!($f, $x, $claimed, &$crate::check::CheckConfig::default())
    };
    ($f:expr, $x:expr, $claimed:expr, $cfg:expr $(,)?) => {
        match $crate::check::check_jacobian(&$f, $x.view(), $claimed.view(), $cfg) {
            Ok(report) if report.passed() => {}
            Ok(report) => panic!("Jacobian check failed:\n{}", report.to_text()),
            Err(e) => panic!("Jacobian check could not run: {e}"),
        }
    };
}

/// Asserts that `vjp: v ↦ vᵀJ` is the vector-Jacobian product of `f` at `x`, in four
/// seeded random directions by default ([`check_vjp`](crate::check::check_vjp)).
///
/// ```
/// use backprop_oracle::{assert_vjp, check::VectorFunction, scalar::Scalar};
/// use ndarray::{array, Array1, ArrayView1};
///
/// /// f(x) = 3x (J = 3I).
/// struct F;
/// impl VectorFunction for F {
///     fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
///         x.mapv(|v| v * 3.0)
///     }
/// }
/// assert_vjp!(F, array![1.0, -2.0], |v: ArrayView1<f64>| v.mapv(|w| 3.0 * w));
/// ```
#[macro_export]
macro_rules! assert_vjp {
    ($f:expr, $x:expr, $vjp:expr $(,)?) => {
        $crate::assert_vjp!(
            $f,
            $x,
            $vjp,
            $crate::check::Directions::default(),
            &$crate::check::CheckConfig::default()
        )
    };
    ($f:expr, $x:expr, $vjp:expr, $directions:expr, $cfg:expr $(,)?) => {
        match $crate::check::check_vjp(&$f, $x.view(), $vjp, $directions, $cfg) {
            Ok(report) if report.passed() => {}
            Ok(report) => panic!(
                "vector-Jacobian product check failed:\n{}",
                report.to_text()
            ),
            Err(e) => panic!("vector-Jacobian product check could not run: {e}"),
        }
    };
}

/// Asserts that `jvp: u ↦ J u` is the Jacobian-vector product of `f` at `x`, in four
/// seeded random directions by default ([`check_jvp`](crate::check::check_jvp)).
///
/// ```
/// use backprop_oracle::{assert_jvp, check::VectorFunction, scalar::Scalar};
/// use ndarray::{array, Array1, ArrayView1};
///
/// /// f(x) = (x₀², x₀·x₁): J u = (2x₀u₀, x₁u₀ + x₀u₁).
/// struct F;
/// impl VectorFunction for F {
///     fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
///         Array1::from(vec![x[0] * x[0], x[0] * x[1]])
///     }
/// }
/// let x = array![1.5, -0.5];
/// assert_jvp!(F, x, |u: ArrayView1<f64>| array![2.0 * x[0] * u[0], x[1] * u[0] + x[0] * u[1]]);
/// ```
#[macro_export]
macro_rules! assert_jvp {
    ($f:expr, $x:expr, $jvp:expr $(,)?) => {
        $crate::assert_jvp!(
            $f,
            $x,
            $jvp,
            $crate::check::Directions::default(),
            &$crate::check::CheckConfig::default()
        )
    };
    ($f:expr, $x:expr, $jvp:expr, $directions:expr, $cfg:expr $(,)?) => {
        match $crate::check::check_jvp(&$f, $x.view(), $jvp, $directions, $cfg) {
            Ok(report) if report.passed() => {}
            Ok(report) => panic!(
                "Jacobian-vector product check failed:\n{}",
                report.to_text()
            ),
            Err(e) => panic!("Jacobian-vector product check could not run: {e}"),
        }
    };
}

/// Asserts that `claimed (n, n)` is the Hessian of the
/// [`Objective`](crate::check::Objective) `f` at `theta`
/// ([`check_hessian`](crate::check::check_hessian): hyper-dual numbers, and finite
/// differences of the dual gradient).
///
/// ```
/// use backprop_oracle::{assert_hessian, check::Objective, scalar::Scalar};
/// use ndarray::array;
///
/// /// f(a, b) = a²·b + b³.
/// struct F;
/// impl Objective for F {
///     fn eval<T: Scalar>(&self, p: &[T]) -> T {
///         p[0] * p[0] * p[1] + p[1].powi(3)
///     }
/// }
/// let (a, b) = (1.5, -2.0);
/// assert_hessian!(F, [a, b], array![[2.0 * b, 2.0 * a], [2.0 * a, 6.0 * b]]);
/// ```
#[macro_export]
macro_rules! assert_hessian {
    ($f:expr, $theta:expr, $claimed:expr $(,)?) => {
        $crate::assert_hessian!($f, $theta, $claimed, &$crate::check::CheckConfig::default())
    };
    ($f:expr, $theta:expr, $claimed:expr, $cfg:expr $(,)?) => {
        match $crate::check::check_hessian(&$f, &$theta[..], $claimed.view(), $cfg) {
            Ok(report) if report.passed() => {}
            Ok(report) => panic!("Hessian check failed:\n{}", report.to_text()),
            Err(e) => panic!("Hessian check could not run: {e}"),
        }
    };
}
