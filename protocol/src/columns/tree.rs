//! Answers (JSON trees) taken apart by question. Every value is visited in
//! order; its kind (and an array's length, an object's keys) goes to one
//! *shape* stream, and its payload (a number, a string) to the *column* of
//! its path: the question's keys from the root, array positions left out,
//! so every member's age lands in one column, every note in another. The
//! shape of a batch's visits repeats and compresses to almost nothing; a
//! column holds values alike.
//!
//! Paths are numbered in the order they are first met, by the writer and
//! the reader alike, so no table of paths is sent. Object keys are named
//! once in the shape and referred to by index after; so are the strings
//! of each column (a choice's value costs its index, the first time its
//! text).
//!
//! The reader is bounded: depth (as serde_json's), the paths (no more
//! than the columns sent), and a budget of decoded bytes that every key
//! and string spends from, so that a reference to a long string cannot
//! multiply it.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::ColumnsError;
use super::bytes::{Reader, TableWriter, Writer};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
/// A whole number ≥ 0: varint.
const UNSIGNED: u8 = 3;
/// A whole number < 0: varint of `-(n + 1)`.
const NEGATIVE: u8 = 4;
/// A float that is `k / 10^d` exactly, for d in 0..=9 (`FLOAT_SCALED + d`):
/// zigzag varint of `k`. JSON `2500.0`, `27.123` and a GPS reading with
/// seven decimals are floats to serde_json and stay floats.
const FLOAT_SCALED: u8 = 5;
const MAX_SCALE: u8 = 9;
const FLOAT_SCALED_LAST: u8 = FLOAT_SCALED + MAX_SCALE;
/// Any other float: its 8 bytes, little-endian.
const FLOAT_BITS: u8 = 15;
const STRING: u8 = 16;
const ARRAY: u8 = 17;
const OBJECT: u8 = 18;

/// How deep answers may nest: serde_json's own limit, so that this
/// encoding refuses what a JSON body would.
const MAX_DEPTH: usize = 128;

/// A path's step from its parent: an object key (by its index in the key
/// table) or an array's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Key(u64),
    Item,
}

/// The paths met so far, numbered in order.
#[derive(Debug)]
struct Paths {
    ids: HashMap<(usize, Step), usize>,
    count: usize,
}

impl Paths {
    fn new(roots: usize) -> Self {
        Paths {
            ids: HashMap::new(),
            count: roots,
        }
    }

    /// The path under `parent` by `step`, and whether it is new.
    fn child(&mut self, parent: usize, step: Step) -> (usize, bool) {
        if let Some(id) = self.ids.get(&(parent, step)) {
            return (*id, false);
        }
        let id = self.count;
        self.ids.insert((parent, step), id);
        self.count += 1;
        (id, true)
    }
}

/// Takes answers apart; [`TreeWriter::finish`] gives the shape and the
/// columns.
#[derive(Debug)]
pub(super) struct TreeWriter {
    shape: Writer,
    columns: Vec<Writer>,
    strings: Vec<TableWriter<String>>,
    keys: TableWriter<String>,
    paths: Paths,
}

impl TreeWriter {
    /// A writer whose trees start at one of `roots` root paths (0..roots).
    pub(super) fn new(roots: usize) -> Self {
        TreeWriter {
            shape: Writer::default(),
            columns: (0..roots).map(|_| Writer::default()).collect(),
            strings: (0..roots).map(|_| TableWriter::default()).collect(),
            keys: TableWriter::default(),
            paths: Paths::new(roots),
        }
    }

    /// Writes the object `map` at root path `root`.
    pub(super) fn object(&mut self, root: usize, map: &Map<String, Value>) {
        self.entries(root, map);
    }

    pub(super) fn finish(self) -> (Writer, Vec<Writer>) {
        (self.shape, self.columns)
    }

    fn entries(&mut self, path: usize, map: &Map<String, Value>) {
        self.shape.varint(map.len() as u64);
        for (key, value) in map {
            let (index, new) = self.keys.refer(&mut self.shape, key);
            if new {
                self.shape.text(key);
            }
            let child = self.child(path, Step::Key(index));
            self.value(child, value);
        }
    }

