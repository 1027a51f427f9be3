//! The writable tree's journal: every change since the last checkpoint, one
//! checksummed JSON line each, appended with write(2) (a killed daemon loses
//! nothing already in it; `fsync` makes it durable against power loss).
//!
//! The first line names the generation it follows. A checkpoint appends a
//! marker line naming the generation it saves, stores the new root in redb
//! (without the tree lock: changes go on being journaled after the marker),
//! then starts a new journal holding what came after the marker. So a
//! journal is replayed only on top of the root it was written against: all
//! of it over its own generation, only what follows the marker over the
//! marker's (a crash between the commit and the new journal).

use crate::store::{FileMeta, MetaExt};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// Sets the entry at `path` to existing content (file, symlink or tree).
    Put {
        path: String,
        cid: String,
        tsize: u64,
        /// (mode, mtime seconds, nanoseconds) when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<(u32, i64, u32)>,
        /// Owner, atime, ctime, rdev (absent in journals of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ext: Option<MetaExt>,
    },
    Mkdir {
        path: String,
    },
    Remove {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    /// Sets (Some) or removes (None) extended attribute `name` of `path`.
    Xattr {
        path: String,
        name: String,
        #[serde(with = "hex_bytes")]
        value: Option<Vec<u8>>,
    },
    /// `to` becomes another name of the inode at `from` (a hard link).
    Link {
        from: String,
        to: String,
    },
    /// `path` is a regular file whose bytes are those of `file` under the
    /// repo's `staging/` (written by the kernel through FUSE passthrough,
    /// `staged.rs`); replay imports them.
    Stage {
        path: String,
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<(u32, i64, u32)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ext: Option<MetaExt>,
    },
    Meta {
        path: String,
        mode: u32,
        secs: i64,
        nanos: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ext: Option<MetaExt>,
    },
}

impl Op {
    /// A Meta op setting `path` to `m`.
    pub fn meta(path: String, m: &FileMeta) -> Op {
        Op::Meta {
            path,
            mode: m.mode,
            secs: m.secs,
            nanos: m.nanos,
            ext: Some(m.ext()),
        }
    }

    /// A Put op of content with metadata `m`.
    pub fn put(path: String, cid: String, tsize: u64, m: &FileMeta) -> Op {
        Op::Put {
            path,
            cid,
            tsize,
            meta: Some((m.mode, m.secs, m.nanos)),
            ext: Some(m.ext()),
        }
    }

    /// A Stage op: `path` holds the bytes of staging file `file`.
    pub fn stage(path: String, file: String, m: &FileMeta) -> Op {
        Op::Stage {
            path,
            file,
            meta: Some((m.mode, m.secs, m.nanos)),
            ext: Some(m.ext()),
        }
    }

    /// The metadata an op sets, if any.
    pub fn file_meta(&self) -> Option<(&str, FileMeta)> {
        let (path, (mode, secs, nanos), ext) = match self {
            Op::Put {
                path,
                meta: Some(m),
                ext,
                ..
            }
            | Op::Stage {
                path,
                meta: Some(m),
                ext,
                ..
            } => (path, *m, ext),
            Op::Meta {
                path,
                mode,
                secs,
                nanos,
                ext,
            } => (path, (*mode, *secs, *nanos), ext),
            _ => return None,
        };
        let m = FileMeta::new(mode, secs, nanos);
        Some((path, ext.map_or(m, |e| m.with_ext(e))))
    }
}

