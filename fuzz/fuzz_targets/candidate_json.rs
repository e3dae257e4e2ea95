//! A port's `trajectory.json` read back as a candidate, then compared with the
//! reference and diagnosed: against the candidate's own header spec (under a small
//! work budget), or, without one, against the article's spec cut to 5 epochs.
//! Asserts nothing but "no panic, no abort, no huge allocation": errors are fine.
#![no_main]

use backprop_oracle::io::spec::{Overrides, Spec};
use backprop_oracle::oracle::candidate::from_json_str;
use backprop_oracle::oracle::compare::CompareOptions;
use backprop_oracle::oracle::diagnose::compare_and_diagnose;
use backprop_oracle::oracle::against::spec_to_compare;
use backprop_oracle::tolerance::Tolerance;
use libfuzzer_sys::fuzz_target;

/// Parameter-updates × batch rows a header spec may ask to recompute: small, so an
/// input costs at most a few milliseconds of training.
const WORK_BUDGET: u64 = 20_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cand) = from_json_str(text, "c.json") else {
        return;
    };
    let opts = CompareOptions {
        slack: Some(Tolerance {
            rtol: 1e-9,
            atol: 1e-12,
        }),
        ..CompareOptions::default()
    };
    if cand.spec.is_some() {
        if let Ok(spec) = spec_to_compare(None, &cand, &Overrides::default(), WORK_BUDGET, false) {
            let _ = compare_and_diagnose(&spec, &cand, &opts);
        }
    } else {
        let spec = Spec {
            epochs: 5,
            ..Spec::article()
        };
        let _ = compare_and_diagnose(&spec, &cand, &opts);
    }
});
