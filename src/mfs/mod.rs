//! The writable tree (Kubo's MFS): directories, files and symlinks held as
//! inodes over UnixFS DAGs, loaded lazily, changed in memory, and saved as a
//! new root CID at checkpoints. Between checkpoints every change goes to the
//! journal, so a file is safe once it is closed. POSIX mode/mtime live in the
//! store's metadata table, not in the DAG: the same bytes keep the same CID.

pub mod file;
pub mod journal;

use crate::block::{BlockGet, BlockPut};
use crate::repo::Repo;
use crate::store::{FileMeta, MetaChange};
use crate::unixfs::dir::DirBuilder;
use crate::unixfs::importer::{Entry, ImportOptions, symlink_node};
use crate::unixfs::resolve::{Kind, Node, for_each_entry};
use cid::Cid;
use file::{FileContent, Segment};
use journal::{Journal, Op};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Ino = u64;
/// Inode number of the tree's root (the FUSE layer maps `files/` to it).
pub const ROOT: Ino = 3;
const FIRST_INO: Ino = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MfsError {
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("not a directory: {0}")]
    NotDir(String),
    #[error("is a directory: {0}")]
    IsDir(String),
    #[error("directory not empty: {0}")]
    NotEmpty(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Growing a file past [`file::MAX_FILE_SIZE`] (`EFBIG`).
    #[error("file too large: {0} bytes (the limit is {max})", max = file::MAX_FILE_SIZE)]
    TooBig(u64),
    #[error(transparent)]
    Unixfs(#[from] crate::unixfs::Error),
    #[error("journal: {0}")]
    Journal(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Only under [`without_io`]: the operation needs the disk (or a busy
    /// lock); run it again where blocking is fine.
    #[error("operation would block")]
    WouldBlock,
}

impl MfsError {
    pub fn errno(&self) -> i32 {
        match self {
            MfsError::NotFound(_) => libc::ENOENT,
            MfsError::Exists(_) => libc::EEXIST,
            MfsError::NotDir(_) => libc::ENOTDIR,
            MfsError::IsDir(_) => libc::EISDIR,
            MfsError::NotEmpty(_) => libc::ENOTEMPTY,
            MfsError::Invalid(_) => libc::EINVAL,
            MfsError::TooBig(_) => libc::EFBIG,
            MfsError::WouldBlock => libc::EAGAIN,
            _ => libc::EIO,
        }
    }
}

type Result<T> = std::result::Result<T, MfsError>;

thread_local! {
    static NO_IO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` in no-I/O mode: any step that would read the disk, hash a large
/// file or wait for the tree lock fails with [`MfsError::WouldBlock`]
/// instead. FUSE threads answer cheap requests this way without a thread
/// hand-off, and hand the rest to the blocking pool.
pub fn without_io<T>(f: impl FnOnce() -> T) -> T {
    NO_IO.with(|c| c.set(true));
    let r = f();
    NO_IO.with(|c| c.set(false));
    r
}

fn no_io() -> bool {
    NO_IO.with(|c| c.get())
}

/// Whether the caller runs under [`without_io`] (other views check it too).
pub fn io_forbidden() -> bool {
    no_io()
}

/// Files up to this size are flushed (hashed and stored) in no-I/O mode.
const SMALL_FILE: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub mtime: SystemTime,
}

enum Body {
    Dir {
        entries: Option<BTreeMap<String, Ino>>,
        cached: Option<Entry>,
    },
    File {
        entry: Entry,
        content: Option<Box<FileContent>>,
        open: u32,
        /// Changed since its content was last journaled (close, fsync):
        /// not the same as `content` being unflushed, since computing a CID
        /// (`cid_of`, a checkpoint) flushes without journaling.
        unsaved: bool,
    },
    Symlink(Vec<u8>),
    /// Known only by its link in the parent: loaded on first use.
    Unresolved(Entry),
}

struct MNode {
    parent: Ino,
    name: String,
    meta: Option<FileMeta>,
    body: Body,
}

struct State {
    nodes: HashMap<Ino, MNode>,
    next_ino: Ino,
    journal: Journal,
    generation: u64,
    /// Ops since the last checkpoint (also in the journal).
    ops: Vec<Op>,
}

pub struct Mfs {
    repo: Arc<Repo>,
    opts: ImportOptions,
    state: Mutex<State>,
    nodes: crate::unixfs::resolve::NodeCache,
}

fn now_meta(mode: u32) -> FileMeta {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    FileMeta {
        mode,
        secs: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    }
}

fn default_mode(kind: Kind) -> u32 {
    match kind {
        Kind::Directory => 0o755,
        Kind::File => 0o644,
        Kind::Symlink => 0o777,
    }
}

fn valid_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(MfsError::Invalid(format!("bad name {name:?}")));
    }
    Ok(())
}

impl Mfs {
    /// Loads the tree from the repo: the saved root, then the journal.
    pub fn open(repo: Arc<Repo>) -> Result<Mfs> {
        let cfg = &repo.config.import;
        let opts = ImportOptions {
            chunk_size: cfg.chunk_size,
            raw_leaves: cfg.raw_leaves,
            cid_version: cfg.cid_version,
            ..Default::default()
        };
        let (root, generation) = match repo.store.files_root()? {
            Some((cid, g)) => (Some(cid), g),
            None => (None, 0),
        };
        let (journal, ops) =
            Journal::open(&repo.path.join("files.journal"), generation).map_err(MfsError::Journal)?;
        let root_body = match root {
            Some(cid) => Body::Unresolved(Entry {
                cid,
                size: 0,
                tsize: 0,
            }),
            None => Body::Dir {
                entries: Some(BTreeMap::new()),
                cached: None,
            },
        };
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            MNode {
                parent: ROOT,
                name: String::new(),
                meta: None,
                body: root_body,
            },
        );
        let mfs = Mfs {
            repo,
            opts,
            state: Mutex::new(State {
                nodes,
                next_ino: FIRST_INO,
                journal,
                generation,
                ops: Vec::new(),
            }),
            nodes: Default::default(),
        };
        {
            let mut st = mfs.lock()?;
            let n = ops.len();
            for op in ops {
                if let Err(e) = mfs.replay(&mut st, &op) {
                    tracing::warn!("journal entry {op:?} could not be replayed: {e}");
                }
                st.ops.push(op);
            }
            if n > 0 {
                tracing::info!(changes = n, "replayed the files/ journal");
            }
        }
        Ok(mfs)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        if no_io() {
            return match self.state.try_lock() {
                Ok(g) => Ok(g),
                Err(std::sync::TryLockError::Poisoned(e)) => Ok(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => Err(MfsError::WouldBlock),
            };
        }
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn store(&self) -> &crate::store::Store {
        &self.repo.store
    }

    // ---- loading -------------------------------------------------------

    /// Turns an Unresolved node into what it is.
    fn resolve(&self, st: &mut State, ino: Ino) -> Result<()> {
        let entry = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Unresolved(e)) => *e,
            Some(_) => return Ok(()),
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        };
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        let node = Node::load(self.store(), &entry.cid)?;
        let body = match node.kind() {
            Kind::Directory => Body::Dir {
                entries: None,
                cached: Some(entry),
            },
            Kind::Symlink => Body::Symlink(node.symlink_target().unwrap_or_default().to_vec()),
            Kind::File => Body::File {
                entry: Entry {
                    size: node.size(),
                    ..entry
                },
                content: None,
                open: 0,
                unsaved: false,
            },
        };
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.body = body;
        }
        Ok(())
    }

    /// Makes sure a directory's entries are in memory.
    fn load_dir(&self, st: &mut State, ino: Ino) -> Result<()> {
        self.resolve(st, ino)?;
        let cid = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(_), .. }) => return Ok(()),
            Some(Body::Dir {
                entries: None,
                cached: Some(e),
            }) => e.cid,
            Some(_) => return Err(MfsError::NotDir(self.path(st, ino))),
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        };
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        let node = Node::load(self.store(), &cid)?;
        let mut children = Vec::new();
        for_each_entry(self.store(), &cid, &node, &mut |name, c, tsize| {
            children.push((name.to_string(), c, tsize.unwrap_or(0)));
            Ok(())
        })?;
        // Metadata is saved by path at checkpoints: look it up where this
        // directory was then, not where it is now.
        let saved_dir = saved_path(&st.ops, &self.path(st, ino));
        let mut entries = BTreeMap::new();
        for (name, c, tsize) in children {
            let child = st.next_ino;
            st.next_ino += 1;
            let meta = match &saved_dir {
                Some(d) => self.store().files_meta(&join(d, &name))?,
                None => None,
            };
            st.nodes.insert(
                child,
                MNode {
                    parent: ino,
                    name: name.clone(),
                    meta,
                    body: Body::Unresolved(Entry {
                        cid: c,
                        size: 0,
                        tsize,
                    }),
                },
            );
            entries.insert(name, child);
        }
        if let Some(MNode {
            body: Body::Dir { entries: e, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *e = Some(entries);
        }
        Ok(())
    }

    fn path(&self, st: &State, mut ino: Ino) -> String {
        let mut parts = Vec::new();
        while ino != ROOT {
            match st.nodes.get(&ino) {
                Some(n) => {
                    parts.push(n.name.clone());
                    ino = n.parent;
                }
                None => break,
            }
        }
        parts.reverse();
        parts.join("/")
    }

    fn child(&self, st: &mut State, parent: Ino, name: &str) -> Result<Option<Ino>> {
        self.load_dir(st, parent)?;
        match st.nodes.get(&parent).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(e), .. }) => Ok(e.get(name).copied()),
            _ => Err(MfsError::NotDir(self.path(st, parent))),
        }
    }

    fn attr_of(&self, st: &mut State, ino: Ino) -> Result<Attr> {
        self.resolve(st, ino)?;
        let n = st
            .nodes
            .get(&ino)
            .ok_or_else(|| MfsError::NotFound(format!("inode {ino}")))?;
        let (kind, size) = match &n.body {
            Body::Dir { .. } => (Kind::Directory, 0),
            Body::File { entry, content, .. } => {
                (Kind::File, content.as_ref().map_or(entry.size, |c| c.size()))
            }
            Body::Symlink(t) => (Kind::Symlink, t.len() as u64),
            Body::Unresolved(_) => unreachable!("resolved above"),
        };
        let meta = n.meta.unwrap_or(FileMeta {
            mode: default_mode(kind),
            secs: 0,
            nanos: 0,
        });
        Ok(Attr {
            ino,
            kind,
            size,
            mode: meta.mode & 0o7777,
            mtime: UNIX_EPOCH + Duration::new(meta.secs.max(0) as u64, meta.nanos.min(999_999_999)),
        })
    }

    // ---- changes ---------------------------------------------------------

    fn log(&self, st: &mut State, op: Op) -> Result<()> {
        st.journal.append(&op).map_err(MfsError::Journal)?;
        st.ops.push(op);
        Ok(())
    }

    /// Marks `ino` and its ancestors as changed (their CIDs must be recomputed).
    fn touch(st: &mut State, mut ino: Ino) {
        loop {
            let Some(n) = st.nodes.get_mut(&ino) else { return };
            if let Body::Dir { cached, .. } = &mut n.body {
                *cached = None;
            }
            if ino == ROOT {
                return;
            }
            ino = n.parent;
        }
    }

    fn set_meta(&self, st: &mut State, ino: Ino, meta: FileMeta) -> Result<()> {
        let path = self.path(st, ino);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.meta = Some(meta);
        }
        self.log(
            st,
            Op::Meta {
                path,
                mode: meta.mode,
                secs: meta.secs,
                nanos: meta.nanos,
            },
        )
    }

    fn insert(
        &self,
        st: &mut State,
        parent: Ino,
        name: &str,
        body: Body,
        meta: Option<FileMeta>,
    ) -> Result<Ino> {
        let ino = st.next_ino;
        st.next_ino += 1;
        st.nodes.insert(
            ino,
            MNode {
                parent,
                name: name.to_string(),
                meta,
                body,
            },
        );
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&parent)
        {
            e.insert(name.to_string(), ino);
        }
        Self::touch(st, parent);
        Ok(ino)
    }

    /// Detaches `ino` from its parent; an open file lives on until released.
    fn detach(&self, st: &mut State, ino: Ino) {
        let Some(n) = st.nodes.get(&ino) else { return };
        let (parent, name) = (n.parent, n.name.clone());
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&parent)
        {
            e.remove(&name);
        }
        Self::touch(st, parent);
        let open =
            matches!(st.nodes.get(&ino), Some(MNode { body: Body::File { open, .. }, .. }) if *open > 0);
        if open {
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.parent = 0;
            }
        } else {
            self.forget_tree(st, ino);
        }
    }

    fn forget_tree(&self, st: &mut State, ino: Ino) {
        if let Some(n) = st.nodes.remove(&ino)
            && let Body::Dir { entries: Some(e), .. } = n.body
        {
            for c in e.values() {
                self.forget_tree(st, *c);
            }
        }
    }

    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Attr> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        self.attr_of(&mut st, ino)
    }

    pub fn getattr(&self, ino: Ino) -> Result<Attr> {
        let mut st = self.lock()?;
        self.attr_of(&mut st, ino)
    }

    /// Entries of a directory: (name, ino, kind).
    pub fn readdir(&self, ino: Ino) -> Result<Vec<(String, Ino, Kind)>> {
        let mut st = self.lock()?;
        self.load_dir(&mut st, ino)?;
        let list: Vec<(String, Ino)> = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(e), .. }) => e.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            _ => return Err(MfsError::NotDir(self.path(&st, ino))),
        };
        let mut out = Vec::with_capacity(list.len());
        for (name, child) in list {
            let kind = self.attr_of(&mut st, child)?.kind;
            out.push((name, child, kind));
        }
        Ok(out)
    }

    pub fn parent_of(&self, ino: Ino) -> Ino {
        self.lock()
            .map_or(ROOT, |st| st.nodes.get(&ino).map_or(ROOT, |n| n.parent))
    }

    pub fn create(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        exclusive: bool,
        truncate: bool,
    ) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if let Some(existing) = self.child(&mut st, parent, name)? {
            if exclusive {
                return Err(MfsError::Exists(name.to_string()));
            }
            drop(st);
            self.open_file(existing, true, truncate)?;
            return self.getattr(existing);
        }
        let content = FileContent::empty(self.opts);
        let body = Body::File {
            entry: Entry {
                cid: Cid::default(),
                size: 0,
                tsize: 0,
            },
            content: Some(Box::new(content)),
            open: 1,
            unsaved: true,
        };
        // Nothing is journaled yet: the file is saved when it is closed.
        let ino = self.insert(&mut st, parent, name, body, Some(now_meta(mode & 0o7777)))?;
        self.attr_of(&mut st, ino)
    }

    /// Opens a file: counts the handle, truncates if asked.
    pub fn open_file(&self, ino: Ino, write: bool, truncate: bool) -> Result<()> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { .. }) => {}
            Some(Body::Dir { .. }) if write => return Err(MfsError::IsDir(format!("inode {ino}"))),
            Some(_) => return Ok(()),
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        // Truncate first: under `without_io` it may fail with WouldBlock,
        // and the call is then made again; the handle must be counted once.
        if truncate {
            self.with_content(&mut st, ino, |c, s| Ok(c.truncate(s, 0)?))?;
        }
        if let Some(MNode {
            body: Body::File { open, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *open += 1;
        }
        Ok(())
    }

    fn with_content<T>(
        &self,
        st: &mut State,
        ino: Ino,
        f: impl FnOnce(&mut FileContent, &crate::store::Store) -> Result<T>,
    ) -> Result<T> {
        self.resolve(st, ino)?;
        let store = self.store();
        let (entry, content) = file_parts(st, ino)?;
        if content.is_none() {
            if no_io() {
                return Err(MfsError::WouldBlock);
            }
            *content = Some(Box::new(FileContent::from_entry(store, self.opts, *entry)?));
        }
        let c = content.as_mut().ok_or(MfsError::Invalid("no content".into()))?;
        let r = f(c, store)?;
        if c.is_clean().is_none() {
            if let Some(MNode {
                body: Body::File { unsaved, .. },
                ..
            }) = st.nodes.get_mut(&ino)
            {
                *unsaved = true;
            }
            Self::touch(st, ino);
        }
        Ok(r)
    }

    pub fn write(&self, ino: Ino, offset: u64, data: &[u8], append: bool) -> Result<u32> {
        let mut st = self.lock()?;
        if no_io() {
            // In memory only: a small file whose bytes are all in memory.
            let cheap = matches!(st.nodes.get(&ino), Some(MNode { body: Body::File { content: Some(c), .. }, .. })
                if c.in_memory() && c.size().max(offset.saturating_add(data.len() as u64)) <= SMALL_FILE);
            if !cheap {
                return Err(MfsError::WouldBlock);
            }
        }
        self.with_content(&mut st, ino, |c, s| {
            let off = if append { c.size() } else { offset };
            let end = off.saturating_add(data.len() as u64);
            if !data.is_empty() && c.too_big(end) {
                return Err(MfsError::TooBig(end));
            }
            Ok(c.write(s, off, data)?)
        })?;
        Ok(data.len() as u32)
    }

    /// What a read needs, planned under the lock; run it with [`Mfs::run_read`].
    pub fn plan_read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<Segment>> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { content: Some(c), .. }) => Ok(c.plan_read(offset, size as u64)),
            Some(Body::File { entry, .. }) => {
                let len = (size as u64).min(entry.size.saturating_sub(offset));
                Ok(vec![Segment::Block {
                    cid: entry.cid,
                    offset,
                    len,
                }])
            }
            Some(_) => Err(MfsError::IsDir(format!("inode {ino}"))),
            None => Err(MfsError::NotFound(format!("inode {ino}"))),
        }
    }

    pub fn run_read(&self, plan: Vec<Segment>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if let [Segment::Block { cid, offset, len }] = plan.as_slice() {
            // The common case: one range of one DAG, read without a copy.
            return Ok(crate::unixfs::reader::read_range_owned(
                self.store(),
                Some(&self.nodes),
                cid,
                *offset,
                *len,
            )?);
        }
        file::read_plan(self.store(), Some(&self.nodes), plan, &mut out)?;
        Ok(out)
    }

    /// Computes a changed file's DAG (storing its blocks) and returns its root.
    fn flush_file(&self, st: &mut State, ino: Ino) -> Result<Entry> {
        let store = self.store();
        let (entry, content) = file_parts(st, ino)?;
        if let Some(c) = content.as_mut() {
            if no_io() && c.is_clean().is_none() && !(c.in_memory() && c.size() <= SMALL_FILE) {
                return Err(MfsError::WouldBlock);
            }
            *entry = c.flush(store)?;
        }
        Ok(*entry)
    }

    /// close(2) of a file: its content is saved and journaled, so a killed
    /// daemon keeps it.
    pub fn flush(&self, ino: Ino) -> Result<()> {
        let mut st = self.lock()?;
        self.save_file(&mut st, ino)
    }

    /// Journals file `ino`'s content (with a new mtime) if it changed since
    /// it was last journaled.
    fn save_file(&self, st: &mut State, ino: Ino) -> Result<()> {
        let dirty = matches!(
            st.nodes.get(&ino),
            Some(MNode {
                body: Body::File { unsaved: true, .. },
                ..
            })
        );
        if !dirty {
            return Ok(());
        }
        let entry = self.flush_file(st, ino)?;
        if st.nodes.get(&ino).is_some_and(|n| n.parent != 0) {
            let path = self.path(st, ino);
            // Modified now: content and new mtime go in one journal line.
            let mode = st.nodes.get(&ino).and_then(|n| n.meta).map_or(0o644, |m| m.mode);
            let meta = now_meta(mode);
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.meta = Some(meta);
            }
            let m = Some((meta.mode, meta.secs, meta.nanos));
            self.log(
                st,
                Op::Put {
                    path,
                    cid: entry.cid.to_string(),
                    tsize: entry.tsize,
                    meta: m,
                },
            )?;
        }
        if let Some(MNode {
            body: Body::File { unsaved, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *unsaved = false;
        }
        Ok(())
    }

    /// Last close of a handle.
    pub fn release(&self, ino: Ino) -> Result<()> {
        self.flush(ino)?;
        let mut st = self.lock()?;
        let mut orphan = false;
        if let Some(n) = st.nodes.get_mut(&ino)
            && let Body::File { open, content, .. } = &mut n.body
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                // Keep memory small: the DAG holds the content now.
                *content = None;
                orphan = n.parent == 0;
            }
        }
        if orphan {
            st.nodes.remove(&ino);
        }
        Ok(())
    }

    /// fsync(2): the file and the journal reach the disk.
    pub fn fsync(&self, ino: Ino) -> Result<()> {
        self.flush(ino)?;
        self.store().commit()?;
        self.lock()?.journal.sync().map_err(MfsError::Journal)
    }

    pub fn setattr(
        &self,
        ino: Ino,
        size: Option<u64>,
        mode: Option<u32>,
        mtime: Option<SystemTime>,
    ) -> Result<Attr> {
        let mut st = self.lock()?;
        if let Some(size) = size {
            self.with_content(&mut st, ino, |c, s| {
                if c.too_big(size) {
                    return Err(MfsError::TooBig(size));
                }
                Ok(c.truncate(s, size)?)
            })?;
            // truncate(2) of a file nobody has open: no close will save it.
            if let Some(MNode {
                body: Body::File { open: 0, .. },
                ..
            }) = st.nodes.get(&ino)
            {
                self.save_file(&mut st, ino)?;
                if let Some(MNode {
                    body: Body::File { content, .. },
                    ..
                }) = st.nodes.get_mut(&ino)
                {
                    *content = None;
                }
            }
        }
        if mode.is_some() || mtime.is_some() {
            let cur = self.attr_of(&mut st, ino)?;
            let t = mtime
                .unwrap_or(cur.mtime)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let meta = FileMeta {
                mode: mode.unwrap_or(cur.mode) & 0o7777,
                secs: t.as_secs() as i64,
                nanos: t.subsec_nanos(),
            };
            self.set_meta(&mut st, ino, meta)?;
        }
        self.attr_of(&mut st, ino)
    }

    pub fn mkdir(&self, parent: Ino, name: &str, mode: u32) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let body = Body::Dir {
            entries: Some(BTreeMap::new()),
            cached: None,
        };
        let meta = now_meta(mode & 0o7777);
        let ino = self.insert(&mut st, parent, name, body, Some(meta))?;
        let path = self.path(&st, ino);
        self.log(&mut st, Op::Mkdir { path })?;
        self.set_meta(&mut st, ino, meta)?;
        self.attr_of(&mut st, ino)
    }

    pub fn symlink(&self, parent: Ino, name: &str, target: &[u8]) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let (cid, bytes) = symlink_node(&self.opts, target);
        self.store().put_block(&cid, &bytes)?;
        let meta = now_meta(0o777);
        let ino = self.insert(&mut st, parent, name, Body::Symlink(target.to_vec()), Some(meta))?;
        let path = self.path(&st, ino);
        // The mtime given to the link, not 0: a replay or a checkpoint must
        // keep what stat showed.
        self.log(
            &mut st,
            Op::Put {
                path,
                cid: cid.to_string(),
                tsize: bytes.len() as u64,
                meta: Some((meta.mode, meta.secs, meta.nanos)),
            },
        )?;
        self.attr_of(&mut st, ino)
    }

    pub fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Symlink(t)) => Ok(t.clone()),
            _ => Err(MfsError::Invalid("not a symlink".into())),
        }
    }

    /// Removes an entry whatever it is, a non-empty directory included.
    pub fn remove_tree(&self, parent: Ino, name: &str) -> Result<()> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        let path = self.path(&st, ino);
        self.detach(&mut st, ino);
        self.log(&mut st, Op::Remove { path })
    }

    pub fn unlink(&self, parent: Ino, name: &str, dir: bool) -> Result<()> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        let kind = self.attr_of(&mut st, ino)?.kind;
        match (dir, kind) {
            (true, Kind::Directory) => {
                self.load_dir(&mut st, ino)?;
                if matches!(st.nodes.get(&ino).map(|n| &n.body), Some(Body::Dir { entries: Some(e), .. }) if !e.is_empty())
                {
                    return Err(MfsError::NotEmpty(name.to_string()));
                }
            }
            (true, _) => return Err(MfsError::NotDir(name.to_string())),
            (false, Kind::Directory) => return Err(MfsError::IsDir(name.to_string())),
            (false, _) => {}
        }
        let path = self.path(&st, ino);
        self.detach(&mut st, ino);
        self.log(&mut st, Op::Remove { path })
    }

    pub fn rename(
        &self,
        parent: Ino,
        name: &str,
        newparent: Ino,
        newname: &str,
        noreplace: bool,
    ) -> Result<()> {
        valid_name(newname)?;
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        // A directory cannot move into itself.
        let mut p = newparent;
        while p != ROOT {
            if p == ino {
                return Err(MfsError::Invalid("cannot move a directory into itself".into()));
            }
            p = st.nodes.get(&p).map_or(ROOT, |n| n.parent);
        }
        let kind = self.attr_of(&mut st, ino)?.kind;
        if let Some(target) = self.child(&mut st, newparent, newname)? {
            // As renameat2(2): RENAME_NOREPLACE fails even onto itself.
            if noreplace {
                return Err(MfsError::Exists(newname.to_string()));
            }
            if target == ino {
                return Ok(());
            }
            let tkind = self.attr_of(&mut st, target)?.kind;
            match (kind == Kind::Directory, tkind == Kind::Directory) {
                (true, false) => return Err(MfsError::NotDir(newname.to_string())),
                (false, true) => return Err(MfsError::IsDir(newname.to_string())),
                (true, true) => {
                    self.load_dir(&mut st, target)?;
                    if matches!(st.nodes.get(&target).map(|n| &n.body), Some(Body::Dir { entries: Some(e), .. }) if !e.is_empty())
                    {
                        return Err(MfsError::NotEmpty(newname.to_string()));
                    }
                }
                _ => {}
            }
            self.detach(&mut st, target);
        }
        let from = self.path(&st, ino);
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&parent)
        {
            e.remove(name);
        }
        Self::touch(&mut st, parent);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.parent = newparent;
            n.name = newname.to_string();
        }
        self.load_dir(&mut st, newparent)?;
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&newparent)
        {
            e.insert(newname.to_string(), ino);
        }
        Self::touch(&mut st, newparent);
        let to = self.path(&st, ino);
        self.log(&mut st, Op::Rename { from, to })
    }

    // ---- CIDs and checkpoints --------------------------------------------

    /// The CID of any node, computing (and storing) changed directories.
    pub fn cid_of(&self, ino: Ino) -> Result<Entry> {
        let mut st = self.lock()?;
        self.entry_of(&mut st, ino)
    }

    fn entry_of(&self, st: &mut State, ino: Ino) -> Result<Entry> {
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Unresolved(e)) => return Ok(*e),
            Some(Body::Dir { cached: Some(e), .. }) => return Ok(*e),
            Some(Body::Symlink(t)) => {
                let (cid, bytes) = symlink_node(&self.opts, t);
                return Ok(Entry {
                    cid,
                    size: 0,
                    tsize: bytes.len() as u64,
                });
            }
            Some(Body::File { .. }) => return self.flush_file(st, ino),
            Some(Body::Dir { .. }) => {}
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        let children: Vec<(String, Ino)> = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(e), .. }) => e.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            _ => Vec::new(),
        };
        let mut dir = DirBuilder::default();
        for (name, child) in children {
            let e = self.entry_of(st, child)?;
            dir.add(name, &e);
        }
        let e = dir.build(self.store(), &self.opts)?;
        if let Some(MNode {
            body: Body::Dir { cached, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *cached = Some(e);
        }
        Ok(e)
    }

    /// Saves the tree as a new root (durably) and starts a fresh journal.
    pub fn checkpoint(&self) -> Result<Cid> {
        let mut st = self.lock()?;
        if st.ops.is_empty() {
            // Nothing changed since the saved root (every change is an op).
            if let Some((cid, _)) = self.store().files_root()? {
                return Ok(cid);
            }
            let empty = DirBuilder::default().build(&crate::store::NullStore, &self.opts)?;
            return Ok(empty.cid);
        }
        let root = self.entry_of(&mut st, ROOT)?;
        let generation = st.generation + 1;
        // Files not closed yet are in the new root, but their metadata is
        // journaled only at close: save it with the root, or a crash would
        // bring them back 0644 and dated 1970.
        let unsaved: Vec<(String, FileMeta)> = st
            .nodes
            .iter()
            .filter(|(_, n)| n.parent != 0 && matches!(n.body, Body::File { unsaved: true, .. }))
            .filter_map(|(&ino, n)| Some((self.path(&st, ino), n.meta?)))
            .collect();
        let ops = std::mem::take(&mut st.ops);
        let changes: Vec<MetaChange> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Meta {
                    path,
                    mode,
                    secs,
                    nanos,
                } => Some(MetaChange::Set(
                    path,
                    FileMeta {
                        mode: *mode,
                        secs: *secs,
                        nanos: *nanos,
                    },
                )),
                Op::Put {
                    path,
                    meta: Some((mode, secs, nanos)),
                    ..
                } => Some(MetaChange::Set(
                    path,
                    FileMeta {
                        mode: *mode,
                        secs: *secs,
                        nanos: *nanos,
                    },
                )),
                Op::Remove { path } => Some(MetaChange::RemoveTree(path)),
                Op::Rename { from, to } => Some(MetaChange::MoveTree(from, to)),
                _ => None,
            })
            .chain(unsaved.iter().map(|(p, m)| MetaChange::Set(p, *m)))
            .collect();
        if let Err(e) = self.store().checkpoint_files(&root.cid, generation, &changes) {
            st.ops = ops;
            return Err(e.into());
        }
        st.generation = generation;
        let path = st.journal.path().to_path_buf();
        st.journal = Journal::create(&path, generation).map_err(MfsError::Journal)?;
        drop(st);
        // A new tree: the node announces it per its provide strategy.
        if let Some(a) = self.repo.announce.get() {
            a.files_root(root.cid);
        }
        Ok(root.cid)
    }

    /// Roots GC must keep besides pins: the saved root, the current tree, and
    /// leaves of files being written.
    pub fn gc_roots(&self) -> Result<Vec<Cid>> {
        let root = self.checkpoint()?;
        let st = self.lock()?;
        let mut out = vec![root];
        for n in st.nodes.values() {
            if let Body::File {
                content: Some(c),
                entry,
                ..
            } = &n.body
            {
                out.extend(c.referenced());
                out.push(entry.cid);
            }
        }
        Ok(out)
    }

    // ---- replay ----------------------------------------------------------

    fn resolve_path(&self, st: &mut State, path: &str) -> Result<Ino> {
        let mut ino = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            ino = self
                .child(st, ino, part)?
                .ok_or_else(|| MfsError::NotFound(path.to_string()))?;
        }
        Ok(ino)
    }

    fn split(path: &str) -> (&str, &str) {
        path.rsplit_once('/').unwrap_or(("", path))
    }

    fn replay(&self, st: &mut State, op: &Op) -> Result<()> {
        match op {
            Op::Put {
                path,
                cid,
                tsize,
                meta,
            } => {
                let cid = crate::block::parse_cid(cid).map_err(|e| MfsError::Invalid(e.to_string()))?;
                let (dir, name) = Self::split(path);
                let parent = self.resolve_path(st, dir)?;
                if let Some(old) = self.child(st, parent, name)? {
                    self.detach(st, old);
                }
                let meta = meta.map(|(mode, secs, nanos)| FileMeta { mode, secs, nanos });
                let body = Body::Unresolved(Entry {
                    cid,
                    size: 0,
                    tsize: *tsize,
                });
                self.insert(st, parent, name, body, meta)?;
            }
            Op::Mkdir { path } => {
                let (dir, name) = Self::split(path);
                let parent = self.resolve_path(st, dir)?;
                if self.child(st, parent, name)?.is_none() {
                    self.insert(
                        st,
                        parent,
                        name,
                        Body::Dir {
                            entries: Some(BTreeMap::new()),
                            cached: None,
                        },
                        None,
                    )?;
                }
            }
            Op::Remove { path } => {
                if let Ok(ino) = self.resolve_path(st, path) {
                    self.detach(st, ino);
                }
            }
            Op::Rename { from, to } => {
                // The source may be missing: a file created and never closed
                // before the crash. What the rename replaced is gone anyway.
                let src = self.resolve_path(st, from);
                let (dir, name) = Self::split(to);
                let newparent = self.resolve_path(st, dir)?;
                if let Some(old) = self.child(st, newparent, name)?
                    && src.as_ref().ok() != Some(&old)
                {
                    self.detach(st, old);
                }
                let ino = src?;
                let (fdir, fname) = Self::split(from);
                let parent = self.resolve_path(st, fdir)?;
                if let Some(MNode {
                    body: Body::Dir { entries: Some(e), .. },
                    ..
                }) = st.nodes.get_mut(&parent)
                {
                    e.remove(fname);
                }
                Self::touch(st, parent);
                if let Some(n) = st.nodes.get_mut(&ino) {
                    n.parent = newparent;
                    n.name = name.to_string();
                }
                if let Some(MNode {
                    body: Body::Dir { entries: Some(e), .. },
                    ..
                }) = st.nodes.get_mut(&newparent)
                {
                    e.insert(name.to_string(), ino);
                }
                Self::touch(st, newparent);
            }
            Op::Meta {
                path,
                mode,
                secs,
                nanos,
            } => {
                let ino = self.resolve_path(st, path)?;
                if let Some(n) = st.nodes.get_mut(&ino) {
                    n.meta = Some(FileMeta {
                        mode: *mode,
                        secs: *secs,
                        nanos: *nanos,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves a path under files/ to an inode (for the CLI's `files` commands).
    pub fn lookup_path(&self, path: &str) -> Result<Ino> {
        let mut st = self.lock()?;
        self.resolve_path(&mut st, path)
    }

    /// Links existing content at `path` without copying bytes.
    pub fn put(&self, path: &str, cid: &Cid) -> Result<()> {
        let node = Node::load(self.store(), cid)?;
        let tsize = crate::dag::dag_size(
            self.store(),
            cid,
            crate::dag::Missing::Skip,
            &mut Default::default(),
        )
        .map(|(_, b)| b)
        .unwrap_or(0);
        let mut st = self.lock()?;
        let (dir, name) = Self::split(path.trim_matches('/'));
        valid_name(name)?;
        let parent = self.resolve_path(&mut st, dir)?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(path.to_string()));
        }
        let ino = self.insert(
            &mut st,
            parent,
            name,
            Body::Unresolved(Entry {
                cid: *cid,
                size: node.size(),
                tsize,
            }),
            None,
        )?;
        let p = self.path(&st, ino);
        let meta = now_meta(default_mode(node.kind()));
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.meta = Some(meta);
        }
        let m = Some((meta.mode, meta.secs, meta.nanos));
        self.log(
            &mut st,
            Op::Put {
                path: p,
                cid: cid.to_string(),
                tsize,
                meta: m,
            },
        )
    }
}

/// The committed entry and the changing content of file `ino`.
fn file_parts(st: &mut State, ino: Ino) -> Result<(&mut Entry, &mut Option<Box<FileContent>>)> {
    match st.nodes.get_mut(&ino) {
        Some(MNode {
            body: Body::File { entry, content, .. },
            ..
        }) => Ok((entry, content)),
        _ => Err(MfsError::IsDir(format!("inode {ino}"))),
    }
}

/// Where what is now at `path` was at the last checkpoint (whose metadata
/// the store holds), given the changes made since: renames are undone, and
/// None when it was put, made or replaced since (nothing saved applies).
fn saved_path(ops: &[Op], path: &str) -> Option<String> {
    let under = |p: &str, q: &str| p == q || (p.starts_with(q) && p.as_bytes().get(q.len()) == Some(&b'/'));
    let mut p = path.to_string();
    for op in ops.iter().rev() {
        match op {
            Op::Rename { from, to } => {
                if under(&p, to) {
                    p = format!("{from}{}", &p[to.len()..]);
                } else if under(&p, from) {
                    return None;
                }
            }
            Op::Put { path: q, .. } | Op::Mkdir { path: q } | Op::Remove { path: q } => {
                if under(&p, q) {
                    return None;
                }
            }
            Op::Meta { .. } => {}
        }
    }
    Some(p)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `BlockGet` on the repo store, for callers that only have an `Mfs`.
impl Mfs {
    pub fn blocks(&self) -> &(impl BlockGet + BlockPut) {
        self.store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::importer::import_file;

    fn open(dir: &std::path::Path) -> Mfs {
        let (repo, _) = Repo::open_or_init(dir).unwrap();
        Mfs::open(Arc::new(repo)).unwrap()
    }

    fn write_file(m: &Mfs, parent: Ino, name: &str, data: &[u8]) -> Ino {
        let a = m.create(parent, name, 0o640, true, false).unwrap();
        m.write(a.ino, 0, data, false).unwrap();
        m.release(a.ino).unwrap();
        a.ino
    }

    fn read(m: &Mfs, ino: Ino) -> Vec<u8> {
        m.run_read(m.plan_read(ino, 0, u32::MAX).unwrap()).unwrap()
    }

    #[test]
    fn journal_survives_without_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        {
            let m = open(dir.path());
            let d = m.mkdir(ROOT, "docs", 0o700).unwrap();
            write_file(&m, d.ino, "a.bin", &data);
            write_file(&m, ROOT, "gone", b"x");
            m.unlink(ROOT, "gone", false).unwrap();
            m.rename(d.ino, "a.bin", ROOT, "b.bin", false).unwrap();
            // Dropped without a checkpoint: as if the daemon were killed.
        }
        let m = open(dir.path());
        let b = m.lookup(ROOT, "b.bin").unwrap();
        assert_eq!(b.size, 600_000);
        assert_eq!(b.mode, 0o640);
        assert_eq!(read(&m, b.ino), data);
        assert!(m.lookup(ROOT, "gone").is_err());
        assert_eq!(m.lookup(ROOT, "docs").unwrap().mode, 0o700);
        // Same bytes, same CID as an import.
        let want = import_file(
            &crate::store::NullStore,
            &ImportOptions::default(),
            &data[..],
            |_| {},
        )
        .unwrap();
        assert_eq!(m.cid_of(b.ino).unwrap().cid, want.cid);
        let root = m.checkpoint().unwrap();
        drop(m);
        let m = open(dir.path());
        assert_eq!(m.checkpoint().unwrap(), root);
        assert_eq!(
            m.lookup(ROOT, "b.bin").unwrap().mode,
            0o640,
            "metadata persisted at checkpoint"
        );
    }

    #[test]
    fn posix_errors() {
        let dir = tempfile::tempdir().unwrap();
        let m = open(dir.path());
        let d = m.mkdir(ROOT, "d", 0o755).unwrap();
        write_file(&m, d.ino, "f", b"1");
        assert_eq!(m.unlink(ROOT, "d", true).unwrap_err().errno(), libc::ENOTEMPTY);
        assert_eq!(m.unlink(ROOT, "d", false).unwrap_err().errno(), libc::EISDIR);
        assert_eq!(m.mkdir(ROOT, "d", 0o755).unwrap_err().errno(), libc::EEXIST);
        assert_eq!(m.lookup(ROOT, "nope").unwrap_err().errno(), libc::ENOENT);
        write_file(&m, ROOT, "g", b"2");
        assert_eq!(
            m.rename(ROOT, "g", d.ino, "f", true).unwrap_err().errno(),
            libc::EEXIST
        );
        m.rename(ROOT, "g", d.ino, "f", false).unwrap();
        let f = m.lookup(d.ino, "f").unwrap();
        assert_eq!(read(&m, f.ino), b"2");
        assert_eq!(
            m.rename(ROOT, "d", d.ino, "x", false).unwrap_err().errno(),
            libc::EINVAL
        );
        // Growing past the size limit is EFBIG; up to it costs nothing.
        let max = file::MAX_FILE_SIZE;
        let setsize = |size| m.setattr(f.ino, Some(size), None, None);
        assert_eq!(setsize(max + 1).unwrap_err().errno(), libc::EFBIG);
        assert_eq!(m.write(f.ino, max, b"x", false).unwrap_err().errno(), libc::EFBIG);
        assert_eq!(setsize(max).unwrap().size, max);
        m.open_file(f.ino, true, false).unwrap();
        m.write(f.ino, max - 1, b"z", false).unwrap();
        m.release(f.ino).unwrap();
        let end = m.run_read(m.plan_read(f.ino, max - 3, 10).unwrap()).unwrap();
        assert_eq!(end, b"\0\0z");
        assert_eq!(setsize(1).unwrap().size, 1);
        assert_eq!(read(&m, f.ino), b"2");
    }
}
