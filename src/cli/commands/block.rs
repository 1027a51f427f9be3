//! `p2pfs block`, `p2pfs refs` and `p2pfs version`: Kubo's commands of the
//! same names.

use super::*;
use crate::rawblock::{self, NotRemoved};

pub(super) fn block(
    repo: &Repo,
    mfs: &Mfs,
    blocks: &BlockService,
    cmd: BlockCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match cmd {
        BlockCommand::Get { cid } => {
            let data = blocks.get(&parse_cid(&cid)?)?;
            io.out.write_all(&data).context("writing to stdout")?;
        }
        BlockCommand::Put {
            file,
            cid_codec,
            allow_big_block,
            pin,
        } => {
            let codec = rawblock::codec(&cid_codec)?;
            let cid = rawblock::put_file(repo, &io.path(&file), codec, allow_big_block)?;
            if pin {
                crate::pinning::pin_recursive(repo, &repo.store, &cid, &mut |_| {})?;
            }
            out!(io, "{cid}");
        }
        BlockCommand::Stat { cid } => {
            let cid = parse_cid(&cid)?;
            let size = match repo.store.block_size(&cid.hash().to_bytes())? {
                Some(n) => n,
                None => blocks.get(&cid)?.len() as u64,
            };
            out!(io, "Key: {cid}");
            out!(io, "Size: {size}");
        }
        BlockCommand::Rm { cids } => {
            let cids = parse_cids(&cids)?;
            let mut code = ExitCode::SUCCESS;
            for (cid, r) in rawblock::remove(repo, &mfs.gc_roots()?, &cids)? {
                match r {
                    Ok(()) => out!(io, "removed {cid}"),
                    Err(NotRemoved::Kept) => {
                        err!(
                            io,
                            "error: cannot remove {cid}: a pin or the files/ tree keeps it"
                        );
                        code = ExitCode::FAILURE;
                    }
                    Err(NotRemoved::Missing) => {
                        err!(io, "error: block {cid} is not in the store");
                        code = ExitCode::FAILURE;
                    }
                }
            }
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn refs(blocks: &BlockService, a: RefsArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    let root = parse_cid(&a.cid)?;
    let out = &mut *io.out;
    rawblock::refs(blocks, &root, a.recursive, a.unique, &mut |c| {
        writeln!(out, "{c}")
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn version(all: bool, enc: Enc, io: &mut Io) -> anyhow::Result<ExitCode> {
    if enc == Enc::Json {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Version {
            version: &'static str,
            commit: &'static str,
            repo: String,
            system: String,
        }
        let v = Version {
            version: env!("CARGO_PKG_VERSION"),
            commit: "",
            repo: String::from_utf8_lossy(crate::store::FORMAT_VERSION).into_owned(),
            system: format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
        };
        out!(io, "{}", serde_json::to_string(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(io, "p2pfs version {}", env!("CARGO_PKG_VERSION"));
    if all {
        out!(
            io,
            "Repo store format: {}",
            String::from_utf8_lossy(crate::store::FORMAT_VERSION)
        );
        out!(io, "System: {}/{}", std::env::consts::ARCH, std::env::consts::OS);
        out!(io, "Bitswap: /ipfs/bitswap/1.2.0, 1.1.0, 1.0.0");
    }
    Ok(ExitCode::SUCCESS)
}
