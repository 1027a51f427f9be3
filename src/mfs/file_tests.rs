//! Tests of file content: random writes against a model and the importer,
//! sparse files, lying DAGs.
use super::*;
use crate::block::BlockPut;
use crate::unixfs::importer::import_file;
use crate::unixfs::importer::tests::{MemStore, pattern};

fn opts() -> ImportOptions {
    ImportOptions {
        chunk_size: 16,
        max_links: 3,
        ..Default::default()
    }
}

fn read(s: &MemStore, f: &FileContent) -> Vec<u8> {
    let mut out = Vec::new();
    read_plan(s, None, f.plan_read(0, u64::MAX), &mut out).unwrap();
    out
}

#[test]
fn random_writes_match_a_model_and_the_importer() {
    let s = MemStore::default();
    let mut model = pattern(200);
    let base = import_file(&s, &opts(), &model[..], |_| {}).unwrap();
    let mut f = FileContent::from_entry(&s, opts(), base).unwrap();
    let ops: [(u64, &[u8]); 5] = [
        (5, b"hello"),
        (190, b"0123456789ABCDEF"),
        (300, b"x"),
        (16, &[7; 16]),
        (0, b""),
    ];
    for (off, data) in ops {
        f.write(&s, off, data).unwrap();
        let end = off as usize + data.len();
        if !data.is_empty() && end > model.len() {
            model.resize(end, 0);
        }
        model[off as usize..end].copy_from_slice(data);
        assert_eq!(read(&s, &f), model);
    }
    f.truncate(&s, 100).unwrap();
    model.truncate(100);
    f.truncate(&s, 150).unwrap();
    model.resize(150, 0);
    assert_eq!(read(&s, &f), model);
    let root = f.flush(&s).unwrap();
    let direct = import_file(&s, &opts(), &model[..], |_| {}).unwrap();
    assert_eq!(root, direct, "same bytes, same CID");
}

#[test]
fn unaligned_base_is_rechunked() {
    let s = MemStore::default();
    let data = pattern(100);
    let odd = ImportOptions {
        chunk_size: 7,
        ..opts()
    };
    let base = import_file(&s, &odd, &data[..], |_| {}).unwrap();
    let mut f = FileContent::from_entry(&s, opts(), base).unwrap();
    f.write(&s, 50, b"!").unwrap();
    let mut model = data.clone();
    model[50] = b'!';
    assert_eq!(read(&s, &f), model);
    assert_eq!(
        f.flush(&s).unwrap(),
        import_file(&s, &opts(), &model[..], |_| {}).unwrap()
    );
}

