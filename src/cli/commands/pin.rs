//! `p2pfs pin`: add (recursive through `pinning`, or direct), rm, ls, verify.

use super::*;
pub(super) fn pin(
    repo: &Repo,
    blocks: &BlockService,
    cmd: PinCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match cmd {
        PinCommand::Add {
            cids,
            direct,
            recursive,
            progress,
        } => {
            let direct = direct || recursive == Some(false);
            for cid in parse_cids(&cids)? {
                if direct {
                    if !repo.store.has(&cid)? {
                        return Err(BlockError::NotFound(cid).into());
                    }
                    let key = cid.hash().to_bytes();
                    if repo
                        .store
                        .pins()?
                        .iter()
                        .any(|(c, k)| *k == PinKind::Recursive && c.hash().to_bytes() == key)
                    {
                        bail!(
                            "{cid} is already pinned recursively (`pin rm` it first to pin only the block)"
                        );
                    }
                    repo.store.pin(&cid, PinKind::Direct)?;
                } else {
                    let mut report = PinProgress::new(cid, progress);
                    crate::pinning::pin_recursive(repo, blocks, &cid, &mut |n| report.block(n, blocks, io))
                        .with_context(|| format!("cannot pin {cid}: its DAG is not complete here"))?;
                    report.done(blocks, io);
                }
                out!(
                    io,
                    "pinned {cid} {}",
                    if direct { "directly" } else { "recursively" }
                );
            }
        }
        PinCommand::Rm { cids } => {
            let mut code = ExitCode::SUCCESS;
            for cid in parse_cids(&cids)? {
                match repo.store.unpin(&cid)? {
                    Some(_) => out!(io, "unpinned {cid}"),
                    None => {
                        err!(io, "error: {cid} is not pinned");
                        code = ExitCode::FAILURE;
                    }
                }
            }
            return Ok(code);
        }
        PinCommand::Ls { cids, r#type, quiet } => return pin_ls(repo, &cids, r#type, quiet, io),
        PinCommand::Verify => return pin_verify(repo, io),
    }
    Ok(ExitCode::SUCCESS)
}

/// `pin verify`: every pinned DAG complete and every block's hash right.
fn pin_verify(repo: &Repo, io: &mut Io) -> anyhow::Result<ExitCode> {
    let mut bad = 0;
    for (cid, kind) in repo.store.pins()? {
        let res = match kind {
            PinKind::Direct => repo.store.get(&cid).map(|_| ()).map_err(anyhow::Error::from),
            PinKind::Recursive => walk(
                &repo.store,
                &cid,
                Missing::Fail,
                &mut HashSet::new(),
                &mut |c, d| {
                    crate::block::verify(c, d)?;
                    Ok(())
                },
            )
            .map_err(anyhow::Error::from),
        };
        match res {
            Ok(()) => out!(io, "{cid} ok"),
            Err(e) => {
                bad += 1;
                out!(io, "{cid} broken: {e:#}");
            }
        }
    }
    if bad > 0 {
        err!(io, "{bad} pin(s) broken");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress of `pin add`: a line on stderr each second while a DAG is
/// gathered (works through the daemon too: stderr is streamed).
struct PinProgress {
    cid: Cid,
    show: bool,
    /// Asked for explicitly: the summary is printed however short the pin.
    asked: bool,
    blocks: u64,
    bytes: u64,
    started: std::time::Instant,
    last: std::time::Instant,
    printed: bool,
}

impl PinProgress {
    fn new(cid: Cid, progress: Option<bool>) -> Self {
        let now = std::time::Instant::now();
        PinProgress {
            cid,
            show: progress != Some(false),
            asked: progress == Some(true),
            blocks: 0,
            bytes: 0,
            started: now,
            last: now,
            printed: false,
        }
    }

    fn line(&self, blocks: &BlockService) -> String {
        let fetched = blocks
            .counters
            .fetched_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "pinning {}: {} blocks, {} ({} fetched, {}/s)",
            self.cid,
            self.blocks,
            human_bytes(self.bytes),
            human_bytes(fetched),
            human_bytes((fetched as f64 / secs) as u64)
        )
    }

    fn block(&mut self, len: usize, blocks: &BlockService, io: &mut Io) {
        self.blocks += 1;
        self.bytes += len as u64;
        if self.show && self.last.elapsed() >= std::time::Duration::from_secs(1) {
            self.last = std::time::Instant::now();
            self.printed = true;
            let _ = writeln!(io.err, "{}", self.line(blocks));
        }
    }

    fn done(&self, blocks: &BlockService, io: &mut Io) {
        if self.printed || self.asked {
            let _ = writeln!(io.err, "{}, done", self.line(blocks));
        }
    }
}

fn pin_ls(
    repo: &Repo,
    cids: &[String],
    r#type: PinType,
    quiet: bool,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    use crate::pinning::Status;
    let show = |io: &mut Io, cid: &Cid, what: &str| -> std::io::Result<()> {
        if quiet {
            writeln!(io.out, "{cid}")
        } else {
            writeln!(io.out, "{cid} {what}")
        }
    };
    if !cids.is_empty() {
        let mut code = ExitCode::SUCCESS;
        for cid in parse_cids(cids)? {
            match crate::pinning::status(repo, &cid)? {
                Some(Status::Direct) => show(io, &cid, "direct")?,
                Some(Status::Recursive) => show(io, &cid, "recursive")?,
                Some(Status::Indirect(root)) => show(io, &cid, &format!("indirect through {root}"))?,
                None => {
                    err!(io, "error: {cid} is not pinned");
                    code = ExitCode::FAILURE;
                }
            }
        }
        return Ok(code);
    }
    if r#type == PinType::Indirect {
        for cid in crate::pinning::indirect(repo)? {
            show(io, &cid, "indirect")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    for (cid, kind) in repo.store.pins()? {
        let wanted = match r#type {
            PinType::All => true,
            PinType::Recursive => kind == PinKind::Recursive,
            PinType::Direct => kind == PinKind::Direct,
            PinType::Indirect => false,
        };
        if wanted {
            show(io, &cid, kind.as_str())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
