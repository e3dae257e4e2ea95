//! The value a JSON document is read into.

use serde_json::{json, Value};

/// A JSON value as read by [`parse`](crate::io::json::parse::parse): objects keep their
/// keys in document order (and never repeat one); an array holding only numbers is
/// stored compactly as [`Json::Numbers`]. A non-negative integer literal (`3`, not `3.0`
/// or `3e0`) is kept apart from other numbers, so whole-number fields can insist on one.
/// Numbers may be non-finite when the document was read with
/// [`Options::non_finite`](crate::io::json::parse::Options::non_finite).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer literal, exactly (up to `u64::MAX`).
    Integer(u64),
    /// Any other number.
    Number(f64),
    /// A string.
    String(String),
    /// An array whose elements are all numbers (also the empty array), compactly; its
    /// first `integers` elements were non-negative integer literals.
    Numbers {
        /// The values (integer literals above 2⁵³ rounded to the nearest `f64`).
        values: Vec<f64>,
        /// How many leading elements were non-negative integer literals.
        integers: usize,
    },
    /// Any other array.
    Array(Vec<Json>),
    /// An object, its fields in document order.
    Object(Vec<(String, Json)>),
}

/// One element of a JSON array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    /// A non-negative integer literal of a compact array.
    Whole(u64),
    /// Any other number of a compact array.
    Number(f64),
    /// An element of any other array.
    Value(&'a Json),
}

impl Item<'_> {
    /// The number, if this element is one.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Item::Whole(n) => Some(n as f64),
            Item::Number(x) => Some(x),
            Item::Value(v) => v.as_f64(),
        }
    }

    /// The whole number, if this element is a non-negative integer literal.
    pub fn as_whole(self) -> Option<u64> {
        match self {
            Item::Whole(n) => Some(n),
            Item::Number(_) => None,
            Item::Value(v) => v.as_whole(),
        }
    }

    /// The element's kind, for messages.
    pub fn kind(self) -> &'static str {
        match self {
            Item::Whole(_) | Item::Number(_) => "a number",
            Item::Value(v) => v.kind(),
        }
    }

    /// The element as messages show it: a number in shortest form, a string in quotes,
    /// anything else by its kind.
    pub fn show(self) -> String {
        match self {
            Item::Whole(n) => n.to_string(),
            Item::Number(x) => show_number(x),
            Item::Value(v) => v.show(),
        }
    }
}

fn show_number(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_else(|_| x.to_string())
}

impl Json {
    /// The value's kind, for messages: `a string`, `an object`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Integer(_) | Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Numbers { .. } | Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The value as messages show it: a number in shortest form, a string in quotes,
    /// `true`/`false`/`null`, anything else by its kind.
    pub fn show(&self) -> String {
        match self {
            Json::Integer(n) => n.to_string(),
            Json::Number(x) => show_number(*x),
            Json::String(s) => format!("{s:?}"),
            Json::Bool(b) => b.to_string(),
            Json::Null => "null".into(),
            other => other.kind().into(),
        }
    }

    /// The fields of an object.
    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(f) => Some(f),
            _ => None,
        }
    }

    /// Field `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Integer(n) => Some(*n as f64),
            Json::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// The whole number, if this is a non-negative integer literal (`3`, not `3.0`).
    pub fn as_whole(&self) -> Option<u64> {
        match self {
            Json::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number of elements, if this is an array.
    pub fn len(&self) -> Option<usize> {
        match self {
            Json::Numbers { values, .. } => Some(values.len()),
            Json::Array(v) => Some(v.len()),
            _ => None,
        }
    }

    /// Whether this is an empty array (`None` if it is not an array).
    pub fn is_empty(&self) -> Option<bool> {
        self.len().map(|n| n == 0)
    }

    /// The elements, if this is an array.
    pub fn items(&self) -> Option<Vec<Item<'_>>> {
        match self {
            Json::Numbers { values, integers } => Some(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if i < *integers {
                            Item::Whole(x as u64)
                        } else {
                            Item::Number(x)
                        }
                    })
                    .collect(),
            ),
            Json::Array(v) => Some(v.iter().map(Item::Value).collect()),
            _ => None,
        }
    }

    /// Converts to a serde_json value (non-finite numbers become `null`).
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Integer(n) => json!(n),
            Json::Number(x) => json!(x),
            Json::String(s) => Value::String(s.clone()),
            Json::Numbers { values, integers } => Value::Array(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if i < *integers {
                            json!(x as u64)
                        } else {
                            json!(x)
                        }
                    })
                    .collect(),
            ),
            Json::Array(v) => Value::Array(v.iter().map(Json::to_value).collect()),
            Json::Object(f) => {
                Value::Object(f.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}
