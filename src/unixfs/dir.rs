//! Directory nodes: a plain UnixFS directory (links sorted by name bytes), or
//! a HAMT once the estimated size passes the threshold of the import
//! options (`HamtOptions`: Kubo's `Import.UnixFSHAMTDirectory*`).

use super::Error;
use super::data::{DataType, UnixFsData};
use super::hamt;
use super::importer::{Entry, ImportOptions};
use super::pb::{PbLink, PbNode};
use super::profile::SizeEstimation;
use crate::block::BlockPut;
use crate::wire::varint_len;
use cid::Cid;
use std::collections::BTreeMap;

/// Kubo's default `Import.UnixFSHAMTDirectorySizeThreshold` (256 KiB).
pub const HAMT_THRESHOLD: usize = 262_144;

/// Bytes one link adds to an encoded PBNode: Hash, Name and Tsize fields
/// inside the Links field (boxo's `linkSerializedSize`, Helia's
/// `calculateLinkSize`).
fn link_block_bytes(name: usize, cid: usize, tsize: u64) -> usize {
    let field = |len: usize| 1 + varint_len(len as u64) + len;
    let inner = field(cid) + field(name) + 1 + varint_len(tsize);
    field(inner)
}

/// The Data field of a directory node without mode or mtime:
/// tag, length, and the UnixFS message `08 01` (type Directory).
const DIR_DATA_BYTES: usize = 4;

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

    /// The size compared with the HAMT threshold: IPIP-499's
    /// `links-bytes` (name + CID bytes) or `block-bytes` (the flat node's
    /// encoded length, which is what `build` would store).
    pub fn estimated_size(&self, how: SizeEstimation) -> usize {
        match how {
            SizeEstimation::Links => self
                .entries
                .iter()
                .map(|(n, (c, _))| n.len() + c.encoded_len())
                .sum(),
            SizeEstimation::Block => {
                DIR_DATA_BYTES
                    + self
                        .entries
                        .iter()
                        .map(|(n, (c, t))| link_block_bytes(n.len(), c.encoded_len(), *t))
                        .sum::<usize>()
            }
        }
    }

    pub fn build<S: BlockPut + ?Sized>(&self, store: &S, opts: &ImportOptions) -> Result<Entry, Error> {
        // Strictly greater: a directory exactly at the threshold stays flat.
        if self.estimated_size(opts.hamt.estimation) > opts.hamt.threshold {
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
        debug_assert_eq!(bytes.len(), self.estimated_size(SizeEstimation::Block));
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
        let links = SizeEstimation::Links;
        while d.estimated_size(links) + 100 <= HAMT_THRESHOLD {
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
        assert!(d.estimated_size(links) > HAMT_THRESHOLD);
        let sharded = d.build(&s, &ImportOptions::default()).unwrap();
        assert_eq!(kind(&sharded), DataType::HamtShard);
    }

    /// IPIP-499's block-bytes boundary (Kubo's own vector shape): 4765
    /// links of 55 bytes, one of 65, and the 4-byte Data field are exactly
    /// 262144 bytes and stay flat; one more name byte makes a HAMT.
    #[test]
    fn block_bytes_estimate_is_the_flat_node_length() {
        let s = MemStore::default();
        let leaf = Entry {
            cid: crate::block::cid_v1(crate::block::RAW, b"x"),
            size: 1,
            tsize: 1,
        };
        let opts = crate::unixfs::profile::Profile::UnixfsV1_2025.options();
        let block = SizeEstimation::Block;
        for (last, want) in [(21, DataType::Directory), (22, DataType::HamtShard)] {
            let mut d = DirBuilder::default();
            for i in 0..4765 {
                d.add(format!("{i:011}"), &leaf);
            }
            d.add("z".repeat(last), &leaf);
            assert_eq!(d.estimated_size(block), 262_143 + last - 20);
            let e = d.build(&s, &opts).unwrap();
            let bytes = s.0.lock().unwrap()[&e.cid].clone();
            let node = PbNode::decode(&bytes).unwrap();
            let kind = UnixFsData::decode(node.data.as_deref().unwrap()).unwrap().kind;
            assert_eq!(kind, want, "last name of {last} bytes");
            if want == DataType::Directory {
                assert_eq!(bytes.len(), 262_144);
            }
        }
    }
}
