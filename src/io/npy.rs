//! NumPy `.npy` and `.npz` files: the one reader (and the writer).
//!
//! Reading has a single header parser, [`read_header`], used both to validate a file
//! and to read it, so the two cannot disagree. The header is parsed as the Python
//! literal it is — a dict with exactly the keys `descr`, `fortran_order` and `shape`,
//! each once — and the data's size is computed from it (with overflow checks) *before*
//! anything is allocated. The data is then read straight into the array, a block at a
//! time: a file is never held as bytes and as an array at once.
//!
//! * `.npy` files: at most [`crate::io::MAX_BYTES`], and exactly as long as
//!   their header says.
//! * `.npz` members: looked up by name (a name given twice — `x` and `x.npy` count as
//!   the same — is refused), their declared size checked against the limit and against
//!   their header before the data is inflated, and inflation stops at the declared size
//!   (an entry that inflates to more is refused).
//!
//! Little-endian `float64` (`<f8`), `float32` (`<f4`) and `int64` (`<i8`) are read;
//! anything else is named in the error.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use crate::error::{Error, Result};
use crate::io::hashing::Hashing;
use crate::io::{open_bounded, MAX_BYTES};

/// The largest `.npy` header (dict text) read; NumPy's own limit is 10,000 bytes.
pub const MAX_HEADER: usize = 1 << 16;

/// An element type the reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<f8`.
    F64,
    /// `<f4`.
    F32,
    /// `<i8`.
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 => 4,
        }
    }

    /// NumPy's `descr` string.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F64 => "<f8",
            Dtype::F32 => "<f4",
            Dtype::I64 => "<i8",
        }
    }
}

/// A parsed, checked `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The element type.
    pub dtype: Dtype,
    /// Column-major data.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Bytes of magic, version, length and dict: where the data starts.
    pub header_bytes: u64,
    /// Bytes of data: elements × element size.
    pub data_bytes: u64,
}

/// An array as read, in its own element type.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyArray {
    /// Float64 data.
    F64(ArrayD<f64>),
    /// Float32 data.
    F32(ArrayD<f32>),
    /// Int64 data.
    I64(ArrayD<i64>),
}

impl NpyArray {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            NpyArray::F64(_) => Dtype::F64,
            NpyArray::F32(_) => Dtype::F32,
            NpyArray::I64(_) => Dtype::I64,
        }
    }

    /// The values as float64: float32 exactly, int64 exactly when `|v| ≤ 2⁵³`.
    pub fn into_f64(self) -> ArrayD<f64> {
        match self {
            NpyArray::F64(a) => a,
            NpyArray::F32(a) => a.mapv(f64::from),
            NpyArray::I64(a) => a.mapv(|v| v as f64),
        }
    }
}

fn bad(what: &str, problem: impl std::fmt::Display) -> Error {
    Error::invalid(what, format!("is not a valid .npy file: {problem}"))
}

