//! The block store: redb indexes every block by multihash (small blocks
//! inline, big ones as a location in a pack file) and holds pins and the
//! writable tree's root. Nothing outside this module touches redb.

pub(crate) mod check;
mod delete;
mod files;
mod links;
mod loc;
mod metalog;
pub(crate) mod pack;
mod pins;
mod rebuild;
mod recover;
pub mod retention;
mod sealed;
mod snapshots;
mod xattrs;

pub use rebuild::{RebuildReport, rebuild_index};

pub use check::Read;
pub use files::{FileMeta, FilesView, MetaChange, MetaExt};
pub use links::LinkGroups;
pub use pins::PinKind;
pub use retention::Retention;
pub use snapshots::{Snapshot, dir_names as snapshot_dir_names, utc_name};
pub use xattrs::Xattrs;

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

/// Blocks up to this size live inside redb (as iroh-blobs does): for them
/// a pack offset would cost as much as the data.
pub const INLINE_MAX: usize = 16 * 1024;
/// Puts are committed in one redb transaction (and one pack fsync) per this
/// many bytes: fewer fsyncs keep `add` near disk speed (measured: 8 MiB
/// batches 5.1 s, 32 MiB 3.9 s for 1 GiB).
const BATCH_BYTES: usize = 32 * 1024 * 1024;
/// "2": packed blocks may carry a BLAKE3 sum (`loc.rs`), which p2pfs
/// reading format "1" does not know; a "1" repo is upgraded at open.
pub const FORMAT_VERSION: &[u8] = b"2";
/// How far past a block being read the pack is read ahead.
const PREFETCH: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the block index {path} is damaged or unreadable ({reason}): run `p2pfs repo rebuild-index` to rebuild it from the pack files and meta.log (the old index is kept beside it)"
    )]
    Open { path: PathBuf, reason: String },
    /// redb's error, typed (in the message, so not also a `source`).
    #[error("block index: {0}")]
    Db(redb::Error),
    #[error("the block store is closed (the node is stopping)")]
    Closed,
    #[error(
        "store format '{0}' is not supported by this version of p2pfs (a newer p2pfs wrote it): use that version"
    )]
    Format(String),
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
    #[error("{0}")]
    Invalid(String),
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

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(e.into())
}

impl From<StoreError> for BlockError {
    fn from(e: StoreError) -> Self {
        BlockError::Store(Box::new(e))
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
    /// Which snapshots of files/ checkpoints keep.
    retention: Mutex<Retention>,
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
            retention: Mutex::new(Retention::default()),
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
                    reason: reason.to_string(),
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
            tx.open_table(xattrs::FILES_XATTR).map_err(db_err)?;
            tx.open_table(ACCESS).map_err(db_err)?;
            tx.open_table(check::BAD).map_err(db_err)?;
            tx.open_table(snapshots::SNAPSHOTS).map_err(db_err)?;
            tx.open_table(snapshots::HISTORY).map_err(db_err)?;
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
                    return Err(StoreError::Format(String::from_utf8_lossy(v).into_owned()));
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
        self.read_block_for(mh, |_| check::Use::Ranges)
    }

    /// `pick` chooses the use from the block's size (known once looked up).
    fn read_block_for(
        &self,
        mh: &[u8],
        pick: impl FnOnce(u64) -> check::Use,
    ) -> Result<Option<Read>, StoreError> {
        if self.is_bad(mh) {
            return Ok(Some(Read::Damaged("found damaged before".into())));
        }
        match self.lookup(mh)? {
            None => Ok(None),
            Some(loc) => {
                self.touch(mh);
                let by = pick(loc.len());
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
            let wal = p.wal.as_mut().ok_or(StoreError::Closed)?;
            wal.append(&key, data).map_err(|e| StoreError::Io {
                context: "appending to the write-ahead log".into(),
                source: e,
            })?;
            Loc::Inline(data.to_vec())
        } else {
            let mut app = p.appender.take().ok_or(StoreError::Closed)?;
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
    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            return Ok(Some(b.len() as u64));
        }
        Ok(self.block_size(&cid.hash().to_bytes())?)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            let s = (start as usize).min(b.len());
            return Ok(b[s..(s.saturating_add(len as usize)).min(b.len())].to_vec());
        }
        // The whole block is read and verified (once: it stays in the
        // verified cache for the next range). A range from its start that
        // covers it (FUSE reads 256 KiB, a leaf's size) takes it, no copy.
        let b = self.checked(cid, |size| {
            if start == 0 && len >= size {
                check::Use::Whole
            } else {
                check::Use::Ranges
            }
        })?;
        if start == 0 && len >= b.len() as u64 {
            return Ok(std::sync::Arc::try_unwrap(b).unwrap_or_else(|b| b.to_vec()));
        }
        let s = (start as usize).min(b.len());
        Ok(b[s..(s.saturating_add(len as usize)).min(b.len())].to_vec())
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            return Ok(b.to_vec());
        }
        let b = self.checked(cid, |_| check::Use::Whole)?;
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
    fn checked(
        &self,
        cid: &Cid,
        pick: impl FnOnce(u64) -> check::Use,
    ) -> Result<std::sync::Arc<Vec<u8>>, BlockError> {
        match self.read_block_for(&cid.hash().to_bytes(), pick)? {
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
