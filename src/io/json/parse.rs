//! The one JSON reader for every input document (model specs, candidate
//! trajectories): a streaming parser with the rules the oracle needs and `serde_json`
//! does not have.
//!
//! * **Duplicate keys** in an object are an error naming the key (serde_json keeps the
//!   last one silently).
//! * **Non-finite literals** `NaN`, `Infinity`, `-Infinity` (which Python's `json`
//!   writes) are read as numbers when [`Options::non_finite`] is set, so the caller can
//!   name the element; otherwise they are a syntax error, as in strict JSON. A finite
//!   literal that overflows (`1e999`) is always an error.
//! * **Bounded**: nesting deeper than [`MAX_DEPTH`] and documents whose values would
//!   need more than [`Options::max_bytes`] of memory are refused while reading, before
//!   the memory is spent.
//! * **Compact**: an array of numbers is stored as a `Vec<f64>` (8 bytes a number), so a
//!   document's memory is proportional to its numbers, not to its text.
//!
//! Numbers are parsed with Rust's correctly rounded `str::parse::<f64>`, so every
//! shortest round-trip decimal gives back its exact `f64`. Errors carry the line and
//! column (bytes, from 1) of the problem.

use std::collections::HashSet;
use std::io::Read;

use crate::error::ParseError;
use crate::io::json::value::Json;

/// Nesting deeper than this is refused (as serde_json's default recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Reading options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Accept `NaN`, `Infinity` and `-Infinity` as numbers.
    pub non_finite: bool,
    /// The most memory the parsed values may take (numbers at 8 bytes, strings at their
    /// length, every other value at 32 bytes).
    pub max_bytes: u64,
}

/// Parses one JSON document from `input` (followed by nothing but white space).
pub fn parse(input: impl Read, options: Options) -> Result<Json, ParseError> {
    let mut p = Parser {
        input,
        buf: vec![0; 1 << 16],
        pos: 0,
        len: 0,
        offset: 0,
        line: 1,
        line_start: 0,
        io_error: None,
        options,
        used: 0,
        scratch: Vec::new(),
    };
    let value = p.value(0)?;
    p.skip_ws()?;
    match p.peek()? {
        None => Ok(value),
        Some(_) => Err(p.error("trailing characters")),
    }
}

/// A number longer than this is not a float anyone wrote on purpose.
const LONGEST_NUMBER: usize = 4097;

/// The JSON number at the start of `b` (`-? (0 | [1-9][0-9]*) (.[0-9]+)?
/// ([eE][+-]?[0-9]+)?`) when it is well formed, ends before `b` does (so it is whole)
/// and is no longer than [`LONGEST_NUMBER`]: its value, an integer when it is one that
/// fits a `u64` (digits only), else the nearest `f64` (`None` in the value when that is
/// infinite: out of range), and its length. `None` otherwise: the byte-at-a-time path
/// then reads it, or names what is wrong with it.
fn scan_number(b: &[u8]) -> Option<(Option<Json>, usize)> {
    let digits = |i: usize| {
        b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let negative = b.first() == Some(&b'-');
    let mut i = usize::from(negative);
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(i),
        _ => return None,
    }
    let int_end = i;
    if b.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
    }
    if i >= b.len() || i > LONGEST_NUMBER {
        return None;
    }
    if !negative && int_end == i {
        // Digits only: at most 19 of them always fit a u64.
        if i <= 19 {
            let n = b[..i]
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
            return Some((Some(Json::Integer(n)), i));
        }
    }
    let text = std::str::from_utf8(&b[..i]).ok()?;
    Some((number_value(text), i))
}

/// The value of a well-formed number's text: an integer when it is one that fits a
/// `u64`, else the nearest `f64`; `None` when that is infinite (out of range).
fn number_value(text: &str) -> Option<Json> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<u64>() {
            return Some(Json::Integer(n));
        }
    }
    let v: f64 = text.parse().ok()?;
    (!v.is_infinite()).then_some(Json::Number(v))
}

