//! A model of the writable tree (`src/mfs/`), in the style of mountpoint-s3's
//! reference tests: random sequences of operations go both to a real `Mfs` on
//! a temp repo (through its public API, as the FUSE layer and `p2pfs files`
//! call it) and to a plain in-memory reference written here; after each step
//! the two must agree on the paths, kinds, bytes, modes, mtimes, symlink
//! targets, the CIDs (the reference computes them with the importer and the
//! repo's import options: the CIDs `p2pfs add` gives) and on which operations
//! fail, with which errno.
//!
//! Durability is part of the model: "crash" takes a copy of the repo
//! directory as a killed process leaves it (every write(2) done, nothing in
//! memory) and reopens the tree on the copy, so the journal is replayed. The
//! contract checked: nothing closed (or fsynced) is lost; a file still open at
//! the crash comes back as it was at its last close/fsync or at a checkpoint
//! taken since (or not at all if it was never closed), never torn.
//!
//! The chunk size is 512 bytes (`import.chunk_size` in the repo's config), so
//! files of a few KiB have many leaves and the larger ones (sparse writes up
//! to ~150 KiB) need two levels of tree nodes.
//!
//! `PROPTEST_CASES` sets the number of cases (default 200); a failure is
//! shrunk to a short sequence of `Op`s, printed with `Debug` and again with
//! its paths resolved. `MFS_STATS=1` (with `--nocapture`) prints each
//! operation's kind and outcome, to see what the generator reaches. The
//! bugs the model found are kept below as fixed sequences.
//!
//! Semantics the model takes from mfs on purpose: a file's mtime is set by
//! each write and truncate (and kept at close); a directory's by each
//! entry made, removed or renamed in it; mtimes are never before 1970. A
//! file open at a crash comes back with one of its saved versions, whose
//! mtime is not checked.

use p2pfs::block::NullStore;
use p2pfs::mfs::{Attr, Ino, Mfs, MfsError, Owner, ROOT, SetAttr};
use p2pfs::repo::Repo;
use p2pfs::unixfs::dir::DirBuilder;
use p2pfs::unixfs::importer::{Entry, ImportOptions, import_file, symlink_node};
use p2pfs::unixfs::resolve::Kind;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

const WHO: Owner = Owner { uid: 0, gid: 0 };

fn size_to(size: u64) -> SetAttr {
    SetAttr {
        size: Some(size),
        ..Default::default()
    }
}
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHUNK: usize = 512;
/// Names chosen so that paths sort around "a/": "a!" < "a/" < "a0" (the
/// metadata table is keyed by path and moved/removed by prefix).
const NAMES: [&str; 4] = ["a", "a!", "a0", "b"];
/// At most this many handles are held open at once.
const MAX_HANDLES: usize = 3;

// ---- operations ---------------------------------------------------------

/// A path under files/ (1 to 3 components from `NAMES`).
#[derive(Clone, PartialEq, Eq)]
struct P(Vec<u8>);

impl P {
    fn comps(&self) -> Vec<&'static str> {
        self.0.iter().map(|&i| NAMES[i as usize]).collect()
    }
    fn string(&self) -> String {
        self.comps().join("/")
    }
}

impl fmt::Debug for P {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:?}", self.string())
    }
}

/// File bytes: `len` bytes of a pattern that repeats every 251 bytes.
#[derive(Clone, Copy)]
struct D {
    len: u32,
    seed: u8,
}

impl D {
    fn bytes(self) -> Vec<u8> {
        (0..self.len)
            .map(|i| self.seed.wrapping_add((i % 251) as u8))
            .collect()
    }
}

impl fmt::Debug for D {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "D({}B, seed {})", self.len, self.seed)
    }
}

#[derive(Clone, Copy)]
struct Mode(u32);

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "0o{:o}", self.0)
    }
}

/// A path as generated: literal, the `k`-th (modulo their number) path
/// existing in the reference when the operation runs (`#k`), or name `n` in
/// its `k`-th directory, the root being #0 (`#k/n`). Failures print the
/// sequence with the paths resolved.
#[derive(Clone)]
enum Sel {
    Lit(P),
    Pick(u8),
    In(u8, u8),
}

impl fmt::Debug for Sel {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Sel::Lit(p) => write!(f, "{p:?}"),
            Sel::Pick(k) => write!(f, "#{k}"),
            Sel::In(k, n) => write!(f, "#{k}/{}", NAMES[*n as usize]),
        }
    }
}

#[derive(Debug, Clone)]
enum Op<Path = Sel> {
    /// creat(2)/open(O_CREAT): `excl` is O_EXCL, `trunc` O_TRUNC; `data` is
    /// written at 0; the handle is closed at once unless `hold`.
    Create {
        path: Path,
        mode: Mode,
        excl: bool,
        trunc: bool,
        data: D,
        hold: bool,
    },
    /// open, pwrite at `off` (past the end leaves a hole), close.
    Write {
        path: Path,
        off: u32,
        data: D,
    },
    /// truncate(2) by path (setattr size, no handle).
    Truncate {
        path: Path,
        size: u32,
    },
    /// open(O_RDWR [| O_TRUNC]), handle held.
    Open {
        path: Path,
        trunc: bool,
    },
    /// pwrite on held handle number `h` (modulo the number held).
    HWrite {
        h: usize,
        off: u32,
        data: D,
    },
    /// ftruncate on a held handle.
    HTruncate {
        h: usize,
        size: u32,
    },
    /// fsync on a held handle.
    HFsync {
        h: usize,
    },
    /// close of a held handle.
    Close {
        h: usize,
    },
    /// rename(2), or renameat2(RENAME_NOREPLACE). (RENAME_EXCHANGE is not
    /// supported by `Mfs::rename`; the FUSE layer answers EINVAL.)
    Rename {
        from: Path,
        to: Path,
        noreplace: bool,
    },
    Unlink {
        path: Path,
    },
    Rmdir {
        path: Path,
    },
    Mkdir {
        path: Path,
        mode: Mode,
    },
    Symlink {
        path: Path,
        target: String,
    },
    Chmod {
        path: Path,
        mode: Mode,
    },
    /// utimensat with an explicit mtime.
    Utimens {
        path: Path,
        secs: u32,
        nanos: u32,
    },
    /// open, fsync, close.
    Fsync {
        path: Path,
    },
    /// The CID of what is at `path` (getfattr ipfs.cid / `files stat`),
    /// compared with the reference's.
    Cid {
        path: Path,
    },
    /// The periodic / unmount checkpoint (a new saved root).
    Checkpoint,
    /// A crash and a restart: `hard` is kill -9 (the repo directory as the
    /// process leaves it, copied), else the `Mfs` is dropped without a
    /// checkpoint (the store still commits on drop); then repo and tree are
    /// opened again and the journal is replayed.
    Crash {
        hard: bool,
    },
}

