//! `p2pfs files …`: the writable tree from the command line, mirroring
//! Kubo's `ipfs files`. Paths are `/files/a/b` (as under the mount) or `/a/b`.

use super::{Enc, FilesCommand, Io};
use crate::mfs::{Mfs, ROOT};
use crate::repo::Repo;
use crate::unixfs::resolve::{IpfsPath, Kind, resolve};
use anyhow::{Context, bail};
use std::io::Read;
use std::process::ExitCode;

/// The path inside the tree ("" for its root).
pub(super) fn tree_path(p: &str) -> anyhow::Result<String> {
    if !p.starts_with('/') {
        bail!("files paths start with / (e.g. /files/docs/a.txt), got '{p}'");
    }
    let p = if p == "/files" || p.starts_with("/files/") {
        &p[6..]
    } else {
        p
    };
    Ok(p.trim_matches('/').to_string())
}

fn split(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

pub(super) fn display(p: &str) -> String {
    format!("/files/{p}")
}

pub fn run(repo: &Repo, mfs: &Mfs, cmd: FilesCommand, io: &mut Io) -> anyhow::Result<ExitCode> {
    match cmd {
        FilesCommand::Ls { path, long, enc } => ls(mfs, &path, long, enc == Enc::Json, io)?,
        FilesCommand::Stat { path } => {
            let p = tree_path(&path)?;
            let i = ino(mfs, &p)?;
            let (e, a) = (mfs.cid_of(i)?, mfs.getattr(i)?);
            writeln!(io.out, "{}", e.cid)?;
            writeln!(io.out, "Size: {}", a.size)?;
            writeln!(io.out, "CumulativeSize: {}", e.tsize)?;
            writeln!(io.out, "Type: {}", a.kind.as_str())?;
            writeln!(io.out, "Mode: {:o}", a.mode)?;
        }
        FilesCommand::Mkdir { path, parents } => mkdir(mfs, &path, parents)?,
        FilesCommand::Rm { path, recursive } => {
            let p = tree_path(&path)?;
            if p.is_empty() {
                bail!("cannot remove /files itself");
            }
            let (dir, name) = split(&p);
            let parent = ino(mfs, dir)?;
            let kind = mfs.lookup(parent, name).with_context(|| display(&p))?.kind;
            if kind == Kind::Directory && !recursive {
                bail!("{} is a directory; use -r to remove it", display(&p));
            }
            mfs.remove_tree(parent, name)?;
        }
        FilesCommand::Mv { src, dst } => mv(mfs, &src, &dst)?,
        FilesCommand::Cp { src, dst } => cp(repo, mfs, &src, &dst)?,
        FilesCommand::Read { path, offset, count } => read(mfs, &path, offset, count, io)?,
        FilesCommand::Write {
            path,
            file,
            create,
            truncate,
            offset,
        } => {
            // The source opens first: a missing one creates nothing.
            let source = match file {
                Some(f) if f.as_os_str() != "-" => {
                    let f = io.path(&f);
                    let opened =
                        std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
                    (opened, f.display().to_string())
                }
                _ => (io.take_stdin("files write")?, "standard input".to_string()),
            };
            write(mfs, &path, source, (create, truncate), offset)?
        }
        FilesCommand::Flush => {
            let root = mfs.checkpoint()?;
            writeln!(io.out, "{root}")?;
        }
        FilesCommand::Snapshot(_)
        | FilesCommand::Log { .. }
        | FilesCommand::Diff { .. }
        | FilesCommand::Restore { .. } => {
            return super::snapshots::run(repo, mfs, cmd, io);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The inode at tree path `p`, or an error naming it.
fn ino(mfs: &Mfs, p: &str) -> anyhow::Result<u64> {
    mfs.lookup_path(p).with_context(|| display(p))
}

/// `files ls [-l] PATH`.
/// `files ls [-l] [--enc=json]` in Kubo's shapes: names; with -l
/// `NAME[/]\tCID\tSIZE`; JSON `{"Entries":[{"Name","Type","Size","Hash"}]}`
/// (Type 0 file, 1 directory; Hash and Size only with -l).
fn ls(mfs: &Mfs, path: &str, long: bool, json: bool, io: &mut Io) -> anyhow::Result<()> {
    let p = tree_path(path)?;
    let dir = ino(mfs, &p)?;
    let entries = if mfs.getattr(dir)?.kind != Kind::Directory {
        vec![(split(&p).1.to_string(), dir, mfs.getattr(dir)?.kind)]
    } else {
        mfs.readdir(dir)?
            .into_iter()
            .map(|(n, c, k, _)| (n, c, k))
            .collect()
    };
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        name: String,
        r#type: u8,
        size: u64,
        hash: String,
    }
    let mut out = Vec::new();
    for (name, child, kind) in entries {
        let is_dir = kind == Kind::Directory;
        let (hash, size) = if long {
            let size = if is_dir { 0 } else { mfs.getattr(child)?.size };
            (mfs.cid_of(child)?.cid.to_string(), size)
        } else {
            (String::new(), 0)
        };
        if json {
            out.push(Entry {
                name,
                r#type: is_dir.into(),
                size,
                hash,
            });
        } else if long {
            writeln!(io.out, "{name}{}\t{hash}\t{size}", if is_dir { "/" } else { "" })?;
        } else {
            writeln!(io.out, "{name}")?;
        }
    }
    if json {
        #[derive(serde::Serialize)]
        struct Listing {
            #[serde(rename = "Entries")]
            entries: Vec<Entry>,
        }
        writeln!(io.out, "{}", serde_json::to_string(&Listing { entries: out })?)?;
    }
    Ok(())
}

/// `files mkdir [-p] PATH`.
fn mkdir(mfs: &Mfs, path: &str, parents: bool) -> anyhow::Result<()> {
    let p = tree_path(path)?;
    if p.is_empty() {
        if parents {
            return Ok(());
        }
        bail!("/files already exists");
    }
    let mut cur = ROOT;
    let parts: Vec<&str> = p.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match mfs.lookup(cur, part) {
            Ok(a) if a.kind == Kind::Directory && (parents || !last) => cur = a.ino,
            Ok(_) if last => bail!("{} already exists", display(&p)),
            Ok(_) => bail!("{} is not a directory", display(&parts[..=i].join("/"))),
            Err(_) if parents || last => cur = mfs.mkdir(cur, part, 0o755, mfs.owner())?.ino,
            Err(e) => return Err(e).context(display(&parts[..=i].join("/"))),
        }
    }
    Ok(())
}

/// `files mv SRC DST` (into DST when it is a directory).
fn mv(mfs: &Mfs, src: &str, dst: &str) -> anyhow::Result<()> {
    let (s, mut d) = (tree_path(src)?, tree_path(dst)?);
    if s.is_empty() {
        bail!("cannot move /files itself");
    }
    if let Ok(i) = mfs.lookup_path(&d)
        && mfs.getattr(i)?.kind == Kind::Directory
    {
        d = if d.is_empty() {
            split(&s).1.to_string()
        } else {
            format!("{d}/{}", split(&s).1)
        };
    }
    let ((sd, sn), (dd, dn)) = (split(&s), split(&d));
    mfs.rename(ino(mfs, sd)?, sn, ino(mfs, dd)?, dn, false)
        .with_context(|| format!("moving {} to {}", display(&s), display(&d)))?;
    Ok(())
}

/// `files cp SRC DST`: links SRC's DAG (from files/ or /ipfs/) at DST.
fn cp(repo: &Repo, mfs: &Mfs, src: &str, dst: &str) -> anyhow::Result<()> {
    let cid = if src.starts_with("/ipfs/") {
        resolve(&repo.store, &src.parse::<IpfsPath>()?)?
    } else {
        mfs.cid_of(ino(mfs, &tree_path(src)?)?)?.cid
    };
    let mut d = tree_path(dst)?;
    if let Ok(i) = mfs.lookup_path(&d)
        && mfs.getattr(i)?.kind == Kind::Directory
    {
        let base = src
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        d = if d.is_empty() { base } else { format!("{d}/{base}") };
    }
    mfs.put(&d, &cid)?;
    Ok(())
}

/// `files read [--offset] [--count] PATH`, 1 MiB at a time.
fn read(mfs: &Mfs, path: &str, offset: u64, count: Option<u64>, io: &mut Io) -> anyhow::Result<()> {
    let p = tree_path(path)?;
    let i = ino(mfs, &p)?;
    let attr = mfs.getattr(i)?;
    if attr.kind == Kind::Directory {
        bail!("{} is a directory; `p2pfs files ls` lists it", display(&p));
    }
    let size = attr.size;
    let end = count.map_or(size, |c| size.min(offset.saturating_add(c)));
    let mut pos = offset;
    while pos < end {
        let n = (end - pos).min(1 << 20) as u32;
        let data = mfs.run_read(mfs.plan_read(i, pos, n)?)?;
        if data.is_empty() {
            break;
        }
        io.out.write_all(&data)?;
        pos += data.len() as u64;
    }
    Ok(())
}

/// `files write [--create] [--truncate] [--offset] PATH FILE`.
fn write(
    mfs: &Mfs,
    path: &str,
    (mut f, from): (std::fs::File, String),
    (create, truncate): (bool, bool),
    offset: u64,
) -> anyhow::Result<()> {
    let p = tree_path(path)?;
    if p.is_empty() {
        bail!("/files is a directory; write to a file in it, e.g. /files/NAME");
    }
    let (dir, name) = split(&p);
    let parent = ino(mfs, dir)?;
    let target = match mfs.lookup(parent, name) {
        Ok(a) if a.kind == Kind::Directory => {
            bail!(
                "{} is a directory; write to a file in it, e.g. {}/NAME",
                display(&p),
                display(&p)
            )
        }
        Ok(a) => {
            mfs.open_file(a.ino, true, truncate)?;
            a.ino
        }
        Err(_) if create => {
            mfs.create(parent, name, 0o644, mfs.owner(), true, false)
                .with_context(|| display(&p))?
                .ino
        }
        Err(e) => return Err(e).context(format!("{} (use --create to make it)", display(&p))),
    };
    let res = (|| -> anyhow::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = offset;
        loop {
            let n = f.read(&mut buf).with_context(|| format!("reading {from}"))?;
            if n == 0 {
                return Ok(());
            }
            mfs.write(target, pos, &buf[..n], false)?;
            pos += n as u64;
        }
    })();
    mfs.release(target)?;
    res
}
