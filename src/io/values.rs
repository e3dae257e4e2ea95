//! The values a spec is made of, read from its JSON with their field names in errors:
//! finite numbers, whole numbers, and arrays of them (shared by [`crate::io::spec`] and
//! [`crate::io::initial`]).

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::io::json::value::{Item, Json};

/// A finite JSON number.
pub(crate) fn number(v: Item<'_>, field: &str) -> Result<f64> {
    let x = v
        .as_f64()
        .ok_or_else(|| Error::invalid(field, format!("must be a number, got {}", v.kind())))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(field, format!("must be finite, got {x}")))
    }
}

/// A whole number `≥ 1` that fits in `usize` (written `3` or `3.0`).
pub(crate) fn positive_int(v: Item<'_>, field: &str) -> Result<usize> {
    match v.as_whole() {
        Some(0) => Err(Error::invalid(field, "must be ≥ 1, got 0")),
        Some(n) => {
            usize::try_from(n).map_err(|_| Error::invalid(field, format!("is too large: {n}")))
        }
        None => Err(Error::invalid(
            field,
            format!("must be a whole number ≥ 1, got {}", v.show()),
        )),
    }
}

/// A non-empty array of rows of `cols` finite numbers (`cols` from the first row when
/// `None`).
pub(crate) fn matrix(v: &Json, field: &str, cols: Option<usize>) -> Result<Array2<f64>> {
    let rows = match v {
        Json::Array(rows) => rows.as_slice(),
        Json::Numbers { values, .. } if values.is_empty() => &[],
        Json::Numbers { .. } => {
            return Err(Error::invalid(
                format!("{field}[0]"),
                "must be an array of numbers, got a number",
            ))
        }
        other => {
            return Err(Error::invalid(
                field,
                format!("must be an array of samples, got {}", other.kind()),
            ))
        }
    };
    if rows.is_empty() {
        return Err(Error::invalid(
            field,
            "needs at least one sample, got an empty array",
        ));
    }
    let width = match cols {
        Some(c) => c,
        None => rows[0].len().unwrap_or(0),
    };
    // Sized from the numbers actually present (not from `cols`, which a spec may set
    // huge, nor from the first row times the row count, which one long row and many
    // short ones would make quadratic in the document's size).
    let present: usize = rows.iter().map(|r| r.len().unwrap_or(0).min(width)).sum();
    let mut data = Vec::with_capacity(present);
    for (r, row) in rows.iter().enumerate() {
        let row_field = format!("{field}[{r}]");
        let items = row.items().ok_or_else(|| {
            Error::invalid(
                &row_field,
                format!("must be an array of numbers, got {}", row.kind()),
            )
        })?;
        if items.len() != width {
            return Err(Error::invalid(
                &row_field,
                format!("has {} values, expected {width}", items.len()),
            ));
        }
        for (c, x) in items.into_iter().enumerate() {
            data.push(number(x, &format!("{row_field}[{c}]"))?);
        }
    }
    Array2::from_shape_vec((rows.len(), width), data)
        .map_err(|e| Error::invalid(field, e.to_string()))
}

/// Exactly `n` finite numbers (a flat array).
pub(crate) fn vector(v: &Json, field: &str, n: usize) -> Result<Vec<f64>> {
    let items = v.items().ok_or_else(|| {
        Error::invalid(
            field,
            format!("must be an array of {n} numbers, got {}", v.kind()),
        )
    })?;
    if items.len() != n {
        return Err(Error::invalid(
            field,
            format!("has {} values, expected {n}", items.len()),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, x)| number(x, &format!("{field}[{i}]")))
        .collect()
}
