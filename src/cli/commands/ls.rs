//! `p2pfs ls`: a node's links as `ipfs ls` prints them — `HASH SIZE NAME`
//! aligned as Go's tabwriter does, directories with `-` and a trailing `/`;
//! `--enc=json` as Kubo's `{"Objects":[{"Hash","Links":[…]}]}`.

use super::*;
use crate::unixfs::data::DataType;

/// One link of the listed node, resolved to its UnixFS type and size.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsLink {
    name: String,
    hash: String,
    size: u64,
    /// UnixFS's type number (1 directory, 2 file, 4 symlink, 5 HAMT shard);
    /// -1 when the node could not be read.
    #[serde(rename = "Type")]
    kind: i32,
    target: String,
}

pub(super) fn ls(blocks: &BlockService, a: LsArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    let json = a.json || a.enc == Enc::Json;
    let several = a.paths.len() > 1;
    for (i, arg) in a.paths.iter().enumerate() {
        let path = parse_path(arg)?;
        let cid = resolve(blocks, &path)?;
        let node = Node::load(blocks, &cid)?;
        let links = if node.kind() == Kind::Directory {
            list(blocks, &cid, &node)?
                .into_iter()
                .map(|e| (e.name, e.cid, e.tsize))
                .collect()
        } else {
            // Kubo lists any node's links: a file's are its chunks, unnamed.
            match &node {
                Node::Raw(_) => Vec::new(),
                Node::Pb { node, .. } => node
                    .links
                    .iter()
                    .map(|l| (l.name().to_string(), l.cid, l.tsize))
                    .collect(),
            }
        };
        let links = links
            .into_iter()
            .map(|(name, cid, tsize)| describe(blocks, name, cid, tsize))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if json {
            // Structs, not `json!`: Kubo's field order.
            #[derive(serde::Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Object<'a> {
                hash: &'a str,
                links: Vec<LsLink>,
            }
            #[derive(serde::Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Output<'a> {
                objects: [Object<'a>; 1],
            }
            let v = Output {
                objects: [Object { hash: arg, links }],
            };
            out!(io, "{}", serde_json::to_string(&v)?);
            continue;
        }
        if several {
            if i > 0 {
                out!(io, "");
            }
            out!(io, "{arg}:");
        }
        let mut rows = Vec::with_capacity(links.len() + 1);
        if a.headers {
            rows.push(row(a.size, "Hash", "Size", "Name".into()));
        }
        for l in &links {
            let dir = l.kind == DataType::Directory as i32 || l.kind == DataType::HamtShard as i32;
            let (size, name) = if dir {
                ("-".to_string(), format!("{}/", l.name))
            } else {
                (l.size.to_string(), l.name.clone())
            };
            rows.push(row(a.size, &l.hash, &size, name));
        }
        tabwriter(&rows, io.out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn row(size: bool, hash: &str, bytes: &str, name: String) -> Vec<String> {
    if size {
        vec![hash.to_string(), bytes.to_string(), name]
    } else {
        vec![hash.to_string(), name]
    }
}

/// A link's type and size as Kubo gives them: a raw leaf is a file of its
/// block's size, a dag-pb file its UnixFS size, anything else 0.
fn describe(blocks: &BlockService, name: String, cid: Cid, tsize: Option<u64>) -> anyhow::Result<LsLink> {
    let (kind, size, target) = match cid.codec() {
        crate::block::RAW => (DataType::File as i32, tsize.unwrap_or(0), String::new()),
        crate::block::DAG_PB => match Node::load(blocks, &cid)? {
            Node::Pb { data, .. } => {
                let size = if data.kind == DataType::File {
                    data.file_size()
                } else {
                    0
                };
                let target = match data.kind {
                    DataType::Symlink => {
                        String::from_utf8_lossy(data.data.as_deref().unwrap_or_default()).into_owned()
                    }
                    _ => String::new(),
                };
                (data.kind as i32, size, target)
            }
            Node::Raw(b) => (DataType::File as i32, b.len() as u64, String::new()),
        },
        _ => (-1, 0, String::new()),
    };
    Ok(LsLink {
        name,
        hash: cid.to_string(),
        size,
        kind,
        target,
    })
}

/// Writes rows as Go's `tabwriter.NewWriter(w, 1, 2, 1, ' ', 0)` lays them
/// out: every cell but a row's last is padded to its column's widest + 1.
fn tabwriter(rows: &[Vec<String>], out: &mut dyn Write) -> std::io::Result<()> {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(m) => *m = (*m).max(w),
                None => widths.push(w),
            }
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i] + 1 - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_padded_as_gos_tabwriter_pads_them() {
        let rows = vec![
            vec!["bafyA".to_string(), "-".into(), "2024/".into()],
            vec!["bafyBB".to_string(), "600000".into(), "big.bin".into()],
        ];
        let mut out = Vec::new();
        super::tabwriter(&rows, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "bafyA  -      2024/\nbafyBB 600000 big.bin\n"
        );
    }
}
