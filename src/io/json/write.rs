//! Writing JSON without building a value tree: arrays and networks serialize straight
//! from their memory into the output (serde's `Serialize` on borrowed views), so a
//! large trajectory or spec costs no second copy. Objects' fields are written in
//! alphabetical order, as serde_json writes its own maps.

use ndarray::{ArrayView1, ArrayView2};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::nn::network::Network;

/// A matrix as a JSON array of rows.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a>(pub ArrayView2<'a, f64>);

impl Serialize for Mat<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.nrows()))?;
        for row in self.0.rows() {
            seq.serialize_element(&Vector(row))?;
        }
        seq.end()
    }
}

/// A vector as a JSON array of numbers.
#[derive(Debug, Clone, Copy)]
pub struct Vector<'a>(pub ArrayView1<'a, f64>);

impl Serialize for Vector<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0.iter() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

/// A network's parameters: `{"layers": [{"W": [[…]], "b": […]}, …]}`.
#[derive(Debug, Clone, Copy)]
pub struct Net<'a>(pub &'a Network<f64>);

impl Serialize for Net<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Layers<'a>(&'a Network<f64>);
        impl Serialize for Layers<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.layers.len()))?;
                for l in &self.0.layers {
                    let mut m = std::collections::BTreeMap::new();
                    m.insert("W", Field::Mat(Mat(l.w.view())));
                    m.insert("b", Field::Vec(Vector(l.b.view())));
                    seq.serialize_element(&m)?;
                }
                seq.end()
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("layers", &Layers(self.0))?;
        map.end()
    }
}

/// One of the array fields above.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Mat(Mat<'a>),
    Vec(Vector<'a>),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Mat(m) => m.serialize(s),
            Field::Vec(v) => v.serialize(s),
        }
    }
}
