//! `p2pfs dag`: nodes as DAG-JSON, DAG sizes, CAR export and import.

use super::*;

pub(super) fn dag(
    repo: &Repo,
    blocks: &BlockService,
    cmd: DagCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match cmd {
        DagCommand::Get { path } => {
            let path = parse_path(&path)?;
            let node = crate::ipld::get(blocks, &path)?;
            io.out.write_all(&crate::ipld::to_dag_json(&node)?)?;
            Ok(ExitCode::SUCCESS)
        }
        DagCommand::Stat { cids, enc, progress } => {
            let cids = cids.iter().map(|c| parse_cid(c)).collect::<Result<Vec<_>, _>>()?;
            stat(blocks, &cids, enc, io.progress(progress), io)
        }
        DagCommand::Export { cid } => {
            let cid = parse_cid(&cid)?;
            // What the export fetches stays until it is written.
            let (_keep, _writing) = (repo.cache.protect(cid), repo.cache.writing(&repo.store));
            let pb = super::super::output::byte_spinner(io.progress(None), "of CAR written");
            let mut out = std::io::BufWriter::with_capacity(1 << 20, pb.wrap_write(&mut *io.out));
            // Through a read session: blocks not local are fetched (and the
            // walk hints each node's children, so they come a window ahead).
            let done = crate::car::export(blocks, &cid, &mut out);
            drop(out);
            pb.finish_and_clear();
            done?;
            Ok(ExitCode::SUCCESS)
        }
        DagCommand::Import { files, pin_roots } => {
            let _writing = repo.cache.writing(&repo.store);
            let mut code = ExitCode::SUCCESS;
            for f in files {
                let f = io.path(&f);
                let file = std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                let pb = progress_bar(len, io.progress(None));
                let mut r = std::io::BufReader::with_capacity(1 << 20, pb.wrap_read(file));
                let report = crate::car::import(&repo.store, &mut r);
                pb.finish_and_clear();
                let report = report.with_context(|| format!("importing {}", f.display()))?;
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

/// `dag stat`: each DAG's blocks and bytes (its duplicates once), then all of
/// them with blocks shared between DAGs counted once, in Kubo's shapes.
fn stat(
    blocks: &BlockService,
    cids: &[Cid],
    enc: Enc,
    progress: Option<indicatif::ProgressDrawTarget>,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let pb = super::super::output::count_spinner(progress, "blocks");
    let (mut unique, mut all_bytes, mut s) = (HashSet::new(), 0u64, DagStats::default());
    for cid in cids {
        let mut row = DagStat {
            cid: cid.to_string(),
            size: 0,
            num_blocks: 0,
        };
        walk(blocks, cid, Missing::Fail, &mut HashSet::new(), &mut |c, d| {
            (row.num_blocks, row.size) = (row.num_blocks + 1, row.size + d.len() as u64);
            all_bytes += d.len() as u64;
            if unique.insert(c.hash().to_bytes()) {
                s.total_size += d.len() as u64;
            }
            pb.inc(1);
            pb.set_message(human_bytes(all_bytes));
            Ok(())
        })?;
        s.dag_stats.push(row);
    }
    pb.finish_and_clear();
    s.unique_blocks = unique.len() as u64;
    s.shared_size = all_bytes - s.total_size;
    let ratio = if s.total_size == 0 {
        0.0
    } else {
        all_bytes as f32 / s.total_size as f32
    };
    if enc == Enc::Json {
        s.ratio = (ratio != 0.0).then(|| go_float(ratio));
        out!(io, "{}", serde_json::to_string(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = s.dag_stats.first().map_or(3, |r| r.cid.len());
    out!(io, "\n{:<width$}\t{:<15}\tSize", "CID", "Blocks");
    for r in &s.dag_stats {
        out!(io, "{}\t{:<15}\t{}", r.cid, r.num_blocks.to_string(), r.size);
    }
    out!(io, "\nSummary");
    let (total, unique, shared) = (s.total_size, s.unique_blocks, s.shared_size);
    out!(
        io,
        "Total Size: {total}\nUnique Blocks: {unique}\nShared Size: {shared}\nRatio: {ratio:.6}\n\n"
    );
    Ok(ExitCode::SUCCESS)
}

/// `dag stat --enc=json`: Kubo's fields in its order; zero fields left out
/// (Go's `omitempty`).
#[derive(serde::Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DagStats {
    #[serde(skip_serializing_if = "is_zero")]
    unique_blocks: u64,
    #[serde(skip_serializing_if = "is_zero")]
    total_size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    shared_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<serde_json::Number>,
    dag_stats: Vec<DagStat>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DagStat {
    cid: String,
    size: u64,
    num_blocks: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A float32 as Go's JSON encoder prints it: its shortest form, `1` for 1.0
/// and `1.1` (not 1.100000023841858).
fn go_float(x: f32) -> serde_json::Number {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return serde_json::Number::from(x as i64);
    }
    let shortest: f64 = x.to_string().parse().unwrap_or_default();
    serde_json::Number::from_f64(shortest).unwrap_or_else(|| 0.into())
}
