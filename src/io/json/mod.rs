//! JSON in and out. Every input document is read by the one strict reader in
//! [`parse`] into a [`Json`] value; outputs are written with serde_json straight from
//! the arrays ([`write`](mod@write)), numbers in shortest round-trip form (parsing them gives back
//! the exact f64).

pub mod parse;
pub mod value;
pub mod write;

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::MAX_BYTES;

pub use crate::error::ParseError;
pub use parse::Options;
pub use value::{Item, Json};

/// How much memory a parsed input document may take: half the 1 GiB limit, so that
/// converting its arrays into matrices stays within it.
pub const MAX_DOCUMENT_BYTES: u64 = MAX_BYTES / 2;

/// Parses a JSON document held in memory; `what` names it in errors.
pub fn parse_str(text: &str, what: &str, non_finite: bool) -> Result<Json> {
    let options = Options {
        non_finite,
        max_bytes: MAX_DOCUMENT_BYTES,
    };
    parse::parse(text.as_bytes(), options).map_err(|e| Error::json(what, e))
}

/// Reads and parses a JSON file of at most [`MAX_BYTES`], streaming (the text is
/// never held whole). `non_finite` accepts `NaN`/`Infinity` literals.
pub fn read(path: &Path, non_finite: bool) -> Result<Json> {
    read_file(crate::io::open_bounded(path)?.0, path, non_finite)
}

/// [`read`] of a file already opened (by [`crate::io::open_bounded_in`]); `path` names
/// it in errors.
pub fn read_file(f: std::fs::File, path: &Path, non_finite: bool) -> Result<Json> {
    use std::io::Read;
    let options = Options {
        non_finite,
        max_bytes: MAX_DOCUMENT_BYTES,
    };
    let mut input = std::io::BufReader::new(f).take(MAX_BYTES);
    let what = path.display().to_string();
    match parse::parse(&mut input, options) {
        Ok(v) => Ok(v),
        Err(e) if e.message.starts_with("cannot be read") => {
            Err(Error::file(path, e.message.clone()))
        }
        Err(e) => Err(Error::json(what, e)),
    }
}
