//! The block store: redb indexes every block by multihash (small blocks
//! inline, big ones as a location in a pack file) and holds pins and the
//! writable tree's root. Nothing outside this module touches redb.

pub(crate) mod check;
mod loc;
mod metalog;
pub(crate) mod pack;
mod rebuild;
mod sealed;

pub use rebuild::{RebuildReport, rebuild_index};

pub use check::Read;

use crate::block::{BlockError, BlockGet, BlockPut, identity_bytes};
use cid::Cid;
use loc::Loc;
use pack::{Appender, PACK_MAX, Packs};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use sealed::PINS;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// multihash bytes → location ([0] + bytes inline, or [1] + pack + offset + len).
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
/// pack id → bytes committed.
const PACKS: TableDefinition<u32, u64> = TableDefinition::new("packs");
/// Small named values (the writable tree's root, format version).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// multihash → when the block was last read or written (the store's
/// logical clock): the order in which the cache is evicted.
const ACCESS: TableDefinition<&[u8], u64> = TableDefinition::new("access");
/// files/ path → mode, owner, times (FileMeta), kept beside the tree so they do not change CIDs.
const FILES_META: TableDefinition<&str, &[u8]> = TableDefinition::new("files_meta");

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

    fn encode(&self) -> [u8; Self::LEN] {
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

    fn decode(b: &[u8]) -> Option<FileMeta> {
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
    RemoveTree(&'a str),
    MoveTree(&'a str, &'a str),
}

/// Blocks up to this size live inside redb (as iroh-blobs does): for them
/// a pack offset would cost as much as the data.
pub const INLINE_MAX: usize = 16 * 1024;
/// Puts are committed in one redb transaction (and one pack fsync) per this
/// many bytes: fewer fsyncs keep `add` near disk speed (measured: 8 MiB
/// batches 5.1 s, 32 MiB 3.9 s for 1 GiB).
const BATCH_BYTES: usize = 32 * 1024 * 1024;
/// "2": packed blocks may carry a BLAKE3 sum (`loc.rs`), which p2pfs
/// reading format "1" does not know; a "1" repo is upgraded at open.
const FORMAT_VERSION: &[u8] = b"2";
/// How far past a block being read the pack is read ahead.
const PREFETCH: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the block index {path} is damaged or unreadable ({reason}): run `p2pfs repo rebuild-index` to rebuild it from the pack files and meta.log (the old index is kept beside it)"
    )]
    Open { path: PathBuf, reason: String },
    #[error("block index: {0}")]
    Db(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("damaged index entry for block {0}: run `p2pfs repo verify`")]
    BadEntry(String),
    #[error(
        "the block index is damaged ({0}): run `p2pfs repo rebuild-index` to rebuild it from the pack files and meta.log (the old index is kept beside it)"
    )]
    DamagedIndex(String),
    #[error("block {block} is damaged ({why}); `p2pfs repo verify --repair` fetches a good copy from peers")]
    Damaged { block: String, why: String },
}

/// The kind of a pin from its sealed value (None: an unknown kind).
fn pin_kind(key: &[u8], v: &[u8]) -> Result<Option<PinKind>, StoreError> {
    let v = sealed::unseal("pins", key, v)?;
    Ok(v.first().and_then(|&b| PinKind::from_u8(b)))
}

/// The text of a panic's payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic in redb".into())
}

thread_local! {
    /// Where the last panic on this thread happened, if inside redb.
    static INDEX_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs a panic hook that keeps panics inside redb (a damaged index)
/// off the terminal: they are reported as errors with their cure instead
/// ([`index_panic`]). Other panics print as usual.
pub fn quiet_index_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(loc) = info.location()
            && loc.file().contains("/redb-")
        {
            INDEX_PANIC.with(|p| *p.borrow_mut() = Some(format!("{} at {loc}", panic_text(info.payload()))));
            tracing::debug!("redb panicked: {info}");
            return;
        }
        default(info)
    }));
}

/// If `panic` came from redb (a damaged index), the error to show for it.
pub fn index_panic(panic: &(dyn std::any::Any + Send)) -> Option<String> {
    let at = INDEX_PANIC.with(|p| p.borrow_mut().take())?;
    Some(format!(
        "the block index (store/index.redb) is damaged ({}; {at}). Run `p2pfs repo rebuild-index` to rebuild it from the pack files and meta.log (the old index is kept beside it)",
        panic_text(panic)
    ))
}

/// Whether the store in `dir` holds blocks or pins outside its index: a
/// non-empty pack file, WAL or meta.log.
fn holds_data(dir: &Path) -> bool {
    let nonempty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    nonempty(&dir.join("wal.log"))
        || nonempty(&dir.join(metalog::FILE))
        || std::fs::read_dir(dir.join("packs")).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("pack-") && nonempty(&e.path()))
        })
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

