//! Recovery at open: what a killed process appended to the packs and the
//! WAL but did not commit is indexed again; only torn tails are cut.

use super::*;

impl Store {
    /// Brings the index up to date with what a killed process appended but
    /// did not commit: verified records past each pack's committed length and
    /// in the WAL are indexed again; torn tails are cut off.
    pub(super) fn recover(&self) -> Result<(), StoreError> {
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
        let (mut recovered, mut last) = self.recover_packs(&committed)?;
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
        let (wal_records, wal_len) = self.recover_wal(&wal_path)?;
        recovered += wal_records;
        let (id, len) = if last.1 >= PACK_MAX { (last.0 + 1, 0) } else { last };
        {
            let mut p = self.lock();
            p.appender = Some(self.packs.open_appender(id, len).map_err(recover_io)?);
            p.wal = Some(Appender::open_file(&wal_path, wal_len).map_err(recover_io)?);
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

    /// Indexes what pack files hold past their committed lengths: (records
    /// found, the last pack and where it ends).
    fn recover_packs(&self, committed: &BTreeMap<u32, u64>) -> Result<(usize, (u32, u64)), StoreError> {
        let mut recovered = 0usize;
        let mut last = committed
            .last_key_value()
            .map(|(i, l)| (*i, *l))
            .unwrap_or((0, 0));
        for id in self.packs.list().map_err(recover_io)? {
            let from = committed.get(&id).copied().unwrap_or(0);
            let path = self.packs.path(id);
            let (records, end) = pack::scan(&path, from).map_err(recover_io)?;
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
        Ok((recovered, last))
    }

    /// The WAL keeps every small block (a rebuilt index finds them there);
    /// what is past its committed length is indexed again: (records found,
    /// its length).
    fn recover_wal(&self, wal_path: &Path) -> Result<(usize, u64), StoreError> {
        let wal_from = self
            .meta("wal_len")?
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        if !wal_path.exists() {
            return Ok((0, 0));
        }
        let (records, end) = pack::scan(wal_path, wal_from).map_err(recover_io)?;
        self.cut_torn_tail(wal_path, wal_from, end)?;
        let mut p = self.lock();
        let n = records.len();
        for r in records {
            p.bytes += r.data.len();
            // A repo from before the WAL was kept reset it after each
            // commit, and a crash in between left indexed records.
            if !self.committed_has(&r.multihash)? {
                self.total.fetch_add(r.data.len() as u64, Ordering::Relaxed);
            }
            p.entries.insert(r.multihash, Loc::Inline(r.data));
        }
        Ok((n, end))
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
}

fn recover_io(e: std::io::Error) -> StoreError {
    StoreError::Io {
        context: "recovering pack files".into(),
        source: e,
    }
}