    fn child(&mut self, parent: usize, step: Step) -> usize {
        let (id, new) = self.paths.child(parent, step);
        if new {
            self.columns.push(Writer::default());
            self.strings.push(TableWriter::default());
        }
        id
    }

    fn value(&mut self, path: usize, value: &Value) {
        match value {
            Value::Null => self.shape.byte(NULL),
            Value::Bool(false) => self.shape.byte(FALSE),
            Value::Bool(true) => self.shape.byte(TRUE),
            Value::Number(number) => self.number(path, number),
            Value::String(text) => {
                self.shape.byte(STRING);
                let column = &mut self.columns[path];
                let (_, new) = self.strings[path].refer(column, text);
                if new {
                    column.text(text);
                }
            }
            Value::Array(items) => {
                self.shape.byte(ARRAY);
                self.shape.varint(items.len() as u64);
                let child = self.child(path, Step::Item);
                for item in items {
                    self.value(child, item);
                }
            }
            Value::Object(map) => {
                self.shape.byte(OBJECT);
                self.entries(path, map);
            }
        }
    }

    fn number(&mut self, path: usize, number: &Number) {
        let column = &mut self.columns[path];
        if let Some(whole) = number.as_u64() {
            self.shape.byte(UNSIGNED);
            column.varint(whole);
        } else if let Some(negative) = number.as_i64() {
            self.shape.byte(NEGATIVE);
            column.varint(!(negative as u64));
        } else {
            let float = number.as_f64().unwrap_or(f64::NAN);
            match scaled(float) {
                Some((scale, whole)) => {
                    self.shape.byte(FLOAT_SCALED + scale);
                    column.signed(whole);
                }
                None => {
                    self.shape.byte(FLOAT_BITS);
                    column.raw(&float.to_le_bytes());
                }
            }
        }
    }
}

/// `float` as `whole / 10^scale`, exactly (bit for bit, as the reader
/// computes it), for the smallest scale that works.
fn scaled(float: f64) -> Option<(u8, i64)> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (0..=MAX_SCALE).find_map(|scale| {
        let times = float * unscale(scale);
        if times.fract() != 0.0 || times.abs() >= EXACT {
            return None;
        }
        let whole = times as i64;
        (from_scaled(scale, whole).to_bits() == float.to_bits()).then_some((scale, whole))
    })
}

fn unscale(scale: u8) -> f64 {
    const POWERS: [f64; MAX_SCALE as usize + 1] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
    POWERS[usize::from(scale.min(MAX_SCALE))]
}

fn from_scaled(scale: u8, whole: i64) -> f64 {
    whole as f64 / unscale(scale)
}

/// Decoded bytes left to spend: keys and strings spend their length, every
/// value one byte more, as its JSON would at least.
#[derive(Debug)]
pub(super) struct Budget {
    left: usize,
}

impl Budget {
    pub(super) fn new(bytes: usize) -> Self {
        Budget { left: bytes }
    }

    pub(super) fn spend(&mut self, bytes: usize) -> Result<(), ColumnsError> {
        self.left = self
            .left
            .checked_sub(bytes.saturating_add(1))
            .ok_or_else(|| {
                ColumnsError("the body decodes to more than a request may hold".into())
            })?;
        Ok(())
    }
}

/// Puts answers back together from the shape and the columns.
#[derive(Debug)]
pub(super) struct TreeReader<'a> {
    shape: Reader<'a>,
    columns: Vec<Reader<'a>>,
    strings: Vec<Vec<&'a str>>,
    keys: Vec<&'a str>,
    paths: Paths,
}

impl<'a> TreeReader<'a> {
    /// `columns` must be as many as the paths the writer met, `roots` of
    /// them roots.
    pub(super) fn new(shape: Reader<'a>, columns: Vec<Reader<'a>>, roots: usize) -> Self {
        TreeReader {
            shape,
            strings: vec![Vec::new(); columns.len()],
            columns,
            keys: Vec::new(),
            paths: Paths::new(roots),
        }
    }

