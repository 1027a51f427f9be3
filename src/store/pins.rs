//! Pins: the roots GC keeps, sealed in the index (`sealed.rs`) and logged
//! to meta.log (`metalog.rs`) so a rebuilt index has them.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinKind {
    Recursive,
    Direct,
}

impl PinKind {
    pub(super) fn to_u8(self) -> u8 {
        match self {
            PinKind::Recursive => 1,
            PinKind::Direct => 2,
        }
    }
    pub(super) fn from_u8(v: u8) -> Option<Self> {
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

/// The kind of a pin from its sealed value (None: an unknown kind).
fn pin_kind(key: &[u8], v: &[u8]) -> Result<Option<PinKind>, StoreError> {
    let v = sealed::unseal("pins", key, v)?;
    Ok(v.first().and_then(|&b| PinKind::from_u8(b)))
}

impl Store {
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
}