/// A tiny deterministic generator (no extra dev-dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Random writes, truncates (into and out of holes and the base),
/// flushes and reopens against a byte model: every read matches, every
/// flush gives the importer's CID for the same bytes.
#[test]
fn sparse_content_matches_the_importer() {
    for (seed, o) in [
        ImportOptions {
            chunk_size: 512,
            max_links: 3,
            ..Default::default()
        },
        ImportOptions {
            chunk_size: 512,
            max_links: 4,
            ..ImportOptions::kubo_v0()
        },
        ImportOptions {
            chunk_size: 512,
            max_links: 2,
            ..Default::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let s = MemStore::default();
        let mut rng = Lcg(seed as u64 + 1);
        let mut model: Vec<u8> = Vec::new();
        let mut f = FileContent::empty(o);
        for step in 0..300 {
            sparse_step(&s, o, &mut rng, &mut f, &mut model, (seed, step));
            assert_eq!(f.size(), model.len() as u64);
        }
        assert_eq!(read(&s, &f), model);
        let root = f.flush(&s).unwrap();
        assert_eq!(root, import_file(&s, &o, &model[..], |_| {}).unwrap());
    }
}

/// One random step of `sparse_content_matches_the_importer`: a write, a
/// truncate, a flush checked against the importer, a reopen or a read.
fn sparse_step(
    s: &MemStore,
    o: ImportOptions,
    rng: &mut Lcg,
    f: &mut FileContent,
    model: &mut Vec<u8>,
    at: (usize, i32),
) {
    let (seed, step) = at;
    let big = 512 * 200;
    match rng.next(10) {
        0..=4 => {
            let off = if rng.next(3) == 0 {
                rng.next(big)
            } else {
                rng.next(model.len() as u64 + 600)
            };
            let len = if rng.next(4) == 0 {
                1 + rng.next(1500)
            } else {
                1 + rng.next(40)
            };
            let data: Vec<u8> = (0..len).map(|_| 1 + rng.next(255) as u8).collect();
            f.write(s, off, &data).unwrap();
            let end = (off + len) as usize;
            if end > model.len() {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(&data);
        }
        5 | 6 => {
            let size = if rng.next(3) == 0 {
                rng.next(big)
            } else {
                rng.next(model.len() as u64 + 1000)
            };
            f.truncate(s, size).unwrap();
            model.resize(size as usize, 0);
        }
        7 => {
            let root = f.flush(s).unwrap();
            let direct = import_file(s, &o, &model[..], |_| {}).unwrap();
            assert_eq!(root, direct, "seed {seed} step {step}: same bytes, same CID");
        }
        8 => {
            // Reopen from the flushed DAG, as after a close.
            let root = f.flush(s).unwrap();
            *f = FileContent::from_entry(s, o, root).unwrap();
        }
        _ => {
            let off = rng.next(model.len() as u64 + 10);
            let len = rng.next(3000);
            let mut out = Vec::new();
            read_plan(s, None, f.plan_read(off, len), &mut out).unwrap();
            let a = (off as usize).min(model.len());
            let b = ((off + len) as usize).min(model.len());
            assert_eq!(out, &model[a..b], "seed {seed} step {step}");
        }
    }
}

#[test]
fn shrinking_below_the_base_then_growing_gives_zeros() {
    for o in [
        opts(),
        ImportOptions {
            chunk_size: 7,
            ..opts()
        },
    ] {
        let s = MemStore::default();
        let data = pattern(200);
        let base = import_file(&s, &opts(), &data[..], |_| {}).unwrap();
        let mut f = FileContent::from_entry(&s, o, base).unwrap();
        f.truncate(&s, 50).unwrap();
        f.truncate(&s, 150).unwrap();
        let mut model = data[..50].to_vec();
        model.resize(150, 0);
        assert_eq!(read(&s, &f), model);
        assert_eq!(
            f.flush(&s).unwrap(),
            import_file(&s, &o, &model[..], |_| {}).unwrap()
        );
    }
}

/// A file node whose links are `leaves`, with the given sizes claimed.
fn lying_node(s: &MemStore, leaves: &[Entry], blocksizes: Vec<u64>, filesize: u64) -> Entry {
    use crate::unixfs::data::UnixFsData;
    use crate::unixfs::pb::{PbLink, PbNode};
    let mut d = UnixFsData::new(DataType::File);
    d.filesize = Some(filesize);
    d.blocksizes = blocksizes;
    let bytes = PbNode {
        links: leaves.iter().map(|l| PbLink::new(l.cid, "", l.tsize)).collect(),
        data: Some(d.encode()),
    }
    .encode();
    let cid = crate::block::cid_v1(DAG_PB, &bytes);
    s.put(&cid, &bytes).unwrap();
    Entry {
        cid,
        size: Node::decode(&cid, bytes).unwrap().size(),
        tsize: 0,
    }
}

#[test]
fn lying_sizes_are_malformed_not_a_panic() {
    let s = MemStore::default();
    let data = pattern(48);
    let chunks: Vec<&[u8]> = data.chunks(16).collect();
    let leaves = store_leaves(&s, &opts(), &chunks).unwrap();
    let honest = lying_node(&s, &leaves, vec![16, 16, 16], 48);
    assert!(FileContent::from_entry(&s, opts(), honest).is_ok());
    let lies = [
        (vec![16, 16, 1 << 40], (1 << 40) + 32),
        (vec![16, 16, 16], 1 << 50),
        (vec![16, 16, 16], 20),
        (vec![16, 16, 8], 40),
        (vec![16, 16], 32),
        (vec![16, 32, 0], 48),
    ];
    for (sizes, filesize) in lies {
        let root = lying_node(&s, &leaves, sizes.clone(), filesize);
        let r = FileContent::from_entry(&s, opts(), root);
        assert!(
            matches!(r, Err(Error::Malformed(_))),
            "{sizes:?} {filesize}: {:?}",
            r.err()
        );
    }
    // A lying subtree under an honest-looking root.
    let inner = lying_node(&s, &leaves, vec![16, 16, 100], 132);
    let root = lying_node(&s, &[inner, leaves[0]], vec![48, 16], 64);
    assert!(matches!(
        FileContent::from_entry(&s, opts(), root),
        Err(Error::Malformed(_))
    ));
    // Reads of a lying range never give the wrong number of bytes.
    let mut out = Vec::new();
    let plan = vec![Segment::Block {
        cid: lying_node(&s, &leaves, vec![16, 16, 100], 132).cid,
        offset: 0,
        len: 132,
    }];
    assert!(matches!(
        read_plan(&s, None, plan, &mut out),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn huge_sparse_files_cost_what_is_written() {
    let s = MemStore::default();
    let o = ImportOptions::default();
    let mut f = FileContent::empty(o);
    assert!(f.truncate(&s, MAX_FILE_SIZE + 1).is_err());
    assert!(f.write(&s, MAX_FILE_SIZE, b"x").is_err());
    f.truncate(&s, MAX_FILE_SIZE).unwrap();
    assert_eq!(f.explicit_chunks(), 0);
    f.write(&s, MAX_FILE_SIZE / 3, b"middle").unwrap();
    f.write(&s, MAX_FILE_SIZE - 4, b"end!").unwrap();
    assert_eq!(f.explicit_chunks(), 2);
    assert!(f.referenced().count() <= 2);
    // A read across a hole is one segment, however long.
    let plan = f.plan_read(1 << 30, 1 << 40);
    assert!(matches!(plan[..], [Segment::Zero(n)] if n == 1 << 40), "{plan:?}");
    let mut out = Vec::new();
    read_plan(&s, None, f.plan_read(MAX_FILE_SIZE / 3 - 2, 10), &mut out).unwrap();
    assert_eq!(out, b"\0\0middle\0\0");
    let t = std::time::Instant::now();
    let root = f.flush(&s).unwrap();
    assert_eq!(root.size, MAX_FILE_SIZE);
    // A handful of distinct blocks: two leaves, the zero leaf, a few nodes per level.
    {
        let m = s.0.lock().unwrap();
        let mut kinds: Vec<(u64, usize)> = m.iter().map(|(c, b)| (c.codec(), b.len())).collect();
        kinds.sort();
        assert!(m.len() < 40, "{} {:?}", m.len(), kinds);
    }
    // Reopened (as after a close), changed and flushed again: still cheap.
    let mut g = FileContent::from_entry(&s, o, root).unwrap();
    g.write(&s, 12345 << 20, b"more").unwrap();
    let root2 = g.flush(&s).unwrap();
    assert_ne!(root2, root);
    assert!(g.explicit_chunks() <= 4, "{}", g.explicit_chunks());
    let mut out = Vec::new();
    read_plan(&s, None, g.plan_read(MAX_FILE_SIZE - 6, 100), &mut out).unwrap();
    assert_eq!(out, b"\0\0end!");
    // Writing the same bytes into a fresh hole gives the same DAG.
    let mut h = FileContent::empty(o);
    h.truncate(&s, MAX_FILE_SIZE).unwrap();
    h.write(&s, 12345 << 20, b"more").unwrap();
    h.write(&s, MAX_FILE_SIZE - 4, b"end!").unwrap();
    h.write(&s, MAX_FILE_SIZE / 3, b"middle").unwrap();
    assert_eq!(h.flush(&s).unwrap(), root2);
    // Shrinking to nothing and growing again: all zeros.
    g.truncate(&s, 0).unwrap();
    g.truncate(&s, 1 << 50).unwrap_err();
    g.truncate(&s, MAX_FILE_SIZE).unwrap();
    assert!(g.explicit_chunks() == 0);
    let mut z = FileContent::empty(o);
    z.truncate(&s, MAX_FILE_SIZE).unwrap();
    assert_eq!(g.flush(&s).unwrap(), z.flush(&s).unwrap());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn runs_match_single_leaves() {
    let s = MemStore::default();
    for max_links in [2, 3, 5, 174] {
        let o = ImportOptions {
            chunk_size: 4,
            max_links,
            ..Default::default()
        };
        let leaf = store_leaves(&s, &o, &[b"abcd"]).unwrap()[0];
        let other = store_leaves(&s, &o, &[b"wxyz"]).unwrap()[0];
        for (pre, run, post) in [(0, 1, 0), (1, 7, 0), (3, 100, 2), (0, 1000, 1), (5, 30_000, 3)] {
            let mut a = FileBuilder::new(&s, o);
            let mut b = FileBuilder::new(&s, o);
            for _ in 0..pre {
                a.add_stored_leaf(other).unwrap();
                b.add_stored_leaf(other).unwrap();
            }
            a.add_stored_run(leaf, run).unwrap();
            for _ in 0..run {
                b.add_stored_leaf(leaf).unwrap();
            }
            for _ in 0..post {
                a.add_stored_leaf(other).unwrap();
                b.add_stored_leaf(other).unwrap();
            }
            assert_eq!(
                a.finish().unwrap(),
                b.finish().unwrap(),
                "{max_links} {pre} {run} {post}"
            );
        }
    }
}
