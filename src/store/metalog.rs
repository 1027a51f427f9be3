//! What the index holds besides block locations — pins, the files/ root
//! and the metadata beside the tree — is also appended to `meta.log`, one
//! JSON array per line, so that a lost or damaged `index.redb` can be
//! rebuilt without losing anything (`p2pfs repo rebuild-index`): block
//! locations come from the self-describing pack records, the rest from
//! this log. The log is rewritten from the index (compacted) when it grows
//! past a few times what it describes.

use super::snapshots::{self, META_KIND, XATTR_KIND};
use super::{FileMeta, LinkGroups, MetaExt, PinKind, Snapshot, Xattrs};
use cid::Cid;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const FILE: &str = "meta.log";
/// Compact once the log is past this many lines and four times the state.
const COMPACT_MIN_LINES: u64 = 10_000;

/// The state the log describes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct State {
    pub pins: HashMap<Vec<u8>, PinKind>,
    pub root: Option<(Cid, u64)>,
    pub meta: BTreeMap<String, FileMeta>,
    /// The hard-link groups of the files/ tree (`links.rs`).
    pub links: LinkGroups,
    /// Extended attributes by path (`xattrs.rs`).
    pub xattrs: BTreeMap<String, Xattrs>,
    /// The last checkpoint's number.
    pub seq: u64,
    /// Snapshots by id.
    pub snapshots: BTreeMap<u64, Snapshot>,
    /// Snapshot history: key (`snapshots::hist_key`) → old value.
    pub history: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// One change, as a line (written; read back by [`apply`]).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Line {
    /// ["pin", cid, "recursive"|"direct"] / ["unpin", cid]
    Pin(String, String, String),
    Unpin(String, String),
    /// ["root", cid, generation] (before snapshots), ["root", cid, generation, checkpoint number]
    Root(String, String, u64, u64),
    /// ["snap", snapshot] / ["unsnap", id]
    Snap(String, Snapshot),
    Unsnap(String, u64),
    /// ["hist", hex key, hex value or null]: a snapshot history record.
    Hist(String, String, Option<String>),
    /// ["set", path, mode, secs, nanos] (before owners and times were
    /// kept), ["set", path, mode, secs, nanos, uid, gid, atime s, ns, ctime s, ns, rdev]
    Set(String, String, u32, i64, u32, MetaExt),
    /// ["rm", path] / ["mv", from, to] (whole subtrees)
    Path1(String, String),
    Path2(String, String, String),
    /// ["links", [[path, path, …], …]]: every hard-link group (replaces
    /// the last such line).
    Links(String, LinkGroups),
    /// ["xattr", path, name, hex value or null (removed)]
    Xattr(String, String, String, Option<String>),
    /// ["xattrs", path, {name: hex value}]: all of an entry's attributes.
    Xattrs(String, String, BTreeMap<String, String>),
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

fn hex_all(x: &Xattrs) -> BTreeMap<String, String> {
    x.iter().map(|(k, v)| (k.clone(), hex(v))).collect()
}

pub struct MetaLog {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    lines: std::sync::atomic::AtomicU64,
}

fn kind_str(k: PinKind) -> &'static str {
    k.as_str()
}

