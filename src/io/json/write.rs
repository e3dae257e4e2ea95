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

/// Writes `value` as JSON that people can read and that stays small: objects one key a
/// line, indented, and arrays of numbers (or strings) on one line each, so a matrix is
/// one row a line. Numbers are written as [`serde_json::to_writer`] writes them
/// (shortest round-trip form).
pub fn to_writer_rows<W: std::io::Write, T: Serialize + ?Sized>(
    w: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, Rows::default());
    value.serialize(&mut ser)
}

/// [`to_writer_rows`] into a string.
pub fn to_string_rows<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    to_writer_rows(&mut out, value)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// The formatter of [`to_writer_rows`]: an array whose first element is a number,
/// string, boolean or null is written on one line; other arrays and objects one element
/// a line. Whether an array is compact is known only at its first element, so each
/// element's separator is written when the element begins.
#[derive(Debug, Default)]
struct Rows {
    /// The open arrays and objects, innermost last.
    open: Vec<Open>,
    /// An array element is about to begin (`Some(first)`); its separator is not written
    /// yet.
    pending: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    /// Elements on one line.
    compact: bool,
    /// At least one element written.
    any: bool,
}

impl Rows {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.open.len() {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    /// An element's separator (after the first) and new line, in the innermost open
    /// array or object.
    fn separate<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)?;
        if let Some(top) = self.open.last_mut() {
            top.any = true;
        }
        Ok(())
    }

    /// Before an array or object: its separator, on a new line.
    fn structure<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        match self.pending.take() {
            Some(first) => self.separate(w, first),
            None => Ok(()),
        }
    }

    /// Before a scalar: its separator; the first scalar of an array makes it compact.
    fn scalar<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        if let Some(first) = self.pending.take() {
            let compact = match self.open.last_mut() {
                Some(top) => {
                    if first {
                        top.compact = true;
                    }
                    top.any = true;
                    top.compact
                }
                None => true,
            };
            if !first {
                w.write_all(b",")?;
            }
            if !compact {
                self.newline(w)?;
            }
        }
        Ok(())
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, end: &[u8]) -> std::io::Result<()> {
        let open = self.open.pop().unwrap_or(Open {
            compact: true,
            any: false,
        });
        if open.any && !open.compact {
            self.newline(w)?;
        }
        w.write_all(end)
    }
}

/// Scalar writers: the separator, then what serde_json's compact formatter writes.
macro_rules! scalars {
    ($($name:ident($t:ty)),* $(,)?) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: $t) -> std::io::Result<()> {
            self.scalar(w)?;
            serde_json::ser::CompactFormatter.$name(w, v)
        }
    )*};
}

impl serde_json::ser::Formatter for Rows {
    scalars!(
        write_bool(bool),
        write_i8(i8),
        write_i16(i16),
        write_i32(i32),
        write_i64(i64),
        write_i128(i128),
        write_u8(u8),
        write_u16(u16),
        write_u32(u32),
        write_u64(u64),
        write_u128(u128),
        write_f32(f32),
        write_f64(f64),
        write_number_str(&str),
    );

    fn write_null<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.scalar(w)?;
        w.write_all(b"null")
    }

    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.scalar(w)?;
        w.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.structure(w)?;
        self.open.push(Open {
            compact: false,
            any: false,
        });
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pending = None;
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        _w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.pending = Some(first);
        Ok(())
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.structure(w)?;
        self.open.push(Open {
            compact: false,
            any: false,
        });
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.separate(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects one key a line, number rows on one line, valid JSON that reads back the
    /// same (signed zero and shortest round-trip numbers included).
    #[test]
    fn rows_are_one_line_each_and_read_back() {
        let v = serde_json::json!({
            "b": [[1.5, -0.0, 1e-300], [2, 3, 4]],
            "a": {"s": ["relu", "identity"], "e": [], "o": {}, "n": null},
            "steps": [{"x": [0.1]}, {"x": []}],
            "t": true
        });
        let text = to_string_rows(&v).unwrap();
        let want = "{\n  \"a\": {\n    \"e\": [],\n    \"n\": null,\n    \"o\": {},\n    \"s\": [\"relu\",\"identity\"]\n  },\n  \"b\": [\n    [1.5,-0.0,1e-300],\n    [2,3,4]\n  ],\n  \"steps\": [\n    {\n      \"x\": [0.1]\n    },\n    {\n      \"x\": []\n    }\n  ],\n  \"t\": true\n}";
        assert_eq!(text, want);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        assert_eq!(to_string_rows(&[1.0, 2.0]).unwrap(), "[1.0,2.0]");
        assert_eq!(to_string_rows(&7).unwrap(), "7");
    }
}
