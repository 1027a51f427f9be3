//! What changed between two UnixFS trees: added, removed and changed
//! paths, found by descending only into directories whose CIDs differ
//! (equal CIDs are equal subtrees), and in sharded (HAMT) directories only
//! into buckets that differ, so the cost follows the changes, not the size
//! of the trees.

use super::Error;
use super::resolve::{Kind, Node, for_each_entry};
use crate::block::BlockGet;
use cid::Cid;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// Different content, or a different kind of entry.
    Changed,
}

impl Change {
    /// The mark `files diff` prints (as `zfs diff`).
    pub fn mark(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => 'M',
        }
    }
}

/// One difference: the path (from the trees' roots, '/'-separated; a
/// whole added or removed subtree is one entry) and whether it is a
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub path: String,
    pub change: Change,
    pub dir: bool,
}

fn entries<B: BlockGet + ?Sized>(blocks: &B, cid: &Cid, node: &Node) -> Result<BTreeMap<String, Cid>, Error> {
    let mut out = BTreeMap::new();
    for_each_entry(blocks, cid, node, &mut |name, c, _| {
        out.insert(name.to_string(), c);
        Ok(())
    })?;
    Ok(out)
}

/// The entries of two directories to compare: all of them, or for two
/// HAMTs only those in buckets that differ (`hamt_diff`).
type Maps = (BTreeMap<String, Cid>, BTreeMap<String, Cid>);

