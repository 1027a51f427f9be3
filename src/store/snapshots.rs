//! Snapshots of the files/ tree: each a root CID, a time and the metadata
//! beside the tree as it was then.
//!
//! Table `snapshots`: id → sealed JSON (`Snapshot`). Every checkpoint has a
//! sequence number (META `files_seq`); a snapshot records the one whose
//! state it is. The metadata is not copied: table `snap_history` keeps, for
//! each entry of `files_meta` / `files_xattr` that a checkpoint changed
//! while a snapshot still saw it, the value it had before (key: kind,
//! path, NUL, checkpoint number n big-endian; value sealed, `[0]` for
//! "absent", else `[1]` and the value). The value of a path in snapshot S
//! is that of the first history record of the path with n > S, else the
//! live one. So a snapshot costs one entry, and a checkpoint one more
//! entry per changed path. Records no kept snapshot can read are dropped
//! by [`Store::prune_history`] (at GC).

use super::*;
use redb::ReadableTable;
use retention::{Retention, Stamp};

pub(super) const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
pub(super) const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("snap_history");
pub(super) const SEQ: &str = "files_seq";

/// History kinds: a `files_meta` value or a `files_xattr` value.
pub(super) const META_KIND: u8 = b'm';
pub(super) const XATTR_KIND: u8 = b'x';

/// One snapshot of files/.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub id: u64,
    /// The checkpoint whose state this is.
    pub seq: u64,
    #[serde(with = "cid_str")]
    pub root: Cid,
    /// Seconds since the epoch, UTC.
    pub time: i64,
    /// Named snapshots are kept until removed.
    pub name: Option<String>,
}

mod cid_str {
    use cid::Cid;
    pub fn serialize<S: serde::Serializer>(c: &Cid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&c.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Cid, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Snapshot {
    /// Its directory name under snapshots/: the name, or the UTC time
    /// (`2026-12-01T11-30-00Z`: sortable, no colons).
    pub fn dir_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| utc_name(self.time))
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            id: self.id,
            time: self.time,
            named: self.name.is_some(),
        }
    }
}

/// The directory names of `snaps` (in their order, oldest first): a name
/// or time already taken by an older one gets `-<id>` appended, so every
/// snapshot has one name for good.
pub fn dir_names(snaps: &[Snapshot]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    snaps
        .iter()
        .map(|s| {
            let base = s.dir_name();
            if seen.insert(base.clone()) {
                base
            } else {
                format!("{base}-{}", s.id)
            }
        })
        .collect()
}

/// `2026-12-01T11-30-00Z` for a time in seconds since the epoch.
pub fn utc_name(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn encode(s: &Snapshot) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_default()
}

fn decode(id: u64, sealed_value: &[u8]) -> Result<Snapshot, StoreError> {
    let v = sealed::unseal("snapshots", &id.to_be_bytes(), sealed_value)?;
    serde_json::from_slice(v).map_err(|_| StoreError::BadEntry(format!("snapshot {id}")))
}

pub(super) fn put(t: &mut redb::Table<u64, &[u8]>, s: &Snapshot) -> Result<(), StoreError> {
    let v = sealed::seal("snapshots", &s.id.to_be_bytes(), &encode(s));
    t.insert(s.id, v.as_slice()).map_err(db_err)?;
    Ok(())
}

