//! HAMT-sharded directories (UnixFS type 5), as Kubo and Helia build them:
//! murmur3-x64-64 of the entry name (the first 64 bits of murmur3 x64_128,
//! seed 0, read big-endian), log2(fanout) bits per level (8 for the usual
//! 256), link names "XX" (uppercase hex index, as many digits as fanout - 1
//! takes) for sub-shards and "XX<name>" for entries.

use super::data::{DataType, UnixFsData};
use super::importer::{Entry, ImportOptions};
use super::pb::{PbLink, PbNode};
use super::{EntryVisitor, Error};
use crate::block::{BlockGet, BlockPut};
use cid::Cid;
use std::collections::{BTreeMap, HashSet};

/// The usual fanout (Kubo's and Helia's default, both IPIP-499 profiles).
pub const FANOUT: u64 = 256;
pub const MURMUR3_X64_64: u64 = 0x22;

/// The 64-bit hash that picks an entry's bucket at each level.
pub fn hash(name: &[u8]) -> u64 {
    // Reading from a slice cannot fail.
    let h = murmur3::murmur3_x64_128(&mut &name[..], 0).unwrap_or_default();
    h as u64 // h1 is the low half of the crate's u128
}

/// Bits per level and hex digits of a link-name prefix for a fanout.
fn geometry(fanout: u64) -> Result<(u32, usize), Error> {
    if !(2..=1024).contains(&fanout) || !fanout.is_power_of_two() {
        return Err(Error::Malformed("HAMT fanout is not a power of two in 2..=1024"));
    }
    let bits = fanout.trailing_zeros();
    let pad = format!("{:X}", fanout - 1).len();
    Ok((bits, pad))
}

fn index_at(hash: u64, depth: usize, bits: u32) -> Result<usize, Error> {
    let used = (depth as u32 + 1) * bits;
    if used > 64 {
        return Err(Error::Malformed("HAMT deeper than its 64-bit hash allows"));
    }
    Ok(((hash >> (64 - used)) & ((1u64 << bits) - 1)) as usize)
}

enum Slot {
    Leaf { name: String, cid: Cid, tsize: u64 },
    Shard(Shard),
}

#[derive(Default)]
struct Shard {
    children: BTreeMap<usize, Slot>,
}

impl Shard {
    fn insert(&mut self, bits: u32, depth: usize, name: String, cid: Cid, tsize: u64) -> Result<(), Error> {
        let h = hash(name.as_bytes());
        let idx = index_at(h, depth, bits)?;
        match self.children.remove(&idx) {
            None => {
                self.children.insert(idx, Slot::Leaf { name, cid, tsize });
            }
            Some(Slot::Leaf { name: old, .. }) if old == name => {
                self.children.insert(idx, Slot::Leaf { name, cid, tsize });
            }
            Some(Slot::Leaf {
                name: old,
                cid: old_cid,
                tsize: old_t,
            }) => {
                let mut child = Shard::default();
                child.insert(bits, depth + 1, old, old_cid, old_t)?;
                child.insert(bits, depth + 1, name, cid, tsize)?;
                self.children.insert(idx, Slot::Shard(child));
            }
            Some(Slot::Shard(mut child)) => {
                child.insert(bits, depth + 1, name, cid, tsize)?;
                self.children.insert(idx, Slot::Shard(child));
            }
        }
        Ok(())
    }

    fn write<S: BlockPut + ?Sized>(
        &self,
        store: &S,
        opts: &ImportOptions,
        pad: usize,
    ) -> Result<Entry, Error> {
        let fanout = opts.hamt.fanout;
        let mut links = Vec::with_capacity(self.children.len());
        let mut bitfield = vec![0u8; fanout.div_ceil(8) as usize];
        for (idx, slot) in &self.children {
            let len = bitfield.len();
            bitfield[len - 1 - idx / 8] |= 1 << (idx % 8);
            match slot {
                Slot::Leaf { name, cid, tsize } => {
                    links.push(PbLink::new(*cid, format!("{idx:0pad$X}{name}"), *tsize));
                }
                Slot::Shard(child) => {
                    let e = child.write(store, opts, pad)?;
                    links.push(PbLink::new(e.cid, format!("{idx:0pad$X}"), e.tsize));
                }
            }
        }
        // The bitfield is the shortest big-endian form of a fanout-bit
        // number (bit i = bucket i used), as go-bitfield and Helia write it.
        let first = bitfield.iter().position(|b| *b != 0).unwrap_or(bitfield.len());
        let mut d = UnixFsData::new(DataType::HamtShard);
        d.data = (first < bitfield.len()).then(|| bitfield[first..].to_vec());
        d.hash_type = Some(MURMUR3_X64_64);
        d.fanout = Some(fanout);
        let node = PbNode {
            links,
            data: Some(d.encode()),
        };
        let bytes = node.encode();
        let cid = opts.dag_pb_cid(&bytes);
        store.put(&cid, &bytes)?;
        let tsize = bytes.len() as u64 + node.links.iter().filter_map(|l| l.tsize).sum::<u64>();
        Ok(Entry { cid, size: 0, tsize })
    }
}

