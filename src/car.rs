//! CAR v1 files (`dag export` / `dag import`): a DAG-CBOR header with the
//! roots, then `varint(len) CID bytes` frames. Every block read from a CAR is
//! hashed against its CID before it is stored.

use crate::block::{BlockGet, BlockPut, MAX_BLOCK_SIZE, verify};
use crate::dag::{DagError, Missing, walk};
use crate::wire::put_varint;
use cid::Cid;
use std::collections::HashSet;
use std::io::{Read, Write};

/// A header is a few CIDs; a megabyte is far beyond any real one.
const MAX_HEADER: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("writing the CAR: {0}")]
    Write(std::io::Error),
    #[error("reading the CAR: {0}")]
    Read(std::io::Error),
    #[error("not a CAR v1 file: {0}")]
    Format(String),
    #[error("block {index} in the CAR: {source}")]
    Block {
        index: u64,
        source: crate::block::BlockError,
    },
    #[error(transparent)]
    Dag(#[from] DagError),
}

/// A CAR v1 header: DAG-CBOR `{roots, version}` (keys in DAG-CBOR's
/// canonical order: shorter first). Unknown keys are ignored on read.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    roots: Vec<Cid>,
    version: u64,
}

/// Writes a CAR v1 header naming `roots` (the gateway streams CARs too).
pub fn write_header<W: Write + ?Sized>(out: &mut W, roots: &[Cid]) -> Result<(), CarError> {
    let header = Header {
        roots: roots.to_vec(),
        version: 1,
    };
    let header = serde_ipld_dagcbor::to_vec(&header).map_err(|e| CarError::Format(e.to_string()))?;
    let mut buf = Vec::new();
    put_varint(&mut buf, header.len() as u64);
    out.write_all(&buf).map_err(CarError::Write)?;
    out.write_all(&header).map_err(CarError::Write)
}

/// Writes one `varint(len) CID bytes` frame.
pub fn write_block<W: Write + ?Sized>(out: &mut W, cid: &Cid, data: &[u8]) -> std::io::Result<()> {
    let c = cid.to_bytes();
    let mut frame = Vec::with_capacity(10 + c.len());
    put_varint(&mut frame, (c.len() + data.len()) as u64);
    frame.extend_from_slice(&c);
    out.write_all(&frame)?;
    out.write_all(data)
}

/// The error a walk's visitor returns when the CAR cannot be written.
pub fn write_error(e: std::io::Error) -> DagError {
    DagError::Block(crate::block::BlockError::Io {
        context: "writing the CAR".into(),
        source: e,
    })
}

/// Writes the DAG under `root` as a CAR v1 to `out`; returns blocks written.
/// Every block is made available first (fetched when `blocks` fetches), so
/// a DAG that cannot be had whole fails before a byte is written: never a
/// partial CAR. The caller keeps what was fetched from eviction and GC
/// until the end (`CacheLimit::protect`).
pub fn export<B: BlockGet + ?Sized>(blocks: &B, root: &Cid, out: &mut dyn Write) -> Result<u64, CarError> {
    crate::dag::ensure_complete(blocks, root)?;
    write_header(out, &[*root])?;
    let mut n = 0;
    let mut seen = HashSet::new();
    walk(blocks, root, Missing::Fail, &mut seen, &mut |cid, data| {
        write_block(&mut *out, cid, data).map_err(write_error)?;
        n += 1;
        Ok(())
    })?;
    out.flush().map_err(CarError::Write)?;
    Ok(n)
}

/// Reads an unsigned varint; Ok(None) at a clean end of input.
fn read_varint(r: &mut dyn Read) -> Result<Option<u64>, CarError> {
    let mut v = 0u64;
    for i in 0..10 {
        let mut b = [0u8; 1];
        match r.read(&mut b) {
            Ok(0) if i == 0 => return Ok(None),
            Ok(0) => return Err(CarError::Format("truncated varint".into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CarError::Read(e)),
        }
        v |= ((b[0] & 0x7f) as u64) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(CarError::Format("varint too long".into()))
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub roots: Vec<Cid>,
    pub blocks: u64,
    pub bytes: u64,
}

/// Reads a CAR v1 from `input`, verifies and stores every block.
pub fn import<S: BlockPut + ?Sized>(store: &S, input: &mut dyn Read) -> Result<ImportReport, CarError> {
    let hlen = read_varint(input)?.ok_or_else(|| CarError::Format("empty input".into()))? as usize;
    if hlen == 0 || hlen > MAX_HEADER {
        return Err(CarError::Format(format!("header length {hlen} is out of range")));
    }
    let mut header = vec![0u8; hlen];
    input.read_exact(&mut header).map_err(CarError::Read)?;
    let header: Header =
        serde_ipld_dagcbor::from_slice(&header).map_err(|e| CarError::Format(format!("header: {e}")))?;
    if header.version != 1 {
        return Err(CarError::Format(format!(
            "CAR version {} (only v1 is supported)",
            header.version
        )));
    }
    let mut report = ImportReport {
        roots: header.roots,
        ..Default::default()
    };
    while let Some(len) = read_varint(input)? {
        let len = len as usize;
        if len > MAX_BLOCK_SIZE + 128 {
            return Err(CarError::Format(format!(
                "frame of {len} bytes is over the block size limit"
            )));
        }
        let mut frame = vec![0u8; len];
        input.read_exact(&mut frame).map_err(CarError::Read)?;
        let mut cursor = std::io::Cursor::new(&frame[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::Format(format!("bad CID: {e}")))?;
        let data = &frame[cursor.position() as usize..];
        let index = report.blocks;
        verify(&cid, data).map_err(|source| CarError::Block { index, source })?;
        store
            .put(&cid, data)
            .map_err(|source| CarError::Block { index, source })?;
        report.blocks += 1;
        report.bytes += data.len() as u64;
    }
    store.flush().map_err(|source| CarError::Block {
        index: report.blocks,
        source,
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::NullStore;

    fn root() -> Cid {
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn".parse().unwrap()
    }

    /// The header is canonical DAG-CBOR, byte for byte what go-car writes.
    #[test]
    fn header_bytes_are_canonical_dag_cbor() {
        let mut out = Vec::new();
        write_header(&mut out, &[root()]).unwrap();
        let cid = root().to_bytes();
        let mut body = vec![0xa2, 0x65];
        body.extend_from_slice(b"roots");
        body.extend_from_slice(&[0x81, 0xd8, 0x2a, 0x58, cid.len() as u8 + 1, 0x00]);
        body.extend_from_slice(&cid);
        body.push(0x67);
        body.extend_from_slice(b"version");
        body.push(0x01);
        let mut want = vec![body.len() as u8];
        want.extend_from_slice(&body);
        assert_eq!(out, want);
        let report = import(&NullStore, &mut &out[..]).unwrap();
        assert_eq!(report.roots, vec![root()]);
    }

    #[test]
    fn other_versions_and_broken_headers_are_errors() {
        let v2 = serde_ipld_dagcbor::to_vec(&Header {
            roots: vec![root()],
            version: 2,
        })
        .unwrap();
        let mut car = vec![v2.len() as u8];
        car.extend_from_slice(&v2);
        let e = import(&NullStore, &mut &car[..]).unwrap_err().to_string();
        assert!(e.contains("only v1"), "{e}");
        for bad in [&[3u8, 0xa1, 0x61, 0x78][..], &[2, 0xff, 0xff], &[1, 0x01]] {
            assert!(matches!(
                import(&NullStore, &mut &bad[..]),
                Err(CarError::Format(_))
            ));
        }
    }
}
