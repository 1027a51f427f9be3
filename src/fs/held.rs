//! Inodes of the read-only views (`ipfs/`, `snapshots/`) that live only
//! while the kernel may name them: one per key, counted by lookups (given
//! back by FORGET) and by open listings that named them (given back at
//! RELEASEDIR), and dropped when both are zero. The table holds what is in
//! use, not everything ever looked at.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Why the kernel may still name an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// Replied as an entry (LOOKUP): counted until FORGET.
    Lookup,
    /// Named by an open directory listing: held until RELEASEDIR.
    Listing,
}

struct Slot<K, N> {
    key: K,
    node: N,
    lookups: u64,
    listings: u64,
}

struct Table<K, N> {
    by_key: HashMap<K, u64>,
    nodes: HashMap<u64, Slot<K, N>>,
    next: u64,
}

impl<K: Eq + Hash, N> Table<K, N> {
    fn hold(&mut self, key: &K, why: Hold) -> Option<u64> {
        let ino = *self.by_key.get(key)?;
        let slot = self.nodes.get_mut(&ino)?;
        match why {
            Hold::Lookup => slot.lookups += 1,
            Hold::Listing => slot.listings += 1,
        }
        Some(ino)
    }

    fn release(&mut self, ino: u64, lookups: u64, listings: u64) {
        let Some(slot) = self.nodes.get_mut(&ino) else {
            return;
        };
        slot.lookups = slot.lookups.saturating_sub(lookups);
        slot.listings = slot.listings.saturating_sub(listings);
        if slot.lookups == 0
            && slot.listings == 0
            && let Some(slot) = self.nodes.remove(&ino)
        {
            self.by_key.remove(&slot.key);
        }
    }
}

/// A view's inodes, numbered from `base` up.
pub(super) struct Held<K, N> {
    table: Mutex<Table<K, N>>,
    base: u64,
}

impl<K: Eq + Hash + Clone, N: Clone> Held<K, N> {
    pub fn new(base: u64) -> Self {
        Held {
            table: Mutex::new(Table {
                by_key: HashMap::new(),
                nodes: HashMap::new(),
                next: 0,
            }),
            base,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table<K, N>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn node(&self, ino: u64) -> Option<N> {
        self.lock().nodes.get(&ino).map(|s| s.node.clone())
    }

    /// The inode of `key`, held for `why`, if it has one.
    pub fn hold(&self, key: &K, why: Hold) -> Option<u64> {
        self.lock().hold(key, why)
    }

    /// The inode of `key`, held for `why`: the one it has (made meanwhile
    /// by another request), else a new one for `node`.
    pub fn insert(&self, key: K, node: N, why: Hold) -> u64 {
        let mut t = self.lock();
        if let Some(ino) = t.hold(&key, why) {
            return ino;
        }
        let ino = self.base + t.next;
        t.next += 1;
        let (lookups, listings) = match why {
            Hold::Lookup => (1, 0),
            Hold::Listing => (0, 1),
        };
        t.by_key.insert(key.clone(), ino);
        t.nodes.insert(
            ino,
            Slot {
                key,
                node,
                lookups,
                listings,
            },
        );
        ino
    }

    /// The kernel was given `ino` as an entry once more (READDIRPLUS; a
    /// listing holds it, so it is there).
    pub fn remember(&self, ino: u64) {
        if let Some(slot) = self.lock().nodes.get_mut(&ino) {
            slot.lookups += 1;
        }
    }

    /// FORGET: the kernel gives back `n` lookups of `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        self.lock().release(ino, n, 0);
    }

    /// RELEASEDIR of a listing: its entries are no longer held by it.
    pub fn unlist(&self, inos: impl Iterator<Item = u64>) {
        let mut t = self.lock();
        for ino in inos {
            t.release(ino, 0, 1);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inode_lives_while_lookups_or_listings_hold_it() {
        let h: Held<&str, u32> = Held::new(100);
        let a = h.insert("a", 1, Hold::Lookup);
        assert_eq!(a, 100);
        // The same key is the same inode, held once more.
        assert_eq!(h.insert("a", 2, Hold::Listing), a);
        assert_eq!(h.node(a), Some(1));
        assert_eq!(h.hold(&"a", Hold::Lookup), Some(a));
        h.remember(a);
        // Three lookups and one listing: gone only when all are given back.
        h.forget(a, 2);
        h.unlist([a].into_iter());
        assert_eq!(h.node(a), Some(1));
        h.forget(a, 1);
        assert_eq!(h.node(a), None);
        assert_eq!(h.hold(&"a", Hold::Lookup), None);
        assert_eq!(h.len(), 0);
        // A new inode for it after that, never a reused number.
        assert_eq!(h.insert("a", 3, Hold::Lookup), 101);
        // Giving back more than was held, or an unknown inode, is harmless.
        h.forget(101, 5);
        h.forget(7, 1);
        h.unlist([101, 8].into_iter());
        assert_eq!(h.len(), 0);
    }
}
