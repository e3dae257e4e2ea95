//! The model-spec reader: the strict JSON parser on raw bytes (both with and without
//! `NaN`/`Infinity` literals), then `Spec::from_json_str` on any UTF-8 input.
//! Asserts nothing but "no panic, no abort, no huge allocation": errors are fine.
#![no_main]

use backprop_oracle::io::json::parse::{parse, Options};
use backprop_oracle::io::spec::Spec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The streaming parser on the raw bytes (invalid UTF-8 included); the first byte's
    // low bit picks whether non-finite literals are accepted.
    let options = Options {
        non_finite: data.first().is_some_and(|b| b & 1 == 1),
        max_bytes: 1 << 24,
    };
    let _ = parse(data, options);

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Parses and validates only (no training). Note: a string `x`/`y` names a
    // .npy/.npz file relative to the working directory, which this then opens.
    let _ = Spec::from_json_str(text, "spec");
});
