//! A block as the IPLD data model (dag-pb, raw, dag-cbor, dag-json), for
//! `dag get`: paths into it and its DAG-JSON form, the shapes Kubo prints.

use crate::block::{BlockError, BlockGet, DAG_CBOR, DAG_PB, RAW};
use crate::unixfs::pb::PbNode;
use crate::unixfs::resolve::{IpfsPath, resolve};
use cid::Cid;
use ipld_core::ipld::Ipld;
use std::collections::BTreeMap;

/// dag-json's multicodec.
pub const DAG_JSON: u64 = 0x0129;

#[derive(Debug, thiserror::Error)]
pub enum IpldError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("block {cid} is not valid {codec}: {why}")]
    Decode {
        cid: Cid,
        codec: &'static str,
        why: String,
    },
    #[error("{cid} has codec 0x{codec:x}; dag-pb, raw, dag-cbor and dag-json are supported")]
    Codec { cid: Cid, codec: u64 },
    #[error("no {segment:?} under {at}")]
    NoSuchPath { segment: String, at: String },
    #[error(transparent)]
    Unixfs(#[from] crate::unixfs::Error),
    #[error("rendering as DAG-JSON: {0}")]
    Encode(String),
}

/// A block's bytes as the IPLD data model of its codec.
pub fn decode(cid: &Cid, data: &[u8]) -> Result<Ipld, IpldError> {
    let bad = |codec: &'static str, why: String| IpldError::Decode {
        cid: *cid,
        codec,
        why,
    };
    match cid.codec() {
        RAW => Ok(Ipld::Bytes(data.to_vec())),
        DAG_PB => Ok(pb_model(
            PbNode::decode(data).map_err(|e| bad("dag-pb", e.to_string()))?,
        )),
        DAG_CBOR => serde_ipld_dagcbor::from_slice(data).map_err(|e| bad("dag-cbor", e.to_string())),
        DAG_JSON => serde_ipld_dagjson::from_slice(data).map_err(|e| bad("dag-json", e.to_string())),
        codec => Err(IpldError::Codec { cid: *cid, codec }),
    }
}

/// dag-pb's data model: `{Data?, Links: [{Hash, Name?, Tsize?}]}`.
fn pb_model(node: PbNode) -> Ipld {
    let links = node
        .links
        .into_iter()
        .map(|l| {
            let mut m = BTreeMap::from([("Hash".to_string(), Ipld::Link(l.cid))]);
            if let Some(name) = l.name {
                m.insert("Name".into(), Ipld::String(name));
            }
            if let Some(t) = l.tsize {
                m.insert("Tsize".into(), Ipld::Integer(t.into()));
            }
            Ipld::Map(m)
        })
        .collect();
    let mut m = BTreeMap::from([("Links".to_string(), Ipld::List(links))]);
    if let Some(d) = node.data {
        m.insert("Data".into(), Ipld::Bytes(d));
    }
    Ipld::Map(m)
}

/// The node at `path`: names under dag-pb nodes are UnixFS names (HAMT
/// directories included, as Kubo resolves them); under dag-cbor and
/// dag-json they are map keys and list indexes, and links are followed.
pub fn get<B: BlockGet + ?Sized>(blocks: &B, path: &IpfsPath) -> Result<Ipld, IpldError> {
    let mut cid = path.root;
    let mut node = decode(&cid, &blocks.get(&cid)?)?;
    let mut at = cid.to_string();
    // Whether `node` is a whole block (a dag-pb block is then a UnixFS node).
    let mut whole = true;
    for seg in &path.components {
        if whole && cid.codec() == DAG_PB {
            cid = resolve(
                blocks,
                &IpfsPath {
                    root: cid,
                    components: vec![seg.clone()],
                },
            )?;
            node = decode(&cid, &blocks.get(&cid)?)?;
        } else {
            let next = match &node {
                Ipld::Map(m) => m.get(seg).cloned(),
                Ipld::List(l) => seg.parse::<usize>().ok().and_then(|i| l.get(i).cloned()),
                _ => None,
            };
            let next = next.ok_or_else(|| IpldError::NoSuchPath {
                segment: seg.clone(),
                at: at.clone(),
            })?;
            (node, whole) = match next {
                Ipld::Link(c) => {
                    cid = c;
                    (decode(&c, &blocks.get(&c)?)?, true)
                }
                other => (other, false),
            };
        }
        at = format!("{at}/{seg}");
    }
    Ok(node)
}

/// The DAG-JSON bytes of a node (as `ipfs dag get` prints them).
pub fn to_dag_json(node: &Ipld) -> Result<Vec<u8>, IpldError> {
    serde_ipld_dagjson::to_vec(node).map_err(|e| IpldError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockPut, cid_v1};
    use crate::unixfs::importer::tests::MemStore;
    use crate::unixfs::pb::PbLink;

    #[test]
    fn dag_pb_renders_as_kubo_prints_it() {
        let leaf = cid_v1(RAW, b"meow\n");
        let node = PbNode {
            links: vec![PbLink::new(leaf, "cat.txt", 5)],
            data: Some(vec![0x08, 0x01]),
        };
        let json = to_dag_json(&pb_model(node)).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            format!(
                r#"{{"Data":{{"/":{{"bytes":"CAE"}}}},"Links":[{{"Hash":{{"/":"{leaf}"}},"Name":"cat.txt","Tsize":5}}]}}"#
            )
        );
        assert_eq!(
            to_dag_json(&Ipld::Bytes(b"hi".to_vec())).unwrap(),
            br#"{"/":{"bytes":"aGk"}}"#
        );
    }

    #[test]
    fn paths_follow_names_keys_indexes_and_links() {
        let s = MemStore::default();
        let leaf = b"meow\n";
        let leaf_cid = cid_v1(RAW, leaf);
        s.put(&leaf_cid, leaf).unwrap();
        let pb = PbNode {
            links: vec![PbLink::new(leaf_cid, "cat.txt", 5)],
            data: Some(vec![0x08, 0x01]),
        }
        .encode();
        let pb_cid = cid_v1(DAG_PB, &pb);
        s.put(&pb_cid, &pb).unwrap();
        let cbor = serde_ipld_dagcbor::to_vec(&Ipld::Map(BTreeMap::from([(
            "a".to_string(),
            Ipld::List(vec![Ipld::Integer(7), Ipld::Link(pb_cid)]),
        )])))
        .unwrap();
        let cbor_cid = cid_v1(DAG_CBOR, &cbor);
        s.put(&cbor_cid, &cbor).unwrap();
        let at = |c: &[&str]| {
            get(
                &s,
                &IpfsPath {
                    root: cbor_cid,
                    components: c.iter().map(|s| s.to_string()).collect(),
                },
            )
        };
        assert_eq!(at(&["a", "0"]).unwrap(), Ipld::Integer(7));
        assert_eq!(at(&["a", "1", "cat.txt"]).unwrap(), Ipld::Bytes(leaf.to_vec()));
        assert!(matches!(at(&["a", "2"]), Err(IpldError::NoSuchPath { .. })));
        assert!(matches!(at(&["b"]), Err(IpldError::NoSuchPath { .. })));
        assert!(at(&["a", "1", "dog.txt"]).is_err());
        // Damaged bytes are an error, not a panic.
        assert!(decode(&cbor_cid, &[0xff, 0x00]).is_err());
        assert!(decode(&pb_cid, &[0x0a]).is_err());
    }
}
