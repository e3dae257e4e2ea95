//! The one comparison rule of the project: `|a − b| ≤ atol + rtol·|b|`, with `b` the
//! trusted value (an oracle or the reference), optionally on top of a derived bound:
//! `|a − b| ≤ bound + atol + rtol·|b|` ([`Tolerance::allowed`],
//! [`Tolerance::accepts_with`]). Every value comparison of the checker and the oracle
//! goes through here.

use crate::error::{Error, Result};

/// `|a − b| ≤ atol + rtol·|b|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part, scaled by the oracle's magnitude.
    pub rtol: f64,
    /// Absolute part.
    pub atol: f64,
}

impl Tolerance {
    /// A tolerance with both parts finite and `≥ 0`; errors name `rtol` or `atol`.
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        let t = Tolerance { rtol, atol };
        t.validate("Tolerance")?;
        Ok(t)
    }

    /// Checks that both parts are finite and `≥ 0`; errors name `{field}.rtol` or
    /// `{field}.atol`.
    pub fn validate(&self, field: &str) -> Result<()> {
        for (name, v) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    format!("{field}.{name}"),
                    format!("must be finite and ≥ 0, got {}", crate::error::short(v)),
                ));
            }
        }
        Ok(())
    }

    /// Whether `value` agrees with the `oracle` (never, if either is non-finite).
    pub fn accepts(&self, value: f64, oracle: f64) -> bool {
        self.accepts_with(value, oracle, 0.0)
    }

    /// As [`Tolerance::accepts`], with `extra` added to the absolute part: whether
    /// `|value − oracle| ≤ `[`allowed`](Tolerance::allowed)`(oracle, extra)`, both finite.
    pub fn accepts_with(&self, value: f64, oracle: f64, extra: f64) -> bool {
        value.is_finite()
            && oracle.is_finite()
            && (value - oracle).abs() <= self.allowed(oracle, extra)
    }

    /// The largest difference from `oracle` accepted on top of a derived `bound` (an
    /// error bound, a rounding bound, a noise estimate): `bound + atol + rtol·|oracle|`.
    pub fn allowed(&self, oracle: f64, bound: f64) -> f64 {
        bound + self.atol + self.rtol * oracle.abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_atol_plus_rtol_times_the_oracle() {
        let t = Tolerance {
            rtol: 1e-3,
            atol: 1e-6,
        };
        assert!(t.accepts(100.1, 100.0)); // |0.1| ≤ 1e-6 + 0.1
        assert!(!t.accepts(100.2, 100.0));
        assert!(t.accepts(1e-6, 0.0));
        assert!(!t.accepts(2e-6, 0.0));
        assert!(t.accepts_with(3e-6, 0.0, 2e-6));
        assert_eq!(t.allowed(-100.0, 0.5), 0.5 + 1e-6 + 1e-3 * 100.0);
        assert!(!t.accepts(f64::NAN, 0.0) && !t.accepts(0.0, f64::INFINITY));
    }

    #[test]
    fn new_refuses_negative_and_non_finite_parts() {
        assert!(Tolerance::new(1e-9, 0.0).is_ok());
        let e = Tolerance::new(f64::NAN, 0.0).unwrap_err().to_string();
        assert!(e.starts_with("Tolerance.rtol: must be finite"), "{e}");
        let e = Tolerance::new(0.0, -1.0).unwrap_err().to_string();
        assert!(e.starts_with("Tolerance.atol: must be finite"), "{e}");
    }
}