fn name_s() -> impl Strategy<Value = u8> {
    prop_oneof![4 => Just(0u8), 3 => Just(3u8), 1 => Just(1u8), 1 => Just(2u8)]
}

fn lit_s() -> impl Strategy<Value = Sel> {
    prop::collection::vec(name_s(), 1..=3).prop_map(|v| Sel::Lit(P(v)))
}

/// A path that mostly exists.
fn old_s() -> impl Strategy<Value = Sel> {
    prop_oneof![
        6 => any::<u8>().prop_map(Sel::Pick),
        2 => (any::<u8>(), name_s()).prop_map(|(k, n)| Sel::In(k, n)),
        1 => lit_s(),
    ]
}

/// A path that mostly does not exist yet, in an existing directory.
fn new_s() -> impl Strategy<Value = Sel> {
    prop_oneof![
        6 => (any::<u8>(), name_s()).prop_map(|(k, n)| Sel::In(k, n)),
        2 => any::<u8>().prop_map(Sel::Pick),
        1 => lit_s(),
    ]
}

fn data_s() -> impl Strategy<Value = D> {
    (prop_oneof![3 => 0..700u32, 1 => 0..6000u32], any::<u8>()).prop_map(|(len, seed)| D { len, seed })
}

/// Offsets and sizes: mostly small, some past two levels of tree nodes, and
/// rarely ~15 MiB (a hole of 30 000 chunks: three levels, with runs of the
/// zero leaf and whole zero subtrees, as in a huge sparse file).
fn off_s() -> impl Strategy<Value = u32> {
    prop_oneof![40 => 0..3000u32, 10 => 0..150_000u32, 1 => (15u32 << 20)..(16u32 << 20)]
}

fn mode_s() -> impl Strategy<Value = Mode> {
    prop::sample::select(vec![0o644, 0o600, 0o755, 0o700, 0o640, 0o4755, 0o1777]).prop_map(Mode)
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (new_s(), mode_s(), any::<bool>(), any::<bool>(), data_s(), prop::bool::weighted(0.3)).prop_map(
            |(path, mode, excl, trunc, data, hold)| Op::Create { path, mode, excl, trunc, data, hold }
        ),
        5 => (old_s(), off_s(), data_s()).prop_map(|(path, off, data)| Op::Write { path, off, data }),
        2 => (old_s(), off_s()).prop_map(|(path, size)| Op::Truncate { path, size }),
        2 => (old_s(), any::<bool>()).prop_map(|(path, trunc)| Op::Open { path, trunc }),
        3 => (0..4usize, off_s(), data_s()).prop_map(|(h, off, data)| Op::HWrite { h, off, data }),
        1 => (0..4usize, off_s()).prop_map(|(h, size)| Op::HTruncate { h, size }),
        1 => (0..4usize).prop_map(|h| Op::HFsync { h }),
        2 => (0..4usize).prop_map(|h| Op::Close { h }),
        5 => (old_s(), new_s(), prop::bool::weighted(0.3))
            .prop_map(|(from, to, noreplace)| Op::Rename { from, to, noreplace }),
        2 => old_s().prop_map(|path| Op::Unlink { path }),
        2 => old_s().prop_map(|path| Op::Rmdir { path }),
        4 => (new_s(), mode_s()).prop_map(|(path, mode)| Op::Mkdir { path, mode }),
        1 => (new_s(), "[a-z./]{1,12}").prop_map(|(path, target)| Op::Symlink { path, target }),
        2 => (old_s(), mode_s()).prop_map(|(path, mode)| Op::Chmod { path, mode }),
        1 => (old_s(), 0..2_000_000_000u32, 0..1_000_000_000u32)
            .prop_map(|(path, secs, nanos)| Op::Utimens { path, secs, nanos }),
        1 => old_s().prop_map(|path| Op::Fsync { path }),
        1 => old_s().prop_map(|path| Op::Cid { path }),
        2 => Just(Op::Checkpoint),
        2 => any::<bool>().prop_map(|hard| Op::Crash { hard }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    /// Run every call first under `mfs::without_io` and again normally on
    /// `WouldBlock`, as the FUSE layer does.
    fast_path: bool,
    /// Compare the whole tree only before crashes and at the end (so that
    /// operations also run on a lazily loaded tree after a restart).
    sparse_checks: bool,
    ops: Vec<Op>,
}

fn case_s() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::collection::vec(op_s(), 1..60),
    )
        .prop_map(|(fast_path, sparse_checks, ops)| Case {
            fast_path,
            sparse_checks,
            ops,
        })
}

impl Op {
    /// The operation with its paths resolved against the reference's tree.
    fn resolve(&self, model: &Model) -> Op<P> {
        let mut all = BTreeMap::new();
        walk_model(&model.root, "", &mut all);
        let lit = |p: &str| {
            P(p.split('/')
                .map(|c| NAMES.iter().position(|n| *n == c).unwrap() as u8)
                .collect())
        };
        let paths: Vec<P> = all.keys().map(|p| lit(p)).collect();
        let mut dirs = vec![P(Vec::new())];
        dirs.extend(
            all.iter()
                .filter(|(_, n)| matches!(n, RNode::Dir(_)))
                .map(|(p, _)| lit(p)),
        );
        let r = |s: &Sel| -> P {
            match s {
                Sel::Lit(p) => p.clone(),
                Sel::Pick(_) if paths.is_empty() => P(vec![0]),
                Sel::Pick(k) => paths[*k as usize % paths.len()].clone(),
                Sel::In(k, n) => {
                    let mut p = dirs[*k as usize % dirs.len()].clone();
                    p.0.push(*n);
                    p
                }
            }
        };
        match self {
            Op::Create {
                path,
                mode,
                excl,
                trunc,
                data,
                hold,
            } => Op::Create {
                path: r(path),
                mode: *mode,
                excl: *excl,
                trunc: *trunc,
                data: *data,
                hold: *hold,
            },
            Op::Write { path, off, data } => Op::Write {
                path: r(path),
                off: *off,
                data: *data,
            },
            Op::Truncate { path, size } => Op::Truncate {
                path: r(path),
                size: *size,
            },
            Op::Open { path, trunc } => Op::Open {
                path: r(path),
                trunc: *trunc,
            },
            Op::HWrite { h, off, data } => Op::HWrite {
                h: *h,
                off: *off,
                data: *data,
            },
            Op::HTruncate { h, size } => Op::HTruncate { h: *h, size: *size },
            Op::HFsync { h } => Op::HFsync { h: *h },
            Op::Close { h } => Op::Close { h: *h },
            Op::Rename { from, to, noreplace } => Op::Rename {
                from: r(from),
                to: r(to),
                noreplace: *noreplace,
            },
            Op::Unlink { path } => Op::Unlink { path: r(path) },
            Op::Rmdir { path } => Op::Rmdir { path: r(path) },
            Op::Mkdir { path, mode } => Op::Mkdir {
                path: r(path),
                mode: *mode,
            },
            Op::Symlink { path, target } => Op::Symlink {
                path: r(path),
                target: target.clone(),
            },
            Op::Chmod { path, mode } => Op::Chmod {
                path: r(path),
                mode: *mode,
            },
            Op::Utimens { path, secs, nanos } => Op::Utimens {
                path: r(path),
                secs: *secs,
                nanos: *nanos,
            },
            Op::Fsync { path } => Op::Fsync { path: r(path) },
            Op::Cid { path } => Op::Cid { path: r(path) },
            Op::Checkpoint => Op::Checkpoint,
            Op::Crash { hard } => Op::Crash { hard: *hard },
        }
    }
}