/// Reads and checks a `.npy` header from the start of `r` (`what` names the source):
/// the magic, the version (1, 2 or 3), the dict (exactly `descr`, `fortran_order`,
/// `shape`, each once, in any order), the dtype, and a shape whose byte count fits.
pub fn read_header(r: &mut impl Read, what: &str) -> Result<Header> {
    let mut fixed = [0u8; 8];
    read_exact(
        r,
        &mut fixed,
        what,
        "missing the \\x93NUMPY magic (truncated or not NumPy)",
    )?;
    if &fixed[..6] != b"\x93NUMPY" {
        return Err(bad(
            what,
            "missing the \\x93NUMPY magic (truncated or not NumPy)",
        ));
    }
    let (len, prefix) = match fixed[6] {
        1 => {
            let mut b = [0u8; 2];
            read_exact(r, &mut b, what, "truncated header")?;
            (u16::from_le_bytes(b) as usize, 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_exact(r, &mut b, what, "truncated header")?;
            (u32::from_le_bytes(b) as usize, 12u64)
        }
        v => return Err(bad(what, format!("unsupported format version {v}"))),
    };
    if len > MAX_HEADER {
        return Err(bad(
            what,
            format!("its header is {len} bytes, more than the {MAX_HEADER} this reader accepts"),
        ));
    }
    let mut text = vec![0u8; len];
    read_exact(r, &mut text, what, "truncated header")?;
    let text = std::str::from_utf8(&text).map_err(|_| bad(what, "header is not text"))?;
    let dict = parse_dict(text).map_err(|p| bad(what, p))?;
    let descr = dict
        .descr
        .ok_or_else(|| bad(what, "no 'descr' in the header"))?;
    let fortran_order = dict
        .fortran_order
        .ok_or_else(|| bad(what, "no 'fortran_order' in the header"))?;
    let shape = dict
        .shape
        .ok_or_else(|| bad(what, "no 'shape' in the header"))?;
    let dtype = match descr.as_str() {
        "<f8" => Dtype::F64,
        "<f4" => Dtype::F32,
        "<i8" => Dtype::I64,
        other => {
            return Err(Error::invalid(
                what,
                format!(
                "has dtype {other:?}, expected float64 ('<f8'), float32 ('<f4') or int64 ('<i8')"
            ),
            ))
        }
    };
    let data_bytes = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|c| c.checked_mul(dtype.size() as u64))
        .ok_or_else(|| bad(what, "shape overflows"))?;
    Ok(Header {
        dtype,
        fortran_order,
        shape,
        header_bytes: prefix + len as u64,
        data_bytes,
    })
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str, problem: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(what, problem)
        } else {
            Error::invalid(what, format!("cannot be read: {e}"))
        }
    })
}

