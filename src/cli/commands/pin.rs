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
                    let mut report = PinProgress::new(cid, progress, io);
                    crate::pinning::pin_recursive(repo, blocks, &cid, &mut |n| report.block(n, blocks))
                        .with_context(|| format!("cannot pin {cid}: its DAG is not complete here"))?;
                    report.done(blocks, io)?;
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
        PinCommand::Ls {
            cids,
            r#type,
            quiet,
            enc,
        } => {
            let mut out = PinList {
                quiet,
                json: enc == Enc::Json,
                any: false,
            };
            return pin_ls(repo, &cids, r#type, &mut out, io);
        }
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

/// Progress of `pin add` while a DAG is gathered: blocks, bytes, and what
/// was fetched from how many peers, drawn where `output::draw_target` says.
/// Asked for with `--progress` where no bar can be drawn (not a terminal),
/// a summary line says the same at the end.
struct PinProgress {
    cid: Cid,
    bar: indicatif::ProgressBar,
    summary: bool,
    blocks: u64,
    bytes: u64,
}

impl PinProgress {
    fn new(cid: Cid, asked: Option<bool>, io: &Io) -> Self {
        let bar = super::super::output::count_spinner(io.progress(asked), &format!("blocks of {cid}"));
        let summary = asked == Some(true) && bar.is_hidden();
        PinProgress {
            cid,
            bar,
            summary,
            blocks: 0,
            bytes: 0,
        }
    }

    fn message(&self, blocks: &BlockService) -> String {
        let fetched = blocks
            .counters
            .fetched_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        format!(
            "{} ({} fetched from {} peers)",
            human_bytes(self.bytes),
            human_bytes(fetched),
            blocks.senders()
        )
    }

    fn block(&mut self, len: usize, blocks: &BlockService) {
        (self.blocks, self.bytes) = (self.blocks + 1, self.bytes + len as u64);
        self.bar.inc(1);
        if !self.bar.is_hidden() {
            self.bar.set_message(self.message(blocks));
        }
    }

    fn done(&self, blocks: &BlockService, io: &mut Io) -> std::io::Result<()> {
        self.bar.finish_and_clear();
        if self.summary {
            writeln!(
                io.err,
                "pinning {}: {} blocks, {}, done",
                self.cid,
                self.blocks,
                self.message(blocks)
            )?;
        }
        Ok(())
    }
}

/// How `pin ls` prints: `CID TYPE` lines, CIDs only, or Kubo's JSON
/// written as it goes (indirect pins can be every block there is).
struct PinList {
    quiet: bool,
    json: bool,
    /// Whether an entry was written (the JSON object is then open).
    any: bool,
}

impl PinList {
    fn show(&mut self, io: &mut Io, cid: &Cid, what: &str) -> std::io::Result<()> {
        if self.json {
            let sep = if self.any { "," } else { "{\"Keys\":{" };
            self.any = true;
            let entry = serde_json::json!({ "Type": what });
            write!(io.out, "{sep}\"{cid}\":{entry}")
        } else if self.quiet {
            writeln!(io.out, "{cid}")
        } else {
            writeln!(io.out, "{cid} {what}")
        }
    }

    fn end(&self, io: &mut Io) -> std::io::Result<()> {
        match (self.json, self.any) {
            (true, true) => writeln!(io.out, "}}}}"),
            (true, false) => writeln!(io.out, "{{\"Keys\":{{}}}}"),
            _ => Ok(()),
        }
    }
}

fn pin_ls(
    repo: &Repo,
    cids: &[String],
    r#type: PinType,
    out: &mut PinList,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    use crate::pinning::Status;
    if !cids.is_empty() {
        let mut code = ExitCode::SUCCESS;
        for cid in parse_cids(cids)? {
            match crate::pinning::status(repo, &cid)? {
                Some(Status::Direct) => out.show(io, &cid, "direct")?,
                Some(Status::Recursive) => out.show(io, &cid, "recursive")?,
                Some(Status::Indirect(root)) => out.show(io, &cid, &format!("indirect through {root}"))?,
                None => {
                    err!(io, "error: {cid} is not pinned");
                    code = ExitCode::FAILURE;
                }
            }
        }
        out.end(io)?;
        return Ok(code);
    }
    if r#type == PinType::Indirect {
        for cid in crate::pinning::indirect(repo)? {
            out.show(io, &cid, "indirect")?;
        }
        out.end(io)?;
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
            out.show(io, &cid, kind.as_str())?;
        }
    }
    out.end(io)?;
    Ok(ExitCode::SUCCESS)
}