pub(super) fn all(t: &impl ReadableTable<u64, &'static [u8]>) -> Result<Vec<Snapshot>, StoreError> {
    let mut out = Vec::new();
    for r in t.iter().map_err(db_err)? {
        let (k, v) = r.map_err(db_err)?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

pub(super) fn hist_key(kind: u8, path: &str, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(path.len() + 10);
    k.push(kind);
    k.extend_from_slice(path.as_bytes());
    k.push(0);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// (kind, path, n) of a history key.
pub(super) fn split_key(k: &[u8]) -> Option<(u8, &str, u64)> {
    let (&kind, rest) = k.split_first()?;
    let cut = rest.len().checked_sub(9)?;
    let (path, tail) = rest.split_at(cut);
    if tail[0] != 0 {
        return None;
    }
    Some((
        kind,
        std::str::from_utf8(path).ok()?,
        u64::from_be_bytes(tail[1..].try_into().ok()?),
    ))
}

pub(super) fn hist_value(old: Option<&[u8]>) -> Vec<u8> {
    match old {
        None => vec![0],
        Some(v) => [&[1u8][..], v].concat(),
    }
}

fn unhist(key: &[u8], v: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let v = sealed::unseal("snap_history", key, v)?;
    match v.split_first() {
        Some((0, _)) => Ok(None),
        Some((1, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(StoreError::BadEntry("snap_history".into())),
    }
}

/// Saves old values during checkpoint `n`, for the snapshots that saw them.
pub(super) struct Recorder {
    /// The newest snapshot's checkpoint (None: no snapshot, nothing kept).
    pub latest: Option<u64>,
    pub n: u64,
}

impl Recorder {
    /// Notes that `path`'s value (`old`) is about to change. Kept unless a
    /// record for this checkpoint exists (the first old value is the one
    /// snapshots saw) or the value was set after the newest snapshot.
    pub fn save(
        &self,
        h: &mut redb::Table<&[u8], &[u8]>,
        kind: u8,
        path: &str,
        old: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let Some(latest) = self.latest else {
            return Ok(());
        };
        let key = hist_key(kind, path, self.n);
        let last = {
            let lo = hist_key(kind, path, 0);
            let mut r = h.range(lo.as_slice()..=key.as_slice()).map_err(db_err)?;
            r.next_back()
                .transpose()
                .map_err(db_err)?
                .map(|(k, _)| k.value().to_vec())
        };
        if let Some(last) = last {
            let n = split_key(&last).map_or(0, |(_, _, n)| n);
            if n == self.n || n > latest {
                return Ok(());
            }
        }
        let v = hist_value(old);
        h.insert(key.as_slice(), sealed::seal("snap_history", &key, &v).as_slice())
            .map_err(db_err)?;
        Ok(())
    }
}

/// A snapshot name must be a directory name that cannot be mistaken for a
/// time-named one.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 || name == "." || name == ".." {
        return Err(format!(
            "'{name}' cannot be a snapshot name: 1 to 255 bytes, not . or .."
        ));
    }
    if name.contains(['/', '\0']) {
        return Err(format!("'{name}' cannot be a snapshot name: no / or NUL"));
    }
    if name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Err(format!(
            "'{name}' cannot be a snapshot name: names starting with a digit are kept for times"
        ));
    }
    Ok(())
}

impl Store {
    /// Sets the retention policy applied at each checkpoint.
    pub fn set_retention(&self, r: Retention) {
        *self.retention.lock().unwrap_or_else(|e| e.into_inner()) = r;
    }

    pub(super) fn retention(&self) -> Retention {
        *self.retention.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        all(&tx.open_table(SNAPSHOTS).map_err(db_err)?)
    }

    /// Records a snapshot of the saved root now (`files snapshot`; the
    /// caller checkpoints first). A name already taken is an error.
    pub fn take_snapshot(&self, name: Option<&str>) -> Result<Snapshot, StoreError> {
        if let Some(n) = name {
            check_name(n).map_err(StoreError::Invalid)?;
        }
        let Some((root, _)) = self.files_root()? else {
            return Err(StoreError::Invalid(
                "files/ has never been saved: nothing to snapshot yet".into(),
            ));
        };
        let tx = self.db.begin_write().map_err(db_err)?;
        let snap = {
            let mut t = tx.open_table(SNAPSHOTS).map_err(db_err)?;
            let existing = all(&t)?;
            if let Some(n) = name
                && existing.iter().any(|s| s.name.as_deref() == Some(n))
            {
                return Err(StoreError::Invalid(format!(
                    "a snapshot named '{n}' exists already"
                )));
            }
            let meta = tx.open_table(META).map_err(db_err)?;
            let seq = seq_of(&meta)?;
            // Unnamed, of a state already snapshotted: that one is it.
            if name.is_none()
                && let Some(last) = existing.iter().rfind(|s| s.seq == seq && s.root == root)
            {
                return Ok(last.clone());
            }
            let snap = Snapshot {
                id: existing.last().map_or(1, |s| s.id + 1),
                seq,
                root,
                time: now(),
                name: name.map(str::to_string),
            };
            put(&mut t, &snap)?;
            snap
        };
        tx.commit().map_err(db_err)?;
        self.log.snapshot(&snap);
        Ok(snap)
    }

    /// Removes snapshots; their blocks become cache once nothing else
    /// keeps them.
    pub fn remove_snapshots(&self, ids: &[u64]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(SNAPSHOTS).map_err(db_err)?;
            for id in ids {
                t.remove(id).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        for id in ids {
            self.log.unsnapshot(*id);
        }
        Ok(())
    }

    /// In a checkpoint's transaction: the snapshot of checkpoint `seq`,
    /// then retention. Returns the ids expired.
    pub(super) fn snapshot_in(
        &self,
        tx: &redb::WriteTransaction,
        root: &Cid,
        seq: u64,
    ) -> Result<(Snapshot, Vec<u64>), StoreError> {
        let mut t = tx.open_table(SNAPSHOTS).map_err(db_err)?;
        let mut existing = all(&t)?;
        let snap = Snapshot {
            id: existing.last().map_or(1, |s| s.id + 1),
            seq,
            root: *root,
            time: now(),
            name: None,
        };
        put(&mut t, &snap)?;
        existing.push(snap.clone());
        let stamps: Vec<Stamp> = existing.iter().map(Snapshot::stamp).collect();
        let kept: std::collections::HashSet<u64> =
            self.retention().keep(&stamps, snap.time).into_iter().collect();
        let expired: Vec<u64> = stamps
            .iter()
            .map(|s| s.id)
            .filter(|id| !kept.contains(id))
            .collect();
        for id in &expired {
            t.remove(id).map_err(db_err)?;
        }
        Ok((snap, expired))
    }

    /// The newest snapshot's checkpoint, in a transaction: the last id's
    /// (ids and checkpoint numbers only grow).
    pub(super) fn latest_snapshot_seq(tx: &redb::WriteTransaction) -> Result<Option<u64>, StoreError> {
        let t = tx.open_table(SNAPSHOTS).map_err(db_err)?;
        match t.last().map_err(db_err)? {
            None => Ok(None),
            Some((k, v)) => Ok(Some(decode(k.value(), v.value())?.seq)),
        }
    }

    /// The metadata of `path` in the snapshot of checkpoint `seq`.
    pub fn snapshot_meta(&self, seq: u64, path: &str) -> Result<Option<FileMeta>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        match history_at(&tx, META_KIND, path, seq)? {
            Some(old) => Ok(old.and_then(|v| FileMeta::decode(&v))),
            None => Ok(tx
                .open_table(FILES_META)
                .map_err(db_err)?
                .get(path)
                .map_err(db_err)?
                .and_then(|v| FileMeta::decode(v.value()))),
        }
    }

    /// The extended attributes of `path` in the snapshot of checkpoint `seq`.
    pub fn snapshot_xattrs(&self, seq: u64, path: &str) -> Result<Xattrs, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let raw = match history_at(&tx, XATTR_KIND, path, seq)? {
            Some(old) => old,
            None => tx
                .open_table(xattrs::FILES_XATTR)
                .map_err(db_err)?
                .get(path)
                .map_err(db_err)?
                .map(|v| v.value().to_vec()),
        };
        Ok(raw.and_then(|v| xattrs::decode(&v)).unwrap_or_default())
    }

    /// Drops history records that no kept snapshot reads: record (P, n)
    /// holds the value set at checkpoint prev (the path's previous record,
    /// 0 if none), read by snapshots S with prev ≤ S < n. Returns how many
    /// were dropped.
    pub fn prune_history(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let dropped;
        {
            let seqs: std::collections::BTreeSet<u64> = all(&tx.open_table(SNAPSHOTS).map_err(db_err)?)?
                .iter()
                .map(|s| s.seq)
                .collect();
            let mut h = tx.open_table(HISTORY).map_err(db_err)?;
            let mut dead = Vec::new();
            let mut prev: Option<(u8, String, u64)> = None;
            for r in h.iter().map_err(db_err)? {
                let (k, _) = r.map_err(db_err)?;
                let Some((kind, path, n)) = split_key(k.value()) else {
                    dead.push(k.value().to_vec());
                    continue;
                };
                let from = match &prev {
                    Some((pk, pp, pn)) if *pk == kind && pp == path => *pn,
                    _ => 0,
                };
                if seqs.range(from..n).next().is_none() {
                    dead.push(k.value().to_vec());
                }
                prev = Some((kind, path.to_string(), n));
            }
            for k in &dead {
                h.remove(k.as_slice()).map_err(db_err)?;
            }
            dropped = dead.len() as u64;
        }
        tx.commit().map_err(db_err)?;
        Ok(dropped)
    }
}

pub(super) fn seq_of(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64, StoreError> {
    Ok(sealed::get_meta(meta, SEQ)?
        .and_then(|v| v.try_into().ok())
        .map_or(0, u64::from_le_bytes))
}

/// The history record that gives `path`'s value at checkpoint `seq`:
/// Some(value or None for absent), or None when the live value holds.
fn history_at(
    tx: &redb::ReadTransaction,
    kind: u8,
    path: &str,
    seq: u64,
) -> Result<Option<Option<Vec<u8>>>, StoreError> {
    let h = tx.open_table(HISTORY).map_err(db_err)?;
    let lo = hist_key(kind, path, seq.saturating_add(1));
    let hi = hist_key(kind, path, u64::MAX);
    let mut r = h.range(lo.as_slice()..=hi.as_slice()).map_err(db_err)?;
    match r.next() {
        None => Ok(None),
        Some(e) => {
            let (k, v) = e.map_err(db_err)?;
            Ok(Some(unhist(k.value(), v.value())?))
        }
    }
}