// ---- the reference ------------------------------------------------------

/// An mtime: exact (set by utimens) or "now" at some moment of an operation.
#[derive(Debug, Clone, Copy)]
enum Mt {
    Exact(SystemTime),
    Between(SystemTime, SystemTime),
    /// Not checked (a file that was open at a crash).
    Any,
}

impl Mt {
    fn admits(self, t: SystemTime) -> bool {
        match self {
            Mt::Exact(e) => e == t,
            Mt::Between(lo, hi) => lo <= t && t <= hi,
            Mt::Any => true,
        }
    }
}

#[derive(Debug, Clone)]
struct RFile {
    id: u64,
    data: Vec<u8>,
    mode: u32,
    mtime: Mt,
    /// Changed since the last close/fsync.
    unsaved: bool,
    /// What a crash may bring back (None: nothing): the last closed content,
    /// then the content at each checkpoint since.
    durable: Vec<Option<Vec<u8>>>,
}

#[derive(Debug, Clone)]
struct RDir {
    entries: BTreeMap<String, RNode>,
    mode: u32,
    mtime: Mt,
}

#[derive(Debug, Clone)]
enum RNode {
    Dir(RDir),
    File(RFile),
    Link { target: Vec<u8>, mode: u32, mtime: Mt },
}

impl RNode {
    fn kind(&self) -> Kind {
        match self {
            RNode::Dir(_) => Kind::Directory,
            RNode::File(_) => Kind::File,
            RNode::Link { .. } => Kind::Symlink,
        }
    }
}

/// What the reference says an operation must do.
#[derive(Debug, PartialEq)]
enum Expect {
    Ok,
    /// Fails with one of these errnos (POSIX lets any applicable one win).
    Err(Vec<i32>),
    /// Not reachable through the kernel (it follows symlinks before asking
    /// the filesystem; no handles held): not sent to mfs.
    Skip,
}

struct Model {
    root: RDir,
    /// Open files no longer in the tree (unlinked or renamed over).
    orphans: HashMap<u64, RFile>,
    /// Held handles: file ids.
    handles: Vec<u64>,
    next_id: u64,
    opts: ImportOptions,
    cids: HashMap<Vec<u8>, Entry>,
}

fn flush(f: &mut RFile, t0: SystemTime, t1: SystemTime) {
    if f.unsaved {
        f.unsaved = false;
        let _ = (t0, t1);
        f.durable = vec![Some(f.data.clone())];
    }
}

fn write_at(f: &mut RFile, off: usize, data: &[u8], t: Mt) {
    if data.is_empty() {
        return;
    }
    f.mtime = t;
    if f.data.len() < off + data.len() {
        f.data.resize(off + data.len(), 0);
    }
    f.data[off..off + data.len()].copy_from_slice(data);
    f.unsaved = true;
}

/// truncate(2), ftruncate(2), O_TRUNC: the times change even when the
/// size does not (as on Linux).
fn truncate(f: &mut RFile, size: usize, t: Mt) {
    f.mtime = t;
    if f.data.len() != size {
        f.data.resize(size, 0);
        f.unsaved = true;
    }
}

fn under(p: &[&str], q: &[&str]) -> bool {
    p.len() > q.len() && p[..q.len()] == *q
}

impl Model {
    fn new(opts: ImportOptions) -> Model {
        Model {
            root: RDir {
                entries: BTreeMap::new(),
                mode: 0o755,
                mtime: Mt::Exact(UNIX_EPOCH),
            },
            orphans: HashMap::new(),
            handles: Vec::new(),
            next_id: 1,
            opts,
            cids: HashMap::new(),
        }
    }

    fn dir(&self, comps: &[&str]) -> Result<&RDir, i32> {
        let mut d = &self.root;
        for c in comps {
            d = match d.entries.get(*c) {
                None => return Err(libc::ENOENT),
                Some(RNode::Dir(x)) => x,
                Some(_) => return Err(libc::ENOTDIR),
            };
        }
        Ok(d)
    }

    fn dir_mut(&mut self, comps: &[&str]) -> &mut RDir {
        let mut d = &mut self.root;
        for c in comps {
            d = match d.entries.get_mut(*c) {
                Some(RNode::Dir(x)) => x,
                _ => unreachable!("checked by expect()"),
            };
        }
        d
    }

    /// The node at `comps` (Ok(None): the parent exists, the name does not).
    fn get(&self, comps: &[&str]) -> Result<Option<&RNode>, i32> {
        let (name, parent) = comps.split_last().expect("paths have a name");
        Ok(self.dir(parent)?.entries.get(*name))
    }

    fn get_mut(&mut self, comps: &[&str]) -> &mut RNode {
        let (name, parent) = comps.split_last().expect("paths have a name");
        self.dir_mut(parent)
            .entries
            .get_mut(*name)
            .expect("checked by expect()")
    }

    fn file_mut(&mut self, id: u64) -> &mut RFile {
        fn find(d: &mut RDir, id: u64) -> Option<&mut RFile> {
            d.entries.values_mut().find_map(|n| match n {
                RNode::File(f) if f.id == id => Some(f),
                RNode::Dir(d) => find(d, id),
                _ => None,
            })
        }
        if self.orphans.contains_key(&id) {
            return self.orphans.get_mut(&id).unwrap();
        }
        find(&mut self.root, id).expect("a held file is in the tree or an orphan")
    }

    fn held(&self, id: u64) -> bool {
        self.handles.contains(&id)
    }

    /// Takes `comps` out of the tree; an open file lives on as an orphan.
    fn detach(&mut self, comps: &[&str]) -> RNode {
        let (name, parent) = comps.split_last().unwrap();
        self.dir_mut(parent).entries.remove(*name).unwrap()
    }

    fn drop_node(&mut self, n: RNode) {
        if let RNode::File(f) = n
            && self.held(f.id)
        {
            self.orphans.insert(f.id, f);
        }
    }

    fn handle(&self, h: usize) -> Option<usize> {
        (!self.handles.is_empty()).then(|| h % self.handles.len())
    }

