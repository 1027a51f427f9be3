//! Sealed index values: pins and the small named values (counters, the
//! committed WAL length, the files/ root) carry a checksum over table, key
//! and value. redb checks the structure of its file but not the bytes of a
//! value, and a flipped bit in a pin's CID or in a counter read back as a
//! valid, wrong answer with exit status 0. Block locations need no seal:
//! a damaged one fails the block's own check (`check.rs`).

use redb::{ReadableTable, Table, TableDefinition};

use super::{StoreError, db_err};

/// CID bytes → [pin kind, seal].
pub(super) const PINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pins2");
/// The pins table of format "1" (kind only), migrated at open.
pub(super) const OLD_PINS: TableDefinition<&[u8], u8> = TableDefinition::new("pins");

const SEAL: usize = 8;

fn tag(table: &str, key: &[u8], value: &[u8]) -> [u8; SEAL] {
    let mut h = blake3::Hasher::new();
    for part in [table.as_bytes(), key, value] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let mut out = [0; SEAL];
    out.copy_from_slice(&h.finalize().as_bytes()[..SEAL]);
    out
}

/// `value` followed by its seal.
pub(super) fn seal(table: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + SEAL);
    v.extend_from_slice(value);
    v.extend_from_slice(&tag(table, key, value));
    v
}

/// The value inside a sealed one, or an error naming the damage.
pub(super) fn unseal<'a>(table: &str, key: &[u8], sealed: &'a [u8]) -> Result<&'a [u8], StoreError> {
    let cut = sealed.len().checked_sub(SEAL);
    match cut {
        Some(n) if sealed[n..] == tag(table, key, &sealed[..n]) => Ok(&sealed[..n]),
        _ => Err(StoreError::DamagedIndex(format!(
            "an entry of table {table} fails its checksum"
        ))),
    }
}

/// Writes a sealed named value (every META key but "format", which is read
/// before anything else and is checked by being one of a few known strings).
pub(super) fn put_meta(t: &mut Table<&str, &[u8]>, key: &str, value: &[u8]) -> Result<(), StoreError> {
    t.insert(key, seal("meta", key.as_bytes(), value).as_slice())
        .map_err(db_err)?;
    Ok(())
}

/// Reads a sealed named value.
pub(super) fn get_meta(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    match t.get(key).map_err(db_err)? {
        None => Ok(None),
        Some(v) => Ok(Some(unseal("meta", key.as_bytes(), v.value())?.to_vec())),
    }
}

/// Seals what format "1" wrote bare: META values and the pins table.
pub(super) fn migrate_from_1(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut meta = tx.open_table(super::META).map_err(db_err)?;
    let mut bare = Vec::new();
    for r in meta.iter().map_err(db_err)? {
        let (k, v) = r.map_err(db_err)?;
        if k.value() != "format" {
            bare.push((k.value().to_string(), v.value().to_vec()));
        }
    }
    for (k, v) in bare {
        put_meta(&mut meta, &k, &v)?;
    }
    let mut old = Vec::new();
    for r in tx.open_table(OLD_PINS).map_err(db_err)?.iter().map_err(db_err)? {
        let (k, v) = r.map_err(db_err)?;
        old.push((k.value().to_vec(), v.value()));
    }
    let mut pins = tx.open_table(PINS).map_err(db_err)?;
    for (k, kind) in old {
        pins.insert(k.as_slice(), seal("pins", &k, &[kind]).as_slice())
            .map_err(db_err)?;
    }
    tx.delete_table(OLD_PINS).map_err(db_err)?;
    seal_blocks(tx)
}

/// Seals every block location, a bounded batch at a time (a big repo has
/// millions).
fn seal_blocks(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut t = tx.open_table(super::BLOCKS).map_err(db_err)?;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut batch = Vec::new();
        {
            let range = match &after {
                None => t.range::<&[u8]>(..),
                Some(a) => t.range::<&[u8]>((
                    std::ops::Bound::Excluded(a.as_slice()),
                    std::ops::Bound::Unbounded,
                )),
            };
            for r in range.map_err(db_err)?.take(10_000) {
                let (k, v) = r.map_err(db_err)?;
                batch.push((k.value().to_vec(), v.value().to_vec()));
            }
        }
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        for (k, v) in batch {
            let sealed = seal("blocks", &k, &v);
            t.insert(k.as_slice(), sealed.as_slice()).map_err(db_err)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_flipped_bit_is_caught() {
        let s = seal("pins", b"key", &[1]);
        assert_eq!(unseal("pins", b"key", &s).unwrap(), &[1]);
        for i in 0..s.len() * 8 {
            let mut d = s.clone();
            d[i / 8] ^= 1 << (i % 8);
            assert!(unseal("pins", b"key", &d).is_err(), "bit {i}");
        }
        assert!(unseal("pins", b"kez", &s).is_err());
        assert!(unseal("meta", b"key", &s).is_err());
        assert!(unseal("pins", b"key", &s[..3]).is_err());
    }
}