/// The fields of a header dict.
#[derive(Default)]
struct Dict {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }` (keys in any
/// order, each exactly once; white space and one trailing comma allowed).
fn parse_dict(text: &str) -> std::result::Result<Dict, String> {
    let mut s = text.trim_end_matches([' ', '\n']).trim();
    let mut d = Dict::default();
    s = s
        .strip_prefix('{')
        .ok_or("the header is not a dict (no '{')")?
        .trim_start();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            if !rest.trim().is_empty() {
                return Err("text after the header dict".into());
            }
            break;
        }
        let (key, rest) = quoted(s).ok_or("a header key is not a quoted string")?;
        s = rest
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| format!("no ':' after '{key}'"))?
            .trim_start();
        let dup = || format!("the header has '{key}' more than once");
        match key {
            "descr" => {
                let (v, rest) = quoted(s).ok_or("'descr' is not a quoted string")?;
                if d.descr.replace(v.to_string()).is_some() {
                    return Err(dup());
                }
                s = rest;
            }
            "fortran_order" => {
                let (v, rest) = if let Some(r) = s.strip_prefix("True") {
                    (true, r)
                } else if let Some(r) = s.strip_prefix("False") {
                    (false, r)
                } else {
                    return Err("'fortran_order' is not True or False".into());
                };
                if d.fortran_order.replace(v).is_some() {
                    return Err(dup());
                }
                s = rest;
            }
            "shape" => {
                let inner = s.strip_prefix('(').ok_or("'shape' is not a tuple")?;
                let end = inner.find(')').ok_or("'shape' is not a tuple")?;
                let shape = inner[..end]
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| {
                        let t = t.strip_suffix('L').unwrap_or(t);
                        t.parse::<usize>()
                            .map_err(|_| format!("shape entry {t:?} is not a size"))
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                if d.shape.replace(shape).is_some() {
                    return Err(dup());
                }
                s = &inner[end + 1..];
            }
            other => return Err(format!("unknown header key '{other}'")),
        }
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest.trim_start();
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}' in the header dict".into());
        }
    }
    Ok(d)
}

/// A `'…'` or `"…"` string at the start of `s` (no escapes): its contents and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &s[1..];
    let end = rest.find(q)?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// Reads the data that `h` describes from `r` (positioned after the header) into an
/// array: the one allocation, sized from the checked header, filled a block at a time.
/// `limit` is the most data this read may allocate (the caller's plan).
pub fn read_data(r: &mut impl Read, h: &Header, what: &str, limit: u64) -> Result<NpyArray> {
    if h.data_bytes > limit {
        return Err(Error::invalid(
            what,
            format!(
                "holds {} bytes of data (shape {:?}), more than the {} MiB this read may use",
                h.data_bytes,
                h.shape,
                limit >> 20
            ),
        ));
    }
    let n = (h.data_bytes / h.dtype.size() as u64) as usize;
    let shape = IxDyn(&h.shape);
    let shape = if h.fortran_order {
        shape.f()
    } else {
        shape.into_shape_with_order()
    };
    let truncated = |e: Error| match e {
        Error::InvalidParameter { .. } => bad(
            what,
            format!(
                "header shape {:?} needs {} data bytes, the file has fewer (truncated)",
                h.shape, h.data_bytes
            ),
        ),
        other => other,
    };
    let arr = match h.dtype {
        Dtype::F64 => {
            let v = fill(r, n, what, f64::from_le_bytes).map_err(truncated)?;
            NpyArray::F64(ArrayD::from_shape_vec(shape, v).map_err(|e| bad(what, e))?)
        }
        Dtype::F32 => {
            let v = fill(r, n, what, f32::from_le_bytes).map_err(truncated)?;
            NpyArray::F32(ArrayD::from_shape_vec(shape, v).map_err(|e| bad(what, e))?)
        }
        Dtype::I64 => {
            let v = fill(r, n, what, i64::from_le_bytes).map_err(truncated)?;
            NpyArray::I64(ArrayD::from_shape_vec(shape, v).map_err(|e| bad(what, e))?)
        }
    };
    Ok(arr)
}

/// `n` elements of `N` bytes each, decoded by `decode`, read a block at a time.
fn fill<T, const N: usize>(
    r: &mut impl Read,
    n: usize,
    what: &str,
    decode: fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    let mut block = vec![0u8; 1 << 16];
    let per_block = block.len() / N;
    while out.len() < n {
        let k = (n - out.len()).min(per_block);
        read_exact(r, &mut block[..k * N], what, "truncated data")?;
        out.extend(block[..k * N].chunks_exact(N).map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            decode(b)
        }));
    }
    Ok(out)
}

/// Whether `r` has no bytes left.
fn at_end(r: &mut impl Read, what: &str) -> Result<bool> {
    let mut one = [0u8; 1];
    loop {
        match r.read(&mut one) {
            Ok(0) => return Ok(true),
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::invalid(what, format!("cannot be read: {e}"))),
        }
    }
}

/// Reads a whole `.npy` document of `len` bytes from `r`: its length must be exactly
/// its header's plus its data's.
fn read_document(r: &mut impl Read, len: u64, what: &str) -> Result<NpyArray> {
    let h = read_header(r, what)?;
    let need = h.header_bytes.checked_add(h.data_bytes);
    if need != Some(len) {
        return Err(bad(
            what,
            format!(
                "header shape {:?} needs {} data bytes, the file has {} (truncated or corrupt)",
                h.shape,
                h.data_bytes,
                len.saturating_sub(h.header_bytes)
            ),
        ));
    }
    read_data(&mut r.take(h.data_bytes), &h, what, MAX_BYTES)
}

/// Reads a `.npy` file of at most [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<NpyArray> {
    Ok(read_hashed(path)?.0)
}

/// [`read`], with the SHA-256 of the file's bytes (lowercase hex), computed as they
/// are read (the file is read once).
pub fn read_hashed(path: &Path) -> Result<(NpyArray, String)> {
    let (f, len) = open_bounded(path)?;
    let what = path.display().to_string();
    let mut r = Hashing::new(std::io::BufReader::new(f));
    let a = read_document(&mut r, len, &what)?;
    Ok((a, r.hex()))
}

/// Reads `.npy` bytes held in memory; `what` names them in errors.
pub fn from_bytes(bytes: &[u8], what: &str) -> Result<NpyArray> {
    read_document(&mut &bytes[..], bytes.len() as u64, what)
}

/// Reads `.npy` bytes as float64 (refusing other dtypes, named).
pub fn f64_from_npy_bytes(bytes: &[u8], what: &str) -> Result<ArrayD<f64>> {
    only_f64(from_bytes(bytes, what)?, what)
}

/// Reads a `.npy` file as float64 (refusing other dtypes, named).
pub fn read_f64(path: &Path) -> Result<ArrayD<f64>> {
    let what = path.display().to_string();
    only_f64(read(path)?, &what)
}

fn only_f64(a: NpyArray, what: &str) -> Result<ArrayD<f64>> {
    match a {
        NpyArray::F64(a) => Ok(a),
        other => Err(Error::invalid(
            what,
            format!(
                "has dtype {:?}, expected float64 ('<f8')",
                other.dtype().descr()
            ),
        )),
    }
}

/// One member of an `.npz`, from the archive's directory (nothing inflated yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name without `.npy`.
    pub name: String,
    /// Its index in the archive.
    index: usize,
    /// The uncompressed size the archive declares.
    pub declared: u64,
}

/// What an `.npz` archive is read from: a file, or bytes in memory.
pub trait Source: Read + std::io::Seek {}
impl<T: Read + std::io::Seek> Source for T {}

/// An `.npz` archive: its members listed and checked, read one at a time on demand.
pub struct Npz {
    path: PathBuf,
    zip: zip::ZipArchive<Box<dyn Source>>,
    /// The members, by name without `.npy`, sorted.
    pub members: BTreeMap<String, Member>,
}

impl std::fmt::Debug for Npz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Npz")
            .field("path", &self.path)
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl Npz {
    /// Opens an `.npz` (plain or compressed, as `np.savez`/`np.savez_compressed` write) and
    /// lists its members; a name given twice (`x`, `x.npy`: the same name) is refused.
    pub fn open(path: &Path) -> Result<Npz> {
        Npz::from_file(open_bounded(path)?.0, path)
    }

    /// [`Npz::open`] of a file already opened ([`crate::io::open_bounded_in`]).
    pub fn from_file(f: std::fs::File, path: &Path) -> Result<Npz> {
        Npz::from_source(Box::new(std::io::BufReader::new(f)), path)
    }

    /// [`Npz::open`] on bytes held in memory; `name` stands for the file in errors.
    pub fn from_bytes(bytes: Vec<u8>, name: &Path) -> Result<Npz> {
        Npz::from_source(Box::new(std::io::Cursor::new(bytes)), name)
    }

    fn from_source(mut source: Box<dyn Source>, path: &Path) -> Result<Npz> {
        // The zip reader keeps one entry per name; the directory itself tells whether a
        // name was given twice.
        let names = central_directory_names(&mut source)
            .map_err(|e| Error::file(path, format!("is not a valid .npz (zip) archive: {e}")))?;
        let mut seen = std::collections::BTreeSet::new();
        for full in &names {
            let name = full.strip_suffix(".npy").unwrap_or(full);
            if !seen.insert(name.to_string()) {
                return Err(Error::invalid(
                    format!("{}[{name}]", path.display()),
                    "appears twice in the archive (as a name with and without .npy, or repeated)",
                ));
            }
        }
        let mut zip = zip::ZipArchive::new(source)
            .map_err(|e| Error::file(path, format!("is not a valid .npz (zip) archive: {e}")))?;
        let mut members = BTreeMap::new();
        for index in 0..zip.len() {
            let entry = zip.by_index_raw(index).map_err(|e| {
                Error::file(path, format!("is not a valid .npz (zip) archive: {e}"))
            })?;
            let full = entry.name().to_string();
            let name = full.strip_suffix(".npy").unwrap_or(&full).to_string();
            let m = Member {
                name: name.clone(),
                index,
                declared: entry.size(),
            };
            if members.insert(name.clone(), m).is_some() {
                return Err(Error::invalid(
                    format!("{}[{name}]", path.display()),
                    "appears twice in the archive (as a name with and without .npy, or repeated)",
                ));
            }
        }
        Ok(Npz {
            path: path.to_path_buf(),
            zip,
            members,
        })
    }

    /// The member names (without `.npy`), sorted.
    pub fn names(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    /// The declared uncompressed size of every member, summed.
    pub fn declared_total(&self) -> u64 {
        self.members.values().map(|m| m.declared).sum()
    }

    /// Reads member `name`: its declared size checked against `limit`, its header read
    /// and checked against the declared size, then its data, inflating no further than
    /// declared.
    pub fn read(&mut self, name: &str, limit: u64) -> Result<NpyArray> {
        Ok(self.read_hashed(name, limit)?.0)
    }

    /// [`Npz::read`], with the SHA-256 (lowercase hex) of the member's `.npy` bytes as
    /// inflated — what `sha256sum` says of the member extracted (`unzip -p F x.npy`).
    pub fn read_hashed(&mut self, name: &str, limit: u64) -> Result<(NpyArray, String)> {
        let what = format!("{}[{name}]", self.path.display());
        let m = self
            .members
            .get(name)
            .cloned()
            .ok_or_else(|| Error::invalid(&what, "cannot be read: no such member"))?;
        if m.declared > MAX_BYTES {
            return Err(Error::invalid(
                &what,
                format!("is {} bytes, larger than the 1 GiB limit", m.declared),
            ));
        }
        let entry = self
            .zip
            .by_index(m.index)
            .map_err(|e| Error::invalid(&what, format!("cannot be read: {e}")))?;
        let mut r = Hashing::new(entry.take(m.declared));
        let h = read_header(&mut r, &what)?;
        if h.header_bytes.checked_add(h.data_bytes) != Some(m.declared) {
            return Err(bad(
                &what,
                format!(
                    "header shape {:?} needs {} data bytes, the archive declares {} (truncated or corrupt)",
                    h.shape,
                    h.data_bytes,
                    m.declared.saturating_sub(h.header_bytes)
                ),
            ));
        }
        let a = read_data(&mut r, &h, &what, limit)?;
        let hex = r.hex();
        // Inflating past the declared size is a corrupt (or hostile) member.
        let mut rest = r.into_inner().into_inner();
        if !at_end(&mut rest, &what)? {
            return Err(bad(&what, "inflates to more than its declared size"));
        }
        Ok((a, hex))
    }

    /// A float64 member.
    pub fn f64(&mut self, name: &str) -> Result<ArrayD<f64>> {
        let what = format!("{}[{name}]", self.path.display());
        only_f64(self.read(name, MAX_BYTES)?, &what)
    }
}

/// The member names listed in a zip archive's central directory, in order (repeats
/// included).
fn central_directory_names(r: &mut dyn Source) -> std::io::Result<Vec<String>> {
    use std::io::{Error as IoError, ErrorKind, SeekFrom};
    let invalid = |m: &str| IoError::new(ErrorKind::InvalidData, m.to_string());
    let len = r.seek(SeekFrom::End(0))?;
    // The end-of-central-directory record: 22 bytes plus a comment of up to 65535.
    let tail_len = len.min(22 + 65_535);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let eocd = tail
        .windows(4)
        .rposition(|w| w == 0x0605_4b50u32.to_le_bytes())
        .ok_or_else(|| invalid("no end of central directory"))?;
    let field = |at: usize, n: usize| -> std::io::Result<u64> {
        let b = tail
            .get(eocd + at..eocd + at + n)
            .ok_or_else(|| invalid("truncated end of central directory"))?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    };
    let (count, size, offset) = (field(10, 2)?, field(12, 4)?, field(16, 4)?);
    if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        // Zip64: leave the listing to the zip reader (duplicates are then not detected).
        return Ok(Vec::new());
    }
    if offset.checked_add(size).is_none_or(|end| end > len) || size > MAX_HEADER as u64 * 1024 {
        return Err(invalid("central directory out of bounds"));
    }
    r.seek(SeekFrom::Start(offset))?;
    let mut dir = vec![0u8; size as usize];
    r.read_exact(&mut dir)?;
    let mut names = Vec::new();
    let mut at = 0usize;
    while names.len() < count as usize {
        let h = dir
            .get(at..at + 46)
            .ok_or_else(|| invalid("truncated central directory"))?;
        if h[..4] != 0x0201_4b50u32.to_le_bytes() {
            return Err(invalid("bad central directory entry"));
        }
        let n = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]) as usize;
        let (name_len, extra, comment) = (n(28), n(30), n(32));
        let name = dir
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| invalid("truncated central directory"))?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra + comment;
    }
    r.seek(SeekFrom::Start(0))?;
    Ok(names)
}

/// Writes arrays into an `.npz` (uncompressed, as `np.savez`), in the given order.
pub fn write_npz(
    path: &Path,
    arrays: &[(String, ArrayD<f64>)],
    ints: &[(String, ArrayD<i64>)],
) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = ndarray_npy::NpzWriter::new(f);
    let err = |e: ndarray_npy::WriteNpzError| Error::file(path, e.to_string());
    for (name, a) in arrays {
        w.add_array(name.as_str(), a).map_err(err)?;
    }
    for (name, a) in ints {
        w.add_array(name.as_str(), a).map_err(err)?;
    }
    w.finish().map_err(err)?;
    Ok(())
}

/// Writes one float64 `.npy`.
pub fn write_f64(path: &Path, a: &ArrayD<f64>) -> Result<()> {
    ndarray_npy::write_npy(path, a).map_err(|e| Error::file(path, e.to_string()))
}

/// Writes one int64 `.npy`.
pub fn write_i64(path: &Path, a: &ArrayD<i64>) -> Result<()> {
    ndarray_npy::write_npy(path, a).map_err(|e| Error::file(path, e.to_string()))
}

/// A 2-D view of a 1-D or 2-D array (`(n,)` becomes `(n, 1)`), or an error naming `what`.
pub fn as_matrix(a: ArrayD<f64>, what: &str) -> Result<ndarray::Array2<f64>> {
    let shape = a.shape().to_vec();
    let a = match shape.len() {
        1 => a
            .into_shape_with_order(IxDyn(&[shape[0], 1]))
            .map_err(|e| Error::invalid(what, e.to_string()))?,
        2 => a,
        n => {
            return Err(Error::invalid(
                what,
                format!("must be 1-D or 2-D, got {n}-D shape {shape:?}"),
            ))
        }
    };
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    a.into_dimensionality::<ndarray::Ix2>()
        .map_err(|e| Error::invalid(what, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn header_of(dict: &str) -> Result<Header> {
        read_header(&mut &npy(dict, &[])[..], "t.npy")
    }

    #[test]
    fn header_dict_is_parsed_strictly() {
        let h = header_of("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }").unwrap();
        assert_eq!(h.dtype, Dtype::F64);
        assert_eq!(h.shape, vec![4, 2]);
        assert_eq!(h.data_bytes, 64);
        assert_eq!(h.header_bytes, 128); // 10 + 60 characters, padded to a multiple of 64
        let h = header_of("{'shape': (3,), 'descr': '<f4', 'fortran_order': True}").unwrap();
        assert_eq!(
            (h.dtype, h.fortran_order, h.shape),
            (Dtype::F32, true, vec![3])
        );
        assert_eq!(
            header_of("{'descr': '<i8', 'fortran_order': False, 'shape': ()}")
                .unwrap()
                .data_bytes,
            8
        );
        let e = |d: &str| header_of(d).unwrap_err().to_string();
        let dup = e("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), 'shape': (100000000000000000,)}");
        assert!(dup.contains("'shape' more than once"), "{dup}");
        assert!(e("{'descr': '<f8', 'fortran_order': False}").contains("no 'shape'"));
        assert!(e("{'descr': '>f8', 'fortran_order': False, 'shape': (1,)}").contains("\">f8\""));
        assert!(
            e("{'descr': '<f8', 'fortran_order': False, 'shape': (-4, 2)}").contains("not a size")
        );
        assert!(
            e("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), 'x': 1}")
                .contains("unknown header key")
        );
        assert!(e("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999)}").contains("overflows"));
    }

    #[test]
    fn data_is_read_in_its_order_and_length() {
        let v: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let bytes = npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            &v,
        );
        let mut r = &bytes[..];
        let h = read_header(&mut r, "t").unwrap();
        let a = read_data(&mut r, &h, "t", MAX_BYTES).unwrap().into_f64();
        // Column-major: the first column is [1, 2].
        assert_eq!(
            a,
            ndarray::array![[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]].into_dyn()
        );
        // Short data is named as truncated; a plan smaller than the data refuses it
        // before allocating.
        let mut short = &bytes[..bytes.len() - 8];
        let h = read_header(&mut short, "t").unwrap();
        let e = read_data(&mut short, &h, "t", MAX_BYTES)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut r = &bytes[..];
        let h = read_header(&mut r, "t").unwrap();
        let e = read_data(&mut r, &h, "t", 40).unwrap_err().to_string();
        assert!(e.contains("48 bytes of data"), "{e}");
    }
}
