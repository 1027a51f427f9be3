//! The writable tree (Kubo's MFS): directories, files and symlinks held as
//! inodes over UnixFS DAGs, loaded lazily, changed in memory, and saved as a
//! new root CID at checkpoints. Between checkpoints every change goes to the
//! journal, so a file is safe once it is closed. POSIX metadata (mode,
//! owner, times: `meta.rs`) lives in the store's metadata table, not in the
//! DAG: the same bytes keep the same CID.

pub mod file;
pub mod journal;

use crate::block::{BlockGet, BlockPut};
use crate::repo::Repo;
use crate::store::{FileMeta, MetaChange, Xattrs};
use crate::unixfs::dir::DirBuilder;
use crate::unixfs::importer::{Entry, ImportOptions, symlink_node};
use crate::unixfs::resolve::{Kind, Node, for_each_entry};
use cid::Cid;
use content::{Content, lock_content};
use file::{FileContent, Segment};
use journal::{Journal, Op};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Ino = u64;
/// Inode number of the tree's root (the FUSE layer maps `files/` to it).
pub const ROOT: Ino = 3;
const FIRST_INO: Ino = 1 << 20;

mod blocks;
mod content;
mod error;
mod links;
mod meta;
mod noio;
mod ops;
mod persist;
mod replay;
mod restore;
mod staged;
mod tmpfile;
mod xattr;

pub use error::MfsError;
use error::Result;
pub use meta::{NAME_MAX, Owner, SetAttr};
use meta::{default_mode, new_meta, valid_name};
use noio::{SMALL_FILE, no_io};
pub use noio::{io_forbidden, without_io};
use replay::{join, saved_path};
pub use staged::Staged;
pub use xattr::{XATTR_LIST_MAX, XATTR_SIZE_MAX, XATTR_TOTAL_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// The file type bits (S_IFMT) of st_mode: S_IFIFO, S_IFSOCK, S_IFCHR
    /// and S_IFBLK for special files (whose `kind` is File).
    pub ftype: u32,
    pub rdev: u64,
    /// Names: 0 for an open file already unlinked; for a directory 2 and
    /// one per subdirectory, or 1 (unknown, as btrfs and find(1) agree)
    /// while some children have not been loaded.
    pub nlink: u32,
    /// st_blocks: 512-byte units of the bytes stored (holes not counted).
    pub blocks: u64,
}

enum Body {
    Dir {
        entries: Option<BTreeMap<String, Ino>>,
        cached: Option<Entry>,
    },
    File {
        entry: Entry,
        /// The changing content while the file is open or changed, with
        /// its own lock (`content.rs`): writes and flushes hash and store
        /// under it, not under the tree lock.
        content: Option<Content>,
        /// The content's size while `content` is set (kept here so a stat
        /// never waits for a writer).
        size: u64,
        open: u32,
        /// Changed since its content was last journaled (close, fsync):
        /// not the same as `content` being unflushed, since computing a CID
        /// (`cid_of`, a checkpoint) flushes without journaling.
        unsaved: bool,
        /// Bytes stored, holes not counted (`blocks.rs`), while known:
        /// forgotten when the content changes.
        stored: Option<u64>,
    },
    Symlink(Vec<u8>),
    /// A FIFO, socket or device node: metadata only (its type and device
    /// number are in the metadata), never in the DAG (UnixFS has no type
    /// for it).
    Special,
    /// Known only by its link in the parent: loaded on first use.
    Unresolved(Entry),
}

struct MNode {
    /// The first name (the one `path` gives); 0 once every name is gone
    /// (an open file unlinked).
    parent: Ino,
    name: String,
    /// Further names of a hard-linked non-directory, as (directory, name):
    /// every name of a linked inode is always in memory (`links.rs`).
    aliases: Vec<(Ino, String)>,
    meta: Option<FileMeta>,
    /// `user.*` extended attributes (`xattr.rs`), loaded with the metadata.
    xattrs: Option<Box<Xattrs>>,
    body: Body,
}

struct State {
    nodes: HashMap<Ino, MNode>,
    next_ino: Ino,
    journal: Journal,
    generation: u64,
    /// Ops since the last checkpoint (also in the journal).
    ops: Vec<Op>,
    /// Ops a checkpoint is committing (taken from `ops`): until the commit
    /// lands, saved metadata is keyed by the paths before them.
    pending: Vec<Op>,
    /// Files the kernel writes directly, by inode (`staged.rs`).
    staged: HashMap<Ino, Arc<Staged>>,
    /// Staging files whose content is imported and journaled: deleted
    /// once a checkpoint holds it.
    retired: Vec<String>,
    /// O_TMPFILE files not named yet (`tmpfile.rs`).
    tmpfiles: std::collections::HashSet<Ino>,
}

