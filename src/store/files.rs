//! The writable tree's state in the index: its root and generation, and
//! the POSIX metadata of its entries (`files_meta`, beside the tree so
//! copying a tree in keeps the CID `add` gives).

use super::*;

/// POSIX metadata of one entry of the writable tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Permission bits, and for entries that are not in the DAG (FIFOs,
    /// sockets, devices) the file type bits too.
    pub mode: u32,
    /// mtime.
    pub secs: i64,
    pub nanos: u32,
    /// Owner and group; [`FileMeta::NO_OWNER`] for entries saved before
    /// owners were kept (shown as the mount's owner).
    pub uid: u32,
    pub gid: u32,
    pub atime: (i64, u32),
    pub ctime: (i64, u32),
    /// Device number of a device node.
    pub rdev: u64,
}

/// The fields of [`FileMeta`] besides mode and mtime, as the journal and
/// meta.log write them: (uid, gid, atime s, ns, ctime s, ns, rdev).
pub type MetaExt = (u32, u32, i64, u32, i64, u32, u64);

impl FileMeta {
    pub const NO_OWNER: u32 = u32::MAX;
    /// The old 16-byte form held mode and mtime only.
    const LEN: usize = 56;

    /// Mode and mtime, owner unknown, atime and ctime equal to the mtime.
    pub fn new(mode: u32, secs: i64, nanos: u32) -> FileMeta {
        FileMeta {
            mode,
            secs,
            nanos,
            uid: Self::NO_OWNER,
            gid: Self::NO_OWNER,
            atime: (secs, nanos),
            ctime: (secs, nanos),
            rdev: 0,
        }
    }

    pub fn ext(&self) -> MetaExt {
        let (a, c) = (self.atime, self.ctime);
        (self.uid, self.gid, a.0, a.1, c.0, c.1, self.rdev)
    }

    pub fn with_ext(self, e: MetaExt) -> FileMeta {
        FileMeta {
            uid: e.0,
            gid: e.1,
            atime: (e.2, e.3),
            ctime: (e.4, e.5),
            rdev: e.6,
            ..self
        }
    }

    pub(super) fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(&self.mode.to_le_bytes());
        b[4..12].copy_from_slice(&self.secs.to_le_bytes());
        b[12..16].copy_from_slice(&self.nanos.to_le_bytes());
        b[16..20].copy_from_slice(&self.uid.to_le_bytes());
        b[20..24].copy_from_slice(&self.gid.to_le_bytes());
        b[24..32].copy_from_slice(&self.atime.0.to_le_bytes());
        b[32..36].copy_from_slice(&self.atime.1.to_le_bytes());
        b[36..44].copy_from_slice(&self.ctime.0.to_le_bytes());
        b[44..48].copy_from_slice(&self.ctime.1.to_le_bytes());
        b[48..56].copy_from_slice(&self.rdev.to_le_bytes());
        b
    }

    pub(super) fn decode(b: &[u8]) -> Option<FileMeta> {
        let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
        let i64_at = |i: usize| Some(i64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        let m = FileMeta::new(u32_at(0)?, i64_at(4)?, u32_at(12)?);
        if b.len() < Self::LEN {
            return Some(m);
        }
        let rdev = u64::from_le_bytes(b.get(48..56)?.try_into().ok()?);
        Some(m.with_ext((
            u32_at(16)?,
            u32_at(20)?,
            i64_at(24)?,
            u32_at(32)?,
            i64_at(36)?,
            u32_at(44)?,
            rdev,
        )))
    }
}

