//! The settings of a gradient check: tolerances against each oracle, the
//! finite-difference step, Richardson extrapolation.

use crate::error::{Error, Result};
use crate::tolerance::Tolerance;

/// Settings of a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckConfig {
    /// Claimed gradient vs the dual-number oracle.
    pub dual: Tolerance,
    /// Claimed gradient vs finite differences.
    pub fd: Tolerance,
    /// Relative finite-difference step factor: `h_i = step·max(1, |θ_i|)`.
    pub step: f64,
    /// Richardson-extrapolate the central difference (`(4·D(h/2) − D(h))/3`).
    pub richardson: bool,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            dual: Tolerance {
                rtol: 1e-10,
                atol: 1e-12,
            },
            fd: Tolerance {
                rtol: 1e-6,
                atol: 1e-8,
            },
            step: f64::EPSILON.cbrt(),
            richardson: false,
        }
    }
}

impl CheckConfig {
    /// Checks that tolerances are finite and non-negative and the step is in
    /// `[ε, 1)` (a smaller step rounds to zero: `θ + h = θ`); errors name the field
    /// (`CheckConfig.dual.rtol`, `CheckConfig.step`, …).
    pub fn validate(&self) -> Result<()> {
        self.dual.validate("CheckConfig.dual")?;
        self.fd.validate("CheckConfig.fd")?;
        if self.step.is_finite() && self.step > 0.0 && self.step < f64::EPSILON {
            return Err(Error::invalid(
                "CheckConfig.step",
                format!(
                    "{:e} rounds to zero (θ + step·max(1, |θ|) = θ): must be at least {:e}",
                    self.step,
                    f64::EPSILON
                ),
            ));
        }
        if !(self.step.is_finite() && self.step > 0.0 && self.step < 1.0) {
            return Err(Error::invalid(
                "CheckConfig.step",
                format!("must be in (0, 1), got {}", crate::error::short(self.step)),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_field() {
        let ok = CheckConfig::default();
        assert!(ok.validate().is_ok());
        let bad = |c: CheckConfig, field: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        };
        bad(
            CheckConfig {
                dual: Tolerance {
                    rtol: f64::NAN,
                    atol: 0.0,
                },
                ..ok
            },
            "CheckConfig.dual.rtol",
        );
        bad(
            CheckConfig {
                dual: Tolerance {
                    rtol: 0.0,
                    atol: -1.0,
                },
                ..ok
            },
            "CheckConfig.dual.atol",
        );
        bad(
            CheckConfig {
                fd: Tolerance {
                    rtol: f64::INFINITY,
                    atol: 0.0,
                },
                ..ok
            },
            "CheckConfig.fd.rtol",
        );
        bad(
            CheckConfig {
                fd: Tolerance {
                    rtol: 0.0,
                    atol: -0.5,
                },
                ..ok
            },
            "CheckConfig.fd.atol",
        );
        for step in [0.0, 1.0, -1e-6, f64::NAN, 1e-300, 1e-17] {
            bad(CheckConfig { step, ..ok }, "CheckConfig.step");
        }
        assert!(CheckConfig {
            step: 0.999,
            dual: Tolerance {
                rtol: 0.0,
                atol: 0.0
            },
            ..ok
        }
        .validate()
        .is_ok());
    }
}