pub struct Mfs {
    repo: Arc<Repo>,
    opts: ImportOptions,
    state: Mutex<State>,
    /// One checkpoint at a time (it commits without the tree lock).
    checkpointing: Mutex<()>,
    nodes: crate::unixfs::resolve::NodeCache,
    /// Shown as the owner of entries saved before owners were kept.
    owner: Owner,
    /// New and truncated files are staged (the mount has passthrough).
    staging: std::sync::atomic::AtomicBool,
}

/// Where a directory being loaded was at the last checkpoint: its
/// children's saved metadata and attributes are under that path.
struct Saved {
    view: crate::store::FilesView,
    dir: Option<String>,
}

impl Saved {
    fn meta(&self, name: &str) -> Result<Option<FileMeta>> {
        match &self.dir {
            Some(d) => Ok(self.view.meta(&join(d, name))?),
            None => Ok(None),
        }
    }

    fn xattrs(&self, name: &str) -> Result<Option<Box<Xattrs>>> {
        match &self.dir {
            Some(d) if self.view.any_xattrs() => Ok(self.view.xattrs(&join(d, name))?.map(Box::new)),
            _ => Ok(None),
        }
    }

    fn specials(&self) -> Result<Vec<(String, FileMeta)>> {
        match &self.dir {
            Some(d) => Ok(self.view.specials(d)?),
            None => Ok(Vec::new()),
        }
    }
}