/// A change to the files/ metadata table, applied at a checkpoint.
pub enum MetaChange<'a> {
    Set(&'a str, FileMeta),
    /// Sets (Some) or removes (None) one extended attribute.
    Xattr(&'a str, &'a str, Option<&'a [u8]>),
    /// Makes these all of the entry's extended attributes.
    Xattrs(&'a str, &'a Xattrs),
    RemoveTree(&'a str),
    MoveTree(&'a str, &'a str),
}

/// The files/ state beside the tree as one read transaction saw it: the
/// generation of the saved root and its entries' metadata, attributes and
/// special files. A checkpoint committing meanwhile is in it wholly or not
/// at all, so its generation says which paths the rest is keyed by.
pub struct FilesView {
    generation: Option<u64>,
    meta: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    xattrs: Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
}

impl FilesView {
    /// The generation of the saved root (None: no root saved yet).
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    pub fn meta(&self, path: &str) -> Result<Option<FileMeta>, StoreError> {
        Ok(self
            .meta
            .get(path)
            .map_err(db_err)?
            .and_then(|v| FileMeta::decode(v.value())))
    }

    /// Whether any entry has attributes.
    pub fn any_xattrs(&self) -> bool {
        self.xattrs.is_some()
    }

    /// The attributes saved for `path` (an unreadable value reads as none,
    /// with a warning: it only ever held optional data).
    pub fn xattrs(&self, path: &str) -> Result<Option<Xattrs>, StoreError> {
        let Some(t) = &self.xattrs else { return Ok(None) };
        let Some(v) = t.get(path).map_err(db_err)? else {
            return Ok(None);
        };
        let x = xattrs::decode(v.value());
        if x.is_none() {
            tracing::warn!("files/{path}: its saved extended attributes cannot be read");
        }
        Ok(x)
    }

    /// Entries directly in directory `dir` whose saved metadata makes them
    /// special files (FIFOs, sockets, devices: not in the DAG). Seeks past
    /// each child's subtree, so the cost is one lookup per child, not per
    /// descendant.
    pub fn specials(&self, dir: &str) -> Result<Vec<(String, FileMeta)>, StoreError> {
        let t = &self.meta;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out = Vec::new();
        let mut from = prefix.clone();
        loop {
            let mut range = t.range(from.as_str()..).map_err(db_err)?;
            let Some(r) = range.next() else { break };
            let (k, v) = r.map_err(db_err)?;
            let key = k.value();
            let Some(rest) = key.strip_prefix(prefix.as_str()) else {
                break;
            };
            match rest.split_once('/') {
                // Inside a child's subtree: skip it ('0' follows '/').
                Some((child, _)) => from = format!("{prefix}{child}0"),
                None => {
                    let m = FileMeta::decode(v.value());
                    if let Some(m) = m.filter(|m| m.mode & libc::S_IFMT != 0 && !rest.is_empty()) {
                        out.push((rest.to_string(), m));
                    }
                    from = format!("{key}\0");
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    /// The writable tree's root and journal generation, if one was saved.
    pub fn files_root(&self) -> Result<Option<(Cid, u64)>, StoreError> {
        let Some(root) = self.meta("files_root")? else {
            return Ok(None);
        };
        let cid = Cid::try_from(root.as_slice()).map_err(|_| StoreError::BadEntry("files_root".into()))?;
        let generation = self
            .meta("files_generation")?
            .and_then(|g| g.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0);
        Ok(Some((cid, generation)))
    }

    pub fn files_meta(&self, path: &str) -> Result<Option<FileMeta>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(FILES_META).map_err(db_err)?;
        Ok(t.get(path)
            .map_err(db_err)?
            .and_then(|v| FileMeta::decode(v.value())))
    }

    /// One consistent read of the files/ state (see [`FilesView`]).
    pub fn files_view(&self) -> Result<FilesView, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let meta = tx.open_table(META).map_err(db_err)?;
        let generation = match sealed::get_meta(&meta, "files_root")? {
            None => None,
            Some(_) => Some(
                sealed::get_meta(&meta, "files_generation")?
                    .and_then(|g| g.try_into().ok().map(u64::from_le_bytes))
                    .unwrap_or(0),
            ),
        };
        let xattrs = tx.open_table(xattrs::FILES_XATTR).map_err(db_err)?;
        // A repo without any attributes skips their lookups.
        let xattrs = if xattrs.first().map_err(db_err)?.is_some() {
            Some(xattrs)
        } else {
            None
        };
        Ok(FilesView {
            generation,
            meta: tx.open_table(FILES_META).map_err(db_err)?,
            xattrs,
        })
    }

    /// Durably records a new files/ root: pending blocks first, then root,
    /// generation, metadata changes, the hard-link groups and a snapshot
    /// (with retention applied) in one transaction. Old values of what the
    /// changes touch go to the snapshot history first (`snapshots.rs`).
    pub fn checkpoint_files(
        &self,
        root: &Cid,
        generation: u64,
        changes: &[MetaChange],
        groups: &LinkGroups,
    ) -> Result<(), StoreError> {
        self.commit()?;
        let tx = self.db.begin_write().map_err(db_err)?;
        let links_changed;
        let seq;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            seq = snapshots::seq_of(&meta)? + 1;
            sealed::put_meta(&mut meta, "files_root", &root.to_bytes())?;
            sealed::put_meta(&mut meta, "files_generation", &generation.to_le_bytes())?;
            sealed::put_meta(&mut meta, snapshots::SEQ, &seq.to_le_bytes())?;
            links_changed = links::put(&mut meta, groups)?;
            let rec = snapshots::Recorder {
                latest: Store::latest_snapshot_seq(&tx)?,
                n: seq,
            };
            let mut t = tx.open_table(FILES_META).map_err(db_err)?;
            let mut x = tx.open_table(xattrs::FILES_XATTR).map_err(db_err)?;
            let mut h = tx.open_table(snapshots::HISTORY).map_err(db_err)?;
            for c in changes {
                save_old(&rec, &mut h, &t, &x, c)?;
                match c {
                    MetaChange::Set(p, m) => {
                        t.insert(*p, m.encode().as_slice()).map_err(db_err)?;
                    }
                    MetaChange::Xattr(p, name, v) => xattrs::apply(&mut x, p, name, *v)?,
                    MetaChange::Xattrs(p, all) => xattrs::replace(&mut x, p, all)?,
                    MetaChange::RemoveTree(p) => {
                        remove_tree(&mut t, p)?;
                        remove_tree(&mut x, p)?;
                    }
                    MetaChange::MoveTree(from, to) => {
                        move_tree(&mut t, from, to)?;
                        move_tree(&mut x, from, to)?;
                    }
                }
            }
        }
        let (snap, expired) = self.snapshot_in(&tx, root, seq)?;
        tx.commit().map_err(db_err)?;
        if links_changed {
            self.log.links(groups);
        }
        self.log_checkpoint(root, generation, seq, changes)?;
        self.log.snapshot(&snap);
        for id in expired {
            self.log.unsnapshot(id);
        }
        Ok(())
    }

    /// Appends a checkpoint to the meta log (compacting it when it grew).
    fn log_checkpoint(
        &self,
        root: &Cid,
        generation: u64,
        seq: u64,
        changes: &[MetaChange],
    ) -> Result<(), StoreError> {
        for c in changes {
            match c {
                MetaChange::Set(p, m) => self.log.set(p, *m),
                MetaChange::Xattr(p, name, v) => self.log.xattr(p, name, *v),
                MetaChange::Xattrs(p, all) => self.log.xattrs(p, all),
                MetaChange::RemoveTree(p) => self.log.remove_tree(p),
                MetaChange::MoveTree(from, to) => self.log.move_tree(from, to),
            }
        }
        self.log.root(root, generation, seq);
        let state_lines = self.pin_count()? + self.files_meta_count()? + self.history_count()? + 1;
        if self.log.wants_compaction(state_lines) {
            let state = self.log_state()?;
            if let Err(e) = self.log.compact(&state) {
                tracing::warn!("compacting {}: {e}", metalog::FILE);
            }
        }
        Ok(())
    }

    /// Pins, files/ root, metadata and snapshots as the index has them.
    pub(super) fn log_state(&self) -> Result<metalog::State, StoreError> {
        let mut s = metalog::State {
            root: self.files_root()?,
            links: self.files_links()?,
            xattrs: self.all_xattrs()?,
            ..Default::default()
        };
        for (c, k) in self.pins()? {
            s.pins.insert(c.to_bytes(), k);
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        s.seq = snapshots::seq_of(&tx.open_table(META).map_err(db_err)?)?;
        for snap in snapshots::all(&tx.open_table(snapshots::SNAPSHOTS).map_err(db_err)?)? {
            s.snapshots.insert(snap.id, snap);
        }
        for r in tx
            .open_table(snapshots::HISTORY)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (k, v) = r.map_err(db_err)?;
            let v = sealed::unseal("snap_history", k.value(), v.value())?;
            let old = match v.split_first() {
                Some((1, rest)) => Some(rest.to_vec()),
                _ => None,
            };
            s.history.insert(k.value().to_vec(), old);
        }
        let t = tx.open_table(FILES_META).map_err(db_err)?;
        for r in t.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            if let Some(m) = FileMeta::decode(v.value()) {
                s.meta.insert(k.value().to_string(), m);
            }
        }
        Ok(s)
    }

    pub(super) fn history_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        tx.open_table(snapshots::HISTORY)
            .map_err(db_err)?
            .len()
            .map_err(db_err)
    }

    fn files_meta_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        tx.open_table(FILES_META).map_err(db_err)?.len().map_err(db_err)
    }
}

