//! `p2pfs dag`: export and import CAR files.

use super::*;

pub(super) fn dag(
    repo: &Repo,
    blocks: &BlockService,
    cmd: DagCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match cmd {
        DagCommand::Export { cid } => {
            let cid = parse_cid(&cid)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut *io.out);
            // Through a read session: blocks not local are fetched (and the
            // walk hints each node's children, so they come a window ahead).
            crate::car::export(blocks, &cid, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        DagCommand::Import { files, pin_roots } => {
            let _writing = repo.cache.writing(&repo.store);
            let mut code = ExitCode::SUCCESS;
            for f in files {
                let f = io.path(&f);
                let file = std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
                let mut r = std::io::BufReader::with_capacity(1 << 20, file);
                let report = crate::car::import(&repo.store, &mut r)
                    .with_context(|| format!("importing {}", f.display()))?;
                out!(
                    io,
                    "imported {} blocks ({}) from {}",
                    report.blocks,
                    human_bytes(report.bytes),
                    f.display()
                );
                for root in report.roots {
                    if !pin_roots {
                        out!(io, "root {root}");
                        continue;
                    }
                    // The store alone: a CAR's DAG is complete or it is not.
                    match crate::pinning::pin_recursive(repo, &repo.store, &root, &mut |_| {}) {
                        Ok(()) => out!(io, "pinned root {root}"),
                        Err(e) => {
                            err!(io, "error: root {root} not pinned, its DAG is incomplete: {e}");
                            code = ExitCode::FAILURE;
                        }
                    }
                }
            }
            Ok(code)
        }
    }
}
