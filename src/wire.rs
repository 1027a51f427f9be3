//! The few protobuf primitives dag-pb and UnixFS need, written out so that
//! field order is exactly the canonical one (prost would put Data first);
//! varints themselves are `unsigned-varint`'s. A bottom layer: `unixfs`,
//! `car` and `net` (Bitswap's CID prefixes) build on it.

use unsigned_varint::{decode, encode};

/// Bytes that are not the protobuf they claim to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed block: {0}")]
    Malformed(&'static str),
}

pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(encode::u64(v, &mut encode::u64_buffer()));
}

pub fn varint_len(v: u64) -> usize {
    encode::u64(v, &mut encode::u64_buffer()).len()
}

pub fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, ((field as u64) << 3) | wire as u64);
}

pub fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, 0);
    put_varint(out, v);
}

/// A cursor over protobuf bytes that never panics on malformed input.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed64(u64),
    Fixed32(u32),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// An unsigned varint; one with padding (a last byte of 0 after
    /// others) or past 64 bits is an error, as no encoder writes either
    /// (Go's protowire rejects the second too).
    pub fn varint(&mut self) -> Result<u64, Error> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let (v, after) = decode::u64(rest).map_err(|e| {
            Error::Malformed(match e {
                decode::Error::Insufficient => "truncated varint",
                decode::Error::NotMinimal => "varint not minimally encoded",
                _ => "varint over 64 bits",
            })
        })?;
        let n = rest.len() - after.len();
        // The crate drops the bits a tenth byte carries past bit 64.
        if n == 10 && rest[9] > 1 {
            return Err(Error::Malformed("varint over 64 bits"));
        }
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Error::Malformed("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(Error::Malformed("truncated field"))?;
        self.pos = end;
        Ok(s)
    }

    /// Next (field number, value), or None at the end.
    pub fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, Error> {
        if self.at_end() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| Error::Malformed("field number"))?;
        let v = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| Error::Malformed("fixed64"))?,
                ))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Error::Malformed("length"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(
                    b.try_into().map_err(|_| Error::Malformed("fixed32"))?,
                ))
            }
            _ => return Err(Error::Malformed("unknown protobuf wire type")),
        };
        Ok(Some((field, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX >> 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            let mut r = Reader::new(&b);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.at_end());
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn malformed_varints_are_errors() {
        let bad: [&[u8]; 5] = [
            &[],
            &[0x80],
            &[0xff; 10],
            // 2^64: the tenth byte carries more than one bit.
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02],
            &[0x81, 0x00],
        ];
        for b in bad {
            assert!(Reader::new(b).varint().is_err(), "{b:02x?}");
        }
        // A truncated field never reads past the end.
        assert!(Reader::new(&[0x0a, 0x05, 0x01]).field().is_err());
    }
}
