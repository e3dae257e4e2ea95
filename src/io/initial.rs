//! A spec's `initial` key: the network's initial parameters given instead of drawn.
//!
//! ```json
//! "initial": {"layers": [{"W": [[1.76, 0.40], [0.98, 2.24], [1.87, -0.98]], "b": [0, 0, 0]},
//!                        {"W": [[0.95, -0.15, -0.10]], "b": [0]}]}
//! ```
//!
//! Per layer `k` (input side first), `W (n_{k+1}, n_k)` and `b (n_{k+1})`: the shape
//! `train --format json` writes its `initial` and `final` networks in. Instead of inline
//! arrays, `initial` may name an `.npz` file (`"initial": "init.npz"`, or
//! `{"file": "init.npz"}`, relative to the spec's folder) holding `W1_init`, `b1_init`,
//! `W2_init`, … (1-based, as `export`'s `reference.npz` names them; float64, or float32
//! widened exactly). Every value must be finite.
//!
//! With `initial`, the spec has no `seed` and no `init_scale`: the parameters come
//! from one source. A spec written back gives `initial` inline.

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::{Error, Result};
use crate::io::data::{self, Places};
use crate::io::json::value::{Item, Json};
use crate::io::json::write::{Mat, Vector};
use crate::io::npy::{self, NpyArray};
use crate::io::values::{matrix, vector};

/// Initial parameters given in a spec: per layer `W (out, in)` and `b (out)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Initial {
    /// `(W, b)` of each layer, input side first.
    pub layers: Vec<(Array2<f64>, Array1<f64>)>,
}

impl Initial {
    /// Reads `v` (the value of `field`, e.g. `spec.initial`) for a network of layer
    /// widths `sizes`: inline, or from the `.npz` file it names (a relative name looked
    /// for in `places`, as a spec's data files are).
    pub fn read(v: &Json, field: &str, sizes: &[usize], places: Places<'_>) -> Result<Initial> {
        let npz =
            |file: &str, at: &str| Initial::from_npz(&data::find(file, places, at)?, field, sizes);
        let obj = match v {
            Json::String(file) => return npz(file, field),
            Json::Object(obj) => obj,
            other => {
                return Err(Error::invalid(
                    field,
                    format!(
                        "must be an object {{\"layers\": [{{\"W\": …, \"b\": …}}, …]}} or an .npz file name, got {}",
                        other.kind()
                    ),
                ))
            }
        };
        match obj.as_slice() {
            [(k, Json::String(file))] if k == "file" => npz(file, &format!("{field}.file")),
            [(k, layers)] if k == "layers" => Initial::inline(layers, field, sizes),
            _ => Err(Error::invalid(
                field,
                format!(
                    "must have exactly one key, \"layers\" (the parameters) or \"file\" (an .npz file name), got {}",
                    obj.iter()
                        .map(|(k, _)| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn inline(layers: &Json, field: &str, sizes: &[usize]) -> Result<Initial> {
        let field = format!("{field}.layers");
        let items = layers.items().ok_or_else(|| {
            Error::invalid(
                &field,
                format!("must be an array of layers, got {}", layers.kind()),
            )
        })?;
        let n = sizes.len() - 1;
        if items.len() != n {
            return Err(Error::invalid(
                &field,
                format!(
                    "has {} layers, the network has {n} (sizes {sizes:?})",
                    items.len()
                ),
            ));
        }
        let layers = items
            .into_iter()
            .enumerate()
            .map(|(k, item)| {
                let at = format!("{field}[{k}]");
                let (out, inp) = (sizes[k + 1], sizes[k]);
                let Item::Value(Json::Object(obj)) = item else {
                    return Err(Error::invalid(
                        &at,
                        format!(
                            "must be an object {{\"W\": …, \"b\": …}}, got {}",
                            item.kind()
                        ),
                    ));
                };
                if let Some((key, _)) = obj.iter().find(|(key, _)| key != "W" && key != "b") {
                    return Err(Error::invalid(
                        format!("{at}.{key}"),
                        "unknown key, expected W or b",
                    ));
                }
                let get = |key: &str| {
                    obj.iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v)
                        .ok_or_else(|| {
                            Error::invalid(format!("{at}.{key}"), "is required but missing")
                        })
                };
                let w_field = format!("{at}.W");
                let w = get("W")?;
                if w.len().is_none() {
                    return Err(Error::invalid(
                        &w_field,
                        format!("must be an array of rows (out, in), got {}", w.kind()),
                    ));
                }
                let w = matrix(w, &w_field, Some(inp))?;
                if w.nrows() != out {
                    return Err(Error::invalid(
                        &w_field,
                        format!("has {} rows, layer {k} has {out} outputs", w.nrows()),
                    ));
                }
                let b = Array1::from(vector(get("b")?, &format!("{at}.b"), out)?);
                Ok((w, b))
            })
            .collect::<Result<_>>()?;
        Ok(Initial { layers })
    }

    /// The `W{k}_init`, `b{k}_init` members of an `.npz` file.
    fn from_npz(path: &Path, field: &str, sizes: &[usize]) -> Result<Initial> {
        let mut npz = npy::Npz::open(path).map_err(|e| {
            Error::invalid(
                field,
                format!("names {}, which cannot be read: {e}", path.display()),
            )
        })?;
        let mut member = |name: String, shape: &[usize]| -> Result<Vec<f64>> {
            let what = format!("{}[{name}]", path.display());
            if !npz.names().contains(&name) {
                return Err(Error::invalid(
                    field,
                    format!("{} has no member {name} (the initial parameters are W1_init, b1_init, W2_init, … as export names them)", path.display()),
                ));
            }
            let a = match npz.read(&name, crate::io::MAX_BYTES)? {
                NpyArray::I64(_) => {
                    return Err(Error::invalid(
                        &what,
                        "has dtype \"<i8\", expected float64 (\"<f8\") or float32 (\"<f4\")",
                    ))
                }
                a => a.into_f64(),
            };
            if a.shape() != shape {
                return Err(Error::invalid(
                    &what,
                    format!("has shape {:?}, expected {shape:?}", a.shape()),
                ));
            }
            if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::invalid(
                    &what,
                    format!("must be finite, got {v} at flat index {i}"),
                ));
            }
            Ok(a.iter().copied().collect())
        };
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, io)| {
                let w = member(format!("W{}_init", k + 1), &[io[1], io[0]])?;
                let b = member(format!("b{}_init", k + 1), &[io[1]])?;
                Ok((
                    Array2::from_shape_vec((io[1], io[0]), w)
                        .map_err(|e| Error::invalid(field, e.to_string()))?,
                    Array1::from(b),
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Initial { layers })
    }
}

/// `{"layers": [{"W": …, "b": …}, …]}`, as `train --format json` writes a network.
impl Serialize for Initial {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Layers<'a>(&'a [(Array2<f64>, Array1<f64>)]);
        struct Layer<'a>(&'a (Array2<f64>, Array1<f64>));
        impl Serialize for Layers<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for l in self.0 {
                    seq.serialize_element(&Layer(l))?;
                }
                seq.end()
            }
        }
        impl Serialize for Layer<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("W", &Mat(self.0 .0.view()))?;
                m.serialize_entry("b", &Vector(self.0 .1.view()))?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("layers", &Layers(&self.layers))?;
        m.end()
    }
}