    fn expect(&self, op: &Op<P>) -> Expect {
        use Expect::*;
        let e = |v: i32| Err(vec![v]);
        match op {
            Op::Create { hold: true, .. } if self.handles.len() >= MAX_HANDLES => Skip,
            Op::Create { path, excl, .. } => match self.get(&path.comps()) {
                Result::Err(x) => e(x),
                Result::Ok(None) => Ok,
                Result::Ok(Some(_)) if *excl => e(libc::EEXIST),
                Result::Ok(Some(RNode::Dir(_))) => e(libc::EISDIR),
                Result::Ok(Some(RNode::Link { .. })) => Skip,
                Result::Ok(Some(RNode::File(_))) => Ok,
            },
            Op::Write { path, .. } | Op::Truncate { path, .. } | Op::Open { path, .. } => {
                match self.get(&path.comps()) {
                    Result::Err(x) => e(x),
                    Result::Ok(None) => e(libc::ENOENT),
                    Result::Ok(Some(RNode::Dir(_))) => e(libc::EISDIR),
                    Result::Ok(Some(RNode::Link { .. })) => Skip,
                    Result::Ok(Some(RNode::File(_))) => {
                        if matches!(op, Op::Open { .. }) && self.handles.len() >= MAX_HANDLES {
                            Skip
                        } else {
                            Ok
                        }
                    }
                }
            }
            Op::HWrite { h, .. } | Op::HTruncate { h, .. } | Op::HFsync { h } | Op::Close { h } => {
                if self.handle(*h).is_some() { Ok } else { Skip }
            }
            Op::Rename { from, to, noreplace } => {
                let (f, t) = (from.comps(), to.comps());
                // As the kernel: both parents are walked, then the names looked up.
                let src = match self.get(&f) {
                    Result::Err(x) => return e(x),
                    Result::Ok(s) => s,
                };
                let dst = match self.get(&t) {
                    Result::Err(x) => return e(x),
                    Result::Ok(d) => d,
                };
                let Some(src) = src else { return e(libc::ENOENT) };
                let mut errs = Vec::new();
                if *noreplace && dst.is_some() {
                    errs.push(libc::EEXIST);
                }
                if src.kind() == Kind::Directory && under(&t, &f) {
                    errs.push(libc::EINVAL);
                }
                if let Some(d) = dst
                    && f != t
                {
                    match (src.kind() == Kind::Directory, d) {
                        (true, RNode::Dir(dd)) if !dd.entries.is_empty() => {
                            errs.extend([libc::ENOTEMPTY, libc::EEXIST])
                        }
                        (true, RNode::Dir(_)) => {}
                        (true, _) => errs.push(libc::ENOTDIR),
                        (false, RNode::Dir(_)) => errs.push(libc::EISDIR),
                        (false, _) => {}
                    }
                    if under(&f, &t) {
                        // The target is an ancestor of the source.
                        errs.push(libc::ENOTEMPTY);
                    }
                }
                if errs.is_empty() { Ok } else { Err(errs) }
            }
            Op::Unlink { path } => match self.get(&path.comps()) {
                Result::Err(x) => e(x),
                Result::Ok(None) => e(libc::ENOENT),
                Result::Ok(Some(RNode::Dir(_))) => e(libc::EISDIR),
                Result::Ok(Some(_)) => Ok,
            },
            Op::Rmdir { path } => match self.get(&path.comps()) {
                Result::Err(x) => e(x),
                Result::Ok(None) => e(libc::ENOENT),
                Result::Ok(Some(RNode::Dir(d))) if !d.entries.is_empty() => e(libc::ENOTEMPTY),
                Result::Ok(Some(RNode::Dir(_))) => Ok,
                Result::Ok(Some(_)) => e(libc::ENOTDIR),
            },
            Op::Mkdir { path, .. } | Op::Symlink { path, .. } => match self.get(&path.comps()) {
                Result::Err(x) => e(x),
                Result::Ok(None) => Ok,
                Result::Ok(Some(_)) => e(libc::EEXIST),
            },
            Op::Chmod { path, .. } | Op::Utimens { path, .. } | Op::Fsync { path } | Op::Cid { path } => {
                match self.get(&path.comps()) {
                    Result::Err(x) => e(x),
                    Result::Ok(None) => e(libc::ENOENT),
                    Result::Ok(Some(_)) => Ok,
                }
            }
            Op::Checkpoint | Op::Crash { .. } => Ok,
        }
    }

