//! The scalar the forward pass is generic over.
//!
//! This is the only module that names `num-dual`'s traits: the forward pass is
//! written once against [`Scalar`], which `f64` and num-dual's `Dual64` (and the
//! other copyable dual types) satisfy. The gradient checker runs the very same
//! forward code on dual numbers to get exact forward-mode derivatives.

pub use num_dual::{Dual64, DualNum};

/// A number the forward pass can run on: `f64`, or a dual number over `f64`.
///
/// Blanket-implemented for every `DualNum<Primitive = f64> + Copy`.
pub trait Scalar: DualNum<Primitive = f64> + Copy {
    /// The real (value) part as `f64`; for `f64` itself, the number.
    #[inline]
    fn value(&self) -> f64 {
        self.re()
    }
}

impl<T: DualNum<Primitive = f64> + Copy> Scalar for T {}