/// Attribute values are bytes: a hex string in the journal's JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(h) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bad = || serde::de::Error::custom("not hex");
        if !h.len().is_multiple_of(2) {
            return Err(bad());
        }
        (0..h.len())
            .step_by(2)
            .map(|i| {
                h.get(i..i + 2)
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(bad)
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Some)
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    generation: u64,
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

fn checksum(s: &str) -> u64 {
    // FNV-1a 64 (the `fnv` crate's hasher fed the bytes alone): only
    // detects torn or damaged lines, not an adversary; journals written
    // before keep reading.
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// One journal line: the checksum of `json`, a space, `json`, a newline.
pub fn line(json: &str) -> String {
    format!("{:016x} {json}\n", checksum(json))
}

impl Journal {
    /// Reads the journal at `path` if it follows `generation`; returns the ops
    /// to replay (stopping at the first damaged line) and the journal, reset
    /// to empty only when there was nothing valid to keep.
    pub fn open(path: &Path, generation: u64) -> std::io::Result<(Journal, Vec<Op>)> {
        let read = File::open(path)
            .ok()
            .and_then(|f| read_ops(BufReader::new(f), generation));
        let valid = read.is_some();
        let ops = read.unwrap_or_default();
        let journal = if valid {
            // Rewrite without a possibly torn tail, then keep appending.
            let j = Journal::create(path, generation)?;
            let mut j = j;
            for op in &ops {
                j.append(op)?;
            }
            j
        } else {
            Journal::create(path, generation)?
        };
        Ok((journal, ops))
    }

    /// Starts an empty journal for `generation` (atomically replacing the old one).
    pub fn create(path: &Path, generation: u64) -> std::io::Result<Journal> {
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        let h = serde_json::to_string(&Header { generation }).map_err(std::io::Error::other)?;
        f.write_all(line(&h).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn append(&mut self, op: &Op) -> std::io::Result<()> {
        let json = serde_json::to_string(op).map_err(std::io::Error::other)?;
        self.file.write_all(line(&json).as_bytes())
    }

    /// Marks where a checkpoint saving `generation` took the tree: what
    /// follows is not in that root.
    pub fn append_marker(&mut self, generation: u64) -> std::io::Result<()> {
        let h = serde_json::to_string(&Header { generation }).map_err(std::io::Error::other)?;
        self.file.write_all(line(&h).as_bytes())
    }

    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses a journal's bytes: the ops to replay over the root of
/// `generation` (stopping at the first damaged line): all of them if its
/// first line names `generation`, those after the last marker naming it if
/// an older journal has one (that checkpoint committed), else None.
pub fn read_ops(r: impl BufRead, generation: u64) -> Option<Vec<Op>> {
    let mut lines = r.lines();
    let header = lines.next()?.ok().and_then(|l| parse::<Header>(&l))?;
    let mut ops = Vec::new();
    let mut found = header.generation == generation;
    for l in lines {
        let Ok(l) = l else { break };
        if let Some(op) = parse::<Op>(&l) {
            ops.push(op);
        } else if let Some(marker) = parse::<Header>(&l) {
            if marker.generation == generation && header.generation != generation {
                found = true;
                ops.clear();
            }
        } else {
            break;
        }
    }
    found.then_some(ops)
}

fn parse<T: for<'a> Deserialize<'a>>(l: &str) -> Option<T> {
    let (sum, json) = l.split_once(' ')?;
    if u64::from_str_radix(sum, 16).ok()? != checksum(json) {
        return None;
    }
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_only_matching_generation_and_stops_at_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mut j = Journal::create(&p, 7).unwrap();
        j.append(&Op::Mkdir { path: "a".into() }).unwrap();
        j.append(&Op::Remove { path: "b".into() }).unwrap();
        let x = Op::Xattr {
            path: "a".into(),
            name: "user.x".into(),
            value: Some(vec![0, 1, 0xfe, 0xff]),
        };
        j.append(&x).unwrap();
        drop(j);
        let (_, ops) = Journal::open(&p, 7).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[2], x);
        // A torn last line is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"0123 {\"op\":")
            .unwrap();
        let (_, ops) = Journal::open(&p, 7).unwrap();
        assert_eq!(ops.len(), 3);
        // Another generation's journal is not replayed.
        let (_, ops) = Journal::open(&p, 8).unwrap();
        assert!(ops.is_empty());
    }

    /// A checkpoint marks the journal, commits, then starts a new one: a
    /// crash in between replays what followed the marker over the new
    /// root, and everything over the old root if the commit did not land.
    #[test]
    fn markers_split_what_a_checkpoint_saved() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mkdir = |s: &str| Op::Mkdir { path: s.into() };
        let mut j = Journal::create(&p, 4).unwrap();
        j.append(&mkdir("a")).unwrap();
        // A checkpoint of generation 5 that failed, then one that landed.
        j.append_marker(5).unwrap();
        j.append(&mkdir("b")).unwrap();
        j.append_marker(5).unwrap();
        j.append(&mkdir("c")).unwrap();
        drop(j);
        let read = |g| read_ops(BufReader::new(File::open(&p).unwrap()), g);
        assert_eq!(read(4).unwrap(), [mkdir("a"), mkdir("b"), mkdir("c")]);
        assert_eq!(read(5).unwrap(), [mkdir("c")], "after the last marker of 5");
        assert_eq!(read(6), None, "no marker of 6: stale");
        assert_eq!(read(3), None);
        // Opening over generation 5 keeps only what the root lacks.
        let (_, ops) = Journal::open(&p, 5).unwrap();
        assert_eq!(ops, [mkdir("c")]);
        assert_eq!(read(5).unwrap(), [mkdir("c")]);
    }

    /// The line checksum stays FNV-1a 64: journals of earlier versions read.
    #[test]
    fn checksum_is_fnv1a_64() {
        assert_eq!(checksum(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(checksum("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
