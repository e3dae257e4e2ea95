//! The network adapter: checks `∂L̄/∂W`, `∂L̄/∂b` of every layer and `∂L̄/∂X` of the
//! inputs, for each batch of a spec's data, at chosen points along training, and
//! checks that a training step applies `θ − lr·g`.
//!
//! Both oracles run the network's own generic forward pass
//! ([`Dense::forward`](crate::nn::dense::Dense::forward),
//! [`Network::forward_from`](crate::nn::network::Network::forward_from)). They exploit one exact structural fact: a parameter in
//! row `i` of layer `k` moves only column `i` of `Z_k`. So a coordinate's dual or f64
//! probe starts from the cached activations below layer `k`, recomputes column `i` with
//! `Dense::forward` on the one-row layer `(W_k[i, :], b_k[i])`, and runs the layers above
//! on the probe's scalar type. An input coordinate `X[r, j]` moves only sample `r`. The
//! derivative obtained is exactly the one a full dual pass would give.
//!
//! Kinks: for relu/leaky_relu layers, every f64 probe compares the sign of each
//! pre-activation it recomputed with the base point's; a flip is a crossed kink,
//! reported with its layer, unit, sample and `|z|` at the base point.
//!
//! Files: [`options`] says what to check; [`plan`] validates the options and lays out
//! the points, batches and tensors to check ([`driver`] walks it; progress bars count
//! from it); [`probe`] is the
//! probe engine of one batch (both oracles); [`cache`] runs its coordinate probes on
//! the batch's cache laid out for [`lanes`], the exact kernels that compute
//! [`kernels::affine`](crate::nn::kernels::affine)'s bits in vector lanes (pinned to it
//! by tests); [`update`] checks a training step; [`report`] renders the result.
//!
//! ```
//! use backprop_oracle::variant::Bug;
//! use backprop_oracle::check::network::{check_network, NetworkCheckOptions};
//! use backprop_oracle::io::spec::Spec;
//!
//! let spec = Spec::article();
//! let report = check_network(&spec, &NetworkCheckOptions::default(), &|_| {}).unwrap();
//! assert!(report.passed());
//! let buggy = NetworkCheckOptions { bug: Some(Bug::ReluMaskInverted), ..Default::default() };
//! let report = check_network(&spec, &buggy, &|_| {}).unwrap();
//! assert_eq!(report.failed()[0].name, "layers[0].W");
//! ```

pub mod cache;
pub mod driver;
pub mod lanes;
pub mod options;
pub mod plan;
pub mod probe;
pub mod report;
pub mod update;

pub use driver::{check_network, check_network_within};
pub use options::{Mode, NetworkCheckOptions, Tensor};
pub use plan::{planned_checks, Plan, Work, DEFAULT_MAX_WORK};
pub use report::NetworkReport;
