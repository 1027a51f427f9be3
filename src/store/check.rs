//! No byte leaves the store unverified. Every block read is hashed against
//! its multihash before anyone sees it; a block that fails (flipped bits, a
//! pack cut short or missing) is marked bad in the index: it is not served
//! again (`has` says no, so the Bitswap server says DONT_HAVE and the block
//! service fetches it from peers), and writing it again (a verified copy
//! from a peer, a CAR, an add) heals it.
//!
//! Cost: one SHA-256 per block read, at about 1.8 GB/s per core. Ranged
//! reads (the mount reads 128 KiB at a time) read and hash the whole block
//! once and keep it in a small cache of verified blocks, so the next range
//! of the same leaf costs a copy; `verify_ahead` hashes blocks a reader
//! will want next on another core while it reads this one.

use super::{Loc, Store, StoreError, db_err, hex, loc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Blocks found damaged: multihash → when (seconds since the epoch).
pub(super) const BAD: TableDefinition<&[u8], u64> = TableDefinition::new("bad");

/// Verified blocks kept for ranged reads (256 KiB leaves: 16 MiB).
const VERIFIED_CACHE: usize = 64;

/// Who reads a block: ranged readers (the mount reads 128 KiB at a time)
/// keep it in the verified cache for the next range; a reader of the whole
/// block takes it out, and so owns the bytes without a copy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Use {
    Ranges,
    Whole,
}

/// What a read of a stored block found.
#[derive(Debug)]
pub enum Read {
    Ok(Arc<Vec<u8>>),
    /// The bytes do not hash to the key, or are not there at all.
    Damaged(String),
}

pub(super) struct Checks {
    bad: Mutex<HashSet<Vec<u8>>>,
    verified: Mutex<lru::LruCache<Vec<u8>, Arc<Vec<u8>>>>,
    /// Bad blocks written again, to be taken off BAD at the next commit.
    healed: Mutex<Vec<Vec<u8>>>,
    /// Blocks being verified ahead of a reader; `done` wakes readers that
    /// wait for one instead of hashing it a second time.
    inflight: Mutex<HashSet<Vec<u8>>>,
    done: std::sync::Condvar,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            bad: Mutex::new(HashSet::new()),
            verified: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(VERIFIED_CACHE).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            healed: Mutex::new(Vec::new()),
            inflight: Mutex::new(HashSet::new()),
            done: std::sync::Condvar::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `data` hashes to the multihash `key`.
pub(super) fn matches(key: &[u8], data: &[u8]) -> bool {
    match multihash::Multihash::<64>::from_bytes(key) {
        Ok(m) => crate::block::verify(&cid::Cid::new_v1(crate::block::RAW, m), data).is_ok(),
        Err(_) => false,
    }
}

/// Whether `data` is the block `key` names. A packed block written with a
/// sum is checked by it: BLAKE3 runs about three times as fast as SHA-256
/// here, and the sum was taken from bytes that had matched the multihash
/// (every put is of verified bytes), so equal sums mean the very bytes that
/// were verified (BLAKE3 is collision resistant; the key is inside the sum,
/// so a location pointing at another block's record fails). A sum that
/// disagrees falls back to the multihash: damage to the index's copy of
/// the sum alone is not damage to the block.
pub(super) fn good(key: &[u8], loc: &Loc, data: &[u8]) -> bool {
    if let Loc::Packed { sum: Some(s), .. } = loc
        && loc::sum(key, data) == *s
    {
        return true;
    }
    matches(key, data)
}

impl Store {
    /// Loads the list of bad blocks (at open).
    pub(super) fn load_bad(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(BAD).map_err(db_err)?;
        let mut bad = lock(&self.checks.bad);
        for r in t.iter().map_err(db_err)? {
            let (k, _) = r.map_err(db_err)?;
            bad.insert(k.value().to_vec());
        }
        Ok(())
    }

    /// Whether the block was found damaged (and not written again since).
    pub fn is_bad(&self, key: &[u8]) -> bool {
        lock(&self.checks.bad).contains(key)
    }

