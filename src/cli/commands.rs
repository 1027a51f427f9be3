//! One handler per subcommand: parse arguments, call the library, print.

use super::output::{human_bytes, progress_bar};
use super::*;
use crate::add::{AddOptions, Adder};
use crate::block::NullStore;
use crate::block::{BlockError, BlockGet, parse_cid};
use crate::blockservice::BlockService;
use crate::dag::{Missing, dag_size, walk};
use crate::mfs::Mfs;
use crate::repo::{Repo, default_path};
use crate::store::PinKind;
use crate::unixfs::importer::ImportOptions;
use crate::unixfs::reader::read_range;
use crate::unixfs::resolve::{IpfsPath, Kind, Node, list, resolve};
use anyhow::{Context, bail};
use cid::Cid;
use std::collections::HashSet;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Prints a line to the command's stdout.
macro_rules! out {
    ($io:expr, $($t:tt)*) => { writeln!($io.out, $($t)*)? };
}
/// Prints a line to the command's stderr.
macro_rules! err {
    ($io:expr, $($t:tt)*) => { writeln!($io.err, $($t)*)? };
}

mod block;
mod dag;
mod ls;
mod name;
mod peers;
mod pin;
mod repo;
mod settings;
use block::{block, refs, version};
use dag::dag;
use ls::ls;
use name::{deref_ipns, key, name, routing_value};
use peers::{findpeer, id, swarm};
use pin::pin;
use repo::repo_cmd;
use settings::{cid_cmd, config};

/// Where a command's output goes: the terminal when run locally, the
/// control socket when the daemon runs it for a client.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// The client's working directory: relative paths are taken from here.
    pub cwd: PathBuf,
    /// The client's stderr as a file, where progress bars are drawn (passed
    /// over the control socket when a daemon runs the command).
    pub stderr: Option<std::fs::File>,
    /// Turns true when the client goes away (reads then stop fetching).
    pub gone: Option<crate::blockservice::Gone>,
    /// The client's standard input (passed over the control socket when a
    /// daemon runs the command).
    pub stdin: Option<std::fs::File>,
}

impl Io<'_> {
    /// Where a progress bar goes, if anywhere (see `output::draw_target`).
    pub fn progress(&self, asked: Option<bool>) -> Option<indicatif::ProgressDrawTarget> {
        super::output::draw_target(self.stderr.as_ref(), asked)
    }
    pub fn path(&self, p: &Path) -> PathBuf {
        self.cwd.join(p)
    }
    /// The client's stdin, for a command that reads data from it; refused
    /// when it is a terminal (nothing was piped in).
    pub fn take_stdin(&mut self, what: &str) -> anyhow::Result<std::fs::File> {
        use std::io::IsTerminal;
        let f = self.stdin.take().context("standard input is closed")?;
        if f.is_terminal() {
            bail!(
                "{what}: nothing is piped into standard input; give a PATH, or pipe data in (`echo hi | p2pfs add`)"
            );
        }
        Ok(f)
    }
}

/// A read session for one command; it stops fetching if the client leaves.
fn session(repo: &Arc<Repo>, net: Option<&crate::net::NetHandle>, io: &Io) -> BlockService {
    BlockService::new(repo.clone(), net.cloned()).until(io.gone.clone())
}

