//! A [`Spec`] written back as JSON (its `Serialize`): every key, the arrays streamed (no value tree).

use ndarray::Array2;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::io::data::{DataFile, Sources};
use crate::io::json::write::{Mat, Vector};
use crate::io::spec::{Spec, KEYS};

/// The fully resolved spec, every key; `y` flat for one output. Written straight from
/// the arrays (no JSON value tree for `x` and `y`), in alphabetical order except that
/// `x_test` and `y_test` follow `y` (as trajectories have always written it; [`Sorted`]
/// writes every key in alphabetical order, as [`Spec::to_json`] has it).
impl Serialize for Spec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.write(s, false)
    }
}

/// A spec written with every key in alphabetical order (`x`, `x_test`, `y`, `y_test`):
/// the same document as [`Spec::to_json`], streamed without a value tree.
#[derive(Debug, Clone, Copy)]
pub struct Sorted<'a>(pub &'a Spec);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.write(s, true)
    }
}

/// A spec written with other data references than its own: an export's, whose files
/// are named relative to its folder. `sorted` as [`Sorted`] writes the keys.
#[derive(Debug, Clone, Copy)]
pub struct Relocated<'a> {
    /// The spec.
    pub spec: &'a Spec,
    /// The references written instead of `spec.sources` (`None` entries: inline data).
    pub sources: &'a Sources,
    /// Every key in alphabetical order ([`Sorted`]), else as [`Spec`]'s `Serialize`.
    pub sorted: bool,
}

impl Serialize for Relocated<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.spec.write_with(s, self.sources, self.sorted)
    }
}

impl Spec {
    fn write<S: Serializer>(&self, s: S, sorted: bool) -> std::result::Result<S::Ok, S::Error> {
        self.write_with(s, &self.sources, sorted)
    }

    fn write_with<S: Serializer>(
        &self,
        s: S,
        sources: &Sources,
        sorted: bool,
    ) -> std::result::Result<S::Ok, S::Error> {
        let acts: Vec<&str> = self.activations.iter().map(|a| a.name()).collect();
        let mut m = s.serialize_map(Some(KEYS.len()))?;
        m.serialize_entry("activations", &acts)?;
        m.serialize_entry("batch_size", &self.batch_size)?;
        m.serialize_entry("epochs", &self.epochs)?;
        if let Some(initial) = &self.initial {
            m.serialize_entry("initial", initial)?;
        } else {
            m.serialize_entry("init_scale", &self.init_scale)?;
        }
        m.serialize_entry("log_every", &self.log_every)?;
        m.serialize_entry("loss", self.loss.name())?;
        m.serialize_entry("lr", &self.lr)?;
        if self.initial.is_none() {
            m.serialize_entry("seed", &self.seed)?;
        }
        m.serialize_entry("sizes", &self.sizes)?;
        let inputs = |m: &mut S::SerializeMap,
                      key: &str,
                      file: &Option<DataFile>,
                      x: &Array2<f64>| match file {
            Some(file) => m.serialize_entry(key, file),
            None => m.serialize_entry(key, &Mat(x.view())),
        };
        inputs(&mut m, "x", &sources.x, &self.x)?;
        if sorted {
            if let Some(t) = &self.test {
                inputs(&mut m, "x_test", &sources.x_test, &t.x)?;
            }
        }
        serialize_targets(&mut m, "y", &sources.y, &self.y)?;
        if let Some(t) = &self.test {
            if !sorted {
                inputs(&mut m, "x_test", &sources.x_test, &t.x)?;
            }
            serialize_targets(&mut m, "y_test", &sources.y_test, &t.y)?;
        }
        m.end()
    }
}

/// Targets as a spec gives them: the file's reference, or inline (flat for one output).
fn serialize_targets<M: SerializeMap>(
    m: &mut M,
    key: &str,
    file: &Option<DataFile>,
    y: &Array2<f64>,
) -> std::result::Result<(), M::Error> {
    match file {
        Some(file) => m.serialize_entry(key, file),
        None if y.ncols() == 1 => m.serialize_entry(key, &Vector(y.column(0))),
        None => m.serialize_entry(key, &Mat(y.view())),
    }
}
