//! The `.npy` reader: a whole document held in memory (`from_bytes`, which checks the
//! length against the header before reading the data), and the header parser alone.
//! Asserts nothing but "no panic, no abort, no huge allocation": errors are fine.
#![no_main]

use backprop_oracle::io::npy::{from_bytes, read_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = from_bytes(data, "x.npy");
    let _ = read_header(&mut &data[..], "x.npy");
});