/// Writes `entries` (name → (cid, tsize)) as a HAMT and returns its root.
pub fn build<S: BlockPut + ?Sized>(
    store: &S,
    opts: &ImportOptions,
    entries: &BTreeMap<String, (Cid, u64)>,
) -> Result<Entry, Error> {
    let (bits, pad) = geometry(opts.hamt.fanout)?;
    let mut root = Shard::default();
    for (name, (cid, tsize)) in entries {
        root.insert(bits, 0, name.clone(), *cid, *tsize)?;
    }
    root.write(store, opts, pad)
}

/// Checks a shard node's parameters and returns (bits per level, prefix length).
pub(super) fn shard_geometry(d: &UnixFsData) -> Result<(u32, usize), Error> {
    if d.hash_type != Some(MURMUR3_X64_64) {
        return Err(Error::Malformed(
            "HAMT with a hash function other than murmur3-x64-64",
        ));
    }
    geometry(d.fanout.ok_or(Error::Malformed("HAMT without fanout"))?)
}

/// Finds `name` in the shard rooted at `node` (already decoded).
pub fn lookup<B: BlockGet + ?Sized>(
    blocks: &B,
    node: &PbNode,
    data: &UnixFsData,
    name: &str,
) -> Result<Option<(Cid, Option<u64>)>, Error> {
    let (bits, pad) = shard_geometry(data)?;
    let h = hash(name.as_bytes());
    let mut node = node.clone();
    for depth in 0.. {
        let prefix = format!("{:0pad$X}", index_at(h, depth, bits)?, pad = pad);
        let Some(link) = node.links.iter().find(|l| l.name().starts_with(&prefix)) else {
            return Ok(None);
        };
        let rest = &link.name()[pad..];
        if rest.is_empty() {
            let bytes = blocks.get(&link.cid)?;
            node = PbNode::decode(&bytes)?;
            continue;
        }
        return Ok((rest == name).then_some((link.cid, link.tsize)));
    }
    Ok(None)
}

/// Calls `f(name, cid, tsize)` for every entry of the shard, depth first.
pub fn for_each<B: BlockGet + ?Sized>(
    blocks: &B,
    node: &PbNode,
    data: &UnixFsData,
    f: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    let (_, pad) = shard_geometry(data)?;
    walk(blocks, node, pad, 0, &mut HashSet::new(), f)
}

/// `seen`: sub-shards already walked. In a valid HAMT no sub-shard appears
/// twice (each holds the entries of its own bucket); a crafted one linking
/// one sub-shard from both buckets at every level would have 2^depth paths.
pub(super) fn walk<B: BlockGet + ?Sized>(
    blocks: &B,
    node: &PbNode,
    pad: usize,
    depth: usize,
    seen: &mut HashSet<Cid>,
    f: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    if depth > 64 {
        return Err(Error::Malformed("HAMT nested too deep"));
    }
    for link in &node.links {
        let name = link.name();
        if name.len() < pad || !name.is_char_boundary(pad) {
            return Err(Error::Malformed("HAMT link name shorter than its prefix"));
        }
        if name.len() == pad {
            if !seen.insert(link.cid) {
                continue;
            }
            let child = PbNode::decode(&blocks.get(&link.cid)?)?;
            walk(blocks, &child, pad, depth + 1, seen, f)?;
        } else {
            f(&name[pad..], link.cid, link.tsize)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::importer::tests::MemStore;

    /// Built with another fanout (labels of 1 or 3 hex digits), a HAMT
    /// reads back whole and finds each name (Helia's CIDs for these are in
    /// tests/profiles.rs).
    #[test]
    fn other_fanouts_read_back() {
        for fanout in [8, 16, 1024] {
            let s = MemStore::default();
            let mut opts = ImportOptions::default();
            opts.hamt.fanout = fanout;
            let entries: BTreeMap<String, (Cid, u64)> = (0..600)
                .map(|i| {
                    let name = format!("f{i}");
                    (
                        name.clone(),
                        (crate::block::cid_v1(crate::block::RAW, name.as_bytes()), 1),
                    )
                })
                .collect();
            let root = build(&s, &opts, &entries).unwrap();
            let node = PbNode::decode(&s.0.lock().unwrap()[&root.cid]).unwrap();
            let data = UnixFsData::decode(node.data.as_deref().unwrap()).unwrap();
            assert_eq!(data.fanout, Some(fanout));
            let mut seen = BTreeMap::new();
            for_each(&s, &node, &data, &mut |n, c, t| {
                seen.insert(n.to_string(), (c, t.unwrap()));
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, entries, "fanout {fanout}");
            for (name, (cid, _)) in &entries {
                assert_eq!(lookup(&s, &node, &data, name).unwrap().unwrap().0, *cid);
            }
            assert_eq!(lookup(&s, &node, &data, "absent").unwrap(), None);
        }
    }
}