impl MetaLog {
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(FILE);
        let lines = std::fs::read(&path).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count() as u64);
        MetaLog {
            path,
            file: Mutex::new(None),
            lines: lines.into(),
        }
    }

    fn append(&self, line: &Line) {
        let Ok(mut text) = serde_json::to_vec(line) else {
            return;
        };
        text.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| tracing::warn!("cannot open {}: {e}", self.path.display()))
                .ok();
        }
        if let Some(file) = f.as_mut()
            && let Err(e) = file.write_all(&text)
        {
            tracing::warn!("cannot append to {}: {e}", self.path.display());
        }
        self.lines.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn pin(&self, cid: &Cid, kind: PinKind) {
        self.append(&Line::Pin("pin".into(), cid.to_string(), kind_str(kind).into()));
    }

    pub fn unpin(&self, cid: &Cid) {
        self.append(&Line::Unpin("unpin".into(), cid.to_string()));
    }

    pub fn root(&self, cid: &Cid, generation: u64, seq: u64) {
        self.append(&Line::Root("root".into(), cid.to_string(), generation, seq));
    }

    pub fn snapshot(&self, s: &Snapshot) {
        self.append(&Line::Snap("snap".into(), s.clone()));
    }

    pub fn unsnapshot(&self, id: u64) {
        self.append(&Line::Unsnap("unsnap".into(), id));
    }

    pub fn set(&self, path: &str, m: FileMeta) {
        self.append(&Line::Set(
            "set".into(),
            path.into(),
            m.mode,
            m.secs,
            m.nanos,
            m.ext(),
        ));
    }

    pub fn links(&self, groups: &LinkGroups) {
        self.append(&Line::Links("links".into(), groups.clone()));
    }

    pub fn xattr(&self, path: &str, name: &str, value: Option<&[u8]>) {
        self.append(&Line::Xattr(
            "xattr".into(),
            path.into(),
            name.into(),
            value.map(hex),
        ));
    }

    pub fn xattrs(&self, path: &str, all: &Xattrs) {
        self.append(&Line::Xattrs("xattrs".into(), path.into(), hex_all(all)));
    }

    pub fn remove_tree(&self, path: &str) {
        self.append(&Line::Path1("rm".into(), path.into()));
    }

    pub fn move_tree(&self, from: &str, to: &str) {
        self.append(&Line::Path2("mv".into(), from.into(), to.into()));
    }

    /// Whether the log has grown enough past `state_lines` to be rewritten.
    pub fn wants_compaction(&self, state_lines: u64) -> bool {
        let n = self.lines.load(std::sync::atomic::Ordering::Relaxed);
        n > COMPACT_MIN_LINES && n > 4 * state_lines
    }

    /// Rewrites the log as exactly `state` (a new file, renamed over).
    pub fn compact(&self, state: &State) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut n = 0u64;
        let mut put = |l: Line| -> std::io::Result<()> {
            serde_json::to_writer(&mut out, &l)?;
            n += 1;
            out.write_all(b"\n")
        };
        for (k, kind) in &state.pins {
            if let Ok(c) = Cid::try_from(k.as_slice()) {
                put(Line::Pin("pin".into(), c.to_string(), kind_str(*kind).into()))?;
            }
        }
        // History first: replaying the lines below must not add to it
        // (there is no snapshot yet when they are read).
        for (k, v) in &state.history {
            put(Line::Hist("hist".into(), hex(k), v.as_deref().map(hex)))?;
        }
        if let Some((c, g)) = state.root {
            put(Line::Root("root".into(), c.to_string(), g, state.seq))?;
        }
        for (p, m) in &state.meta {
            put(Line::Set(
                "set".into(),
                p.clone(),
                m.mode,
                m.secs,
                m.nanos,
                m.ext(),
            ))?;
        }
        for (p, x) in &state.xattrs {
            put(Line::Xattrs("xattrs".into(), p.clone(), hex_all(x)))?;
        }
        if !state.links.is_empty() {
            put(Line::Links("links".into(), state.links.clone()))?;
        }
        for snap in state.snapshots.values() {
            put(Line::Snap("snap".into(), snap.clone()))?;
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::rename(&tmp, &self.path)?;
        *guard = None; // reopened (the new file) at the next append
        self.lines.store(n, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

fn under(key: &str, dir: &str) -> bool {
    key == dir || key.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Moves the keys at `from` and below to `to`, replacing what was there.
fn move_tree<V>(m: &mut BTreeMap<String, V>, from: &str, to: &str) {
    m.retain(|k, _| !under(k, to));
    let moved: Vec<String> = m.keys().filter(|k| under(k, from)).cloned().collect();
    for k in moved {
        if let Some(v) = m.remove(&k) {
            m.insert(format!("{to}{}", &k[from.len()..]), v);
        }
    }
}

/// Mirrors `snapshots::Recorder::save` on a replayed state: the value
/// `path` had before the checkpoint being replayed (number seq + 1).
fn record(s: &mut State, kind: u8, path: &str, old: Option<Vec<u8>>) {
    let Some(latest) = s.snapshots.values().map(|x| x.seq).max() else {
        return;
    };
    let n = s.seq + 1;
    let key = snapshots::hist_key(kind, path, n);
    let lo = snapshots::hist_key(kind, path, 0);
    if let Some((last, _)) = s.history.range(lo..=key.clone()).next_back() {
        let m = snapshots::split_key(last).map_or(0, |(_, _, m)| m);
        if m == n || m > latest {
            return;
        }
    }
    s.history.insert(key, old);
}

fn record_meta(s: &mut State, path: &str) {
    let old = s.meta.get(path).map(|m| m.encode().to_vec());
    record(s, META_KIND, path, old);
}

fn record_xattrs(s: &mut State, path: &str) {
    let old = s.xattrs.get(path).map(super::xattrs::encode);
    record(s, XATTR_KIND, path, old);
}

/// Records the old values of a subtree about to be removed or moved.
fn record_tree(s: &mut State, from: &str, to: Option<&str>) {
    let metas: Vec<String> = s.meta.keys().filter(|k| under(k, from)).cloned().collect();
    let xs: Vec<String> = s.xattrs.keys().filter(|k| under(k, from)).cloned().collect();
    if let Some(to) = to {
        let dm: Vec<String> = s.meta.keys().filter(|k| under(k, to)).cloned().collect();
        let dx: Vec<String> = s.xattrs.keys().filter(|k| under(k, to)).cloned().collect();
        dm.iter().for_each(|k| record_meta(s, k));
        dx.iter().for_each(|k| record_xattrs(s, k));
    }
    for (keys, kind) in [(metas, META_KIND), (xs, XATTR_KIND)] {
        for k in keys {
            if kind == META_KIND {
                record_meta(s, &k);
            } else {
                record_xattrs(s, &k);
            }
            if let Some(to) = to {
                record(s, kind, &format!("{to}{}", &k[from.len()..]), None);
            }
        }
    }
}

/// Applies a line about checkpoints and snapshots.
fn apply_snapshots(s: &mut State, v: &[serde_json::Value]) -> Option<()> {
    let str_at = |i: usize| v.get(i).and_then(|x| x.as_str());
    match (str_at(0)?, v.len()) {
        ("root", 3 | 4) => {
            s.root = Some((str_at(1)?.parse::<Cid>().ok()?, v[2].as_u64()?));
            // Lines from before snapshots count checkpoints by themselves.
            s.seq = match v.get(3) {
                Some(n) => n.as_u64()?,
                None => s.seq + 1,
            };
        }
        ("snap", 2) => {
            let snap: Snapshot = serde_json::from_value(v[1].clone()).ok()?;
            s.snapshots.insert(snap.id, snap);
        }
        ("unsnap", 2) => {
            s.snapshots.remove(&v[1].as_u64()?);
        }
        ("hist", 3) => {
            let old = match &v[2] {
                serde_json::Value::Null => None,
                h => Some(unhex(h.as_str()?)?),
            };
            s.history.insert(unhex(str_at(1)?)?, old);
        }
        _ => return None,
    }
    Some(())
}

/// Applies one line (a JSON array); None if it is not a known change.
fn apply(s: &mut State, v: &[serde_json::Value]) -> Option<()> {
    let str_at = |i: usize| v.get(i).and_then(|x| x.as_str());
    let cid = |i: usize| str_at(i).and_then(|c| c.parse::<Cid>().ok());
    match (str_at(0)?, v.len()) {
        ("pin", 3) => {
            let (c, k) = (cid(1)?, PinKind::parse(str_at(2)?)?);
            let e = s.pins.entry(c.to_bytes()).or_insert(k);
            if k == PinKind::Recursive {
                *e = k;
            }
        }
        ("unpin", 2) => {
            s.pins.remove(&cid(1)?.to_bytes());
        }
        ("root" | "snap" | "unsnap" | "hist", _) => return apply_snapshots(s, v),
        ("set", 5 | 6) => {
            let mut m = FileMeta::new(
                u32::try_from(v[2].as_u64()?).ok()?,
                v[3].as_i64()?,
                u32::try_from(v[4].as_u64()?).ok()?,
            );
            if let Some(e) = v.get(5) {
                m = m.with_ext(serde_json::from_value::<MetaExt>(e.clone()).ok()?);
            }
            record_meta(s, str_at(1)?);
            s.meta.insert(str_at(1)?.to_string(), m);
        }
        ("links", 2) => s.links = serde_json::from_value(v[1].clone()).ok()?,
        ("xattr", 4) => {
            let (p, name) = (str_at(1)?.to_string(), str_at(2)?.to_string());
            let value = match &v[3] {
                serde_json::Value::Null => None,
                h => Some(unhex(h.as_str()?)?),
            };
            record_xattrs(s, &p);
            let x = s.xattrs.entry(p.clone()).or_default();
            match value {
                None => x.remove(&name),
                Some(b) => x.insert(name, b),
            };
            if x.is_empty() {
                s.xattrs.remove(&p);
            }
        }
        ("xattrs", 3) => {
            let all: BTreeMap<String, String> = serde_json::from_value(v[2].clone()).ok()?;
            let mut x = Xattrs::new();
            for (k, h) in all {
                x.insert(k, unhex(&h)?);
            }
            record_xattrs(s, str_at(1)?);
            if x.is_empty() {
                s.xattrs.remove(str_at(1)?);
            } else {
                s.xattrs.insert(str_at(1)?.to_string(), x);
            }
        }
        ("rm", 2) => {
            let p = str_at(1)?;
            record_tree(s, p, None);
            s.meta.retain(|k, _| !under(k, p));
            s.xattrs.retain(|k, _| !under(k, p));
        }
        ("mv", 3) => {
            let (from, to) = (str_at(1)?, str_at(2)?);
            record_tree(s, from, Some(to));
            move_tree(&mut s.meta, from, to);
            move_tree(&mut s.xattrs, from, to);
        }
        _ => return None,
    }
    Some(())
}

/// Replays a log into the state it describes. Lines that cannot be read
/// (a torn last line, damage) are skipped and counted.
pub fn replay(path: &Path) -> std::io::Result<(State, usize)> {
    let text = std::fs::read(path)?;
    let mut s = State::default();
    let mut bad = 0;
    for line in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
        let v: Vec<serde_json::Value> = serde_json::from_slice(line).unwrap_or_default();
        if apply(&mut s, &v).is_none() {
            bad += 1;
        }
    }
    Ok((s, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_gives_the_last_state_and_compaction_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetaLog::open(dir.path());
        let a = crate::block::cid_v1(crate::block::RAW, b"a");
        let b = crate::block::cid_v1(crate::block::RAW, b"b");
        let m = |mode| FileMeta {
            uid: 7,
            gid: 8,
            atime: (9, 10),
            rdev: 11,
            ..FileMeta::new(mode, 5, 6)
        };
        log.pin(&a, PinKind::Direct);
        log.pin(&a, PinKind::Recursive);
        log.pin(&a, PinKind::Direct); // never a downgrade
        log.pin(&b, PinKind::Recursive);
        log.unpin(&b);
        log.root(&b, 3, 1);
        log.set("/d", m(0o755));
        log.set("/d/x y\nz", m(0o644));
        log.set("/dd", m(0o600));
        let x = |v: &[u8]| Xattrs::from([("user.a".to_string(), v.to_vec())]);
        log.xattrs("/d/x y\nz", &x(b"old"));
        log.xattr("/d/x y\nz", "user.a", Some(&[0, 255]));
        log.xattr("/d/x y\nz", "user.b", Some(b""));
        log.xattr("/d/x y\nz", "user.b", None);
        log.xattr("/f", "user.a", Some(b"1"));
        log.move_tree("/d", "/e");
        log.set("/f", m(0o700));
        log.remove_tree("/f");
        // The last links line is the groups.
        log.links(&vec![vec!["/a".into(), "/b".into()]]);
        log.links(&vec![vec!["/dd".into(), "/e/x y\nz".into()]]);
        // A line from before owners and times were kept.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap()
            .write_all(b"[\"set\",\"/old\",420,1,2]\n")
            .unwrap();
        // A torn last line is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap()
            .write_all(b"[\"set\",\"/torn")
            .unwrap();
        let (s, bad) = replay(&dir.path().join(FILE)).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(s.pins.get(&a.to_bytes()), Some(&PinKind::Recursive));
        assert!(!s.pins.contains_key(&b.to_bytes()));
        assert_eq!(s.root, Some((b, 3)));
        let keys: Vec<&str> = s.meta.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["/dd", "/e", "/e/x y\nz", "/old"]);
        assert_eq!(s.meta["/e"], m(0o755));
        assert_eq!(s.meta["/old"], FileMeta::new(420, 1, 2));
        assert_eq!(s.links, [["/dd", "/e/x y\nz"]]);
        let xs: Vec<(&str, &Xattrs)> = s.xattrs.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(xs, [("/e/x y\nz", &x(&[0, 255]))]);
        log.compact(&s).unwrap();
        let (again, bad) = replay(&dir.path().join(FILE)).unwrap();
        assert_eq!((again, bad), (s, 0));
    }
}
