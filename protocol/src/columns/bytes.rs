//! The primitives of the columnar encoding: LEB128 varints, zigzag, UUIDs
//! as 16 bytes, strings with their length, and tables that name a value
//! once and refer to it by index after. The reader checks every length and
//! count against the bytes left before it allocates anything.

use std::collections::HashMap;
use std::hash::Hash;

use uuid::Uuid;

use super::ColumnsError;

/// Bytes being written.
#[derive(Debug, Default)]
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn byte(&mut self, value: u8) {
        self.0.push(value);
    }

    /// An unsigned LEB128 varint: 7 bits a byte, low bits first.
    pub(super) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    /// A signed number, zigzagged so that small magnitudes stay short.
    pub(super) fn signed(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }

    pub(super) fn uuid(&mut self, id: &Uuid) {
        self.0.extend_from_slice(id.as_bytes());
    }

    pub(super) fn text(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Bytes being read; every read is checked against what is left.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    /// Which part of the body this is, for error messages.
    part: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], part: &'static str) -> Self {
        Reader { bytes, part }
    }

    pub(super) fn error(&self, what: impl std::fmt::Display) -> ColumnsError {
        ColumnsError(format!("{}: {what}", self.part))
    }

    pub(super) fn byte(&mut self) -> Result<u8, ColumnsError> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| self.error("ends early"))?;
        self.bytes = rest;
        Ok(first)
    }

    pub(super) fn take(&mut self, count: usize) -> Result<&'a [u8], ColumnsError> {
        if count > self.bytes.len() {
            return Err(self.error(format_args!(
                "{count} bytes announced, {} left",
                self.bytes.len()
            )));
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    pub(super) fn varint(&mut self) -> Result<u64, ColumnsError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error("a number over 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("a number over 64 bits"))
    }

    pub(super) fn signed(&mut self) -> Result<i64, ColumnsError> {
        let value = self.varint()?;
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    /// A count of items that each take at least `each` bytes of this
    /// reader: larger than the bytes left could hold is an error, so the
    /// caller may allocate for it.
    pub(super) fn count(&mut self, each: usize, most: usize) -> Result<usize, ColumnsError> {
        let count = self.varint()?;
        let fits = self.bytes.len() / each.max(1);
        match usize::try_from(count) {
            Ok(count) if count <= most && count <= fits => Ok(count),
            _ => Err(self.error(format_args!(
                "a count of {count} (at most {})",
                most.min(fits)
            ))),
        }
    }

    pub(super) fn index(&mut self, length: usize) -> Result<usize, ColumnsError> {
        let index = self.varint()?;
        usize::try_from(index)
            .ok()
            .filter(|index| *index <= length)
            .ok_or_else(|| self.error(format_args!("index {index} beyond a table of {length}")))
    }

    pub(super) fn uuid(&mut self) -> Result<Uuid, ColumnsError> {
        let bytes = self.take(16)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(bytes);
        Ok(Uuid::from_bytes(id))
    }

    pub(super) fn text(&mut self) -> Result<&'a str, ColumnsError> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| self.error("a text too long"))?;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes).map_err(|_| self.error("a text that is not UTF-8"))
    }

    /// Errors unless everything was read: a body means one thing only.
    pub(super) fn finish(&self) -> Result<(), ColumnsError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.error(format_args!("{} bytes left over", self.bytes.len())))
        }
    }
}

/// Values written once and referred to by their index after: the writer
/// writes an index, and the value itself after an index equal to the
/// table's length (a value not seen before).
#[derive(Debug)]
pub(super) struct TableWriter<T> {
    seen: HashMap<T, u64>,
}

impl<T> Default for TableWriter<T> {
    fn default() -> Self {
        TableWriter {
            seen: HashMap::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> TableWriter<T> {
    /// Writes the reference to `value`: its index, and whether the caller
    /// must write the value itself next (it was not seen before).
    pub(super) fn refer(&mut self, writer: &mut Writer, value: &T) -> (u64, bool) {
        if let Some(index) = self.seen.get(value) {
            writer.varint(*index);
            return (*index, false);
        }
        let index = self.seen.len() as u64;
        writer.varint(index);
        self.seen.insert(value.clone(), index);
        (index, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overlong_ones_are_refused() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut writer = Writer::default();
            writer.varint(value);
            let mut reader = Reader::new(&writer.0, "test");
            assert_eq!(reader.varint().expect("reads"), value);
            assert!(reader.finish().is_ok());
        }
        for value in [0, -1, 1, i64::MIN, i64::MAX, -300] {
            let mut writer = Writer::default();
            writer.signed(value);
            assert_eq!(
                Reader::new(&writer.0, "test").signed().expect("reads"),
                value
            );
        }
        let overlong = [0xffu8; 11];
        assert!(Reader::new(&overlong, "test").varint().is_err());
        let too_large = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&too_large, "test").varint().is_err());
    }

    #[test]
    fn a_count_larger_than_the_bytes_left_is_refused_before_allocating() {
        let mut writer = Writer::default();
        writer.varint(1_000_000);
        writer.raw(&[0; 10]);
        let error = Reader::new(&writer.0, "ids")
            .count(16, usize::MAX)
            .expect_err("refused");
        assert!(
            error.to_string().starts_with("ids: a count of 1000000"),
            "{error}"
        );
    }
}