/// Runs a command in this process, on the repo directly.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(code) = run_without_repo(&cli.command)? {
        return Ok(code);
    }
    let path = match &cli.repo {
        Some(p) => p.clone(),
        None => default_path()?,
    };
    // These may create the repo (and start the node that owns it).
    if let Command::Mount(m) = &cli.command {
        let opts = crate::daemon::MountOpts {
            threads: m.threads as usize,
            allow_other: m.allow_other,
        };
        crate::daemon::run(
            &path,
            Some((&m.mountpoint, opts)),
            &m.net.listen,
            &m.net.announce,
            super::serve::handler,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Daemon(d) = &cli.command {
        crate::daemon::run(&path, None, &d.net.listen, &d.net.announce, super::serve::handler)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Shutdown = &cli.command {
        return shutdown(&path);
    }
    if let Command::Repo(RepoCommand::RebuildIndex) = &cli.command {
        return super::verify::rebuild(&path);
    }
    // A daemon owns the repo: let it run the command.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| anyhow::anyhow!("argument {a:?} is not valid UTF-8"))
        })
        .collect::<anyhow::Result<_>>()?;
    if let Some(code) = crate::api::forward(&path, args)? {
        return Ok(code);
    }
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let cwd = std::env::current_dir().context("the current directory is not accessible")?;
    let mut io = Io::this_process(&mut stdout, &mut stderr, cwd);
    // Only `init` creates a repo here; any other command needs one.
    let (repo, created) = match cli.command {
        Command::Init { new_identity } => init(&path, new_identity, &mut io)?,
        _ => (Repo::open(&path)?, false),
    };
    let repo = std::sync::Arc::new(repo);
    let mfs = Mfs::open(repo.clone())?;
    let code = execute(&repo, &mfs, None, None, cli.command, created, &mut io)?;
    // Offline, nothing else will save what a `files` command changed.
    mfs.checkpoint()?;
    Ok(code)
}

fn dup(fd: std::os::fd::BorrowedFd) -> Option<std::fs::File> {
    fd.try_clone_to_owned().ok().map(std::fs::File::from)
}

impl<'a> Io<'a> {
    /// A command run in this process: its own stdio.
    fn this_process(out: &'a mut dyn Write, err: &'a mut dyn Write, cwd: PathBuf) -> Io<'a> {
        Io {
            gone: None,
            out,
            err,
            cwd,
            stdin: dup(std::io::stdin().as_fd()),
            stderr: dup(std::io::stderr().as_fd()),
        }
    }
}

/// Commands that need no repo, run without opening (or creating) one.
fn run_without_repo(command: &Command) -> anyhow::Result<Option<ExitCode>> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut io = Io::this_process(&mut stdout, &mut stderr, PathBuf::new());
    let code = match command {
        Command::Completions { shell } => {
            completions(*shell, io.out)?;
            ExitCode::SUCCESS
        }
        Command::Version { all, enc } => version(*all, *enc, &mut io)?,
        Command::Cid(c) => cid_cmd(c.clone(), &mut io)?,
        Command::Unmount { mountpoint } => {
            crate::daemon::unmount(mountpoint, false)?;
            ExitCode::SUCCESS
        }
        _ => return Ok(None),
    };
    Ok(Some(code))
}

/// `p2pfs init [--new-identity]`: opens or creates the repo; a repo that
/// lost its identity.key gets a new one only when asked.
fn init(path: &Path, new_identity: bool, io: &mut Io) -> anyhow::Result<(Repo, bool)> {
    if new_identity && let Some(peer) = crate::repo::replace_lost_identity(path)? {
        err!(
            io,
            "wrote a new identity to {} (new peer ID {peer})",
            path.join("identity.key").display()
        );
    }
    Ok(Repo::open_or_init(path)?)
}

