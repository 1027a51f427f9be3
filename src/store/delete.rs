//! Deletion: what GC and cache eviction remove, the cache's view of the
//! store (sizes and last accesses), and freeing pack space by punching holes
//! once no reader can be using it.

use super::{
    ACCESS, BLOCKS, CacheEntry, HOLE_DELAY, Hole, Loc, META, Store, StoreError, db_err, hex, sealed,
};
use redb::{ReadableDatabase, ReadableTable};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

impl Store {
    /// Every committed block not in `keep`, with its size and last access.
    pub fn cache_entries(&self, keep: &HashSet<Vec<u8>>) -> Result<Vec<CacheEntry>, StoreError> {
        self.commit()?;
        let tx = self.db.begin_read().map_err(db_err)?;
        let blocks = tx.open_table(BLOCKS).map_err(db_err)?;
        let access = tx.open_table(ACCESS).map_err(db_err)?;
        let mut out = Vec::new();
        for r in blocks.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            if keep.contains(k.value()) {
                continue;
            }
            let size = Loc::decode(k.value(), v.value())
                .ok_or_else(|| StoreError::BadEntry(hex(k.value())))?
                .len();
            let last_access = access.get(k.value()).map_err(db_err)?.map_or(0, |a| a.value());
            out.push(CacheEntry {
                multihash: k.value().to_vec(),
                size,
                last_access,
            });
        }
        // Accesses since the commit above are newer than anything in ACCESS.
        let t = self.touches.lock().unwrap_or_else(|e| e.into_inner());
        for e in &mut out {
            if let Some(&tick) = t.get(&e.multihash) {
                e.last_access = tick;
            }
        }
        Ok(out)
    }

    /// Deletes blocks by multihash; returns (blocks, bytes) freed.
    pub fn delete(&self, keys: &[Vec<u8>]) -> Result<(u64, u64), StoreError> {
        self.delete_unused(keys, u64::MAX)
    }

    /// Deletes the blocks among `keys` not read or written after tick
    /// `cutoff` (see [`Store::clock`]); returns (blocks, bytes) freed. A block
    /// touched since a sweep chose it may be in use again: it stays.
    pub fn delete_unused(&self, keys: &[Vec<u8>], cutoff: u64) -> Result<(u64, u64), StoreError> {
        self.commit()?;
        self.forget_verified(keys);
        let mut holes = Vec::new();
        let (mut n, mut bytes) = (0, 0);
        // Held to the commit: no touch slips between the check and the delete.
        let touches = self.touches.lock().unwrap_or_else(|e| e.into_inner());
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(BLOCKS).map_err(db_err)?;
            let mut access = tx.open_table(ACCESS).map_err(db_err)?;
            for k in keys {
                let tick = match touches.get(k) {
                    Some(&t) => t,
                    None => access.get(k.as_slice()).map_err(db_err)?.map_or(0, |a| a.value()),
                };
                if tick > cutoff {
                    continue;
                }
                access.remove(k.as_slice()).map_err(db_err)?;
                if let Some(v) = t.remove(k.as_slice()).map_err(db_err)?
                    && let Some(loc) = Loc::decode(k, v.value())
                {
                    n += 1;
                    bytes += loc.len();
                    if let Loc::Packed {
                        pack, offset, len, ..
                    } = loc
                    {
                        holes.push((pack, offset, len));
                    }
                }
            }
            let total = self.total_bytes().saturating_sub(bytes);
            let mut meta = tx.open_table(META).map_err(db_err)?;
            sealed::put_meta(&mut meta, "total_bytes", &total.to_le_bytes())?;
        }
        tx.commit().map_err(db_err)?;
        drop(touches);
        self.total
            .fetch_sub(bytes.min(self.total_bytes()), Ordering::Relaxed);
        // Only after the commit (until then the index points here), and not
        // at once: a reader that looked the block up just before may still
        // be reading it.
        let now = std::time::Instant::now();
        self.holes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(holes.into_iter().map(|h| (now, h)));
        self.punch_holes(false);
        Ok((n, bytes))
    }

    /// Frees the space of deleted blocks, once no read can be using it.
    pub(super) fn punch_holes(&self, all: bool) {
        let due: Vec<Hole> = {
            let mut h = self.holes.lock().unwrap_or_else(|e| e.into_inner());
            let (due, keep): (Vec<_>, Vec<_>) =
                h.drain(..).partition(|(at, _)| all || at.elapsed() >= HOLE_DELAY);
            *h = keep;
            due.into_iter().map(|(_, hole)| hole).collect()
        };
        for (pack, offset, len) in due {
            self.packs.punch(pack, offset, len);
        }
    }
}
