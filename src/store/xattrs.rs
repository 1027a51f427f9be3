//! Extended attributes (`user.*`) of the files/ tree, beside it like the
//! rest of its metadata: table `files_xattr`, path → every attribute of
//! the entry, kept by the same checkpoints (set per name, moved and removed
//! with subtrees) and logged to meta.log. Never in the DAG: setting one
//! changes no CID.
//!
//! A value is `[1][count u32]` then per attribute `[name length u16][name]
//! [value length u32][value]`, all little-endian; the leading version byte
//! lets a later format be told apart.

use super::*;
use redb::ReadableTable;
use std::collections::BTreeMap;

/// One entry's attributes, by full name ("user.…").
pub type Xattrs = BTreeMap<String, Vec<u8>>;

pub(super) const FILES_XATTR: TableDefinition<&str, &[u8]> = TableDefinition::new("files_xattr");
const VERSION: u8 = 1;

pub(super) fn encode(x: &Xattrs) -> Vec<u8> {
    let mut b = vec![VERSION];
    b.extend_from_slice(&(x.len() as u32).to_le_bytes());
    for (k, v) in x {
        b.extend_from_slice(&(k.len() as u16).to_le_bytes());
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_le_bytes());
        b.extend_from_slice(v);
    }
    b
}

/// None when `b` is not a value this version wrote (damage, or a newer
/// format).
pub(super) fn decode(b: &[u8]) -> Option<Xattrs> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    let mut b = b;
    if take(&mut b, 1)? != [VERSION] {
        return None;
    }
    let count = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?);
    let mut out = Xattrs::new();
    for _ in 0..count {
        let n = u16::from_le_bytes(take(&mut b, 2)?.try_into().ok()?) as usize;
        let name = std::str::from_utf8(take(&mut b, n)?).ok()?.to_string();
        let len = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?) as usize;
        out.insert(name, take(&mut b, len)?.to_vec());
    }
    b.is_empty().then_some(out)
}

/// Sets (Some) or removes (None) attribute `name` of `path` in `t`.
pub(super) fn apply(
    t: &mut redb::Table<&str, &[u8]>,
    path: &str,
    name: &str,
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    let mut x = match t.get(path).map_err(db_err)? {
        Some(v) => decode(v.value()).unwrap_or_default(),
        None => Xattrs::new(),
    };
    match value {
        Some(v) => x.insert(name.to_string(), v.to_vec()),
        None => x.remove(name),
    };
    replace(t, path, &x)
}

/// Makes `x` all of `path`'s attributes.
pub(super) fn replace(t: &mut redb::Table<&str, &[u8]>, path: &str, x: &Xattrs) -> Result<(), StoreError> {
    if x.is_empty() {
        t.remove(path).map_err(db_err)?;
    } else {
        t.insert(path, encode(x).as_slice()).map_err(db_err)?;
    }
    Ok(())
}

impl Store {
    /// The attributes saved for `path` (an unreadable value reads as none,
    /// with a warning: it only ever held optional data).
    pub fn files_xattrs(&self, path: &str) -> Result<Option<Xattrs>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(FILES_XATTR).map_err(db_err)?;
        let Some(v) = t.get(path).map_err(db_err)? else {
            return Ok(None);
        };
        let x = decode(v.value());
        if x.is_none() {
            tracing::warn!("files/{path}: its saved extended attributes cannot be read");
        }
        Ok(x)
    }

    /// Every saved attribute set (for meta.log compaction).
    pub(super) fn all_xattrs(&self) -> Result<BTreeMap<String, Xattrs>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(FILES_XATTR).map_err(db_err)?;
        let mut out = BTreeMap::new();
        for r in t.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            if let Some(x) = decode(v.value()) {
                out.insert(k.value().to_string(), x);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_damage_is_none() {
        let mut x = Xattrs::new();
        x.insert("user.a".into(), b"1".to_vec());
        x.insert("user.empty".into(), Vec::new());
        x.insert("user.big".into(), vec![7; 70_000]);
        let b = encode(&x);
        assert_eq!(decode(&b), Some(x));
        for cut in 0..b.len() {
            assert_eq!(decode(&b[..cut]), None, "cut at {cut}");
        }
        let mut other = b.clone();
        other[0] = 2;
        assert_eq!(decode(&other), None);
    }
}