fn entry_maps<B: BlockGet + ?Sized>(blocks: &B, a: (&Cid, &Node), b: (&Cid, &Node)) -> Result<Maps, Error> {
    use super::data::DataType;
    match (a.1, b.1) {
        (Node::Pb { node: x, data: dx }, Node::Pb { node: y, data: dy })
            if dx.kind == DataType::HamtShard && dy.kind == DataType::HamtShard =>
        {
            let (mut ea, mut eb) = (BTreeMap::new(), BTreeMap::new());
            super::hamt_diff::for_each_differing(
                blocks,
                (x, dx),
                (y, dy),
                &mut |n, c, _| {
                    ea.insert(n.to_string(), c);
                    Ok(())
                },
                &mut |n, c, _| {
                    eb.insert(n.to_string(), c);
                    Ok(())
                },
            )?;
            Ok((ea, eb))
        }
        _ => Ok((entries(blocks, a.0, a.1)?, entries(blocks, b.0, b.1)?)),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The differences from tree `a` to tree `b`, sorted by path.
pub fn diff<B: BlockGet + ?Sized>(blocks: &B, a: &Cid, b: &Cid) -> Result<Vec<Diff>, Error> {
    let mut out = Vec::new();
    // (path, a, b): pairs of directories whose CIDs differ.
    let mut stack = vec![(String::new(), *a, *b)];
    if a == b {
        return Ok(out);
    }
    let (na, nb) = (Node::load(blocks, a)?, Node::load(blocks, b)?);
    if na.kind() != Kind::Directory || nb.kind() != Kind::Directory {
        out.push(Diff {
            path: String::new(),
            change: Change::Changed,
            dir: false,
        });
        return Ok(out);
    }
    let mut loaded = Some((na, nb));
    while let Some((path, ca, cb)) = stack.pop() {
        let (na, nb) = match loaded.take() {
            Some(n) => n,
            None => (Node::load(blocks, &ca)?, Node::load(blocks, &cb)?),
        };
        let (ea, eb) = entry_maps(blocks, (&ca, &na), (&cb, &nb))?;
        for (name, x) in &ea {
            let p = join(&path, name);
            match eb.get(name) {
                None => out.push(removed_or_added(blocks, p, x, Change::Removed)?),
                Some(y) if y == x => {}
                Some(y) => {
                    if is_dir(blocks, x)? && is_dir(blocks, y)? {
                        out.push(Diff {
                            path: p.clone(),
                            change: Change::Changed,
                            dir: true,
                        });
                        stack.push((p, *x, *y));
                    } else {
                        out.push(Diff {
                            path: p,
                            change: Change::Changed,
                            dir: false,
                        });
                    }
                }
            }
        }
        for (name, y) in &eb {
            if !ea.contains_key(name) {
                out.push(removed_or_added(blocks, join(&path, name), y, Change::Added)?);
            }
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}

fn is_dir<B: BlockGet + ?Sized>(blocks: &B, cid: &Cid) -> Result<bool, Error> {
    // A raw leaf is a file: only dag-pb nodes are loaded to tell.
    Ok(cid.codec() != crate::block::RAW && Node::load(blocks, cid)?.kind() == Kind::Directory)
}

fn removed_or_added<B: BlockGet + ?Sized>(
    blocks: &B,
    path: String,
    cid: &Cid,
    change: Change,
) -> Result<Diff, Error> {
    let dir = is_dir(blocks, cid)?;
    Ok(Diff { path, change, dir })
}

/// The CID at `path` ('/'-separated, "" for the root) under `root`, or
/// None when there is no such entry.
pub fn path_cid<B: BlockGet + ?Sized>(blocks: &B, root: &Cid, path: &str) -> Result<Option<Cid>, Error> {
    let mut cid = *root;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        let node = Node::load(blocks, &cid)?;
        if node.kind() != Kind::Directory {
            return Ok(None);
        }
        match super::resolve::lookup(blocks, &cid, &node, name)? {
            Some(c) => cid = c,
            None => return Ok(None),
        }
    }
    Ok(Some(cid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockError;
    use crate::block::{BlockPut, RAW, cid_v1};
    use crate::unixfs::dir::DirBuilder;
    use crate::unixfs::importer::tests::MemStore;
    use crate::unixfs::importer::{Entry, ImportOptions};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts the blocks a diff loads.
    struct Counting<'a>(&'a MemStore, AtomicU64);

    impl BlockGet for Counting<'_> {
        fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.get(cid)
        }
        fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
            self.0.has(cid)
        }
    }

    /// A tree of `dirs` × `dirs` × `files` small files; `edit` may change
    /// the bytes of file (i, j, k) (None: leave it out).
    fn tree(
        s: &MemStore,
        dirs: usize,
        files: usize,
        edit: &dyn Fn(usize, usize, usize) -> Option<Vec<u8>>,
    ) -> Cid {
        let opts = ImportOptions::default();
        let mut top = DirBuilder::default();
        for i in 0..dirs {
            let mut mid = DirBuilder::default();
            for j in 0..dirs {
                let mut d = DirBuilder::default();
                for k in 0..files {
                    if let Some(bytes) = edit(i, j, k) {
                        // A one-leaf file is its raw leaf (what `add` gives).
                        let cid = cid_v1(RAW, &bytes);
                        s.put(&cid, &bytes).unwrap();
                        let n = bytes.len() as u64;
                        d.add(
                            format!("f{k}"),
                            &Entry {
                                cid,
                                size: n,
                                tsize: n,
                            },
                        );
                    }
                }
                mid.add(format!("d{j}"), &d.build(s, &opts).unwrap());
            }
            top.add(format!("d{i}"), &mid.build(s, &opts).unwrap());
        }
        top.build(s, &opts).unwrap().cid
    }

    #[test]
    fn a_100k_file_tree_with_3_changes_loads_a_few_dozen_nodes() {
        let s = MemStore::default();
        let same = |i: usize, j: usize, k: usize| Some(format!("{i}/{j}/{k}").into_bytes());
        let a = tree(&s, 40, 63, &same); // 40 × 40 × 63 = 100,800 files
        let b = tree(&s, 40, 63, &|i, j, k| match (i, j, k) {
            (1, 2, 3) => Some(b"changed".to_vec()),
            (7, 7, 7) => None,
            (9, 0, 0) => Some(b"also changed".to_vec()),
            _ => same(i, j, k),
        });
        let counting = Counting(&s, AtomicU64::new(0));
        let d = diff(&counting, &a, &b).unwrap();
        let got: Vec<(String, char)> = d.iter().map(|x| (x.path.clone(), x.change.mark())).collect();
        let want = [
            ("d1", 'M'),
            ("d1/d2", 'M'),
            ("d1/d2/f3", 'M'),
            ("d7", 'M'),
            ("d7/d7", 'M'),
            ("d7/d7/f7", '-'),
            ("d9", 'M'),
            ("d9/d0", 'M'),
            ("d9/d0/f0", 'M'),
        ];
        let want: Vec<(String, char)> = want.iter().map(|(p, c)| (p.to_string(), *c)).collect();
        assert_eq!(got, want);
        let loaded = counting.1.load(Ordering::Relaxed);
        assert!(loaded <= 40, "loaded {loaded} nodes");
        // The reverse is the mirror image; equal trees cost nothing.
        let back = diff(&s, &b, &a).unwrap();
        assert_eq!(
            back.iter().find(|x| x.path == "d7/d7/f7").unwrap().change,
            Change::Added
        );
        let counting = Counting(&s, AtomicU64::new(0));
        assert!(diff(&counting, &a, &a).unwrap().is_empty());
        assert_eq!(counting.1.load(Ordering::Relaxed), 0);
        assert_eq!(path_cid(&s, &a, "d1/d2/nope").unwrap(), None);
        assert_eq!(path_cid(&s, &a, "d1/d2/f3/x").unwrap(), None);
        assert!(path_cid(&s, &a, "d1/d2/f3").unwrap().is_some());
    }

    /// One directory of 100,000 entries (a HAMT of ~400 shards).
    fn flat(s: &MemStore, n: usize, edit: &dyn Fn(usize) -> Option<Vec<u8>>) -> Cid {
        let mut d = DirBuilder::default();
        for k in 0..n {
            if let Some(bytes) = edit(k) {
                let cid = cid_v1(RAW, &bytes);
                s.put(&cid, &bytes).unwrap();
                let len = bytes.len() as u64;
                d.add(
                    format!("file-{k}"),
                    &Entry {
                        cid,
                        size: len,
                        tsize: len,
                    },
                );
            }
        }
        d.build(s, &ImportOptions::default()).unwrap().cid
    }

    #[test]
    fn a_sharded_directory_is_compared_bucket_by_bucket() {
        let s = MemStore::default();
        let same = |k: usize| Some(k.to_string().into_bytes());
        let a = flat(&s, 100_000, &same);
        let b = flat(&s, 100_000, &|k| match k {
            17 => Some(b"changed".to_vec()),
            4242 => None,
            _ => same(k),
        });
        let c = flat(&s, 100_001, &same); // one more: file-100000
        let counting = Counting(&s, AtomicU64::new(0));
        let got: Vec<(String, char)> = diff(&counting, &a, &b)
            .unwrap()
            .iter()
            .map(|x| (x.path.clone(), x.change.mark()))
            .collect();
        assert_eq!(
            got,
            [("file-17".to_string(), 'M'), ("file-4242".to_string(), '-')]
        );
        let loaded = counting.1.load(Ordering::Relaxed);
        assert!(loaded <= 12, "loaded {loaded} blocks");
        let got = diff(&s, &a, &c).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].path.as_str(), got[0].change),
            ("file-100000", Change::Added)
        );
    }
}