    /// Reads an object at root path `root`.
    pub(super) fn object(
        &mut self,
        root: usize,
        budget: &mut Budget,
    ) -> Result<Map<String, Value>, ColumnsError> {
        if root >= self.columns.len() {
            return Err(self.shape.error("fewer columns than roots"));
        }
        self.entries(root, budget, 0)
    }

    /// Errors unless every byte of the shape and of every column was read,
    /// and every column sent belongs to a path.
    pub(super) fn finish(&self) -> Result<(), ColumnsError> {
        self.shape.finish()?;
        if self.paths.count != self.columns.len() {
            return Err(self.shape.error(format_args!(
                "{} columns sent for {} paths",
                self.columns.len(),
                self.paths.count
            )));
        }
        self.columns.iter().try_for_each(Reader::finish)
    }

    fn entries(
        &mut self,
        path: usize,
        budget: &mut Budget,
        depth: usize,
    ) -> Result<Map<String, Value>, ColumnsError> {
        // A key takes at least two bytes of the shape (its index, the
        // value's kind).
        let count = self.shape.count(2, usize::MAX)?;
        let mut map = Map::new();
        for _ in 0..count {
            let index = self.shape.index(self.keys.len())?;
            if index == self.keys.len() {
                let key = self.shape.text()?;
                self.keys.push(key);
            }
            let key = self.keys[index];
            budget.spend(key.len())?;
            let child = self.child(path, Step::Key(index as u64))?;
            let value = self.value(child, budget, depth + 1)?;
            map.insert(key.to_owned(), value);
        }
        Ok(map)
    }

    fn child(&mut self, parent: usize, step: Step) -> Result<usize, ColumnsError> {
        let (id, _) = self.paths.child(parent, step);
        if id >= self.columns.len() {
            return Err(self.shape.error("more paths than columns sent"));
        }
        Ok(id)
    }

    fn value(
        &mut self,
        path: usize,
        budget: &mut Budget,
        depth: usize,
    ) -> Result<Value, ColumnsError> {
        if depth > MAX_DEPTH {
            return Err(self.shape.error("answers nested too deep"));
        }
        let kind = self.shape.byte()?;
        budget.spend(0)?;
        let column = &mut self.columns[path];
        Ok(match kind {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UNSIGNED => Value::from(column.varint()?),
            NEGATIVE => {
                let number = !(column.varint()? as i64);
                if number >= 0 {
                    return Err(column.error("a negative number out of range"));
                }
                Value::from(number)
            }
            scale @ FLOAT_SCALED..=FLOAT_SCALED_LAST => {
                let whole = column.signed()?;
                float(from_scaled(scale - FLOAT_SCALED, whole), column)?
            }
            FLOAT_BITS => {
                let mut bits = [0u8; 8];
                bits.copy_from_slice(column.take(8)?);
                float(f64::from_le_bytes(bits), column)?
            }
            STRING => {
                let strings = &mut self.strings[path];
                let index = column.index(strings.len())?;
                if index == strings.len() {
                    strings.push(column.text()?);
                }
                let text = strings[index];
                budget.spend(text.len())?;
                Value::String(text.to_owned())
            }
            ARRAY => {
                // An item takes at least its kind's byte.
                let length = self.shape.count(1, usize::MAX)?;
                let child = self.child(path, Step::Item)?;
                let mut items = Vec::with_capacity(length);
                for _ in 0..length {
                    items.push(self.value(child, budget, depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => Value::Object(self.entries(path, budget, depth)?),
            other => return Err(self.shape.error(format_args!("unknown kind {other}"))),
        })
    }
}

fn float(value: f64, column: &Reader<'_>) -> Result<Value, ColumnsError> {
    Number::from_f64(value)
        .map(Value::Number)
        .ok_or_else(|| column.error("a number JSON cannot hold (NaN or infinite)"))
}
