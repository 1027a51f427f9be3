//! `p2pfs repo rebuild-index`: a new `index.redb` from what is beside it.
//! Block locations come from the self-describing records of the pack files
//! and the WAL (every record is hashed; damaged ones are skipped), pins and
//! the files/ root and metadata from `meta.log`. The old index is kept
//! beside, renamed. Nothing in the packs is changed or cut.

use super::{
    BLOCKS, FILES_META, FORMAT_VERSION, Loc, META, PACKS, PINS, StoreError, check, db_err, links, metalog,
    pack, sealed, snapshots, xattrs,
};
use cid::Cid;
use redb::Database;
use std::path::{Path, PathBuf};

/// What a rebuild found.
#[derive(Debug, Default)]
pub struct RebuildReport {
    pub blocks: u64,
    pub bytes: u64,
    /// Records that did not verify (their blocks are lost here).
    pub skipped: u64,
    pub pins: usize,
    pub files_root: Option<Cid>,
    pub files_meta: usize,
    pub snapshots: usize,
    /// Lines of meta.log that could not be read.
    pub bad_log_lines: usize,
    /// Where the old index went (None if there was none).
    pub old_index: Option<PathBuf>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// Rebuilds the index of the store in `dir` (which must not be open).
pub fn rebuild_index(dir: &Path) -> Result<RebuildReport, StoreError> {
    let mut r = RebuildReport::default();
    let index = dir.join("index.redb");
    if index.exists() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = dir.join(format!("index.redb.old-{secs}"));
        std::fs::rename(&index, &aside).map_err(io(format!("moving {} aside", index.display())))?;
        r.old_index = Some(aside);
    }
    let db = Database::create(&index).map_err(|e| StoreError::Open {
        path: index.clone(),
        reason: e.to_string(),
    })?;
    let packs = pack::Packs::new(&dir.join("packs")).map_err(io("opening the packs".into()))?;
    let tx = db.begin_write().map_err(db_err)?;
    {
        let mut blocks = tx.open_table(BLOCKS).map_err(db_err)?;
        let mut lens = tx.open_table(PACKS).map_err(db_err)?;
        for id in packs.list().map_err(io("listing the packs".into()))? {
            let path = packs.path(id);
            let (records, skipped, end) =
                pack::scan_all(&path).map_err(io(format!("reading {}", path.display())))?;
            r.skipped += skipped;
            for rec in records {
                r.blocks += 1;
                r.bytes += rec.data.len() as u64;
                let loc = Loc::packed(&rec.multihash, id, rec.offset, &rec.data);
                blocks
                    .insert(rec.multihash.as_slice(), loc.encode(&rec.multihash).as_slice())
                    .map_err(db_err)?;
            }
            lens.insert(id, end).map_err(db_err)?;
        }
        let wal = dir.join("wal.log");
        let mut wal_len = 0;
        if wal.exists() {
            let (records, skipped, end) = pack::scan_all(&wal).map_err(io("reading the WAL".into()))?;
            wal_len = end;
            r.skipped += skipped;
            for rec in records {
                r.blocks += 1;
                r.bytes += rec.data.len() as u64;
                let loc = Loc::Inline(rec.data);
                blocks
                    .insert(rec.multihash.as_slice(), loc.encode(&rec.multihash).as_slice())
                    .map_err(db_err)?;
            }
        }
        let log = dir.join(metalog::FILE);
        let state = if log.exists() {
            let (s, bad) = metalog::replay(&log).map_err(io(format!("reading {}", log.display())))?;
            r.bad_log_lines = bad;
            s
        } else {
            metalog::State::default()
        };
        write_state(&tx, &state, &mut r, wal_len)?;
        tx.open_table(check::BAD).map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(r)
}

/// What meta.log describes, into the new index: pins, counters, the
/// files/ root, its metadata, hard links and extended attributes.
fn write_state(
    tx: &redb::WriteTransaction,
    state: &metalog::State,
    r: &mut RebuildReport,
    wal_len: u64,
) -> Result<(), StoreError> {
    let mut pins = tx.open_table(PINS).map_err(db_err)?;
    for (k, kind) in &state.pins {
        pins.insert(k.as_slice(), sealed::seal("pins", k, &[kind.to_u8()]).as_slice())
            .map_err(db_err)?;
    }
    r.pins = state.pins.len();
    let mut meta = tx.open_table(META).map_err(db_err)?;
    meta.insert("format", FORMAT_VERSION).map_err(db_err)?;
    sealed::put_meta(&mut meta, "total_bytes", &r.bytes.to_le_bytes())?;
    sealed::put_meta(&mut meta, "wal_len", &wal_len.to_le_bytes())?;
    if let Some((root, generation)) = state.root {
        sealed::put_meta(&mut meta, "files_root", &root.to_bytes())?;
        sealed::put_meta(&mut meta, "files_generation", &generation.to_le_bytes())?;
        r.files_root = Some(root);
    }
    if !state.links.is_empty() {
        sealed::put_meta(&mut meta, links::KEY, &links::encode(&state.links))?;
    }
    let mut fm = tx.open_table(FILES_META).map_err(db_err)?;
    for (p, m) in &state.meta {
        fm.insert(p.as_str(), m.encode().as_slice()).map_err(db_err)?;
    }
    r.files_meta = state.meta.len();
    let mut fx = tx.open_table(xattrs::FILES_XATTR).map_err(db_err)?;
    for (p, x) in &state.xattrs {
        xattrs::replace(&mut fx, p, x)?;
    }
    sealed::put_meta(&mut meta, snapshots::SEQ, &state.seq.to_le_bytes())?;
    let mut snaps = tx.open_table(snapshots::SNAPSHOTS).map_err(db_err)?;
    for snap in state.snapshots.values() {
        snapshots::put(&mut snaps, snap)?;
    }
    r.snapshots = state.snapshots.len();
    let mut h = tx.open_table(snapshots::HISTORY).map_err(db_err)?;
    for (k, old) in &state.history {
        let v = snapshots::hist_value(old.as_deref());
        h.insert(k.as_slice(), sealed::seal("snap_history", k, &v).as_slice())
            .map_err(db_err)?;
    }
    Ok(())
}
