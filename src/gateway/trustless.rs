//! The trustless gateway (specs.ipfs.tech/http-gateways/trustless-gateway,
//! IPIP-402/412): one raw block, or a CAR v1 of the path's blocks and then
//! the requested scope, in DFS order without duplicates. The CAR is written
//! with `car::write_block` and DAGs walked with `dag::walk`, as `dag export`.

use super::body::{Body, ChanWriter};
use super::error::GatewayError;
use super::path::{Content, Plan, Resolved, set};
use super::request::{EntityBytes, GwRequest, Scope};
use crate::block::{BlockError, BlockGet, DAG_PB};
use crate::blockservice::BlockService;
use crate::car::{write_block, write_error, write_header};
use crate::dag::{Missing, walk};
use crate::unixfs::data::DataType;
use crate::unixfs::resolve::Node;
use cid::Cid;
use hyper::Response;
use hyper::header::{self, HeaderName};
use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

pub const CAR_TYPE: &str = "application/vnd.ipld.car; version=1; order=dfs; dups=n";

pub struct CarJob {
    /// The CAR's root: the CID the request's path starts from.
    root: Cid,
    path_blocks: Vec<Cid>,
    terminal: Cid,
    scope: Scope,
    entity_bytes: Option<EntityBytes>,
}

fn attachment(resp: &mut Response<Body>, name: &str) {
    set(
        resp,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{name}\""),
    );
    // Never rendered: these are bytes to verify, not a page.
    set(resp, HeaderName::from_static("x-content-type-options"), "nosniff");
}

pub fn plan_raw(
    blocks: &BlockService,
    res: &Resolved,
    mut resp: Response<Body>,
    head: bool,
) -> Result<Plan, GatewayError> {
    // One block is at most 2 MiB: sent from memory.
    let data = blocks.get(&res.cid)?;
    set(&mut resp, header::CONTENT_TYPE, "application/vnd.ipld.raw");
    set(&mut resp, header::CONTENT_LENGTH, &data.len().to_string());
    attachment(&mut resp, &format!("{}.bin", res.cid));
    if !head {
        *resp.body_mut() = Body::full(data);
    }
    Ok(Plan { resp, content: None })
}

pub fn plan_car(req: &GwRequest, res: Resolved, mut resp: Response<Body>) -> Plan {
    set(&mut resp, header::CONTENT_TYPE, CAR_TYPE);
    attachment(&mut resp, &format!("{}.car", res.cid));
    // Streamed without a length: the DAG's size is known only once walked.
    set(&mut resp, header::ACCEPT_RANGES, "none");
    Plan {
        resp,
        content: Some(Content::Car(CarJob {
            root: req.path.root,
            path_blocks: res.path_blocks,
            terminal: res.cid,
            scope: req.scope,
            entity_bytes: req.entity_bytes,
        })),
    }
}

/// Writes each block once (`seen` by multihash, as `dag::walk` does).
fn emit(
    blocks: &BlockService,
    cid: &Cid,
    out: &mut ChanWriter,
    seen: &mut HashSet<Vec<u8>>,
) -> Result<(), GatewayError> {
    if seen.insert(cid.hash().to_bytes()) {
        let d = blocks.get(cid)?;
        write_block(out, cid, &d).map_err(write_error)?;
    }
    Ok(())
}

pub fn write_car(blocks: &BlockService, job: &CarJob, out: &mut ChanWriter) -> Result<(), GatewayError> {
    write_header(out, &[job.root])?;
    let mut seen = HashSet::new();
    for c in &job.path_blocks {
        emit(blocks, c, out, &mut seen)?;
    }
    let t = &job.terminal;
    match job.scope {
        Scope::Block => emit(blocks, t, out, &mut seen)?,
        Scope::All => walk(blocks, t, Missing::Fail, &mut seen, &mut |c, d| {
            write_block(&mut *out, c, d).map_err(write_error)
        })?,
        Scope::Entity => entity(blocks, job, out, &mut seen)?,
    }
    out.flush().map_err(|e| GatewayError::Internal(e.to_string()))
}

/// `dag-scope=entity`: a file's blocks (only those an `entity-bytes` range
/// touches), a directory's node, or a HAMT directory's shard nodes; never
/// the children of a directory.
fn entity(
    blocks: &BlockService,
    job: &CarJob,
    out: &mut ChanWriter,
    seen: &mut HashSet<Vec<u8>>,
) -> Result<(), GatewayError> {
    let t = job.terminal;
    if t.codec() != DAG_PB {
        return emit(blocks, &t, out, seen);
    }
    let node = Node::decode(&t, blocks.get(&t)?)?;
    let Node::Pb { node: pb, data } = &node else {
        return emit(blocks, &t, out, seen);
    };
    match (data.kind, job.entity_bytes) {
        (DataType::File | DataType::Raw, None) => walk(blocks, &t, Missing::Fail, seen, &mut |c, d| {
            write_block(&mut *out, c, d).map_err(write_error)
        })?,
        (DataType::File | DataType::Raw, Some(eb)) => {
            emit(blocks, &t, out, seen)?;
            let (s, e) = eb.resolve(node.size());
            // read_range loads exactly the nodes and leaves the range
            // touches, in order: the emitter writes each as it is read.
            let em = Emitter {
                inner: blocks,
                out: Mutex::new((out, seen)),
            };
            crate::unixfs::reader::read_range(&em, &t, s, e - s, &mut |_| Ok(()))?;
        }
        (DataType::HamtShard, _) => {
            emit(blocks, &t, out, seen)?;
            // Links named by a two-hex-digit prefix alone are sub-shards.
            for l in pb.links.iter().filter(|l| l.name().len() == 2) {
                let sub = CarJob {
                    root: job.root,
                    path_blocks: Vec::new(),
                    terminal: l.cid,
                    scope: Scope::Entity,
                    entity_bytes: None,
                };
                entity(blocks, &sub, out, seen)?;
            }
        }
        _ => emit(blocks, &t, out, seen)?,
    }
    Ok(())
}

/// A `BlockGet` that writes every block read through it to the CAR once.
struct Emitter<'a, 'b> {
    inner: &'a BlockService,
    out: Mutex<(&'b mut ChanWriter, &'b mut HashSet<Vec<u8>>)>,
}

impl BlockGet for Emitter<'_, '_> {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        let d = self.inner.get(cid)?;
        let mut g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let (out, seen) = &mut *g;
        if seen.insert(cid.hash().to_bytes()) {
            write_block(&mut **out, cid, &d).map_err(|source| BlockError::Io {
                context: "writing the CAR".into(),
                source,
            })?;
        }
        Ok(d)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.inner.has(cid)
    }
    fn prefetch(&self, cids: &mut dyn Iterator<Item = Cid>) {
        self.inner.prefetch(cids)
    }
}
