//! dag-pb (codec 0x70): PBNode { Links (2), Data (1) } in canonical order —
//! Links first, each link Hash (1), Name (2), Tsize (3) — as the spec and
//! Kubo/Helia write it, so the same node gives the same CID.

use super::Error;
use crate::wire::{Reader, Value, put_bytes_field, put_key, put_varint, put_varint_field, varint_len};
use cid::Cid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    pub cid: Cid,
    pub name: Option<String>,
    pub tsize: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PbNode {
    pub links: Vec<PbLink>,
    pub data: Option<Vec<u8>>,
}

impl PbLink {
    pub fn new(cid: Cid, name: impl Into<String>, tsize: u64) -> Self {
        PbLink {
            cid,
            name: Some(name.into()),
            tsize: Some(tsize),
        }
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_bytes_field(&mut out, 1, &self.cid.to_bytes());
        if let Some(name) = &self.name {
            put_bytes_field(&mut out, 2, name.as_bytes());
        }
        if let Some(t) = self.tsize {
            put_varint_field(&mut out, 3, t);
        }
        out
    }

    /// Bytes this link adds to an encoded PBNode.
    pub fn encoded_len(&self) -> usize {
        let inner = self.encode().len();
        1 + varint_len(inner as u64) + inner
    }
}

impl PbNode {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for link in &self.links {
            let l = link.encode();
            put_key(&mut out, 2, 2);
            put_varint(&mut out, l.len() as u64);
            out.extend_from_slice(&l);
        }
        if let Some(d) = &self.data {
            put_bytes_field(&mut out, 1, d);
        }
        out
    }

    /// Decodes a dag-pb block. Never panics; rejects what the spec forbids
    /// (Data before Links, repeated Data, unknown fields).
    pub fn decode(buf: &[u8]) -> Result<PbNode, Error> {
        let mut node = PbNode::default();
        let mut r = Reader::new(buf);
        while let Some((field, v)) = r.field()? {
            match (field, v) {
                (2, Value::Bytes(b)) => {
                    if node.data.is_some() {
                        return Err(Error::Malformed("dag-pb Links after Data"));
                    }
                    node.links.push(decode_link(b)?);
                }
                (1, Value::Bytes(b)) => {
                    if node.data.is_some() {
                        return Err(Error::Malformed("dag-pb repeated Data"));
                    }
                    node.data = Some(b.to_vec());
                }
                _ => return Err(Error::Malformed("dag-pb unknown field")),
            }
        }
        Ok(node)
    }
}

fn decode_link(buf: &[u8]) -> Result<PbLink, Error> {
    let mut r = Reader::new(buf);
    let mut cid = None;
    let mut name = None;
    let mut tsize = None;
    while let Some((field, v)) = r.field()? {
        match (field, v) {
            (1, Value::Bytes(b)) if cid.is_none() => {
                cid = Some(Cid::try_from(b).map_err(|_| Error::Malformed("dag-pb link CID"))?);
            }
            (2, Value::Bytes(b)) if name.is_none() => {
                let s =
                    std::str::from_utf8(b).map_err(|_| Error::Malformed("dag-pb link name is not UTF-8"))?;
                name = Some(s.to_string());
            }
            (3, Value::Varint(t)) if tsize.is_none() => tsize = Some(t),
            _ => return Err(Error::Malformed("dag-pb link field")),
        }
    }
    Ok(PbLink {
        cid: cid.ok_or(Error::Malformed("dag-pb link without Hash"))?,
        name,
        tsize,
    })
}

/// The CIDs a block links to, by codec: dag-pb links, nothing for raw.
/// dag-cbor is not traversed (it is not what UnixFS produces).
pub fn links_of(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>, Error> {
    match cid.codec() {
        crate::block::DAG_PB => Ok(PbNode::decode(data)?.links.into_iter().map(|l| l.cid).collect()),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{DAG_PB, RAW, cid_v1};

    #[test]
    fn empty_directory_vector() {
        let node = PbNode {
            links: vec![],
            data: Some(vec![0x08, 0x01]),
        };
        assert_eq!(
            cid_v1(DAG_PB, &node.encode()).to_string(),
            "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
        );
    }

    #[test]
    fn roundtrip_and_order() {
        let leaf = cid_v1(RAW, b"x");
        let node = PbNode {
            links: vec![PbLink::new(leaf, "a", 1)],
            data: Some(vec![8, 1]),
        };
        let bytes = node.encode();
        assert_eq!(bytes[0], 0x12, "Links (field 2) come first");
        assert_eq!(PbNode::decode(&bytes).unwrap(), node);
        assert_eq!(node.links[0].encoded_len() + 4, bytes.len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[0xff][..], &[0x12, 0x05, 0x0a], &[0x0a, 0x02, 0x08], &[0x07]] {
            assert!(PbNode::decode(bytes).is_err());
        }
    }
}
