//! CIDs, checkpoints, GC roots and linking existing content.

use super::*;

impl Mfs {
    // ---- CIDs and checkpoints --------------------------------------------

    /// The CID of any node, computing (and storing) changed directories.
    pub fn cid_of(&self, ino: Ino) -> Result<Entry> {
        // Staged files' bytes are imported first, outside the tree lock.
        self.snapshot_staged(ino)?;
        let mut st = self.lock()?;
        self.entry_of(&mut st, ino)
    }

    pub(super) fn entry_of(&self, st: &mut State, ino: Ino) -> Result<Entry> {
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
            Some(Body::Special) => return Err(MfsError::NotInDag(self.path(st, ino))),
            Some(Body::Dir { .. }) => {}
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        let special = |c: &Ino| matches!(st.nodes.get(c).map(|n| &n.body), Some(Body::Special));
        let children: Vec<(String, Ino)> = match st.nodes.get(&ino).map(|n| &n.body) {
            // Special files are left out of the directory's DAG.
            Some(Body::Dir { entries: Some(e), .. }) => e
                .iter()
                .filter(|(_, c)| !special(c))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            _ => Vec::new(),
        };
        let mut dir = DirBuilder::default();
        for (name, child) in children {
            let e = self.entry_of(st, child)?;
            dir.add(name, &e);
        }
        let e = dir.build(self.store(), &self.opts)?;
        // A staged file below may change without a word to us: no cache
        // while any file is staged.
        if st.staged.is_empty()
            && let Some(MNode {
                body: Body::Dir { cached, .. },
                ..
            }) = st.nodes.get_mut(&ino)
        {
            *cached = Some(e);
        }
        Ok(e)
    }

    /// Saves the tree as a new root (durably) and starts a fresh journal.
    /// The tree lock is held to build directories and take the changes,
    /// not for the store's commit: operations go on meanwhile, journaled
    /// after a marker (see `journal.rs`).
    pub fn checkpoint(&self) -> Result<Cid> {
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        self.settle_staged()?;
        // Files' new bytes are hashed and stored under their own locks
        // first; under the tree lock only directories are built.
        let changed: Vec<Content> = self
            .lock()?
            .nodes
            .values()
            .filter_map(|n| match &n.body {
                Body::File { content: Some(c), .. } => Some(c.clone()),
                _ => None,
            })
            .collect();
        self.flush_outside(&changed)?;
        let mut st = self.lock()?;
        if st.ops.is_empty() {
            // Nothing changed since the saved root (every change is an op).
            if let Some((cid, _)) = self.store().files_root()? {
                return Ok(cid);
            }
            let empty = DirBuilder::default().build(&crate::block::NullStore, &self.opts)?;
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
            .filter(|(ino, n)| {
                n.parent != 0
                    && (matches!(n.body, Body::File { unsaved: true, .. }) || st.staged.contains_key(ino))
            })
            .filter_map(|(&ino, n)| Some((self.path(&st, ino), n.meta?)))
            .collect();
        let links = self.link_state(&st);
        let restage = self.restage_ops(&st);
        st.journal.append_marker(generation).map_err(MfsError::Journal)?;
        let ops = std::mem::take(&mut st.ops);
        // Files still staged are journaled again after the marker: the new
        // journal must name their staging files.
        for op in restage {
            self.log(&mut st, op)?;
        }
        let retired = std::mem::take(&mut st.retired);
        // Until the commit lands, saved metadata is still keyed by the
        // paths before these ops (`load_dir`).
        st.pending = ops.clone();
        drop(st);
        let committed = self.commit_checkpoint(&root.cid, generation, &ops, &unsaved, &links);
        let mut st = self.lock_always();
        st.pending.clear();
        if let Err(e) = committed {
            let later = std::mem::replace(&mut st.ops, ops);
            st.ops.extend(later);
            st.retired.extend(retired);
            return Err(e);
        }
        st.generation = generation;
        // What was journaled after the marker starts the new journal.
        let path = st.journal.path().to_path_buf();
        let mut journal = Journal::create(&path, generation).map_err(MfsError::Journal)?;
        for op in &st.ops {
            journal.append(op).map_err(MfsError::Journal)?;
        }
        st.journal = journal;
        drop(st);
        self.delete_retired(&retired);
        // A new tree: the node announces it per its provide strategy.
        if let Some(a) = self.repo.announce.get() {
            a.files_root(root.cid);
        }
        if let Some(f) = self.repo.on_files_root.get() {
            f();
        }
        Ok(root.cid)
    }

    /// The store's side of a checkpoint: root, generation and metadata
    /// changes in one durable commit.
    fn commit_checkpoint(
        &self,
        root: &Cid,
        generation: u64,
        ops: &[Op],
        unsaved: &[(String, FileMeta)],
        (groups, link_rows, link_xattrs): &links::LinkState,
    ) -> Result<()> {
        let changes: Vec<MetaChange> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Meta { .. } | Op::Put { .. } => op.file_meta().map(|(p, m)| MetaChange::Set(p, m)),
                Op::Xattr { path, name, value } => Some(MetaChange::Xattr(path, name, value.as_deref())),
                Op::Remove { path } => Some(MetaChange::RemoveTree(path)),
                Op::Rename { from, to } => Some(MetaChange::MoveTree(from, to)),
                _ => None,
            })
            .chain(unsaved.iter().map(|(p, m)| MetaChange::Set(p, *m)))
            .chain(link_rows.iter().map(|(p, m)| MetaChange::Set(p, *m)))
            .chain(link_xattrs.iter().map(|(p, x)| MetaChange::Xattrs(p, x)))
            .collect();
        Ok(self
            .store()
            .checkpoint_files(root, generation, &changes, groups)?)
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
                out.extend(lock_content(c)?.referenced());
                out.push(entry.cid);
            }
        }
        Ok(out)
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
        let meta = new_meta(default_mode(node.kind()), self.owner);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.meta = Some(meta);
        }
        self.log(&mut st, Op::put(p, cid.to_string(), tsize, &meta))?;
        self.dir_changed(&mut st, parent, (meta.secs, meta.nanos))
    }
}

/// `BlockGet` on the repo store, for callers that only have an `Mfs`.
impl Mfs {
    pub fn blocks(&self) -> &(impl BlockGet + BlockPut) {
        self.store()
    }
}
