//! `p2pfs config` (show, KEY [VALUE], profile apply) and `p2pfs cid`.

use super::*;

pub(super) fn config(repo: &Repo, c: ConfigArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    let file = repo.path.join("config.toml");
    match (c.command, c.key, c.value) {
        (Some(ConfigCommand::Profile(ProfileCommand::Apply { profile })), ..) => {
            return super::apply_profile(repo, profile, io);
        }
        (Some(ConfigCommand::Show), ..) => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            io.out.write_all(text.as_bytes())?;
        }
        (None, Some(key), None) => out!(io, "{}", crate::repo::settings::get(&file, &key)?),
        (None, Some(key), Some(value)) => {
            let new = crate::repo::settings::set(&file, &key, &value, c.json)?;
            if key.starts_with("snapshots.") {
                // Retention applies from the next checkpoint, daemon or not.
                repo.store.set_retention(new.retention());
                err!(io, "set {key} (applies from the next checkpoint)");
            } else {
                err!(io, "set {key} (takes effect at the next start)");
            }
        }
        (None, None, _) => bail!("say which setting: `p2pfs config KEY [VALUE]`, or `p2pfs config show`"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cid_cmd(c: CidCommand, io: &mut Io) -> anyhow::Result<ExitCode> {
    let (cids, version, base) = match c {
        CidCommand::Base32 { cids } => (cids, Some(1), Some("base32".to_string())),
        CidCommand::Format { cids, version, base } => (cids, version, base),
    };
    let base = match base.as_deref() {
        None | Some("base32") => multibase::Base::Base32Lower,
        Some("base58btc") => multibase::Base::Base58Btc,
        Some("base36") => multibase::Base::Base36Lower,
        Some("base16") => multibase::Base::Base16Lower,
        Some("base64") => multibase::Base::Base64,
        Some(other) => bail!("unknown multibase {other:?}: base32, base58btc, base36, base16 or base64"),
    };
    for s in cids {
        let cid = parse_cid(&s)?;
        let shown = match version {
            Some(0) => cid::Cid::new_v0(*cid.hash())
                .ok()
                .filter(|_| cid.codec() == crate::block::DAG_PB)
                .with_context(|| format!("{cid} has no CIDv0 form (only dag-pb with sha2-256 has)"))?
                .to_string(),
            Some(1) => cid::Cid::new_v1(cid.codec(), *cid.hash()).to_string_of_base(base)?,
            None if cid.version() == cid::Version::V0 => cid.to_string(),
            None => cid.to_string_of_base(base)?,
            Some(v) => bail!("CID version {v}: 0 or 1"),
        };
        out!(io, "{shown}");
    }
    Ok(ExitCode::SUCCESS)
}