impl Mfs {
    /// Loads the tree from the repo: the saved root, then the journal.
    pub fn open(repo: Arc<Repo>) -> Result<Mfs> {
        // Everything [import] sets: profile, chunks, links, HAMT.
        let opts = repo.config.import_options();
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
                aliases: Vec::new(),
                // files/ itself has metadata too (saved under "").
                meta: repo.store.files_meta("")?,
                xattrs: repo.store.files_xattrs("")?.map(Box::new),
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
                pending: Vec::new(),
                staged: HashMap::new(),
                retired: Vec::new(),
                tmpfiles: Default::default(),
            }),
            checkpointing: Mutex::new(()),
            nodes: Default::default(),
            owner: Owner {
                uid: nix::unistd::geteuid().as_raw(),
                gid: nix::unistd::getegid().as_raw(),
            },
            staging: Default::default(),
        };
        {
            let mut st = mfs.lock()?;
            // Hard links first: the journal was written against the
            // checkpointed tree, where they were already one inode.
            mfs.load_links(&mut st)?;
            // Replay imports what they hold; they go after the next checkpoint.
            st.retired = mfs.leftover_staging();
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
        Ok(self.lock_always())
    }

    /// The tree lock, waited for even in no-I/O mode: for the step after a
    /// change already made (it is held only briefly, never across I/O of
    /// file content).
    fn lock_always(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
                size: node.size(),
                open: 0,
                unsaved: false,
                // A block missing (content not all here) leaves it unknown.
                stored: blocks::stored_bytes(self.store(), &node).ok(),
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
        let saved = self.saved(st, ino)?;
        let mut entries = BTreeMap::new();
        for (name, cid, tsize) in children {
            let (meta, xattrs) = (saved.meta(&name)?, saved.xattrs(&name)?);
            let body = Body::Unresolved(Entry { cid, size: 0, tsize });
            let child = Self::new_node(st, ino, &name, meta, xattrs, body);
            entries.insert(name, child);
        }
        // Special files are not in the DAG: their saved metadata says they exist.
        for (name, meta) in saved.specials()? {
            if let std::collections::btree_map::Entry::Vacant(e) = entries.entry(name) {
                let xattrs = saved.xattrs(e.key())?;
                let child = Self::new_node(st, ino, e.key(), Some(meta), xattrs, Body::Special);
                e.insert(child);
            }
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

    /// Metadata is saved by path at checkpoints: look it up where directory
    /// `ino` was then, not where it is now. Which checkpoint is "then" is
    /// what the view's generation says: one being committed is either
    /// in it (the paths after its ops) or not (before them too).
    fn saved(&self, st: &State, ino: Ino) -> Result<Saved> {
        let view = self.store().files_view()?;
        let path = self.path(st, ino);
        let committed = view.generation().is_some_and(|g| g > st.generation);
        let dir = if committed || st.pending.is_empty() {
            saved_path(&st.ops, &path)
        } else {
            let ops: Vec<Op> = st.pending.iter().chain(&st.ops).cloned().collect();
            saved_path(&ops, &path)
        };
        Ok(Saved { view, dir })
    }

    /// A node for entry `name` of `parent` (not yet in the directory).
    fn new_node(
        st: &mut State,
        parent: Ino,
        name: &str,
        meta: Option<FileMeta>,
        xattrs: Option<Box<Xattrs>>,
        body: Body,
    ) -> Ino {
        let ino = st.next_ino;
        st.next_ino += 1;
        let name = name.to_string();
        let aliases = Vec::new();
        let node = MNode {
            parent,
            name,
            aliases,
            meta,
            xattrs,
            body,
        };
        st.nodes.insert(ino, node);
        ino
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
            Body::File {
                entry, content, size, ..
            } => (Kind::File, if content.is_some() { *size } else { entry.size }),
            Body::Symlink(t) => (Kind::Symlink, t.len() as u64),
            Body::Special => (Kind::File, 0),
            Body::Unresolved(_) => unreachable!("resolved above"),
        };
        let special = matches!(n.body, Body::Special);
        // Unknown while the content changes: counted whole until saved.
        let stored = match &n.body {
            Body::File { stored: Some(s), .. } => *s,
            _ => size,
        };
        let nlink = match &n.body {
            _ if n.parent == 0 => 0,
            Body::Dir { entries: Some(e), .. } => {
                let mut subdirs = 0u32;
                let mut known = true;
                for c in e.values() {
                    match st.nodes.get(c).map(|c| &c.body) {
                        Some(Body::Dir { .. }) => subdirs += 1,
                        Some(Body::Unresolved(_)) => known = false,
                        _ => {}
                    }
                }
                if known { 2 + subdirs } else { 1 }
            }
            Body::Dir { .. } => 1,
            _ => 1 + n.aliases.len() as u32,
        };
        let m = self.meta_of(st, ino, kind);
        let ftype = match kind {
            _ if special => m.mode & libc::S_IFMT,
            Kind::Directory => libc::S_IFDIR,
            Kind::File => libc::S_IFREG,
            Kind::Symlink => libc::S_IFLNK,
        };
        let mut a = Attr {
            ino,
            kind,
            size,
            ftype,
            rdev: m.rdev,
            mode: m.mode & 0o7777,
            uid: m.uid,
            gid: m.gid,
            atime: meta::time_of(m.atime),
            mtime: meta::time_of((m.secs, m.nanos)),
            ctime: meta::time_of(m.ctime),
            nlink,
            blocks: stored.div_ceil(512),
        };
        Self::staged_attr(st, ino, &mut a);
        Ok(a)
    }

    // ---- changes ---------------------------------------------------------

    fn log(&self, st: &mut State, op: Op) -> Result<()> {
        st.journal.append(&op).map_err(MfsError::Journal)?;
        st.ops.push(op);
        Ok(())
    }

    /// Marks `ino` and its ancestors as changed (their CIDs must be
    /// recomputed), through every name of a hard-linked file.
    fn touch(st: &mut State, ino: Ino) {
        let aliases: Vec<Ino> = st
            .nodes
            .get(&ino)
            .map(|n| n.aliases.iter().map(|a| a.0).collect())
            .unwrap_or_default();
        for dir in aliases {
            Self::touch_up(st, dir);
        }
        Self::touch_up(st, ino);
    }

    fn touch_up(st: &mut State, mut ino: Ino) {
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

    /// Sets and journals the metadata of `ino` (only set for an unlinked
    /// file: it has no path, and goes away at its last close).
    fn set_meta(&self, st: &mut State, ino: Ino, meta: FileMeta) -> Result<()> {
        let orphan = st.nodes.get(&ino).is_some_and(|n| n.parent == 0 && ino != ROOT);
        let path = self.path(st, ino);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.meta = Some(meta);
        }
        if orphan {
            return Ok(());
        }
        self.log(st, Op::meta(path, &meta))
    }

    fn insert(
        &self,
        st: &mut State,
        parent: Ino,
        name: &str,
        body: Body,
        meta: Option<FileMeta>,
    ) -> Result<Ino> {
        let ino = Self::new_node(st, parent, name, meta, None, body);
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

    /// Drops `ino` and everything below it from memory; a hard-linked
    /// file inside only loses the name it had there.
    fn forget_tree(&self, st: &mut State, ino: Ino) {
        if let Some(n) = st.nodes.remove(&ino)
            && let Body::Dir { entries: Some(e), .. } = n.body
        {
            for (name, c) in e {
                if Self::linked(st, c) {
                    Self::unname(st, c, ino, &name);
                } else {
                    self.forget_tree(st, c);
                }
            }
        }
    }
}

#[cfg(test)]
mod concurrency_tests;
#[cfg(test)]
mod tests;
