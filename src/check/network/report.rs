//! The result of a network check, as text and JSON.

use serde_json::{json, Value};

use crate::check::network::options::NetworkCheckOptions;
use crate::check::report::{table, TensorReport};

/// The result of [`check_network`](super::driver::check_network).
#[derive(Debug, Clone)]
pub struct NetworkReport {
    /// One report per tensor (gradients first, then updates).
    pub tensors: Vec<TensorReport>,
    /// The options used.
    pub options: NetworkCheckOptions,
    /// The batch size used.
    pub batch_size: usize,
    /// Batches checked per point.
    pub batches: usize,
    /// Batches in an epoch (more than `batches` when only some are checked).
    pub epoch_batches: usize,
    /// The network's sizes.
    pub sizes: Vec<usize>,
    /// The network's activations.
    pub activations: Vec<crate::nn::activation::Activation>,
    /// The network's loss.
    pub loss: crate::nn::loss::Loss,
}

impl NetworkReport {
    /// Whether every tensor passed.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.passed())
    }

    /// The tensors that failed.
    pub fn failed(&self) -> Vec<&TensorReport> {
        self.tensors.iter().filter(|t| !t.passed()).collect()
    }

    fn header(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        let bug = self
            .options
            .bug
            .map(|b| format!(", injected bug: {}", b.name()))
            .unwrap_or_default();
        let of = if self.batches < self.epoch_batches {
            format!(" of {} (evenly spread)", self.epoch_batches)
        } else {
            String::new()
        };
        format!(
            "gradient check of {} ({} mode) at epochs {:?}, {}{of} batch(es) of up to {} sample(s){bug}",
            sizes.join("-"),
            self.options.mode.name(),
            self.options.at_epochs,
            self.batches,
            self.batch_size
        )
    }

    /// The one-line conclusion.
    pub fn summary(&self) -> String {
        let failed = self.failed();
        if failed.is_empty() {
            let kinks: usize = self.tensors.iter().map(|t| t.kinks).sum();
            let kink_note = if kinks > 0 {
                format!(" ({kinks} finite-difference probes crossed a relu kink; the exact dual oracle decided there)")
            } else {
                String::new()
            };
            let mut line = format!(
                "verified: all {} tensors agree with both oracles{kink_note}",
                self.tensors.len()
            );
            if let Some(bug) = self.options.bug {
                let outputs = self.sizes.last().copied().unwrap_or(1);
                let why = bug
                    .harmless_for(self.loss, &self.activations, outputs, self.batch_size)
                    .unwrap_or("it changed nothing the checked coordinates can see; try --mode exhaustive or another network");
                line.push_str(&format!(
                    "\nnote: the injected bug {} went undetected because {why}",
                    bug.name()
                ));
            }
            line
        } else {
            let names: Vec<String> = failed
                .iter()
                .map(|t| {
                    let what = if t.kind == "gradient" {
                        t.name.clone()
                    } else {
                        format!("{} {}", t.name, t.kind)
                    };
                    format!("{what} ({})", t.verdict())
                })
                .collect();
            format!("FAILED: {}", names.join(", "))
        }
    }

    /// Header, table, worst elements, conclusion.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}{}\n",
            self.header(),
            table(&self.tensors),
            self.summary()
        )
    }

    /// The same content as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "sizes": self.sizes,
            "mode": self.options.mode.name(),
            "at_epochs": self.options.at_epochs,
            "batch_size": self.batch_size,
            "batches": self.batches,
            "epoch_batches": self.epoch_batches,
            "injected_bug": self.options.bug.map(|b| b.name()),
            "tolerances": {
                "dual": {"rtol": self.options.config.dual.rtol, "atol": self.options.config.dual.atol},
                "fd": {"rtol": self.options.config.fd.rtol, "atol": self.options.config.fd.atol},
                "step": self.options.config.step,
                "richardson": self.options.config.richardson,
            },
            "tensors": self.tensors.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "passed": self.passed(),
            "summary": self.summary(),
        })
    }
}