struct Parser<R> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes consumed before `buf[0]`.
    offset: u64,
    line: u64,
    /// Offset of the first byte of the current line.
    line_start: u64,
    io_error: Option<std::io::Error>,
    options: Options,
    /// Memory accounted so far.
    used: u64,
    scratch: Vec<u8>,
}

impl<R: Read> Parser<R> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        let here = self.offset + self.pos as u64;
        ParseError {
            message: message.into(),
            line: self.line,
            column: here - self.line_start + 1,
        }
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        if self.pos == self.len {
            self.offset += self.len as u64;
            self.pos = 0;
            self.len = loop {
                match self.input.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let err = self.error(format!("cannot be read: {e}"));
                        self.io_error = Some(e);
                        return Err(err);
                    }
                }
            };
            if self.len == 0 {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos]))
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    fn next(&mut self) -> Result<Option<u8>, ParseError> {
        let b = self.peek()?;
        if b.is_some() {
            self.bump();
        }
        Ok(b)
    }

    /// Skips whitespace, a buffer at a time (counting lines).
    fn skip_ws(&mut self) -> Result<(), ParseError> {
        while self.peek()?.is_some() {
            while self.pos < self.len {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.line_start = self.offset + self.pos as u64;
                    }
                    _ => return Ok(()),
                }
            }
        }
        Ok(())
    }

    fn account(&mut self, bytes: u64) -> Result<(), ParseError> {
        self.used += bytes;
        if self.used > self.options.max_bytes {
            return Err(self.error(format!(
                "the document's values need more than the {} MiB limit of memory",
                self.options.max_bytes >> 20
            )));
        }
        Ok(())
    }

    fn eof(&self, what: &str) -> ParseError {
        self.error(format!("EOF while parsing {what}"))
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.skip_ws()?;
        let Some(b) = self.peek()? else {
            return Err(self.eof("a value"));
        };
        match b {
            b'{' | b'[' if depth >= MAX_DEPTH => Err(self.error("recursion limit exceeded")),
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => {
                self.bump();
                let s = self.string()?;
                self.account(s.len() as u64 + 32)?;
                Ok(Json::String(s))
            }
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' | b'N' | b'I' => {
                let v = self.number()?;
                self.account(32)?;
                Ok(v)
            }
            _ => Err(self.error("expected value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, ParseError> {
        for &w in word.as_bytes() {
            match self.peek()? {
                Some(b) if b == w => self.bump(),
                Some(_) => return Err(self.error("expected value")),
                None => return Err(self.eof("a value")),
            }
        }
        self.account(32)?;
        Ok(value)
    }

    /// A number (the next byte is `-`, a digit, or `N`/`I` for the non-finite words).
    fn number(&mut self) -> Result<Json, ParseError> {
        // The common case, a number that ends inside the buffer: read in place.
        if let Some((v, n)) = scan_number(&self.buf[self.pos..self.len]) {
            let v = v.ok_or_else(|| self.error("number out of range"))?;
            self.pos += n;
            return Ok(v);
        }
        let start = self.error("");
        let negative = self.peek()? == Some(b'-');
        if negative {
            self.bump();
        }
        match self.peek()? {
            Some(b'N') if !negative => return self.non_finite("NaN", f64::NAN).map(Json::Number),
            Some(b'I') => {
                let v = self.non_finite("Infinity", f64::INFINITY)?;
                return Ok(Json::Number(if negative { -v } else { v }));
            }
            _ => {}
        }
        self.scratch.clear();
        if negative {
            self.scratch.push(b'-');
        }
        // int: 0 | [1-9][0-9]*
        match self.peek()? {
            Some(b'0') => {
                self.scratch.push(b'0');
                self.bump();
            }
            Some(b'1'..=b'9') => self.digits()?,
            Some(_) => return Err(self.error("invalid number")),
            None => return Err(self.eof("a value")),
        }
        if self.peek()? == Some(b'.') {
            self.scratch.push(b'.');
            self.bump();
            if !matches!(self.peek()?, Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits()?;
        }
        if matches!(self.peek()?, Some(b'e' | b'E')) {
            self.scratch.push(b'e');
            self.bump();
            if let Some(sign @ (b'+' | b'-')) = self.peek()? {
                self.scratch.push(sign);
                self.bump();
            }
            if !matches!(self.peek()?, Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits()?;
        }
        let text = std::str::from_utf8(&self.scratch).map_err(|_| self.error("invalid number"))?;
        number_value(text).ok_or(ParseError {
            message: "number out of range".into(),
            ..start
        })
    }

    /// Appends the digits that follow to `scratch`, a buffer at a time.
    fn digits(&mut self) -> Result<(), ParseError> {
        while self.peek()?.is_some() {
            let avail = &self.buf[self.pos..self.len];
            let n = avail.iter().take_while(|b| b.is_ascii_digit()).count();
            let room = LONGEST_NUMBER.saturating_sub(self.scratch.len());
            if n > room {
                self.scratch.extend_from_slice(&avail[..room]);
                self.pos += room;
                return Err(self.error("number too long"));
            }
            self.scratch.extend_from_slice(&avail[..n]);
            self.pos += n;
            if self.pos < self.len {
                break;
            }
        }
        Ok(())
    }

    fn non_finite(&mut self, word: &str, value: f64) -> Result<f64, ParseError> {
        if !self.options.non_finite {
            return Err(self.error("expected value"));
        }
        for &w in word.as_bytes() {
            match self.next()? {
                Some(b) if b == w => {}
                Some(_) => return Err(self.error("expected value")),
                None => return Err(self.eof("a value")),
            }
        }
        Ok(value)
    }

    /// A string's contents (after the opening quote), unescaped.
    fn string(&mut self) -> Result<String, ParseError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek()? else {
                return Err(self.eof("a string"));
            };
            if b < 0x20 {
                return Err(
                    self.error("control character (\\u0000-\\u001F) found while parsing a string")
                );
            }
            self.bump();
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.next()? else {
                        return Err(self.eof("a string"));
                    };
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                _ => out.push(b),
            }
            if out.len() as u64 > self.options.max_bytes {
                return Err(self.error("string longer than the memory limit"));
            }
        }
        String::from_utf8(out).map_err(|_| self.error("is not UTF-8 text (in a string)"))
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let mut v: u16 = 0;
        for _ in 0..4 {
            let Some(b) = self.next()? else {
                return Err(self.eof("a string"));
            };
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid escape"))?;
            v = v * 16 + d as u16;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let hi = self.hex4()?;
        if (0xDC00..0xE000).contains(&hi) {
            return Err(self.error("lone trailing surrogate in a \\u escape"));
        }
        if (0xD800..0xDC00).contains(&hi) {
            if self.next()? != Some(b'\\') || self.next()? != Some(b'u') {
                return Err(self.error("lone leading surrogate in a \\u escape"));
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("invalid surrogate pair in a \\u escape"));
            }
            let c = 0x10000 + ((hi as u32 - 0xD800) << 10) + (lo as u32 - 0xDC00);
            return char::from_u32(c).ok_or_else(|| self.error("invalid \\u escape"));
        }
        char::from_u32(hi as u32).ok_or_else(|| self.error("invalid \\u escape"))
    }

    fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.bump(); // [
        self.account(32)?;
        let mut values: Vec<f64> = Vec::new();
        let mut integers = 0;
        let mut items: Option<Vec<Json>> = None;
        self.skip_ws()?;
        if self.peek()? == Some(b']') {
            self.bump();
            return Ok(Json::Numbers { values, integers });
        }
        loop {
            if items.is_none() {
                // Numbers so far, and this one whole in the buffer: read it in place.
                self.skip_ws()?;
                if let Some((v, n)) = scan_number(&self.buf[self.pos..self.len]) {
                    let v = v.ok_or_else(|| self.error("number out of range"))?;
                    self.pos += n;
                    self.account(8)?;
                    if matches!(v, Json::Integer(_)) && integers == values.len() {
                        integers += 1;
                    }
                    values.push(v.as_f64().unwrap_or(f64::NAN));
                    self.separator()?;
                    if self.peek()? == Some(b']') {
                        self.bump();
                        break;
                    }
                    continue;
                }
            }
            let v = self.value(depth + 1)?;
            match (&mut items, v) {
                (None, v @ (Json::Integer(_) | Json::Number(_))) => {
                    // The number's 32 bytes were accounted as a value; it costs 8 here.
                    self.used -= 24;
                    if matches!(v, Json::Integer(_)) && integers == values.len() {
                        integers += 1;
                    }
                    values.push(v.as_f64().unwrap_or(f64::NAN));
                }
                (None, other) => {
                    // The first non-number: the numbers so far become values.
                    let mut all: Vec<Json> = Vec::with_capacity(values.len() + 1);
                    self.account(24 * values.len() as u64)?;
                    all.extend(values.drain(..).enumerate().map(|(i, x)| {
                        if i < integers {
                            Json::Integer(x as u64)
                        } else {
                            Json::Number(x)
                        }
                    }));
                    all.push(other);
                    items = Some(all);
                }
                (Some(all), v) => all.push(v),
            }
            self.separator()?;
            if self.peek()? == Some(b']') {
                self.bump();
                break;
            }
        }
        Ok(match items {
            Some(all) => Json::Array(all),
            None => Json::Numbers { values, integers },
        })
    }

    /// After a list's item: skips white space and a `,` (the next item follows) or
    /// stops at the `]` (left to the caller).
    fn separator(&mut self) -> Result<(), ParseError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(b',') => {
                self.bump();
                Ok(())
            }
            Some(b']') => Ok(()),
            Some(_) => Err(self.error("expected `,` or `]`")),
            None => Err(self.eof("a list")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.bump(); // {
        self.account(32)?;
        let mut fields: Vec<(String, Json)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        self.skip_ws()?;
        if self.peek()? == Some(b'}') {
            self.bump();
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws()?;
            let key_at = self.error("");
            match self.peek()? {
                Some(b'"') => self.bump(),
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.eof("an object")),
            }
            let key = self.string()?;
            self.account(key.len() as u64 + 32)?;
            if !seen.insert(key.clone()) {
                return Err(ParseError {
                    message: format!("duplicate key {key:?}"),
                    ..key_at
                });
            }
            self.skip_ws()?;
            match self.peek()? {
                Some(b':') => self.bump(),
                Some(_) => return Err(self.error("expected `:`")),
                None => return Err(self.eof("an object")),
            }
            let v = self.value(depth + 1)?;
            fields.push((key, v));
            self.skip_ws()?;
            match self.peek()? {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    break;
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.eof("an object")),
            }
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(non_finite: bool) -> Options {
        Options {
            non_finite,
            max_bytes: 1 << 20,
        }
    }

    fn p(text: &str) -> Result<Json, ParseError> {
        parse(text.as_bytes(), opts(false))
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = p(
            r#" {"a": [1, -2.5e-3, 0], "b": [[1, 2], [3]], "c": "x\"\u00e9\ud83d\ude00",
                 "d": [true, null, "s"], "e": {}, "f": [], "g": 7} "#,
        )
        .unwrap();
        let numbers = |values: Vec<f64>, integers| Json::Numbers { values, integers };
        assert_eq!(v.get("a"), Some(&numbers(vec![1.0, -2.5e-3, 0.0], 1)));
        assert_eq!(
            v.get("b"),
            Some(&Json::Array(vec![
                numbers(vec![1.0, 2.0], 2),
                numbers(vec![3.0], 1)
            ]))
        );
        assert_eq!(v.get("c"), Some(&Json::String("x\"é😀".into())));
        assert_eq!(
            v.get("d"),
            Some(&Json::Array(vec![
                Json::Bool(true),
                Json::Null,
                Json::String("s".into())
            ]))
        );
        assert_eq!(v.get("e"), Some(&Json::Object(vec![])));
        assert_eq!(v.get("f"), Some(&numbers(vec![], 0)));
        assert_eq!(v.get("g"), Some(&Json::Integer(7)));
        // A mixed array keeps its numbers as values.
        assert_eq!(
            p("[1, 1.5, \"a\"]").unwrap(),
            Json::Array(vec![
                Json::Integer(1),
                Json::Number(1.5),
                Json::String("a".into())
            ])
        );
        // Integer literals are kept apart from other numbers, exactly.
        assert_eq!(p("3.0").unwrap(), Json::Number(3.0));
        assert_eq!(p("1e6").unwrap(), Json::Number(1e6));
        assert_eq!(p("-1").unwrap(), Json::Number(-1.0));
        assert_eq!(p("18446744073709551615").unwrap(), Json::Integer(u64::MAX));
        assert_eq!(
            p("18446744073709551616").unwrap(),
            Json::Number(18446744073709551616.0)
        );
    }

    #[test]
    fn numbers_round_trip_exactly() {
        for x in [
            0.1,
            1e-300,
            5e-324,
            1.7976931348623157e308,
            -2.0 / 3.0,
            10.897856236694,
        ] {
            let text = serde_json::to_string(&x).unwrap();
            assert_eq!(p(&text).unwrap().as_f64(), Some(x), "{text}");
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = |t: &str| p(t).unwrap_err().to_string();
        assert_eq!(
            e(r#"{"a": 1, "a": 2}"#),
            "duplicate key \"a\" at line 1 column 10"
        );
        assert_eq!(
            e("{\n\"a\": [1, 2"),
            "EOF while parsing a list at line 2 column 11"
        );
        assert_eq!(e(""), "EOF while parsing a value at line 1 column 1");
        assert_eq!(e("[1] x"), "trailing characters at line 1 column 5");
        assert_eq!(e("[NaN]"), "expected value at line 1 column 2");
        assert_eq!(e("[1e999]"), "number out of range at line 1 column 2");
        assert_eq!(e("[01]"), "expected `,` or `]` at line 1 column 3");
        assert_eq!(e("[1.]"), "invalid number at line 1 column 4");
        assert_eq!(e("{1: 2}"), "key must be a string at line 1 column 2");
        assert_eq!(
            e("\"a\u{1}\""),
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3"
        );
        assert!(e(&"[".repeat(200)).starts_with("recursion limit exceeded"));
        assert!(e("\u{feff}{}").starts_with("expected value at line 1 column 1"));
        let bad_utf8 = parse(&b"\"\xff\""[..], opts(false)).unwrap_err();
        assert!(bad_utf8.message.contains("not UTF-8"), "{bad_utf8}");
    }

    #[test]
    fn non_finite_literals_only_when_allowed() {
        let v = parse("[NaN, Infinity, -Infinity, 1]".as_bytes(), opts(true)).unwrap();
        let Json::Numbers { values: xs, .. } = v else {
            panic!("{v:?}")
        };
        assert!(xs[0].is_nan() && xs[1] == f64::INFINITY && xs[2] == f64::NEG_INFINITY);
        assert!(p("[Infinity]").is_err());
        assert!(parse("[Nan]".as_bytes(), opts(true)).is_err());
    }

    #[test]
    fn memory_is_bounded_while_reading() {
        let small = Options {
            non_finite: false,
            max_bytes: 1000,
        };
        // 100 numbers at 8 bytes fit; 200 do not.
        let list = |n: usize| format!("[{}]", vec!["0"; n].join(","));
        assert!(parse(list(100).as_bytes(), small).is_ok());
        let e = parse(list(200).as_bytes(), small).unwrap_err();
        assert!(e.message.contains("limit of memory"), "{e}");
        let long = format!("\"{}\"", "a".repeat(2000));
        assert!(parse(long.as_bytes(), small).is_err());
    }
}
