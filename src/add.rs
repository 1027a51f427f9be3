//! `add`: local files and directories → UnixFS DAGs in the store, with the
//! same rules as `ipfs add` (hidden files skipped unless asked, symlinks kept
//! as symlinks, directories only with `-r`, optional wrapping directory).

use crate::block::BlockPut;
use crate::unixfs::dir::DirBuilder;
use crate::unixfs::importer::{Entry, ImportOptions, import_file, symlink_node};
use cid::Cid;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default)]
pub struct AddOptions {
    pub import: ImportOptions,
    pub recursive: bool,
    pub hidden: bool,
    pub wrap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} is a directory; use -r to add directories")]
    NotRecursive(PathBuf),
    #[error("{0}: file name is not valid UTF-8, which UnixFS names must be")]
    NonUtf8(PathBuf),
    #[error("{0}: not a regular file, directory or symlink")]
    SpecialFile(PathBuf),
    #[error("two arguments are both named '{0}': they cannot share one wrapping directory")]
    DuplicateName(String),
    #[error("{path}: {source}")]
    Unixfs {
        path: PathBuf,
        source: crate::unixfs::Error,
    },
}

/// One imported file or directory, reported as it completes.
#[derive(Debug, Clone)]
pub struct Added {
    /// Path relative to the argument's parent ("dir/sub/file"); empty for the wrapper.
    pub path: String,
    pub cid: Cid,
    pub size: u64,
}

/// Total bytes of regular files `add` would read (for the progress bar).
pub fn total_size(paths: &[PathBuf], opts: &AddOptions) -> u64 {
    fn walk(p: &Path, opts: &AddOptions, top: bool) -> u64 {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if md.is_file() {
            md.len()
        } else if md.is_dir() && (opts.recursive || !top) {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| opts.hidden || !is_hidden(&e.file_name()))
                        .map(|e| walk(&e.path(), opts, false))
                        .sum()
                })
                .unwrap_or(0)
        } else {
            0
        }
    }
    paths.iter().map(|p| walk(p, opts, true)).sum()
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_bytes().first() == Some(&b'.')
}

/// The name a path gets in the DAG: its last component.
fn name_of(path: &Path) -> Result<String, AddError> {
    let name = match path.file_name() {
        Some(n) => n.to_os_string(),
        // "." or "dir/..": named after the directory it resolves to.
        None => path
            .canonicalize()
            .map_err(|e| AddError::Io {
                path: path.to_path_buf(),
                source: e,
            })?
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default(),
    };
    name.into_string()
        .map_err(|_| AddError::NonUtf8(path.to_path_buf()))
}

pub struct Adder<'a, S: BlockPut + ?Sized> {
    store: &'a S,
    opts: AddOptions,
    progress: &'a mut dyn FnMut(u64),
    on_added: &'a mut dyn FnMut(&Added),
}

impl<'a, S: BlockPut + ?Sized> Adder<'a, S> {
    pub fn new(
        store: &'a S,
        opts: AddOptions,
        progress: &'a mut dyn FnMut(u64),
        on_added: &'a mut dyn FnMut(&Added),
    ) -> Self {
        Adder {
            store,
            opts,
            progress,
            on_added,
        }
    }

    /// Adds every path; returns the roots (one per path, or the wrapper).
    pub fn add_all(&mut self, paths: &[PathBuf]) -> Result<Vec<Added>, AddError> {
        let mut roots = Vec::new();
        let mut wrapper = DirBuilder::default();
        for p in paths {
            let name = name_of(p)?;
            let md = std::fs::metadata(p).map_err(|e| AddError::Io {
                path: p.clone(),
                source: e,
            })?;
            if md.is_dir() && !self.opts.recursive {
                return Err(AddError::NotRecursive(p.clone()));
            }
            let entry = self.add_path(p, &name)?;
            if self.opts.wrap && wrapper.entries.contains_key(&name) {
                return Err(AddError::DuplicateName(name));
            }
            wrapper.add(name.clone(), &entry);
            roots.push(Added {
                path: name,
                cid: entry.cid,
                size: entry.size,
            });
        }
        self.finish(wrapper, roots)
    }

    /// Adds one stream (stdin) as a file named `name`, or by its CID as
    /// Kubo names it when no name is given.
    pub fn add_stream(
        &mut self,
        reader: impl std::io::Read,
        name: Option<&str>,
    ) -> Result<Vec<Added>, AddError> {
        let ux = |source| AddError::Unixfs {
            path: PathBuf::from(name.unwrap_or("stdin")),
            source,
        };
        let mut last = 0;
        let progress = &mut *self.progress;
        let entry = import_file(self.store, &self.opts.import, reader, |done| {
            progress(done - last);
            last = done;
        })
        .map_err(ux)?;
        let name = name.map_or_else(|| entry.cid.to_string(), str::to_string);
        let added = Added {
            path: name.clone(),
            cid: entry.cid,
            size: entry.size,
        };
        (self.on_added)(&added);
        let mut wrapper = DirBuilder::default();
        wrapper.add(name, &entry);
        self.finish(wrapper, vec![added])
    }

    /// Builds the wrapping directory if asked, and makes it all durable.
    fn finish(&mut self, wrapper: DirBuilder, mut roots: Vec<Added>) -> Result<Vec<Added>, AddError> {
        if self.opts.wrap {
            let e = wrapper
                .build(self.store, &self.opts.import)
                .map_err(|source| AddError::Unixfs {
                    path: PathBuf::new(),
                    source,
                })?;
            let added = Added {
                path: String::new(),
                cid: e.cid,
                size: 0,
            };
            (self.on_added)(&added);
            roots = vec![added];
        }
        self.store.flush().map_err(|e| AddError::Unixfs {
            path: PathBuf::new(),
            source: e.into(),
        })?;
        Ok(roots)
    }

    fn add_path(&mut self, path: &Path, rel: &str) -> Result<Entry, AddError> {
        let io = |e| AddError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let ux = |source| AddError::Unixfs {
            path: path.to_path_buf(),
            source,
        };
        let md = std::fs::symlink_metadata(path).map_err(io)?;
        let ft = md.file_type();
        let entry = if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(io)?;
            let (cid, bytes) = symlink_node(&self.opts.import, target.as_os_str().as_bytes());
            self.store.put(&cid, &bytes).map_err(|e| ux(e.into()))?;
            Entry {
                cid,
                size: 0,
                tsize: bytes.len() as u64,
            }
        } else if ft.is_dir() {
            let mut children: Vec<_> = std::fs::read_dir(path)
                .map_err(io)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(io)?;
            children.sort_by_key(|e| e.file_name());
            let mut dir = DirBuilder::default();
            for child in children {
                let fname = child.file_name();
                if !self.opts.hidden && is_hidden(&fname) {
                    continue;
                }
                let cpath = child.path();
                let name = fname
                    .into_string()
                    .map_err(|_| AddError::NonUtf8(cpath.clone()))?;
                let e = self.add_path(&cpath, &format!("{rel}/{name}"))?;
                dir.add(name, &e);
            }
            dir.build(self.store, &self.opts.import).map_err(ux)?
        } else if ft.is_file() {
            let f = std::fs::File::open(path).map_err(io)?;
            let mut last = 0;
            let progress = &mut *self.progress;
            import_file(self.store, &self.opts.import, f, |done| {
                progress(done - last);
                last = done;
            })
            .map_err(ux)?
        } else {
            return Err(AddError::SpecialFile(path.to_path_buf()));
        };
        (self.on_added)(&Added {
            path: rel.to_string(),
            cid: entry.cid,
            size: entry.size,
        });
        Ok(entry)
    }
}