impl From<StoreError> for BlockError {
    fn from(e: StoreError) -> Self {
        BlockError::Store(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinKind {
    Recursive,
    Direct,
}

impl PinKind {
    fn to_u8(self) -> u8 {
        match self {
            PinKind::Recursive => 1,
            PinKind::Direct => 2,
        }
    }
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(PinKind::Recursive),
            2 => Some(PinKind::Direct),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PinKind::Recursive => "recursive",
            PinKind::Direct => "direct",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recursive" => Some(PinKind::Recursive),
            "direct" => Some(PinKind::Direct),
            _ => None,
        }
    }
}

/// Writes not yet committed to redb.
struct Pending {
    entries: HashMap<Vec<u8>, Loc>,
    bytes: usize,
    appender: Option<Appender>,
    /// Write-ahead log of the small blocks in `entries`.
    wal: Option<Appender>,
    /// Packs appended to in this batch, with their new lengths.
    touched: BTreeMap<u32, u64>,
}

/// Called with (multihash, size) of each block.
pub type BlockVisitor<'a> = dyn FnMut(&[u8], u64) -> Result<(), StoreError> + 'a;

pub struct Store {
    dir: PathBuf,
    db: Database,
    packs: Packs,
    pending: Mutex<Pending>,
    /// Logical clock of block accesses (persisted in META at each commit).
    clock: AtomicU64,
    /// Accesses not yet written to ACCESS.
    touches: Mutex<HashMap<Vec<u8>, u64>>,
    /// Bytes of all blocks, committed or pending.
    total: AtomicU64,
    /// Told the multihash of every block new to the store (the provider).
    listener: std::sync::OnceLock<Listener>,
    /// Space of deleted blocks, freed after HOLE_DELAY.
    holes: Mutex<Vec<(std::time::Instant, Hole)>>,
    /// Verification: bad blocks, verified blocks for ranged reads.
    checks: check::Checks,
    /// Pins and the files/ state, also kept outside redb (for a rebuild).
    log: metalog::MetaLog,
}

/// A deleted block's place: pack, offset, length.
type Hole = (u32, u64, u32);

/// How long the space of a deleted block is left alone: longer than any read
/// that found the block before it was deleted takes.
const HOLE_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Told the multihash of each new block.
pub type Listener = Box<dyn Fn(&[u8]) + Send + Sync>;

/// A block as the cache sees it.
pub struct CacheEntry {
    pub multihash: Vec<u8>,
    pub size: u64,
    /// When it was last read or written (0: before access times were kept).
    pub last_access: u64,
}

/// Accesses kept in memory at most before they are committed.
const MAX_TOUCHES: usize = 1 << 16;

/// Totals for `repo stat`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    pub blocks: u64,
    pub bytes: u64,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, repairing what a crash
    /// may have left: uncommitted pack bytes are cut off.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            context: format!("creating {}", dir.display()),
            source: e,
        })?;
        let path = dir.join("index.redb");
        // A missing or empty index beside stored data is damage, not a new
        // store: opened, it would show no pins and an empty files/ (and a
        // gc would then delete everything).
        let empty = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        if empty && holds_data(dir) {
            return Err(StoreError::Open {
                path,
                reason: "it is missing or empty while the pack files, the WAL or meta.log hold data".into(),
            });
        }
        let db = Database::create(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let packs = Packs::new(&dir.join("packs")).map_err(|e| StoreError::Io {
            context: format!("creating {}", dir.join("packs").display()),
            source: e,
        })?;
        let store = Store {
            dir: dir.to_path_buf(),
            db,
            packs,
            pending: Mutex::new(Pending {
                entries: HashMap::new(),
                bytes: 0,
                appender: None,
                wal: None,
                touched: BTreeMap::new(),
            }),
            clock: AtomicU64::new(0),
            touches: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            listener: std::sync::OnceLock::new(),
            holes: Mutex::new(Vec::new()),
            checks: Default::default(),
            log: metalog::MetaLog::open(dir),
        };
        // redb may panic on a damaged file: that is a damaged index.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.init_tables()?;
            store.load_counters()?;
            store.load_bad()?;
            store.recover()
        }));
        match opened {
            Ok(r) => r.map_err(|e| match e {
                StoreError::Db(reason) => StoreError::Open {
                    path: path.clone(),
                    reason,
                },
                e => e,
            })?,
            Err(panic) => {
                let at = INDEX_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
                return Err(StoreError::Open {
                    path,
                    reason: format!("it is damaged ({}; {at})", panic_text(&*panic)),
                });
            }
        }
        // A repo from before meta.log: start it from the index.
        if !dir.join(metalog::FILE).exists() {
            let state = store.log_state()?;
            if state != metalog::State::default()
                && let Err(e) = store.log.compact(&state)
            {
                tracing::warn!("writing {}: {e}", metalog::FILE);
            }
        }
        Ok(store)
    }

    fn init_tables(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            tx.open_table(BLOCKS).map_err(db_err)?;
            tx.open_table(PINS).map_err(db_err)?;
            tx.open_table(PACKS).map_err(db_err)?;
            tx.open_table(FILES_META).map_err(db_err)?;
            tx.open_table(ACCESS).map_err(db_err)?;
            tx.open_table(check::BAD).map_err(db_err)?;
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let version = meta.get("format").map_err(db_err)?.map(|v| v.value().to_vec());
            match version.as_deref() {
                None | Some(b"1") => {
                    meta.insert("format", FORMAT_VERSION).map_err(db_err)?;
                    drop(meta);
                    sealed::migrate_from_1(&tx)?;
                }
                Some(v) if v == FORMAT_VERSION => {}
                Some(v) => {
                    return Err(StoreError::Db(format!(
                        "store format '{}' is not supported by this version of p2pfs (a newer p2pfs wrote it): use that version",
                        String::from_utf8_lossy(v)
                    )));
                }
            }
        }
        tx.commit().map_err(db_err)
    }

    /// Reads the access clock and the byte total; a repo from before they
    /// were kept gets its total counted once.
    fn load_counters(&self) -> Result<(), StoreError> {
        let read = |k: &str| -> Result<Option<u64>, StoreError> {
            Ok(self
                .meta(k)?
                .and_then(|v| v.try_into().ok())
                .map(u64::from_le_bytes))
        };
        self.clock.store(read("clock")?.unwrap_or(0), Ordering::Relaxed);
        let total = match read("total_bytes")? {
            Some(t) => t,
            None => {
                let tx = self.db.begin_read().map_err(db_err)?;
                let t = tx.open_table(BLOCKS).map_err(db_err)?;
                let mut sum = 0;
                for r in t.iter().map_err(db_err)? {
                    let (k, v) = r.map_err(db_err)?;
                    sum += Loc::decode(k.value(), v.value())
                        .ok_or_else(|| StoreError::BadEntry(hex(k.value())))?
                        .len();
                }
                sum
            }
        };
        self.total.store(total, Ordering::Relaxed);
        Ok(())
    }

    /// Notes that a block was read or written now.
    fn touch(&self, key: &[u8]) {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        let mut t = self.touches.lock().unwrap_or_else(|e| e.into_inner());
        t.insert(key.to_vec(), tick);
        // Committed along with the next batch of puts; a read-only load
        // commits them itself now and then, unless this thread is inside a
        // put (holding the pending lock: try_lock fails, no deadlock).
        if t.len() >= MAX_TOUCHES {
            drop(t);
            let free = self.pending.try_lock().is_ok();
            if free && let Err(e) = self.commit() {
                tracing::warn!("could not record block access times: {e}");
            }
        }
    }

    /// Calls `f` with the multihash of every block stored from now on (once;
    /// later calls are ignored).
    pub fn set_listener(&self, f: Listener) {
        let _ = self.listener.set(f);
    }

    /// The access clock now: blocks touched from here on count as newer.
    pub fn clock(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Bytes of every block in the store.
    pub fn total_bytes(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Every committed block not in `keep`, with its size and last access.
    pub fn cache_entries(&self, keep: &HashSet<Vec<u8>>) -> Result<Vec<CacheEntry>, StoreError> {
        self.commit()?;
        let tx = self.db.begin_read().map_err(db_err)?;
        let blocks = tx.open_table(BLOCKS).map_err(db_err)?;
        let access = tx.open_table(ACCESS).map_err(db_err)?;
        let mut out = Vec::new();
        for r in blocks.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            if keep.contains(k.value()) {
                continue;
            }
            let size = Loc::decode(k.value(), v.value())
                .ok_or_else(|| StoreError::BadEntry(hex(k.value())))?
                .len();
            let last_access = access.get(k.value()).map_err(db_err)?.map_or(0, |a| a.value());
            out.push(CacheEntry {
                multihash: k.value().to_vec(),
                size,
                last_access,
            });
        }
        // Accesses since the commit above are newer than anything in ACCESS.
        let t = self.touches.lock().unwrap_or_else(|e| e.into_inner());
        for e in &mut out {
            if let Some(&tick) = t.get(&e.multihash) {
                e.last_access = tick;
            }
        }
        Ok(out)
    }

    /// Brings the index up to date with what a killed process appended but
    /// did not commit: verified records past each pack's committed length and
    /// in the WAL are indexed again; torn tails are cut off.
    fn recover(&self) -> Result<(), StoreError> {
        let committed: BTreeMap<u32, u64> = {
            let tx = self.db.begin_read().map_err(db_err)?;
            let t = tx.open_table(PACKS).map_err(db_err)?;
            let mut m = BTreeMap::new();
            for r in t.iter().map_err(db_err)? {
                let (k, v) = r.map_err(db_err)?;
                m.insert(k.value(), v.value());
            }
            m
        };
        let io = |e| StoreError::Io {
            context: "recovering pack files".into(),
            source: e,
        };
        let mut recovered = 0usize;
        let mut last = committed
            .last_key_value()
            .map(|(i, l)| (*i, *l))
            .unwrap_or((0, 0));
        for id in self.packs.list().map_err(io)? {
            let from = committed.get(&id).copied().unwrap_or(0);
            let path = self.packs.path(id);
            let (records, end) = pack::scan(&path, from).map_err(io)?;
            self.cut_torn_tail(&path, from, end)?;
            let mut p = self.lock();
            for r in records {
                recovered += 1;
                p.bytes += r.data.len();
                self.total.fetch_add(r.data.len() as u64, Ordering::Relaxed);
                let loc = Loc::packed(&r.multihash, id, r.offset, &r.data);
                p.entries.insert(r.multihash, loc);
            }
            if end > from {
                p.touched.insert(id, end);
            }
            if id >= last.0 {
                last = (id, end);
            }
        }
        let mut missing = false;
        for (&id, &len) in &committed {
            if len > 0 && !self.packs.path(id).exists() {
                missing |= id == last.0;
                tracing::error!(
                    pack = id,
                    "pack file is missing: its blocks are damage, served to nobody (run `p2pfs repo verify --repair`)"
                );
            }
        }
        if missing {
            // Never recreate a missing pack (its blocks would read as
            // zeros): new blocks go to a new one.
            last = (last.0 + 1, PACK_MAX);
        }
        let wal_path = self.dir.join("wal.log");
        // The WAL keeps every small block (a rebuilt index finds them
        // there); what is past its committed length is indexed again.
        let wal_from = self
            .meta("wal_len")?
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        let wal_len = if wal_path.exists() {
            let (records, end) = pack::scan(&wal_path, wal_from).map_err(io)?;
            self.cut_torn_tail(&wal_path, wal_from, end)?;
            let mut p = self.lock();
            for r in records {
                recovered += 1;
                p.bytes += r.data.len();
                // A repo from before the WAL was kept reset it after each
                // commit, and a crash in between left indexed records.
                if !self.committed_has(&r.multihash)? {
                    self.total.fetch_add(r.data.len() as u64, Ordering::Relaxed);
                }
                p.entries.insert(r.multihash, Loc::Inline(r.data));
            }
            end
        } else {
            0
        };
        let (id, len) = if last.1 >= PACK_MAX { (last.0 + 1, 0) } else { last };
        {
            let mut p = self.lock();
            p.appender = Some(self.packs.open_appender(id, len).map_err(io)?);
            p.wal = Some(Appender::open_file(&wal_path, wal_len).map_err(io)?);
        }
        if recovered > 0 {
            tracing::info!(
                blocks = recovered,
                "recovered blocks written before an unclean stop"
            );
            self.commit()?;
        }
        Ok(())
    }

    /// Cuts what a killed append left at the end of a record file, after
    /// checking that it is only that. The index says where committed
    /// records end (`from`); if the file is shorter, or a valid record
    /// follows the cut, the index is what is damaged (a flipped length would
    /// otherwise cut good records off, or grow the file with zeros): that
    /// is an error naming `repo rebuild-index`, and the file is left alone.
    fn cut_torn_tail(&self, path: &Path, from: u64, end: u64) -> Result<(), StoreError> {
        let io = |e| StoreError::Io {
            context: format!("recovering {}", path.display()),
            source: e,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let damaged = |why: String| StoreError::Open {
            path: self.dir.join("index.redb"),
            reason: format!("{why}; nothing was changed"),
        };
        if len < from {
            return Err(damaged(format!(
                "it records {from} bytes of {} but the file has {len}",
                path.display()
            )));
        }
        if end < len
            && (!pack::is_boundary(path, end).map_err(io)?
                || pack::record_after(path, end + 1).map_err(io)?)
        {
            return Err(damaged(format!(
                "records of {} continue past where it says they end ({from})",
                path.display()
            )));
        }
        Packs::truncate(path, end).map_err(io)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &[u8]) -> Result<Option<Loc>, StoreError> {
        if let Some(loc) = self.lock().entries.get(key) {
            return Ok(Some(loc.clone()));
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(BLOCKS).map_err(db_err)?;
        match t.get(key).map_err(db_err)? {
            None => Ok(None),
            Some(v) => Loc::decode(key, v.value())
                .map(Some)
                .ok_or_else(|| StoreError::BadEntry(hex(key))),
        }
    }

    fn read_loc(&self, key: &[u8], loc: &Loc) -> Result<Vec<u8>, StoreError> {
        self.read_loc_range(key, loc, 0, u64::MAX)
    }

    /// Reads `[start, start+len)` of a block (clamped to its size).
    fn read_loc_range(&self, key: &[u8], loc: &Loc, start: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let size = loc.len();
        let s = start.min(size);
        let e = s.saturating_add(len).min(size);
        match loc {
            Loc::Inline(d) => Ok(d[s as usize..e as usize].to_vec()),
            &Loc::Packed { pack, offset, .. } => {
                // Each time a read enters a new PREFETCH-sized window of the
                // pack, read the next window ahead (see `prefetch`).
                let at = offset + s;
                if s == 0 && at / PREFETCH != (at + size) / PREFETCH {
                    self.packs
                        .prefetch(pack, (at / PREFETCH + 1) * PREFETCH, PREFETCH);
                }
                self.packs
                    .read(pack, offset + s, (e - s) as u32)
                    .map_err(|e| StoreError::Io {
                        context: format!(
                            "reading block {} from {} (run `p2pfs repo verify`)",
                            hex(key),
                            self.packs.path(pack).display()
                        ),
                        source: e,
                    })
            }
        }
    }

    /// The bytes stored under a multihash, if any, verified.
    pub fn get_by_hash(&self, mh: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.read_block(mh)? {
            None => Ok(None),
            Some(Read::Ok(b)) => Ok(Some(b.to_vec())),
            Some(Read::Damaged(why)) => Err(StoreError::Damaged { block: hex(mh), why }),
        }
    }

    /// A stored block, read whole and verified; None if not stored.
    pub fn read_block(&self, mh: &[u8]) -> Result<Option<Read>, StoreError> {
        self.read_block_for(mh, check::Use::Ranges)
    }

    fn read_block_for(&self, mh: &[u8], by: check::Use) -> Result<Option<Read>, StoreError> {
        if self.is_bad(mh) {
            return Ok(Some(Read::Damaged("found damaged before".into())));
        }
        match self.lookup(mh)? {
            None => Ok(None),
            Some(loc) => {
                self.touch(mh);
                self.read_checked(mh, loc, by).map(Some)
            }
        }
    }

    pub fn put_block(&self, cid: &Cid, data: &[u8]) -> Result<(), StoreError> {
        self.put_inner(cid, data, true)
    }

    /// Stores a block fetched from the network: like [`Store::put_block`],
    /// without telling the listener (cache is not announced).
    pub fn put_cached(&self, cid: &Cid, data: &[u8]) -> Result<(), StoreError> {
        self.put_inner(cid, data, false)
    }

    fn put_inner(&self, cid: &Cid, data: &[u8], announce: bool) -> Result<(), StoreError> {
        if identity_bytes(cid).is_some() {
            return Ok(());
        }
        let key = cid.hash().to_bytes();
        // The read-time check's sum, taken before the lock (hashing under
        // it would serialize writers).
        let sum = (data.len() > INLINE_MAX).then(|| loc::sum(&key, data));
        let mut p = self.lock();
        let bad = self.is_bad(&key);
        if !bad && (p.entries.contains_key(&key) || self.committed_has(&key)?) {
            // Written again: as new as a first write, to GC and eviction.
            self.touch(&key);
            return Ok(());
        }
        let loc = if data.len() <= INLINE_MAX {
            let wal = p
                .wal
                .as_mut()
                .ok_or_else(|| StoreError::Db("store is closed".into()))?;
            wal.append(&key, data).map_err(|e| StoreError::Io {
                context: "appending to the write-ahead log".into(),
                source: e,
            })?;
            Loc::Inline(data.to_vec())
        } else {
            let mut app = p
                .appender
                .take()
                .ok_or_else(|| StoreError::Db("store is closed".into()))?;
            if app.len >= PACK_MAX {
                let io = |e| StoreError::Io {
                    context: "starting a new pack file".into(),
                    source: e,
                };
                app.sync().map_err(io)?;
                app = self.packs.open_appender(app.id + 1, 0).map_err(io)?;
            }
            let res = app.append(&key, data);
            let (id, len) = (app.id, app.len);
            p.appender = Some(app);
            let offset = res.map_err(|e| StoreError::Io {
                context: "appending to a pack file".into(),
                source: e,
            })?;
            p.touched.insert(id, len);
            Loc::Packed {
                pack: id,
                offset,
                len: data.len() as u32,
                sum,
            }
        };
        p.bytes += data.len();
        self.total.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.touch(&key);
        if announce && let Some(f) = self.listener.get() {
            f(&key);
        }
        if bad {
            // A verified copy replaces the damaged one (the caller checked
            // `data` against `cid`).
            self.healed(&key);
        }
        p.entries.insert(key, loc);
        let full = p.bytes >= BATCH_BYTES;
        drop(p);
        if full {
            self.commit()?;
        }
        Ok(())
    }

    fn committed_has(&self, key: &[u8]) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(BLOCKS).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.is_some())
    }

    /// Makes every put so far durable: pack bytes are fsynced, then one redb
    /// transaction points at them.
    pub fn commit(&self) -> Result<(), StoreError> {
        self.punch_holes(false);
        let mut p = self.lock();
        let touches = std::mem::take(&mut *self.touches.lock().unwrap_or_else(|e| e.into_inner()));
        if p.entries.is_empty() && touches.is_empty() {
            return Ok(());
        }
        if !p.touched.is_empty()
            && let Some(app) = p.appender.as_mut()
        {
            app.sync().map_err(|e| StoreError::Io {
                context: "syncing a pack file".into(),
                source: e,
            })?;
        }
        // Small blocks stay in the WAL for good (a rebuild reads them):
        // synced, like the packs, before the index points past them.
        let wal_len = match p.wal.as_mut() {
            Some(wal) => {
                wal.sync().map_err(|e| StoreError::Io {
                    context: "syncing the write-ahead log".into(),
                    source: e,
                })?;
                Some(wal.len)
            }
            None => None,
        };
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut blocks = tx.open_table(BLOCKS).map_err(db_err)?;
            for (k, loc) in &p.entries {
                blocks
                    .insert(k.as_slice(), loc.encode(k).as_slice())
                    .map_err(db_err)?;
            }
            let mut packs = tx.open_table(PACKS).map_err(db_err)?;
            for (&id, &len) in &p.touched {
                packs.insert(id, len).map_err(db_err)?;
            }
            let mut access = tx.open_table(ACCESS).map_err(db_err)?;
            for (k, tick) in &touches {
                access.insert(k.as_slice(), tick).map_err(db_err)?;
            }
            self.commit_healed(&tx)?;
            let mut meta = tx.open_table(META).map_err(db_err)?;
            sealed::put_meta(&mut meta, "clock", &self.clock().to_le_bytes())?;
            sealed::put_meta(&mut meta, "total_bytes", &self.total_bytes().to_le_bytes())?;
            if let Some(len) = wal_len {
                sealed::put_meta(&mut meta, "wal_len", &len.to_le_bytes())?;
            }
        }
        tx.commit().map_err(db_err)?;
        p.entries.clear();
        p.touched.clear();
        p.bytes = 0;
        Ok(())
    }

    /// Calls `f(multihash, size)` for every committed block.
    pub fn for_each_block(&self, f: &mut BlockVisitor<'_>) -> Result<(), StoreError> {
        self.commit()?;
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(BLOCKS).map_err(db_err)?;
        for r in t.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            let loc =
                Loc::decode(k.value(), v.value()).ok_or_else(|| StoreError::BadEntry(hex(k.value())))?;
            f(k.value(), loc.len())?;
        }
        Ok(())
    }

    pub fn usage(&self) -> Result<Usage, StoreError> {
        let mut u = Usage::default();
        self.for_each_block(&mut |_, len| {
            u.blocks += 1;
            u.bytes += len;
            Ok(())
        })?;
        Ok(u)
    }

    /// Size of one block, without reading it.
    pub fn block_size(&self, mh: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self.lookup(mh)?.map(|l| l.len()))
    }

    /// Deletes blocks by multihash; returns (blocks, bytes) freed.
    pub fn delete(&self, keys: &[Vec<u8>]) -> Result<(u64, u64), StoreError> {
        self.delete_unused(keys, u64::MAX)
    }

    /// Deletes the blocks among `keys` not read or written after tick
    /// `cutoff` (see [`Store::clock`]); returns (blocks, bytes) freed. A block
    /// touched since a sweep chose it may be in use again: it stays.
    pub fn delete_unused(&self, keys: &[Vec<u8>], cutoff: u64) -> Result<(u64, u64), StoreError> {
        self.commit()?;
        self.forget_verified(keys);
        let mut holes = Vec::new();
        let (mut n, mut bytes) = (0, 0);
        // Held to the commit: no touch slips between the check and the delete.
        let touches = self.touches.lock().unwrap_or_else(|e| e.into_inner());
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(BLOCKS).map_err(db_err)?;
            let mut access = tx.open_table(ACCESS).map_err(db_err)?;
            for k in keys {
                let tick = match touches.get(k) {
                    Some(&t) => t,
                    None => access.get(k.as_slice()).map_err(db_err)?.map_or(0, |a| a.value()),
                };
                if tick > cutoff {
                    continue;
                }
                access.remove(k.as_slice()).map_err(db_err)?;
                if let Some(v) = t.remove(k.as_slice()).map_err(db_err)?
                    && let Some(loc) = Loc::decode(k, v.value())
                {
                    n += 1;
                    bytes += loc.len();
                    if let Loc::Packed {
                        pack, offset, len, ..
                    } = loc
                    {
                        holes.push((pack, offset, len));
                    }
                }
            }
            let total = self.total_bytes().saturating_sub(bytes);
            let mut meta = tx.open_table(META).map_err(db_err)?;
            sealed::put_meta(&mut meta, "total_bytes", &total.to_le_bytes())?;
        }
        tx.commit().map_err(db_err)?;
        drop(touches);
        self.total
            .fetch_sub(bytes.min(self.total_bytes()), Ordering::Relaxed);
        // Only after the commit (until then the index points here), and not
        // at once: a reader that looked the block up just before may still
        // be reading it.
        let now = std::time::Instant::now();
        self.holes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(holes.into_iter().map(|h| (now, h)));
        self.punch_holes(false);
        Ok((n, bytes))
    }

    /// Frees the space of deleted blocks, once no read can be using it.
    fn punch_holes(&self, all: bool) {
        let due: Vec<Hole> = {
            let mut h = self.holes.lock().unwrap_or_else(|e| e.into_inner());
            let (due, keep): (Vec<_>, Vec<_>) =
                h.drain(..).partition(|(at, _)| all || at.elapsed() >= HOLE_DELAY);
            *h = keep;
            due.into_iter().map(|(_, hole)| hole).collect()
        };
        for (pack, offset, len) in due {
            self.packs.punch(pack, offset, len);
        }
    }

    pub fn pin(&self, cid: &Cid, kind: PinKind) -> Result<(), StoreError> {
        self.commit()?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(PINS).map_err(db_err)?;
            let key = cid.to_bytes();
            // A recursive pin covers a direct one; never downgrade.
            let old = match t.get(key.as_slice()).map_err(db_err)? {
                Some(v) => pin_kind(&key, v.value())?,
                None => None,
            };
            if old != Some(PinKind::Recursive) {
                t.insert(
                    key.as_slice(),
                    sealed::seal("pins", &key, &[kind.to_u8()]).as_slice(),
                )
                .map_err(db_err)?;
            }
        }
        self.log.pin(cid, kind);
        tx.commit().map_err(db_err)
    }

    /// Removes a pin; returns the kind it had.
    pub fn unpin(&self, cid: &Cid) -> Result<Option<PinKind>, StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let old = {
            let mut t = tx.open_table(PINS).map_err(db_err)?;
            let key = cid.to_bytes();
            match t.remove(key.as_slice()).map_err(db_err)? {
                Some(v) => pin_kind(&key, v.value())?,
                None => None,
            }
        };
        tx.commit().map_err(db_err)?;
        // Logged after the commit: a crash in between keeps the pin (safe).
        if old.is_some() {
            self.log.unpin(cid);
        }
        Ok(old)
    }

    pub fn pins(&self) -> Result<Vec<(Cid, PinKind)>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(PINS).map_err(db_err)?;
        let mut out = Vec::new();
        for r in t.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            let kind = pin_kind(k.value(), v.value())?;
            let cid = Cid::try_from(k.value()).map_err(|_| StoreError::BadEntry(hex(k.value())))?;
            let kind = kind.ok_or_else(|| StoreError::BadEntry(cid.to_string()))?;
            out.push((cid, kind));
        }
        Ok(out)
    }

    pub fn pin_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        tx.open_table(PINS).map_err(db_err)?.len().map_err(db_err)
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(META).map_err(db_err)?;
        sealed::get_meta(&t, key)
    }

    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.commit()?;
        let tx = self.db.begin_write().map_err(db_err)?;
        sealed::put_meta(&mut tx.open_table(META).map_err(db_err)?, key, value)?;
        tx.commit().map_err(db_err)
    }

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

    /// Entries directly in directory `dir` of the files/ tree whose saved
    /// metadata makes them special files (FIFOs, sockets, devices: not in
    /// the DAG). Seeks past each child's subtree, so the cost is one lookup
    /// per child, not per descendant.
    pub fn files_specials(&self, dir: &str) -> Result<Vec<(String, FileMeta)>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(FILES_META).map_err(db_err)?;
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

    /// Durably records a new files/ root: pending blocks first, then root,
    /// generation and metadata changes in one transaction.
    pub fn checkpoint_files(
        &self,
        root: &Cid,
        generation: u64,
        changes: &[MetaChange],
    ) -> Result<(), StoreError> {
        self.commit()?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            sealed::put_meta(&mut meta, "files_root", &root.to_bytes())?;
            sealed::put_meta(&mut meta, "files_generation", &generation.to_le_bytes())?;
            let mut t = tx.open_table(FILES_META).map_err(db_err)?;
            for c in changes {
                match c {
                    MetaChange::Set(p, m) => {
                        t.insert(*p, m.encode().as_slice()).map_err(db_err)?;
                    }
                    MetaChange::RemoveTree(p) => {
                        for (k, _) in subtree(&t, p)? {
                            t.remove(k.as_str()).map_err(db_err)?;
                        }
                    }
                    MetaChange::MoveTree(from, to) => {
                        for (k, _) in subtree(&t, to)? {
                            t.remove(k.as_str()).map_err(db_err)?;
                        }
                        for (k, v) in subtree(&t, from)? {
                            t.remove(k.as_str()).map_err(db_err)?;
                            let nk = format!("{to}{}", &k[from.len()..]);
                            t.insert(nk.as_str(), v.as_slice()).map_err(db_err)?;
                        }
                    }
                }
            }
        }
        tx.commit().map_err(db_err)?;
        self.log_checkpoint(root, generation, changes)
    }

    /// Appends a checkpoint to the meta log (compacting it when it grew).
    fn log_checkpoint(&self, root: &Cid, generation: u64, changes: &[MetaChange]) -> Result<(), StoreError> {
        for c in changes {
            match c {
                MetaChange::Set(p, m) => self.log.set(p, *m),
                MetaChange::RemoveTree(p) => self.log.remove_tree(p),
                MetaChange::MoveTree(from, to) => self.log.move_tree(from, to),
            }
        }
        self.log.root(root, generation);
        let state_lines = self.pin_count()? + self.files_meta_count()? + 1;
        if self.log.wants_compaction(state_lines) {
            let state = self.log_state()?;
            if let Err(e) = self.log.compact(&state) {
                tracing::warn!("compacting {}: {e}", metalog::FILE);
            }
        }
        Ok(())
    }

    fn files_meta_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        tx.open_table(FILES_META).map_err(db_err)?.len().map_err(db_err)
    }

    /// Pins, files/ root and metadata as the index has them.
    fn log_state(&self) -> Result<metalog::State, StoreError> {
        let mut s = metalog::State {
            root: self.files_root()?,
            ..Default::default()
        };
        for (c, k) in self.pins()? {
            s.pins.insert(c.to_bytes(), k);
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(FILES_META).map_err(db_err)?;
        for r in t.iter().map_err(db_err)? {
            let (k, v) = r.map_err(db_err)?;
            if let Some(m) = FileMeta::decode(v.value()) {
                s.meta.insert(k.value().to_string(), m);
            }
        }
        Ok(s)
    }

    /// Multihashes of every committed block (for GC's sweep).
    pub fn all_hashes(&self) -> Result<HashSet<Vec<u8>>, StoreError> {
        let mut out = HashSet::new();
        self.for_each_block(&mut |k, _| {
            out.insert(k.to_vec());
            Ok(())
        })?;
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::error!("could not commit pending blocks on close: {e}");
        }
        self.punch_holes(true);
    }
}

