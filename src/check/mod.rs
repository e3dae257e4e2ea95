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
//! Modules: [`config`] holds the tolerances and step; [`general`] checks any user
//! function's gradient, [`jacobian`] a vector-valued function's Jacobian, vector-Jacobian
//! and Jacobian-vector products, [`hessian`] a Hessian and Hessian-vector products (on
//! second-order dual numbers); [`network`] checks the network's
//! backward pass; [`finite_diff`] is the second oracle; [`triage`](mod@triage) decides each
//! element's verdict; [`report`] aggregates and prints. The catalogue of injectable
//! mistakes it checks against is [`crate::variant`] ([`bugs`] keeps its former names).

pub mod asserts;
pub mod bugs;
pub mod config;
pub mod finite_diff;
pub mod general;
pub mod hessian;
pub mod jacobian;
pub mod network;
pub mod report;
pub mod triage;

pub use crate::tolerance::Tolerance;
pub use config::CheckConfig;
pub use finite_diff::Kink;
pub use general::{check_gradient, Objective};
pub use hessian::{check_hessian, check_hvp};
pub use jacobian::{check_jacobian, check_jvp, check_vjp, Directions, VectorFunction};
pub use triage::{triage, ElementCheck, Verdict};