    /// Applies an operation `expect` allowed; `t0`..`t1` is when it ran.
    fn apply(&mut self, op: &Op<P>, t0: SystemTime, t1: SystemTime) {
        match op {
            Op::Create {
                path,
                mode,
                trunc,
                data,
                hold,
                ..
            } => {
                let comps = path.comps();
                let id = match self.get(&comps).unwrap() {
                    None => {
                        let id = self.next_id;
                        self.next_id += 1;
                        let (name, parent) = comps.split_last().unwrap();
                        let f = RFile {
                            id,
                            data: Vec::new(),
                            mode: mode.0 & 0o7777,
                            mtime: Mt::Between(t0, t1),
                            unsaved: true,
                            durable: vec![None],
                        };
                        let dir = self.dir_mut(parent);
                        dir.entries.insert(name.to_string(), RNode::File(f));
                        dir.mtime = Mt::Between(t0, t1);
                        id
                    }
                    Some(RNode::File(f)) => {
                        let id = f.id;
                        if *trunc {
                            truncate(self.file_mut(id), 0, Mt::Between(t0, t1));
                        }
                        id
                    }
                    Some(_) => unreachable!(),
                };
                write_at(self.file_mut(id), 0, &data.bytes(), Mt::Between(t0, t1));
                if *hold {
                    self.handles.push(id);
                } else {
                    flush(self.file_mut(id), t0, t1);
                }
            }
            Op::Write { path, off, data } => {
                let RNode::File(f) = self.get_mut(&path.comps()) else {
                    unreachable!()
                };
                write_at(f, *off as usize, &data.bytes(), Mt::Between(t0, t1));
                flush(f, t0, t1);
            }
            Op::Truncate { path, size } => {
                let RNode::File(f) = self.get_mut(&path.comps()) else {
                    unreachable!()
                };
                let id = f.id;
                truncate(f, *size as usize, Mt::Between(t0, t1));
                // truncate(2) of a file nobody has open is saved at once.
                if !self.held(id) {
                    flush(self.file_mut(id), t0, t1);
                }
            }
            Op::Open { path, trunc } => {
                let RNode::File(f) = self.get_mut(&path.comps()) else {
                    unreachable!()
                };
                if *trunc {
                    truncate(f, 0, Mt::Between(t0, t1));
                }
                let id = f.id;
                self.handles.push(id);
            }
            Op::HWrite { h, off, data } => {
                let id = self.handles[self.handle(*h).unwrap()];
                write_at(
                    self.file_mut(id),
                    *off as usize,
                    &data.bytes(),
                    Mt::Between(t0, t1),
                );
            }
            Op::HTruncate { h, size } => {
                let id = self.handles[self.handle(*h).unwrap()];
                truncate(self.file_mut(id), *size as usize, Mt::Between(t0, t1));
            }
            Op::HFsync { h } => {
                let id = self.handles[self.handle(*h).unwrap()];
                flush(self.file_mut(id), t0, t1);
            }
            Op::Close { h } => {
                let i = self.handle(*h).unwrap();
                let id = self.handles[i];
                flush(self.file_mut(id), t0, t1);
                self.handles.remove(i);
                if !self.held(id) {
                    self.orphans.remove(&id);
                }
            }
            Op::Rename { from, to, .. } => {
                let (f, t) = (from.comps(), to.comps());
                if f == t {
                    return;
                }
                let node = self.detach(&f);
                if self.get(&t).unwrap().is_some() {
                    let old = self.detach(&t);
                    self.drop_node(old);
                }
                let (name, parent) = t.split_last().unwrap();
                self.dir_mut(parent).entries.insert(name.to_string(), node);
                self.dir_mut(parent).mtime = Mt::Between(t0, t1);
                self.dir_mut(&f[..f.len() - 1]).mtime = Mt::Between(t0, t1);
            }
            Op::Unlink { path } | Op::Rmdir { path } => {
                let comps = path.comps();
                let n = self.detach(&comps);
                self.drop_node(n);
                self.dir_mut(&comps[..comps.len() - 1]).mtime = Mt::Between(t0, t1);
            }
            Op::Mkdir { path, mode } => {
                let comps = path.comps();
                let (name, parent) = comps.split_last().unwrap();
                self.dir_mut(parent).mtime = Mt::Between(t0, t1);
                self.dir_mut(parent).entries.insert(
                    name.to_string(),
                    RNode::Dir(RDir {
                        entries: BTreeMap::new(),
                        mode: mode.0 & 0o7777,
                        mtime: Mt::Between(t0, t1),
                    }),
                );
            }
            Op::Symlink { path, target } => {
                let comps = path.comps();
                let (name, parent) = comps.split_last().unwrap();
                self.dir_mut(parent).mtime = Mt::Between(t0, t1);
                self.dir_mut(parent).entries.insert(
                    name.to_string(),
                    RNode::Link {
                        target: target.as_bytes().to_vec(),
                        mode: 0o777,
                        mtime: Mt::Between(t0, t1),
                    },
                );
            }
            Op::Chmod { path, mode } => match self.get_mut(&path.comps()) {
                RNode::Dir(d) => d.mode = mode.0 & 0o7777,
                RNode::File(f) => f.mode = mode.0 & 0o7777,
                RNode::Link { mode: m, .. } => *m = mode.0 & 0o7777,
            },
            Op::Utimens { path, secs, nanos } => {
                let t = Mt::Exact(UNIX_EPOCH + Duration::new(*secs as u64, *nanos));
                match self.get_mut(&path.comps()) {
                    RNode::Dir(d) => d.mtime = t,
                    RNode::File(f) => f.mtime = t,
                    RNode::Link { mtime, .. } => *mtime = t,
                }
            }
            Op::Fsync { path } => {
                if let RNode::File(f) = self.get_mut(&path.comps()) {
                    flush(f, t0, t1);
                }
            }
            Op::Cid { .. } => {}
            Op::Checkpoint => {
                // Open files' current content may now be in the saved root.
                fn walk(d: &mut RDir) {
                    for n in d.entries.values_mut() {
                        match n {
                            RNode::Dir(d) => walk(d),
                            RNode::File(f) if f.unsaved => f.durable.push(Some(f.data.clone())),
                            _ => {}
                        }
                    }
                }
                walk(&mut self.root);
            }
            Op::Crash { .. } => unreachable!("handled by the runner"),
        }
    }

