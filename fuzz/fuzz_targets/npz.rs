//! The `.npz` reader: the archive listed (its own central-directory scan for repeated
//! names, then the zip crate), every member read under a 16 MiB limit, and, from a
//! fresh archive, the whole thing read as a candidate (`from_npz`, its 1 GiB plan).
//! Asserts nothing but "no panic, no abort, no huge allocation": errors are fine.
#![no_main]

use std::path::Path;

use backprop_oracle::io::npy::Npz;
use backprop_oracle::oracle::candidate::from_npz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("c.npz");
    if let Ok(mut npz) = Npz::from_bytes(data.to_vec(), path) {
        for name in npz.names() {
            let _ = npz.read(&name, 1 << 24);
        }
    }
    if let Ok(npz) = Npz::from_bytes(data.to_vec(), path) {
        let _ = from_npz(npz, path);
    }
});