    /// Multihashes of every block found damaged and not healed.
    pub fn bad_blocks(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = lock(&self.checks.bad).iter().cloned().collect();
        v.sort();
        v
    }

    /// Marks a block damaged, in memory at once and in the index.
    pub(super) fn mark_bad(&self, key: &[u8], why: &str) {
        if !lock(&self.checks.bad).insert(key.to_vec()) {
            return;
        }
        lock(&self.checks.verified).pop(key);
        tracing::error!(block = %hex(key), "damaged block: {why}; it is not served until a good copy is written");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let res = (|| {
            let tx = self.db.begin_write().map_err(db_err)?;
            tx.open_table(BAD)
                .map_err(db_err)?
                .insert(key, now)
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })();
        if let Err(e) = res {
            tracing::warn!("could not record the damaged block in the index: {e}");
        }
    }

    /// A bad block was written again (a verified copy): it is good now.
    pub(super) fn healed(&self, key: &[u8]) {
        if lock(&self.checks.bad).remove(key) {
            tracing::info!(block = %hex(key), "damaged block healed with a verified copy");
            lock(&self.checks.healed).push(key.to_vec());
        }
    }

    /// Takes healed blocks off BAD (inside the commit's transaction).
    pub(super) fn commit_healed(&self, tx: &redb::WriteTransaction) -> Result<(), StoreError> {
        let healed = std::mem::take(&mut *lock(&self.checks.healed));
        if healed.is_empty() {
            return Ok(());
        }
        let mut t = tx.open_table(BAD).map_err(db_err)?;
        for k in &healed {
            if !self.is_bad(k) {
                t.remove(k.as_slice()).map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// `read_checked` for a block this thread is verifying ahead (it must
    /// not wait for itself).
    fn read_ahead(&self, key: &[u8], loc: Loc) -> Result<Read, StoreError> {
        let data = match self.read_loc(key, &loc) {
            Ok(d) => d,
            Err(_) => return Ok(Read::Damaged(String::new())), // the reader will see it
        };
        if good(key, &loc, &data) {
            let data = Arc::new(data);
            lock(&self.checks.verified).put(key.to_vec(), data.clone());
            return Ok(Read::Ok(data));
        }
        Ok(Read::Damaged(String::new()))
    }

    /// Reads a whole block and checks it against its key.
    pub(super) fn read_checked(&self, key: &[u8], loc: Loc, by: Use) -> Result<Read, StoreError> {
        let cached = |v: &mut lru::LruCache<Vec<u8>, Arc<Vec<u8>>>| match by {
            Use::Ranges => v.get(key).cloned(),
            Use::Whole => v.pop(key),
        };
        if let Some(b) = cached(&mut lock(&self.checks.verified)) {
            return Ok(Read::Ok(b));
        }
        // Being verified ahead on another core: wait for it (briefly)
        // rather than read and hash it twice.
        let mut f = lock(&self.checks.inflight);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        while f.contains(key) && std::time::Instant::now() < deadline {
            f = self
                .checks
                .done
                .wait_timeout(f, std::time::Duration::from_millis(20))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        drop(f);
        if let Some(b) = cached(&mut lock(&self.checks.verified)) {
            return Ok(Read::Ok(b));
        }
        let data = match self.read_loc(key, &loc) {
            Ok(d) => d,
            Err(StoreError::Io { source, context })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                let why = format!("{context}: {source}");
                self.mark_bad(key, &why);
                return Ok(Read::Damaged(why));
            }
            Err(e) => return Err(e),
        };
        if !good(key, &loc, &data) {
            self.mark_bad(key, "its bytes do not hash to its multihash");
            return Ok(Read::Damaged("its bytes do not hash to its multihash".into()));
        }
        let data = Arc::new(data);
        if by == Use::Ranges {
            lock(&self.checks.verified).put(key.to_vec(), data.clone());
        }
        Ok(Read::Ok(data))
    }

    /// Of blocks about to be read, those worth verifying ahead (on other
    /// cores, with [`Store::verify_ahead`]) so a sequential reader finds
    /// them verified. Bounded: a quarter of the cache at once, and only
    /// blocks neither verified nor being verified.
    pub fn to_verify_ahead(&self, keys: &mut dyn Iterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
        let v = lock(&self.checks.verified);
        let mut f = lock(&self.checks.inflight);
        keys.take(VERIFIED_CACHE / 4)
            .filter(|k| !v.contains(k) && f.len() < VERIFIED_CACHE / 4 && f.insert(k.clone()))
            .collect()
    }

    /// Verifies one block chosen by [`Store::to_verify_ahead`].
    /// Runs on a rayon worker, where a panic would abort the process: a
    /// panic inside redb (a damaged index) is caught and left for the
    /// reader, whose own lookup reports it as an error with its cure.
    pub fn verify_ahead(&self, key: &[u8]) {
        let ahead = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Ok(Some(loc)) = self.lookup(key)
                && !self.is_bad(key)
            {
                let _ = self.read_ahead(key, loc);
            }
        }));
        if let Err(panic) = ahead {
            let at = super::INDEX_PANIC.with(|p| p.borrow_mut().take());
            tracing::debug!(?at, "verifying ahead panicked: {}", super::panic_text(&*panic));
        }
        // Always: a reader may be waiting for this key to leave `inflight`.
        lock(&self.checks.inflight).remove(key);
        self.checks.done.notify_all();
    }