    /// A crash: handles and orphans are gone; returns the files whose
    /// content is uncertain (path, possible contents).
    fn crash(&mut self) -> Vec<(String, Vec<Option<Vec<u8>>>)> {
        // A file open at the crash may come back with the mtime of its last
        // save, even when only its mtime changed (O_TRUNC of an empty file).
        let held: std::collections::HashSet<u64> = self.handles.drain(..).collect();
        fn forget_mtimes(d: &mut RDir, held: &std::collections::HashSet<u64>) {
            for n in d.entries.values_mut() {
                match n {
                    RNode::Dir(d) => forget_mtimes(d, held),
                    RNode::File(f) if held.contains(&f.id) => f.mtime = Mt::Any,
                    _ => {}
                }
            }
        }
        forget_mtimes(&mut self.root, &held);
        self.orphans.clear();
        fn walk(d: &RDir, prefix: &str, out: &mut Vec<(String, Vec<Option<Vec<u8>>>)>) {
            for (name, n) in &d.entries {
                let p = join(prefix, name);
                match n {
                    RNode::Dir(d) => walk(d, &p, out),
                    RNode::File(f) if f.unsaved => out.push((p, f.durable.clone())),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }

    /// What the crash brought back for the uncertain file at `path`.
    fn settle(&mut self, path: &str, found: Option<Vec<u8>>) {
        let comps: Vec<&str> = path.split('/').collect();
        match found {
            None => {
                self.detach(&comps);
            }
            Some(data) => {
                let RNode::File(f) = self.get_mut(&comps) else {
                    unreachable!()
                };
                f.data = data.clone();
                f.unsaved = false;
                f.mtime = Mt::Any;
                f.durable = vec![Some(data)];
            }
        }
    }

    fn file_entry(&mut self, data: &[u8]) -> Entry {
        if let Some(e) = self.cids.get(data) {
            return *e;
        }
        let e = import_file(&NullStore, &self.opts, data, |_| {}).unwrap();
        self.cids.insert(data.to_vec(), e);
        e
    }

    fn entry(&mut self, n: &RNode) -> Entry {
        match n {
            RNode::File(f) => self.file_entry(&f.data),
            RNode::Link { target, .. } => {
                let (cid, bytes) = symlink_node(&self.opts, target);
                Entry {
                    cid,
                    size: 0,
                    tsize: bytes.len() as u64,
                }
            }
            RNode::Dir(d) => {
                let mut b = DirBuilder::default();
                for (name, c) in &d.entries {
                    let e = self.entry(c);
                    b.add(name.clone(), &e);
                }
                b.build(&NullStore, &self.opts).unwrap()
            }
        }
    }

    fn entry_at(&mut self, comps: &[&str]) -> Entry {
        let n = self.get(comps).unwrap().unwrap().clone();
        self.entry(&n)
    }

    fn root_entry(&mut self) -> Entry {
        let n = RNode::Dir(self.root.clone());
        self.entry(&n)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

// ---- the real tree ------------------------------------------------------

struct Real {
    dir: tempfile::TempDir,
    mfs: Option<Mfs>,
    /// Held handles (inodes), parallel to `Model::handles`.
    handles: Vec<Ino>,
    fast_path: bool,
}

fn open_mfs(dir: &Path) -> (Mfs, ImportOptions) {
    let (repo, _) = Repo::open_or_init(dir).unwrap();
    // `p2pfs add` with no flags: the repo's import options.
    let opts = repo.config.import_options();
    (Mfs::open(Arc::new(repo)).unwrap(), opts)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

type R<T> = Result<T, i32>;

fn no(e: MfsError) -> i32 {
    e.errno()
}

impl Real {
    fn new(fast_path: bool) -> (Real, ImportOptions) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            format!("[import]\nchunk_size = {CHUNK}\n"),
        )
        .unwrap();
        let (mfs, opts) = open_mfs(dir.path());
        (
            Real {
                dir,
                mfs: Some(mfs),
                handles: Vec::new(),
                fast_path,
            },
            opts,
        )
    }

    fn m(&self) -> &Mfs {
        self.mfs.as_ref().unwrap()
    }

    /// One call as the FUSE layer makes it: first without I/O, then again
    /// on the blocking pool if that would block.
    fn call<T>(&self, f: impl Fn(&Mfs) -> Result<T, MfsError>) -> R<T> {
        let m = self.m();
        if self.fast_path {
            match p2pfs::mfs::without_io(|| f(m)) {
                Err(MfsError::WouldBlock) => {}
                r => return r.map_err(no),
            }
        }
        f(m).map_err(no)
    }

    /// The parent directory's inode, looked up component by component.
    fn parent(&self, p: &P) -> R<(Ino, &'static str)> {
        let comps = p.comps();
        let (name, dirs) = comps.split_last().unwrap();
        let mut ino = ROOT;
        for c in dirs {
            let a = self.call(|m| m.lookup(ino, c))?;
            // The kernel's path walk: every component must be a directory.
            if a.kind != Kind::Directory {
                return Err(libc::ENOTDIR);
            }
            ino = a.ino;
        }
        Ok((ino, name))
    }

    fn lookup(&self, p: &P) -> R<Attr> {
        let (parent, name) = self.parent(p)?;
        self.call(|m| m.lookup(parent, name))
    }

    fn apply(&mut self, op: &Op<P>, model: &mut Model) -> Result<R<()>, TestCaseError> {
        Ok(match op {
            Op::Create {
                path,
                mode,
                excl,
                trunc,
                data,
                hold,
            } => (|| {
                let (parent, name) = self.parent(path)?;
                let a = self.call(|m| m.create(parent, name, mode.0, WHO, *excl, *trunc))?;
                let bytes = data.bytes();
                self.call(|m| m.write(a.ino, 0, &bytes, false))?;
                if *hold {
                    self.handles.push(a.ino);
                    Ok(())
                } else {
                    self.call(|m| m.release(a.ino))
                }
            })(),
            Op::Write { path, off, data } => (|| {
                let a = self.lookup(path)?;
                self.call(|m| m.open_file(a.ino, true, false))?;
                let bytes = data.bytes();
                self.call(|m| m.write(a.ino, *off as u64, &bytes, false))?;
                self.call(|m| m.release(a.ino))
            })(),
            Op::Truncate { path, size } => (|| {
                let a = self.lookup(path)?;
                self.call(|m| m.setattr(a.ino, &size_to(*size as u64)))
                    .map(|_| ())
            })(),
            Op::Open { path, trunc } => (|| {
                let a = self.lookup(path)?;
                self.call(|m| m.open_file(a.ino, true, *trunc))?;
                self.handles.push(a.ino);
                Ok(())
            })(),
            Op::HWrite { h, off, data } => {
                let ino = self.handles[model.handle(*h).unwrap()];
                let bytes = data.bytes();
                self.call(|m| m.write(ino, *off as u64, &bytes, false))
                    .map(|_| ())
            }
            Op::HTruncate { h, size } => {
                let ino = self.handles[model.handle(*h).unwrap()];
                self.call(|m| m.setattr(ino, &size_to(*size as u64))).map(|_| ())
            }
            Op::HFsync { h } => {
                let ino = self.handles[model.handle(*h).unwrap()];
                // fsync is not tried without I/O by the FUSE layer.
                self.m().fsync(ino).map_err(no)
            }
            Op::Close { h } => {
                let i = model.handle(*h).unwrap();
                let ino = self.handles.remove(i);
                self.call(|m| m.release(ino))
            }
            Op::Rename { from, to, noreplace } => (|| {
                let (p1, n1) = self.parent(from)?;
                let (p2, n2) = self.parent(to)?;
                self.call(|m| m.rename(p1, n1, p2, n2, *noreplace))
            })(),
            Op::Unlink { path } | Op::Rmdir { path } => (|| {
                let (parent, name) = self.parent(path)?;
                let dir = matches!(op, Op::Rmdir { .. });
                self.call(|m| m.unlink(parent, name, dir))
            })(),
            Op::Mkdir { path, mode } => (|| {
                let (parent, name) = self.parent(path)?;
                self.call(|m| m.mkdir(parent, name, mode.0, WHO)).map(|_| ())
            })(),
            Op::Symlink { path, target } => (|| {
                let (parent, name) = self.parent(path)?;
                self.call(|m| m.symlink(parent, name, target.as_bytes(), WHO))
                    .map(|_| ())
            })(),
            Op::Chmod { path, mode } => (|| {
                let a = self.lookup(path)?;
                self.call(|m| {
                    m.setattr(
                        a.ino,
                        &SetAttr {
                            mode: Some(mode.0),
                            ..Default::default()
                        },
                    )
                })
                .map(|_| ())
            })(),
            Op::Utimens { path, secs, nanos } => (|| {
                let a = self.lookup(path)?;
                let t = UNIX_EPOCH + Duration::new(*secs as u64, *nanos);
                self.call(|m| {
                    m.setattr(
                        a.ino,
                        &SetAttr {
                            mtime: Some(t),
                            ..Default::default()
                        },
                    )
                })
                .map(|_| ())
            })(),
            Op::Fsync { path } => (|| {
                let a = self.lookup(path)?;
                self.call(|m| m.open_file(a.ino, false, false))?;
                self.m().fsync(a.ino).map_err(no)?;
                self.call(|m| m.release(a.ino))
            })(),
            Op::Cid { path } => {
                let got = (|| {
                    let a = self.lookup(path)?;
                    self.call(|m| m.cid_of(a.ino))
                })();
                match got {
                    Ok(e) => {
                        let want = model.entry_at(&path.comps());
                        prop_assert_eq!(e.cid, want.cid, "CID of {:?}", path);
                        Ok(())
                    }
                    Err(x) => Err(x),
                }
            }
            Op::Checkpoint => match self.m().checkpoint() {
                Ok(cid) => {
                    if model.handles.is_empty() {
                        let want = model.root_entry();
                        prop_assert_eq!(cid, want.cid, "checkpoint root");
                    }
                    Ok(())
                }
                Err(e) => Err(no(e)),
            },
            Op::Crash { .. } => unreachable!("handled by the runner"),
        })
    }

    fn crash(&mut self, hard: bool) {
        self.handles.clear();
        if hard {
            // kill -9: what is on disk now is all the next process sees.
            let copy = tempfile::tempdir().unwrap();
            copy_dir(self.dir.path(), copy.path());
            self.mfs = None;
            self.dir = copy;
        } else {
            self.mfs = None;
        }
        self.mfs = Some(open_mfs(self.dir.path()).0);
    }

    fn read(&self, ino: Ino) -> R<Vec<u8>> {
        self.call(|m| m.run_read(m.plan_read(ino, 0, u32::MAX)?))
    }
}

// ---- comparing ----------------------------------------------------------

#[derive(Debug)]
struct Seen {
    ino: Ino,
    kind: Kind,
    mode: u32,
    mtime: SystemTime,
    size: u64,
    /// File bytes or symlink target.
    content: Vec<u8>,
}

fn walk_real(real: &Real, ino: Ino, prefix: &str, out: &mut BTreeMap<String, Seen>) -> Result<(), String> {
    let list = real
        .call(|m| m.readdir(ino))
        .map_err(|e| format!("readdir {prefix:?}: errno {e}"))?;
    for (name, child, kind, _) in list {
        let path = join(prefix, &name);
        let a = real
            .call(|m| m.getattr(child))
            .map_err(|e| format!("getattr {path:?}: errno {e}"))?;
        if a.kind != kind {
            return Err(format!("{path:?}: readdir says {kind:?}, getattr {:?}", a.kind));
        }
        let content = match kind {
            Kind::File => real
                .read(child)
                .map_err(|e| format!("read {path:?}: errno {e}"))?,
            Kind::Symlink => real
                .call(|m| m.readlink(child))
                .map_err(|e| format!("readlink {path:?}: errno {e}"))?,
            Kind::Directory => Vec::new(),
        };
        out.insert(
            path.clone(),
            Seen {
                ino: child,
                kind,
                mode: a.mode,
                mtime: a.mtime,
                size: a.size,
                content,
            },
        );
        if kind == Kind::Directory {
            walk_real(real, child, &path, out)?;
        }
    }
    Ok(())
}

fn walk_model<'a>(d: &'a RDir, prefix: &str, out: &mut BTreeMap<String, &'a RNode>) {
    for (name, n) in &d.entries {
        let p = join(prefix, name);
        out.insert(p.clone(), n);
        if let RNode::Dir(d) = n {
            walk_model(d, &p, out);
        }
    }
}

fn short(b: &[u8]) -> String {
    if b.len() <= 32 {
        format!("{b:?}")
    } else {
        format!("{} bytes", b.len())
    }
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!("lengths {} vs {}, first difference at byte {i}", a.len(), b.len())
}

/// The whole tree, attribute by attribute, and the CIDs of files nobody
/// holds open (and of the root when no handle is held).
fn compare(real: &Real, model: &mut Model) -> Result<(), TestCaseError> {
    let mut seen = BTreeMap::new();
    walk_real(real, ROOT, "", &mut seen).map_err(TestCaseError::fail)?;
    let mut want = BTreeMap::new();
    walk_model(&model.root, "", &mut want);
    let (sk, wk): (Vec<_>, Vec<_>) = (seen.keys().collect(), want.keys().collect());
    prop_assert_eq!(sk, wk, "paths (mfs, then reference)");
    let mut cids = Vec::new();
    for (path, s) in &seen {
        let w = want[path];
        prop_assert_eq!(s.kind, w.kind(), "kind of {:?}", path);
        let (mode, mtime) = match w {
            RNode::Dir(d) => (d.mode, d.mtime),
            RNode::File(f) => {
                prop_assert!(
                    s.content == f.data,
                    "bytes of {:?}: mfs {} / reference {}: {}",
                    path,
                    short(&s.content),
                    short(&f.data),
                    first_diff(&s.content, &f.data)
                );
                prop_assert_eq!(s.size, f.data.len() as u64, "size of {:?}", path);
                if !model.held(f.id) {
                    cids.push((path.clone(), s.ino, f.data.clone()));
                }
                (f.mode, f.mtime)
            }
            RNode::Link { target, mode, mtime } => {
                prop_assert_eq!(&s.content, target, "target of {:?}", path);
                (*mode, *mtime)
            }
        };
        prop_assert_eq!(
            format!("{:o}", s.mode),
            format!("{:o}", mode),
            "mode of {:?}",
            path
        );
        prop_assert!(
            mtime.admits(s.mtime),
            "mtime of {:?}: mfs {:?}, reference {:?}",
            path,
            s.mtime.duration_since(UNIX_EPOCH),
            mtime
        );
    }
    for (path, ino, data) in cids {
        let got = real
            .call(|m| m.cid_of(ino))
            .map_err(|e| TestCaseError::fail(format!("cid_of {path:?}: {e}")))?;
        let want = model.file_entry(&data);
        prop_assert_eq!(got.cid, want.cid, "CID of {:?}", path);
        prop_assert_eq!(got.tsize, want.tsize, "tsize of {:?}", path);
    }
    if model.handles.is_empty() {
        let got = real
            .call(|m| m.cid_of(ROOT))
            .map_err(|e| TestCaseError::fail(format!("cid_of root: {e}")))?;
        let want = model.root_entry();
        prop_assert_eq!(got.cid, want.cid, "root CID");
    }
    Ok(())
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut trace = Vec::new();
    run_traced(case, &mut trace).map_err(|e| {
        let mut msg = format!("{e}\nthe sequence with paths resolved:\n");
        for (i, op) in trace.iter().enumerate() {
            msg += &format!("  {i}: {op}\n");
        }
        TestCaseError::fail(msg)
    })
}

fn run_traced(case: &Case, trace: &mut Vec<String>) -> Result<(), TestCaseError> {
    let (mut real, opts) = Real::new(case.fast_path);
    let mut model = Model::new(opts);
    for (step, op) in case.ops.iter().enumerate() {
        let op = &op.resolve(&model);
        trace.push(format!("{op:?}"));
        let ctx = |e: TestCaseError| TestCaseError::fail(format!("step {step} {op:?}: {e}"));
        if let Op::Crash { hard } = op {
            if case.sparse_checks {
                compare(&real, &mut model)
                    .map_err(|e| TestCaseError::fail(format!("before step {step}: {e}")))?;
            }
            let uncertain = model.crash();
            real.crash(*hard);
            // Files open at the crash: one of the allowed versions, or gone
            // if allowed. (Only their paths are looked up: the rest of the
            // tree stays unloaded for the next operation.)
            for (path, allowed) in uncertain {
                let p = P(path
                    .split('/')
                    .map(|c| NAMES.iter().position(|n| *n == c).unwrap() as u8)
                    .collect());
                let found = match real.lookup(&p) {
                    Err(libc::ENOENT) => None,
                    Err(e) => return Err(ctx(TestCaseError::fail(format!("lookup {path:?}: errno {e}")))),
                    Ok(a) if a.kind == Kind::File => Some(
                        real.read(a.ino)
                            .map_err(|e| ctx(TestCaseError::fail(format!("read {path:?}: {e}"))))?,
                    ),
                    Ok(a) => {
                        return Err(ctx(TestCaseError::fail(format!(
                            "{path:?} came back as a {:?}",
                            a.kind
                        ))));
                    }
                };
                prop_assert!(
                    allowed.contains(&found),
                    "step {} {:?}: file {:?} open at the crash came back as {:?}, allowed: {:?}",
                    step,
                    op,
                    path,
                    found.as_deref().map(short),
                    allowed
                        .iter()
                        .map(|a| a.as_deref().map(short))
                        .collect::<Vec<_>>()
                );
                model.settle(&path, found);
            }
            continue;
        }
        let expect = model.expect(op);
        if expect == Expect::Skip {
            continue;
        }
        let t0 = SystemTime::now();
        let got = real.apply(op, &mut model).map_err(ctx)?;
        let t1 = SystemTime::now();
        if std::env::var("MFS_STATS").is_ok() {
            let k = format!("{op:?}").split([' ', '{']).next().unwrap().to_string();
            eprintln!("STAT {k} {}", if got.is_ok() { "ok" } else { "err" });
        }
        match (&expect, got) {
            (Expect::Ok, Ok(())) => model.apply(op, t0, t1),
            (Expect::Err(want), Err(e)) if want.contains(&e) => {}
            (_, got) => {
                return Err(ctx(TestCaseError::fail(format!(
                    "mfs gave {:?}, reference expects {:?}",
                    got.map_err(|e| std::io::Error::from_raw_os_error(e).to_string()),
                    expect
                ))));
            }
        }
        if !case.sparse_checks {
            compare(&real, &mut model).map_err(ctx)?;
        }
    }
    compare(&real, &mut model).map_err(|e| TestCaseError::fail(format!("at the end: {e}")))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

// ---- the bugs the model found, as minimal sequences ------------------------

fn lit(path: &str) -> Sel {
    Sel::Lit(P(path
        .split('/')
        .map(|c| NAMES.iter().position(|n| *n == c).unwrap() as u8)
        .collect()))
}

fn create(path: &str, len: u32, hold: bool) -> Op {
    Op::Create {
        path: lit(path),
        mode: Mode(0o600),
        excl: false,
        trunc: false,
        data: D { len, seed: 1 },
        hold,
    }
}

fn check(fast_path: bool, ops: Vec<Op>) {
    let case = Case {
        fast_path,
        sparse_checks: false,
        ops,
    };
    if let Err(e) = run(&case) {
        panic!("{e}");
    }
}

/// A symlink's mtime was journaled as 0: after a restart it was 1970.
#[test]
fn symlink_mtime_survives_a_restart() {
    check(
        false,
        vec![
            Op::Symlink {
                path: lit("a"),
                target: "b".into(),
            },
            Op::Crash { hard: true },
        ],
    );
}

/// Metadata of a directory's children was read from the store under the
/// directory's current path, not the one it was saved under: after a
/// checkpoint and a rename of the (not yet loaded) directory, they lost
/// their mode and mtime.
#[test]
fn children_of_a_renamed_directory_keep_their_metadata() {
    check(
        false,
        vec![
            Op::Mkdir {
                path: lit("b"),
                mode: Mode(0o700),
            },
            Op::Mkdir {
                path: lit("b/a"),
                mode: Mode(0o700),
            },
            create("b/b", 3, false),
            Op::Checkpoint,
            Op::Crash { hard: true },
            Op::Rename {
                from: lit("b"),
                to: lit("a"),
                noreplace: false,
            },
        ],
    );
}

/// truncate(2) of a closed file was neither journaled nor given a new
/// mtime: a crash undid it.
#[test]
fn truncate_of_a_closed_file_is_saved() {
    check(
        false,
        vec![
            create("a", 10, false),
            Op::Truncate {
                path: lit("a"),
                size: 3,
            },
            Op::Crash { hard: true },
        ],
    );
}

/// A CID asked of an open file (getfattr, `files stat`) marked its content
/// clean, so its close journaled nothing: a crash lost a closed file.
#[test]
fn cid_of_an_open_file_does_not_skip_its_save() {
    check(
        false,
        vec![
            create("a", 10, true),
            Op::Cid { path: lit("a") },
            Op::Close { h: 0 },
            Op::Crash { hard: true },
        ],
    );
}

/// Likewise a checkpoint while a file is open: its close then kept the old
/// mtime.
#[test]
fn close_after_a_checkpoint_sets_the_mtime() {
    check(
        false,
        vec![
            create("a", 10, true),
            // (a change, or the checkpoint has nothing to save)
            Op::Mkdir {
                path: lit("b"),
                mode: Mode(0o755),
            },
            Op::Checkpoint,
            Op::Close { h: 0 },
        ],
    );
}

/// A file still open at a checkpoint is in the saved root, but its mode and
/// mtime were not saved: after a crash it was 0644 and dated 1970.
#[test]
fn open_file_in_a_checkpoint_keeps_its_metadata() {
    check(
        false,
        vec![
            create("a", 10, true),
            Op::Mkdir {
                path: lit("b"),
                mode: Mode(0o755),
            },
            Op::Checkpoint,
            Op::Crash { hard: true },
        ],
    );
}

/// renameat2(RENAME_NOREPLACE) onto itself succeeded; Linux says EEXIST.
#[test]
fn rename_noreplace_onto_itself_fails() {
    check(
        false,
        vec![
            Op::Mkdir {
                path: lit("a"),
                mode: Mode(0o755),
            },
            Op::Rename {
                from: lit("a"),
                to: lit("a"),
                noreplace: true,
            },
        ],
    );
}

/// A never-closed file renamed over a closed one: the replay skipped the
/// rename (its source was never journaled) and the replaced file came back.
#[test]
fn a_replaced_file_stays_gone_after_a_crash() {
    check(
        false,
        vec![
            create("b", 10, false),
            create("a", 5, true),
            Op::Rename {
                from: lit("a"),
                to: lit("b"),
                noreplace: false,
            },
            Op::Crash { hard: true },
        ],
    );
}

/// open(O_TRUNC) tried without I/O counted the handle, then would block;
/// the retry counted it again, so the file stayed "open" after its close
/// (and a later truncate(2) was not saved).
#[test]
fn open_trunc_retried_counts_one_handle() {
    check(
        true,
        vec![
            create("a", 10, false),
            Op::Open {
                path: lit("a"),
                trunc: true,
            },
            Op::Close { h: 0 },
            Op::Truncate {
                path: lit("a"),
                size: 1,
            },
            Op::Crash { hard: true },
        ],
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mfs_matches_reference(case in case_s()) {
        run(&case)?;
    }
}
