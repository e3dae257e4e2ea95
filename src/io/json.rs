//! JSON forms of arrays and networks, and small helpers for reading JSON documents.
//!
//! Numbers are written in shortest round-trip form (serde_json's `float_roundtrip`):
//! parsing them gives back the exact f64.

use std::path::Path;

use ndarray::ArrayView2;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::nn::network::Network;

/// A matrix as a JSON array of rows.
pub fn matrix_json(m: ArrayView2<f64>) -> Value {
    Value::Array(m.rows().into_iter().map(|r| json!(r.to_vec())).collect())
}

/// A network's parameters: `{"layers": [{"W": [[…]], "b": […]}, …]}`, `W (out, in)`
/// row-major, one inner array per unit.
pub fn network_json(net: &Network<f64>) -> Value {
    let layers: Vec<_> = net
        .layers
        .iter()
        .map(|l| json!({"W": matrix_json(l.w.view()), "b": l.b.to_vec()}))
        .collect();
    json!({ "layers": layers })
}

/// Parses a JSON document; `what` names it in the error.
pub fn parse(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::json(what, e))
}

/// Reads and parses a JSON file (at most [`MAX_BYTES`](crate::io::MAX_BYTES)).
pub fn read(path: &Path) -> Result<Value> {
    parse(&crate::io::read_text(path)?, &path.display().to_string())
}

/// A JSON value's kind, for messages: `a string`, `an object`, …
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
