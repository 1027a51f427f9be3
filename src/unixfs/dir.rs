//! Directory nodes: a plain UnixFS directory (links sorted by name bytes), or
//! a HAMT once the estimated size passes Kubo's threshold.

use super::Error;
use super::data::{DataType, UnixFsData};
use super::hamt;
use super::importer::{Entry, ImportOptions};
use super::pb::{PbLink, PbNode};
use crate::block::BlockPut;
use cid::Cid;
use std::collections::BTreeMap;

/// Kubo's `Import.UnixFSHAMTDirectorySizeThreshold` (256 KiB), compared with
/// `>` against the sum of name bytes + CID bytes of the links (boxo's "links"
/// size estimation, Kubo's default).
pub const HAMT_THRESHOLD: usize = 262_144;

/// Entries of one directory; `BTreeMap<String>` orders names by their bytes,
/// the order dag-pb requires.
#[derive(Default, Debug, Clone)]
pub struct DirBuilder {
    pub entries: BTreeMap<String, (Cid, u64)>,
}

impl DirBuilder {
    pub fn add(&mut self, name: impl Into<String>, entry: &Entry) {
        self.entries.insert(name.into(), (entry.cid, entry.tsize));
    }

    pub fn estimated_size(&self) -> usize {
        self.entries
            .iter()
            .map(|(n, (c, _))| n.len() + c.encoded_len())
            .sum()
    }

    pub fn build<S: BlockPut + ?Sized>(&self, store: &S, opts: &ImportOptions) -> Result<Entry, Error> {
        if self.estimated_size() > HAMT_THRESHOLD {
            return hamt::build(store, opts, &self.entries);
        }
        let node = PbNode {
            links: self
                .entries
                .iter()
                .map(|(n, (c, t))| PbLink::new(*c, n.clone(), *t))
                .collect(),
            data: Some(UnixFsData::new(DataType::Directory).encode()),
        };
        let bytes = node.encode();
        let cid = opts.dag_pb_cid(&bytes);
        store.put(&cid, &bytes)?;
        let tsize = bytes.len() as u64 + self.entries.values().map(|(_, t)| t).sum::<u64>();
        Ok(Entry { cid, size: 0, tsize })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::data::{DataType, UnixFsData};
    use crate::unixfs::importer::tests::MemStore;

    #[test]
    fn shards_only_above_the_threshold() {
        let s = MemStore::default();
        let leaf = Entry {
            cid: crate::block::cid_v1(crate::block::RAW, b"x"),
            size: 1,
            tsize: 1,
        };
        let mut d = DirBuilder::default();
        // 36-byte CIDs + 64-byte names: 100 bytes per entry.
        let mut i = 0;
        while d.estimated_size() + 100 <= HAMT_THRESHOLD {
            d.add(format!("{i:064}"), &leaf);
            i += 1;
        }
        let kind = |e: &Entry| {
            let bytes = s.0.lock().unwrap()[&e.cid].clone();
            UnixFsData::decode(PbNode::decode(&bytes).unwrap().data.as_deref().unwrap())
                .unwrap()
                .kind
        };
        let flat = d.build(&s, &ImportOptions::default()).unwrap();
        assert_eq!(kind(&flat), DataType::Directory);
        d.add(format!("{i:064}"), &leaf);
        assert!(d.estimated_size() > HAMT_THRESHOLD);
        let sharded = d.build(&s, &ImportOptions::default()).unwrap();
        assert_eq!(kind(&sharded), DataType::HamtShard);
    }
}