impl BlockGet for Store {
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            let s = (start as usize).min(b.len());
            return Ok(b[s..(s.saturating_add(len as usize)).min(b.len())].to_vec());
        }
        // The whole block is read and verified (once: it stays in the
        // verified cache for the next range). A range from its start that
        // covers it (FUSE reads 256 KiB, a leaf's size) takes it, no copy.
        let whole = start == 0
            && self
                .lookup(&cid.hash().to_bytes())?
                .is_some_and(|l| len >= l.len());
        if whole {
            return self.get(cid);
        }
        let b = self.checked(cid, check::Use::Ranges)?;
        let s = (start as usize).min(b.len());
        Ok(b[s..(s.saturating_add(len as usize)).min(b.len())].to_vec())
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            return Ok(b.to_vec());
        }
        let b = self.checked(cid, check::Use::Whole)?;
        Ok(std::sync::Arc::try_unwrap(b).unwrap_or_else(|b| b.to_vec()))
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        if identity_bytes(cid).is_some() {
            return Ok(true);
        }
        let key = cid.hash().to_bytes();
        Ok(!self.is_bad(&key) && self.lookup(&key)?.is_some())
    }
}

impl Store {
    /// The verified bytes of a block: NotFound, or Corrupt when damaged.
    fn checked(&self, cid: &Cid, by: check::Use) -> Result<std::sync::Arc<Vec<u8>>, BlockError> {
        match self.read_block_for(&cid.hash().to_bytes(), by)? {
            None => Err(BlockError::NotFound(*cid)),
            Some(Read::Ok(b)) => Ok(b),
            Some(Read::Damaged(_)) => Err(BlockError::Corrupt { cid: *cid }),
        }
    }
}

