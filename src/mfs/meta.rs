//! POSIX metadata of the tree's entries: mode, owner, the three times,
//! device numbers. Kept beside the tree (the store's `files_meta`, the
//! journal), never in the DAG, so the same bytes keep the same CID.

use super::*;

/// Longest name accepted (as statfs says, and as ext4).
pub const NAME_MAX: usize = 255;

/// What a setattr changes (None: left as is).
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
    /// Given by the kernel when it keeps times itself (writeback cache).
    pub ctime: Option<SystemTime>,
}

/// Who makes an entry: the caller's uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

pub(super) fn now() -> (i64, u32) {
    stamp(SystemTime::now())
}

pub(super) fn stamp(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        // Before 1970: whole seconds down, nanoseconds up.
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

pub(super) fn time_of((secs, nanos): (i64, u32)) -> SystemTime {
    let nanos = nanos.min(999_999_999);
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
    }
}

/// A new entry's metadata: every time now, owned by `who`.
pub(super) fn new_meta(mode: u32, who: Owner) -> FileMeta {
    let t = now();
    FileMeta {
        uid: who.uid,
        gid: who.gid,
        ..FileMeta::new(mode, t.0, t.1)
    }
}

pub(super) fn default_mode(kind: Kind) -> u32 {
    match kind {
        Kind::Directory => 0o755,
        Kind::File => 0o644,
        Kind::Symlink => 0o777,
    }
}

pub(super) fn valid_name(name: &str) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(MfsError::NameTooLong(name.len()));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(MfsError::Invalid(format!("bad name {name:?}")));
    }
    Ok(())
}

/// Applies `s` to `m`; `now` is the time of the change (ctime).
pub(super) fn apply(m: &mut FileMeta, s: &SetAttr, is_dir: bool, now: (i64, u32)) {
    if let Some(mode) = s.mode {
        m.mode = (m.mode & !0o7777) | (mode & 0o7777);
    }
    if let Some(uid) = s.uid {
        m.uid = uid;
    }
    if let Some(gid) = s.gid {
        m.gid = gid;
    }
    // As Linux: a chown clears set-user-ID, and set-group-ID when the group
    // may execute, of anything but a directory (the kernel leaves this to
    // us under HANDLE_KILLPRIV_V2).
    if (s.uid.is_some() || s.gid.is_some()) && !is_dir && s.mode.is_none() {
        m.mode &= !(libc::S_ISUID);
        if m.mode & 0o010 != 0 {
            m.mode &= !(libc::S_ISGID);
        }
    }
    if let Some(t) = s.atime {
        m.atime = stamp(t);
    }
    if let Some(t) = s.mtime {
        let (secs, nanos) = stamp(t);
        m.secs = secs;
        m.nanos = nanos;
    }
    if s.size.is_some() && s.mtime.is_none() {
        (m.secs, m.nanos) = now;
    }
    m.ctime = s.ctime.map_or(now, stamp);
}

impl Mfs {
    /// The user running the tree (entries made from the CLI are theirs).
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The metadata of `ino` (defaults for content linked without any).
    pub(super) fn meta_of(&self, st: &State, ino: Ino, kind: Kind) -> FileMeta {
        let m = st.nodes.get(&ino).and_then(|n| n.meta);
        let mut m = m.unwrap_or_else(|| FileMeta::new(default_mode(kind), 0, 0));
        if m.uid == FileMeta::NO_OWNER {
            m.uid = self.owner.uid;
        }
        if m.gid == FileMeta::NO_OWNER {
            m.gid = self.owner.gid;
        }
        m
    }

    /// A directory's entries changed: its mtime and ctime are now
    /// (journaled, so a killed daemon keeps them).
    pub(super) fn dir_changed(&self, st: &mut State, dir: Ino, t: (i64, u32)) -> Result<()> {
        let mut m = self.meta_of(st, dir, Kind::Directory);
        (m.secs, m.nanos) = t;
        m.ctime = t;
        self.set_meta(st, dir, m)
    }

    /// The ctime of `ino` is now (a rename, a link count change).
    pub(super) fn changed(&self, st: &mut State, ino: Ino, kind: Kind, t: (i64, u32)) -> Result<()> {
        let mut m = self.meta_of(st, ino, kind);
        m.ctime = t;
        self.set_meta(st, ino, m)
    }

    /// The group of a new entry in `parent`: the parent's when it has the
    /// set-group-ID bit (as on Linux), else the caller's.
    pub(super) fn inherit(&self, st: &State, parent: Ino, who: Owner) -> (Owner, bool) {
        let p = self.meta_of(st, parent, Kind::Directory);
        if p.mode & libc::S_ISGID != 0 {
            (
                Owner {
                    uid: who.uid,
                    gid: p.gid,
                },
                true,
            )
        } else {
            (who, false)
        }
    }
}