/// Saves, before change `c` is applied, the old values it overwrites.
fn save_old(
    rec: &snapshots::Recorder,
    h: &mut redb::Table<&[u8], &[u8]>,
    t: &redb::Table<&str, &[u8]>,
    x: &redb::Table<&str, &[u8]>,
    c: &MetaChange,
) -> Result<(), StoreError> {
    if rec.latest.is_none() {
        return Ok(());
    }
    let get = |t: &redb::Table<&str, &[u8]>, p: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(t.get(p).map_err(db_err)?.map(|v| v.value().to_vec()))
    };
    use snapshots::{META_KIND, XATTR_KIND};
    match c {
        MetaChange::Set(p, _) => rec.save(h, META_KIND, p, get(t, p)?.as_deref()),
        MetaChange::Xattr(p, ..) | MetaChange::Xattrs(p, _) => {
            rec.save(h, XATTR_KIND, p, get(x, p)?.as_deref())
        }
        MetaChange::RemoveTree(p) => {
            for (table, kind) in [(t, META_KIND), (x, XATTR_KIND)] {
                for (k, v) in subtree(table, p)? {
                    rec.save(h, kind, &k, Some(&v))?;
                }
            }
            Ok(())
        }
        MetaChange::MoveTree(from, to) => {
            for (table, kind) in [(t, META_KIND), (x, XATTR_KIND)] {
                for (k, v) in subtree(table, to)? {
                    rec.save(h, kind, &k, Some(&v))?;
                }
                for (k, v) in subtree(table, from)? {
                    rec.save(h, kind, &k, Some(&v))?;
                    // Where it lands was empty unless `to` held it (saved above).
                    rec.save(h, kind, &format!("{to}{}", &k[from.len()..]), None)?;
                }
            }
            Ok(())
        }
    }
}

