//! The UnixFS `Data` message carried in a dag-pb node's Data field.
//! Encoded in field-number order, blocksizes unpacked (proto2), like Kubo.

use super::Error;
use crate::wire::{Reader, Value, put_bytes_field, put_key, put_varint, put_varint_field};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Raw = 0,
    Directory = 1,
    File = 2,
    Metadata = 3,
    Symlink = 4,
    HamtShard = 5,
}

impl DataType {
    fn from_u64(v: u64) -> Result<Self, Error> {
        Ok(match v {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return Err(Error::Malformed("unknown UnixFS type")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixTime {
    pub seconds: i64,
    pub nanos: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixFsData {
    pub kind: DataType,
    pub data: Option<Vec<u8>>,
    pub filesize: Option<u64>,
    pub blocksizes: Vec<u64>,
    pub hash_type: Option<u64>,
    pub fanout: Option<u64>,
    pub mode: Option<u32>,
    pub mtime: Option<UnixTime>,
}

impl UnixFsData {
    pub fn new(kind: DataType) -> Self {
        UnixFsData {
            kind,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.blocksizes.len() * 4);
        put_varint_field(&mut out, 1, self.kind as u64);
        if let Some(d) = &self.data {
            put_bytes_field(&mut out, 2, d);
        }
        if let Some(s) = self.filesize {
            put_varint_field(&mut out, 3, s);
        }
        for b in &self.blocksizes {
            put_varint_field(&mut out, 4, *b);
        }
        if let Some(h) = self.hash_type {
            put_varint_field(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            put_varint_field(&mut out, 6, f);
        }
        if let Some(m) = self.mode {
            put_varint_field(&mut out, 7, m as u64);
        }
        if let Some(t) = self.mtime {
            let mut inner = Vec::new();
            put_varint_field(&mut inner, 1, t.seconds as u64);
            if let Some(n) = t.nanos {
                put_key(&mut inner, 2, 5);
                inner.extend_from_slice(&n.to_le_bytes());
            }
            put_key(&mut out, 8, 2);
            put_varint(&mut out, inner.len() as u64);
            out.extend_from_slice(&inner);
        }
        out
    }

    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let mut kind = None;
        let mut d = UnixFsData::new(DataType::Raw);
        while let Some((field, v)) = r.field()? {
            match (field, v) {
                (1, Value::Varint(t)) => kind = Some(DataType::from_u64(t)?),
                (2, Value::Bytes(b)) => d.data = Some(b.to_vec()),
                (3, Value::Varint(s)) => d.filesize = Some(s),
                (4, Value::Varint(s)) => d.blocksizes.push(s),
                (4, Value::Bytes(packed)) => {
                    let mut p = Reader::new(packed);
                    while !p.at_end() {
                        d.blocksizes.push(p.varint()?);
                    }
                }
                (5, Value::Varint(h)) => d.hash_type = Some(h),
                (6, Value::Varint(f)) => d.fanout = Some(f),
                (7, Value::Varint(m)) => d.mode = Some(m as u32),
                (8, Value::Bytes(b)) => {
                    let mut t = Reader::new(b);
                    let mut time = UnixTime {
                        seconds: 0,
                        nanos: None,
                    };
                    while let Some((f, v)) = t.field()? {
                        match (f, v) {
                            (1, Value::Varint(s)) => time.seconds = s as i64,
                            (2, Value::Fixed32(n)) => time.nanos = Some(n),
                            _ => {}
                        }
                    }
                    d.mtime = Some(time);
                }
                // Unknown fields are skipped: newer writers may add some.
                _ => {}
            }
        }
        d.kind = kind.ok_or(Error::Malformed("UnixFS Data without Type"))?;
        Ok(d)
    }

    /// Bytes of file content below this node (for File and Raw nodes).
    pub fn file_size(&self) -> u64 {
        // Saturating: blocksizes come from outside bytes and may overflow.
        self.filesize.unwrap_or_else(|| {
            let children = self.blocksizes.iter().fold(0u64, |a, b| a.saturating_add(*b));
            self.data
                .as_ref()
                .map_or(0, |d| d.len() as u64)
                .saturating_add(children)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_bytes() {
        assert_eq!(UnixFsData::new(DataType::Directory).encode(), vec![0x08, 0x01]);
    }

    #[test]
    fn roundtrip_all_fields() {
        let mut d = UnixFsData::new(DataType::File);
        d.data = Some(b"abc".to_vec());
        d.filesize = Some(10);
        d.blocksizes = vec![3, 7];
        d.mode = Some(0o644);
        d.mtime = Some(UnixTime {
            seconds: 1_700_000_000,
            nanos: Some(5),
        });
        assert_eq!(UnixFsData::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn packed_blocksizes_accepted() {
        // Type=File, blocksizes packed [1, 2]
        let bytes = [0x08, 0x02, 0x22, 0x02, 0x01, 0x02];
        assert_eq!(UnixFsData::decode(&bytes).unwrap().blocksizes, vec![1, 2]);
    }
}