/// `p2pfs shutdown`: asks the node on the repo to stop (as Ctrl-C: it saves
/// everything, a mount unmounts), then waits until it has let go of the repo.
fn shutdown(path: &Path) -> anyhow::Result<ExitCode> {
    match crate::api::forward(path, vec!["shutdown".into()])? {
        None => bail!(
            "no daemon or mount is running on the repo {} (nothing to stop)",
            path.display()
        ),
        Some(code) if code != ExitCode::SUCCESS => Ok(code),
        Some(_) => {
            crate::repo::wait_unlocked(path)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs one command against an open repo; the daemon calls this for its clients.
pub fn execute(
    repo: &std::sync::Arc<Repo>,
    mfs: &Mfs,
    net: Option<&crate::net::NetHandle>,
    names: Option<&crate::namesys::Names>,
    command: Command,
    created: bool,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { new_identity } => {
            if new_identity && net.is_some() {
                bail!(
                    "a node runs on this repo with its identity; stop it before `p2pfs init --new-identity`"
                );
            }
            if created {
                out!(io, "initialized repo at {}", repo.path.display());
            } else {
                out!(io, "repo at {} already exists", repo.path.display());
            }
            out!(io, "peer identity: {}", repo.peer_id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Add(a) => add(repo, net, a, io),
        Command::Cat(mut a) => {
            a.paths.iter_mut().try_for_each(|p| deref_ipns(names, p))?;
            cat(&session(repo, net, io), a, io)
        }
        Command::Get(mut a) => {
            deref_ipns(names, &mut a.path)?;
            get(&session(repo, net, io), a, io)
        }
        Command::Ls(mut a) => {
            a.paths.iter_mut().try_for_each(|p| deref_ipns(names, p))?;
            ls(&session(repo, net, io), a, io)
        }
        Command::Pin(p) => pin(repo, &session(repo, net, io), p, io),
        Command::Gc => gc(repo, mfs, io),
        Command::Files(f) => super::files::run(repo, mfs, f, io),
        Command::Id { peer } => id(repo, net, peer.as_deref(), io),
        Command::Swarm(c) => swarm(net, c, io),
        Command::Routing(c @ (RoutingCommand::Get { .. } | RoutingCommand::Put { .. })) => {
            routing_value(names, c, io)
        }
        Command::Routing(RoutingCommand::Findpeer { peer }) => findpeer(repo, net, &peer, io),
        Command::Routing(c) => routing(repo, net, c, io),
        Command::Key(c) => key(repo, c, io),
        Command::Name(c) => name(mfs, names, c, io),
        Command::Stats(c) => super::stats::run(repo, net, c, io),
        Command::Bootstrap(c) => bootstrap(repo, net, c, io),
        Command::Config(c) => config(repo, c, io),
        Command::Cid(c) => cid_cmd(c, io),
        // The control socket stops the daemon itself (api.rs); here no node runs.
        Command::Shutdown => bail!(
            "no daemon or mount is running on the repo {} (nothing to stop)",
            repo.path.display()
        ),
        Command::Mount(_) | Command::Unmount { .. } | Command::Daemon(_) => {
            anyhow::bail!("a daemon already runs on this repo; stop it first")
        }
        Command::Repo(r) => repo_cmd(repo, mfs, net, r, io),
        Command::Dag(d) => dag(repo, &session(repo, net, io), d, io),
        Command::Block(b) => block(repo, mfs, &session(repo, net, io), b, io),
        Command::Refs(a) => refs(&session(repo, net, io), a, io),
        Command::Version { all, enc } => version(all, enc, io),
        Command::Completions { shell } => completions(shell, io.out).map(|()| ExitCode::SUCCESS),
    }
}

/// `p2pfs completions SHELL`: the script, from the same clap definitions as
/// `--help` and the man pages.
fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> anyhow::Result<()> {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "p2pfs", out);
    Ok(())
}

/// `--profile` replaces config.toml's [import] as a whole; the flags
/// override single values of either, as in Kubo.
fn import_options(repo: &Repo, a: &AddArgs) -> anyhow::Result<ImportOptions> {
    let base = match &a.profile {
        Some(name) => crate::unixfs::profile::Profile::parse(name)?.options(),
        None => repo.config.import_options(),
    };
    // As in Kubo: raw leaves come with CIDv1 unless said otherwise.
    let raw_leaves = a.raw_leaves.unwrap_or(if a.cid_version == Some(0) {
        false
    } else {
        base.raw_leaves
    });
    let chunk_size = match &a.chunker {
        Some(spec) => ImportOptions::parse_chunker(spec)?,
        None => base.chunk_size,
    };
    let opts = ImportOptions {
        chunk_size,
        raw_leaves,
        cid_version: a.cid_version.unwrap_or(base.cid_version),
        ..base
    };
    opts.validate()?;
    Ok(opts)
}

fn add(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    a: AddArgs,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    // What it writes is reachable from no root until the end.
    let _writing = repo.cache.writing(&repo.store);
    let opts = AddOptions {
        import: import_options(repo, &a)?,
        recursive: a.recursive,
        hidden: a.hidden,
        wrap: a.wrap_with_directory,
    };
    // No PATH (or `-`, or /dev/stdin: the client's, not a symlink to pin):
    // the data comes from stdin, as with `ipfs add`.
    let stdin = match a.paths.as_slice() {
        [] => Some(io.take_stdin("add")?),
        [p] if ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
            .contains(&p.to_string_lossy().as_ref()) =>
        {
            Some(io.take_stdin("add")?)
        }
        _ => None,
    };
    let paths: Vec<PathBuf> = a.paths.iter().map(|p| io.path(p)).collect();
    let total = crate::add::total_size(&paths, &opts);
    let pb = progress_bar(
        total,
        io.progress(if a.quieter { Some(false) } else { a.progress }),
    );
    let mut progress = |n: u64| pb.inc(n);
    let out = &mut *io.out;
    let mut write_err = None;
    let mut on_added = |e: &crate::add::Added| {
        if a.quieter {
            return;
        }
        let line = if a.quiet {
            format!("{}", e.cid)
        } else {
            format!("added {} {}", e.cid, e.path)
        };
        pb.suspend(|| {
            if let Err(err) = writeln!(out, "{}", line.trim_end()) {
                write_err.get_or_insert(err);
            }
        });
    };
    let name = a.stdin_name.as_deref();
    let roots = match (stdin, a.only_hash) {
        (Some(f), true) => Adder::new(&NullStore, opts, &mut progress, &mut on_added).add_stream(f, name)?,
        (Some(f), false) => {
            Adder::new(&repo.store, opts, &mut progress, &mut on_added).add_stream(f, name)?
        }
        (None, true) => Adder::new(&NullStore, opts, &mut progress, &mut on_added).add_all(&paths)?,
        (None, false) => Adder::new(&repo.store, opts, &mut progress, &mut on_added).add_all(&paths)?,
    };
    pb.finish_and_clear();
    if let Some(e) = write_err {
        return Err(e).context("writing to stdout");
    }
    if !a.only_hash {
        keep_and_announce(repo, net, a.pin, &roots)?;
    }
    if a.quieter
        && let Some(last) = roots.last()
    {
        out!(io, "{}", last.cid);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pins what `add` made (if asked) and, with a node running, announces it.
fn keep_and_announce(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    pin: bool,
    roots: &[crate::add::Added],
) -> anyhow::Result<()> {
    if pin {
        for r in roots {
            repo.store.pin(&r.cid, PinKind::Recursive)?;
        }
    }
    if let Some(net) = net {
        announce_added(repo, net, pin, roots);
    }
    Ok(())
}

/// With a node running, `add` tells the DHT now (the roots; peers walk the
/// rest, and the provider announces the other blocks per its strategy).
fn announce_added(repo: &Repo, net: &crate::net::NetHandle, pinned: bool, roots: &[crate::add::Added]) {
    let strategy = repo.config.provide_strategy();
    if !pinned && strategy != crate::repo::config::ProvideStrategy::All {
        return;
    }
    for r in roots {
        if pinned && strategy == crate::repo::config::ProvideStrategy::Pinned {
            repo.announce_pinned(r.cid);
        }
        match net.block_on(net.provide(r.cid)) {
            // A node alone has no one to tell yet: queued, the record
            // goes out once a peer is connected.
            Err(crate::net::NetError::NotProvided) => {
                tracing::debug!("{} reached no DHT peer; queued", r.cid);
                net.provide_keys(vec![r.cid.hash().to_bytes()], true);
            }
            Err(e) => tracing::warn!("could not announce {} in the DHT: {e}", r.cid),
            Ok(()) => {}
        }
    }
}

fn parse_path(s: &str) -> anyhow::Result<IpfsPath> {
    Ok(s.parse::<IpfsPath>()?)
}

fn cat(blocks: &BlockService, a: CatArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    // Every path is checked before a byte is written (as Kubo does).
    let mut files = Vec::with_capacity(a.paths.len());
    for p in &a.paths {
        let path = parse_path(p)?;
        let cid = resolve(blocks, &path)?;
        let node = Node::load(blocks, &cid)?;
        match node.kind() {
            Kind::Directory => bail!("{path} is a directory; use `p2pfs ls` or `p2pfs get`"),
            Kind::Symlink => bail!("{path} is a symlink; `p2pfs ls` shows its target"),
            Kind::File => files.push((cid, node.size())),
        }
    }
    // Offset and length apply to the files one after another.
    let (mut skip, mut left) = (a.offset, a.length.unwrap_or(u64::MAX));
    let total: u64 = files
        .iter()
        .map(|(_, s)| *s)
        .sum::<u64>()
        .saturating_sub(skip)
        .min(left);
    let pb = progress_bar(total, io.progress(a.progress));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut *io.out);
    for (cid, size) in files {
        if skip >= size {
            skip -= size;
            continue;
        }
        let want = left.min(size - skip);
        let res = read_range(blocks, &cid, skip, want, &mut |b| {
            pb.inc(b.len() as u64);
            fetch_message(&pb, blocks);
            // A leaf goes straight out (the control socket frames it
            // without a copy); only small pieces are gathered.
            if b.len() >= 64 << 10 {
                out.flush().and_then(|()| out.get_mut().write_all(b))
            } else {
                out.write_all(b)
            }
            .map_err(|e| crate::unixfs::Error::io("writing to stdout", e))
        });
        match res {
            // `p2pfs cat x | head` closes the pipe: not an error worth a message.
            Err(crate::unixfs::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                return Ok(ExitCode::SUCCESS);
            }
            r => r?,
        }
        (skip, left) = (0, left - want);
        if left == 0 {
            break;
        }
    }
    pb.finish_and_clear();
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        r => {
            r.context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What a read fetched so far, beside its bar: bytes from how many peers.
fn fetch_message(pb: &indicatif::ProgressBar, blocks: &BlockService) {
    if pb.is_hidden() {
        return;
    }
    let fetched = blocks
        .counters
        .fetched_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    if fetched > 0 {
        pb.set_message(format!(
            "({} from {} peers)",
            human_bytes(fetched),
            blocks.senders()
        ));
    }
}

fn get(blocks: &BlockService, a: GetArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    let path = parse_path(&a.path)?;
    let cid = resolve(blocks, &path)?;
    let out = a.output.unwrap_or_else(|| {
        path.components
            .last()
            .cloned()
            .unwrap_or_else(|| cid.to_string())
            .into()
    });
    let mut seen = HashSet::new();
    // The DAG size (block bytes) is a close upper bound of the file bytes.
    let total = dag_size(blocks, &cid, Missing::Skip, &mut seen)
        .map(|(_, b)| b)
        .unwrap_or(0);
    let out = io.path(&out);
    let pb = progress_bar(total, io.progress(a.progress));
    crate::get::get(blocks, &cid, &out, &mut |n| {
        pb.inc(n);
        fetch_message(&pb, blocks);
    })?;
    pb.finish_and_clear();
    err!(io, "saved {} to {}", cid, out.display());
    Ok(ExitCode::SUCCESS)
}

fn parse_cids(v: &[String]) -> anyhow::Result<Vec<Cid>> {
    v.iter()
        .map(|s| {
            parse_path(s).and_then(|p| {
                if p.components.is_empty() {
                    Ok(p.root)
                } else {
                    bail!("pins take a CID, not a path: {s}")
                }
            })
        })
        .collect()
}

fn routing(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    cmd: RoutingCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let net = net.context("no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first")?;
    match cmd {
        RoutingCommand::Findprovs { cid } => {
            for p in net.block_on(net.find_providers(parse_cid(&cid)?))? {
                out!(io, "{p}");
            }
        }
        RoutingCommand::Provide { cid } => {
            let cid = parse_cid(&cid)?;
            if !repo.store.has(&cid)? {
                return Err(BlockError::NotFound(cid).into());
            }
            net.block_on(net.provide(cid))
                .with_context(|| format!("could not provide {cid}"))?;
            out!(io, "providing {cid}");
        }
        RoutingCommand::Get { .. } | RoutingCommand::Put { .. } | RoutingCommand::Findpeer { .. } => {
            bail!("handled by its own function")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(repo: &Repo, mfs: &Mfs, io: &mut Io) -> anyhow::Result<ExitCode> {
    let cutoff = repo.cache.cutoff(&repo.store);
    // DAGs being pinned or exported right now are kept too.
    let mut roots = mfs.gc_roots()?;
    roots.extend(repo.cache.protected());
    // GC reports nothing until it is done: a spinner says it is at work.
    let pb = super::output::working(io.progress(None), "collecting garbage");
    let report = crate::dag::gc(&repo.store, &roots, cutoff);
    pb.finish_and_clear();
    let report = report?;
    out!(
        io,
        "removed {} blocks, freed {}",
        report.blocks,
        human_bytes(report.bytes)
    );
    Ok(ExitCode::SUCCESS)
}

fn bootstrap(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    cmd: BootstrapCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    use crate::repo::config::{Config, edit, set_list};
    let path = repo.path.join("config.toml");
    // The file, not the config this process started with: it may have changed.
    let current = Config::load(&path)?.network.bootstrap;
    match cmd {
        BootstrapCommand::List => {
            for a in current {
                out!(io, "{a}");
            }
        }
        BootstrapCommand::Add { addrs } => {
            let mut list = current;
            for a in &addrs {
                let a = a.to_string();
                if !list.contains(&a) {
                    list.push(a);
                }
            }
            edit(&path, |d| set_list(d, "bootstrap", &list))?;
            for a in addrs {
                out!(io, "added {a}");
                if let Some(net) = net
                    && let Err(e) = net.block_on(async {
                        net.add_bootstrap(a.clone()).await?;
                        net.connect(a.clone()).await
                    })
                {
                    writeln!(io.err, "warning: {a} added, but dialing it now failed: {e}")?;
                }
            }
        }
        BootstrapCommand::Saved { clear } => {
            let path = repo.path.join(crate::net::connmgr::SAVED_FILE);
            if clear {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).with_context(|| format!("removing {}", path.display()));
                    }
                    _ => out!(io, "saved peers forgotten"),
                }
            } else {
                for (p, addrs) in crate::net::connmgr::load_saved(&path) {
                    for a in addrs {
                        out!(io, "{a}/p2p/{p}");
                    }
                }
            }
        }
        BootstrapCommand::Rm { addrs, all } => {
            let gone: Vec<String> = if all {
                current.clone()
            } else {
                addrs.iter().map(|a| a.to_string()).collect()
            };
            for g in &gone {
                if !current.contains(g) {
                    bail!("{g} is not a bootstrap peer (see `p2pfs bootstrap list`)");
                }
            }
            let list: Vec<String> = current.into_iter().filter(|a| !gone.contains(a)).collect();
            edit(&path, |d| set_list(d, "bootstrap", &list))?;
            for g in gone {
                out!(io, "removed {g}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn apply_profile(repo: &Repo, profile: Profile, io: &mut Io) -> anyhow::Result<ExitCode> {
    use crate::repo::config::{PUBLIC_BOOTSTRAP, edit, set_list};
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (bootstrap, listen, what) = match profile {
        Profile::UnixfsV0_2015 => return apply_import_profile(repo, "unixfs-v0-2015", io),
        Profile::UnixfsV1_2025 => return apply_import_profile(repo, "unixfs-v1-2025", io),
        Profile::PublicIpfs => (
            strings(&PUBLIC_BOOTSTRAP),
            strings(&["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]),
            "the public IPFS network: its bootstrap peers are dialed at start",
        ),
        Profile::Local => (
            Vec::new(),
            strings(&["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"]),
            "local only: no bootstrap peers, listening on 127.0.0.1",
        ),
    };
    edit(&repo.path.join("config.toml"), |d| {
        set_list(d, "bootstrap", &bootstrap);
        set_list(d, "listen", &listen);
    })?;
    out!(
        io,
        "applied: {what}. Restart the daemon or mount for it to take effect."
    );
    Ok(ExitCode::SUCCESS)
}

/// `config profile apply unixfs-…` (Kubo's form): the same as `p2pfs config
/// import.profile NAME`.
fn apply_import_profile(repo: &Repo, name: &str, io: &mut Io) -> anyhow::Result<ExitCode> {
    crate::repo::settings::set(&repo.path.join("config.toml"), "import.profile", name, false)?;
    out!(
        io,
        "applied: import profile {name} for add and files/. Restart the daemon or mount for it to take effect."
    );
    Ok(ExitCode::SUCCESS)
}