    /// Reads a block from disk (never from the verified cache) and checks
    /// it: false, and marked bad, if damaged. `repo verify` uses this.
    pub fn verify_block(&self, key: &[u8]) -> Result<bool, StoreError> {
        let Some(loc) = self.lookup(key)? else {
            return Ok(true); // deleted meanwhile
        };
        let good = match self.read_loc(key, &loc) {
            Ok(d) => good(key, &loc, &d),
            Err(StoreError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        if good {
            // Readable and right now (the damage was passing, or a copy
            // was written since): served again.
            self.healed(key);
        } else {
            self.mark_bad(key, "found by repo verify");
        }
        Ok(good)
    }

    /// Forgets verified copies of blocks being deleted.
    pub(super) fn forget_verified(&self, keys: &[Vec<u8>]) {
        let mut v = lock(&self.checks.verified);
        for k in keys {
            v.pop(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockGet, BlockPut, RAW, cid_v1};

    fn big_block() -> (cid::Cid, Vec<u8>) {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        (cid_v1(RAW, &big), big)
    }

    /// Rewrites the block's index entry with `f` applied to its location.
    fn edit_loc(s: &Store, key: &[u8], f: impl FnOnce(&mut Loc)) {
        let mut loc = s.lookup(key).unwrap().unwrap();
        f(&mut loc);
        let tx = s.db.begin_write().unwrap();
        tx.open_table(super::super::BLOCKS)
            .unwrap()
            .insert(key, loc.encode(key).as_slice())
            .unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn reads_check_the_write_time_sum_and_fall_back_to_the_multihash() {
        let dir = tempfile::tempdir().unwrap();
        let (cid, big) = big_block();
        let key = cid.hash().to_bytes();
        let s = Store::open(dir.path()).unwrap();
        s.put(&cid, &big).unwrap();
        s.flush().unwrap();
        assert!(matches!(
            s.lookup(&key).unwrap(),
            Some(Loc::Packed { sum: Some(_), .. })
        ));
        // A damaged sum in the index alone: the bytes are still right.
        edit_loc(&s, &key, |l| {
            if let Loc::Packed { sum: Some(x), .. } = l {
                x[0] ^= 1;
            }
        });
        assert!(s.verify_block(&key).unwrap());
        assert_eq!(s.get(&cid).unwrap(), big);
        // An entry written before sums existed is checked by its multihash.
        edit_loc(&s, &key, |l| {
            if let Loc::Packed { sum, .. } = l {
                *sum = None;
            }
        });
        assert!(s.verify_block(&key).unwrap());
    }

    #[test]
    fn a_flipped_byte_or_a_location_of_another_block_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (cid, big) = big_block();
        let other: Vec<u8> = big.iter().map(|b| b.wrapping_add(1)).collect();
        let cid2 = cid_v1(RAW, &other);
        let (key, key2) = (cid.hash().to_bytes(), cid2.hash().to_bytes());
        let s = Store::open(dir.path()).unwrap();
        s.put(&cid, &big).unwrap();
        s.put(&cid2, &other).unwrap();
        s.flush().unwrap();
        // The index sends key to the other block's record, sum and all.
        let loc2 = s.lookup(&key2).unwrap().unwrap();
        edit_loc(&s, &key, |l| *l = loc2);
        assert!(!s.verify_block(&key).unwrap());
        assert!(s.get(&cid).is_err());
        // A flipped byte in the pack.
        let Some(Loc::Packed { pack, offset, .. }) = s.lookup(&key2).unwrap() else {
            panic!("not packed")
        };
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(s.packs.path(pack))
            .unwrap();
        std::os::unix::fs::FileExt::write_at(&f, &[other[77] ^ 0x40], offset + 77).unwrap();
        assert!(s.get(&cid2).is_err());
        assert!(s.is_bad(&key2));
        // A verified copy heals it.
        s.put(&cid2, &other).unwrap();
        assert_eq!(s.get(&cid2).unwrap(), other);
    }

    /// Rewrites a store as format "1" wrote it: bare values, old pins table.
    fn downgrade(s: &Store) {
        use super::super::{BLOCKS, META, sealed};
        let tx = s.db.begin_write().unwrap();
        {
            let mut b = tx.open_table(BLOCKS).unwrap();
            let all: Vec<(Vec<u8>, Vec<u8>)> = b
                .iter()
                .unwrap()
                .map(|r| r.unwrap())
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .collect();
            for (k, v) in all {
                b.insert(k.as_slice(), sealed::unseal("blocks", &k, &v).unwrap())
                    .unwrap();
            }
            let mut m = tx.open_table(META).unwrap();
            let all: Vec<(String, Vec<u8>)> = m
                .iter()
                .unwrap()
                .map(|r| r.unwrap())
                .map(|(k, v)| (k.value().to_string(), v.value().to_vec()))
                .collect();
            for (k, v) in all.into_iter().filter(|(k, _)| k != "format") {
                m.insert(k.as_str(), sealed::unseal("meta", k.as_bytes(), &v).unwrap())
                    .unwrap();
            }
            m.insert("format", b"1".as_slice()).unwrap();
            let pins: Vec<(Vec<u8>, Vec<u8>)> = tx
                .open_table(sealed::PINS)
                .unwrap()
                .iter()
                .unwrap()
                .map(|r| r.unwrap())
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .collect();
            let mut old = tx.open_table(sealed::OLD_PINS).unwrap();
            for (k, v) in pins {
                old.insert(k.as_slice(), sealed::unseal("pins", &k, &v).unwrap()[0])
                    .unwrap();
            }
        }
        tx.delete_table(sealed::PINS).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn a_format_1_repo_is_upgraded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cid, big) = big_block();
        let small = b"small".to_vec();
        let cs = cid_v1(RAW, &small);
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(&cid, &big).unwrap();
            s.put(&cs, &small).unwrap();
            s.pin(&cid, crate::store::PinKind::Recursive).unwrap();
            s.flush().unwrap();
            downgrade(&s);
        }
        {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.get(&cid).unwrap(), big);
            assert_eq!(s.get(&cs).unwrap(), small);
            assert_eq!(s.pins().unwrap().len(), 1);
            assert_eq!(s.usage().unwrap().blocks, 2);
            let tx = s.db.begin_write().unwrap();
            tx.open_table(super::super::META)
                .unwrap()
                .insert("format", b"9".as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        let e = Store::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("'9' is not supported"), "{e}");
    }
}