fn remove_tree(t: &mut redb::Table<&str, &[u8]>, p: &str) -> Result<(), StoreError> {
    for (k, _) in subtree(t, p)? {
        t.remove(k.as_str()).map_err(db_err)?;
    }
    Ok(())
}

/// Moves the entries at `from` and below to `to` (replacing what was there).
fn move_tree(t: &mut redb::Table<&str, &[u8]>, from: &str, to: &str) -> Result<(), StoreError> {
    remove_tree(t, to)?;
    for (k, v) in subtree(t, from)? {
        t.remove(k.as_str()).map_err(db_err)?;
        let nk = format!("{to}{}", &k[from.len()..]);
        t.insert(nk.as_str(), v.as_slice()).map_err(db_err)?;
    }
    Ok(())
}

/// Entries at `p` and below it (`p/…`).
fn subtree(t: &redb::Table<&str, &[u8]>, p: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let prefix = format!("{p}/");
    for r in t.range(p..).map_err(db_err)? {
        let (k, v) = r.map_err(db_err)?;
        let key = k.value();
        if key != p && !key.starts_with(&prefix) {
            // Keys sort by bytes: "a" < "a!" < "a/" so keep scanning past siblings like "a!".
            if key.as_bytes() > prefix.as_bytes() {
                break;
            }
            continue;
        }
        out.push((key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}