impl BlockPut for Store {
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        Ok(self.put_block(cid, data)?)
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(self.commit()?)
    }
}

/// A sink that stores nothing: `add --only-hash`.
pub struct NullStore;

impl BlockPut for NullStore {
    fn put(&self, _: &Cid, _: &[u8]) -> Result<(), BlockError> {
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{DAG_PB, RAW, cid_v1};

    #[test]
    fn deleted_space_is_freed_later_not_under_a_reader() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let cid = cid_v1(RAW, &big);
        let s = Store::open(dir.path()).unwrap();
        s.put(&cid, &big).unwrap();
        s.flush().unwrap();
        let allocated = || std::fs::metadata(s.packs.path(0)).unwrap().blocks();
        let before = allocated();
        assert_eq!(s.delete(&[cid.hash().to_bytes()]).unwrap().0, 1);
        assert!(!s.has(&cid).unwrap());
        // Still allocated: a read that looked the block up a moment ago
        // reads real bytes, not a hole.
        assert_eq!(allocated(), before);
        s.punch_holes(true);
        assert!(allocated() + 1500 < before, "{} -> {}", before, allocated());
    }

    #[test]
    fn put_get_commit_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let small = b"small".to_vec();
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (cs, cb) = (cid_v1(RAW, &small), cid_v1(RAW, &big));
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(&cs, &small).unwrap();
            s.put(&cb, &big).unwrap();
            assert_eq!(s.get(&cb).unwrap(), big, "readable before commit");
            s.flush().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get(&cs).unwrap(), small);
        assert_eq!(s.get(&cb).unwrap(), big);
        // Same multihash under another codec is the same block.
        let as_pb = Cid::new_v1(DAG_PB, *cb.hash());
        assert!(s.has(&as_pb).unwrap());
        assert_eq!(s.usage().unwrap().blocks, 2);
    }

    /// Simulates a killed process: blocks put but never committed.
    fn kill(s: Store) {
        let mut p = s.lock();
        p.appender = None;
        p.wal = None;
        p.entries.clear();
        p.touched.clear();
        drop(p);
        s.touches.lock().unwrap().clear();
        drop(s); // pending is empty: Drop commits nothing
    }

    #[test]
    fn uncommitted_puts_survive_a_killed_process() {
        let dir = tempfile::tempdir().unwrap();
        let (big, small) = (vec![7u8; 50_000], b"small block".to_vec());
        let (cb, cs) = (cid_v1(RAW, &big), cid_v1(RAW, &small));
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(&cb, &big).unwrap();
            s.put(&cs, &small).unwrap();
            kill(s);
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get(&cb).unwrap(), big);
        assert_eq!(s.get(&cs).unwrap(), small);
    }

    #[test]
    fn torn_append_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 50_000];
        let cid = cid_v1(RAW, &big);
        let committed_len;
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(&cid, &big).unwrap();
            s.flush().unwrap();
            committed_len = std::fs::metadata(s.packs.path(0)).unwrap().len();
            // A record whose bytes do not match its hash, then garbage.
            let other = cid_v1(RAW, b"other");
            let mut p = s.lock();
            p.appender
                .as_mut()
                .unwrap()
                .append(&other.hash().to_bytes(), &[1u8; 1000])
                .unwrap();
            drop(p);
            kill(s);
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(s.packs.path(0)).unwrap().len(), committed_len);
        assert_eq!(s.get(&cid).unwrap(), big);
        assert_eq!(s.usage().unwrap().blocks, 1);
    }

    #[test]
    fn delete_frees_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let big = vec![9u8; 300_000];
        let cid = cid_v1(RAW, &big);
        s.put(&cid, &big).unwrap();
        let (n, bytes) = s.delete(&[cid.hash().to_bytes()]).unwrap();
        assert_eq!((n, bytes), (1, 300_000));
        assert!(matches!(s.get(&cid), Err(BlockError::NotFound(_))));
    }

    #[test]
    fn pins_roundtrip_and_never_downgrade() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let c = cid_v1(RAW, b"x");
        s.pin(&c, PinKind::Recursive).unwrap();
        s.pin(&c, PinKind::Direct).unwrap();
        assert_eq!(s.pins().unwrap(), vec![(c, PinKind::Recursive)]);
        assert_eq!(s.unpin(&c).unwrap(), Some(PinKind::Recursive));
        assert!(s.pins().unwrap().is_empty());
    }

    #[test]
    fn garbage_index_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.redb"),
            b"this is not a redb file at all, not even close",
        )
        .unwrap();
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
