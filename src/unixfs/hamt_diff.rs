//! Two HAMT directories compared bucket by bucket: a bucket whose link
//! (name and CID) is the same on both sides holds the same entries, so
//! only differing buckets are walked. Used by `diff` so that a change in a
//! sharded directory of 100,000 entries loads a few shards, not all.

use super::data::UnixFsData;
use super::hamt::{shard_geometry, walk};
use super::pb::{PbLink, PbNode};
use super::{EntryVisitor, Error};
use crate::block::BlockGet;
use std::collections::{HashMap, HashSet};

/// Calls `fa` / `fb` with the entries of shards `a` / `b`, leaving out
/// buckets the two share exactly: a caller comparing the entries it is
/// given sees every difference.
pub fn for_each_differing<B: BlockGet + ?Sized>(
    blocks: &B,
    a: (&PbNode, &UnixFsData),
    b: (&PbNode, &UnixFsData),
    fa: &mut EntryVisitor<'_>,
    fb: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    let ((_, pa), (_, pb)) = (shard_geometry(a.1)?, shard_geometry(b.1)?);
    let mut seen = (HashSet::new(), HashSet::new());
    if pa != pb {
        walk(blocks, a.0, pa, 0, &mut seen.0, fa)?;
        return walk(blocks, b.0, pb, 0, &mut seen.1, fb);
    }
    pair(blocks, a.0, b.0, pa, 0, &mut seen, fa, fb)
}

/// Links by their bucket prefix; None when a prefix repeats (malformed).
fn by_prefix(node: &PbNode, pad: usize) -> Result<Option<HashMap<&str, &PbLink>>, Error> {
    let mut out = HashMap::with_capacity(node.links.len());
    for l in &node.links {
        let name = l.name();
        if name.len() < pad || !name.is_char_boundary(pad) {
            return Err(Error::Malformed("HAMT link name shorter than its prefix"));
        }
        if out.insert(&name[..pad], l).is_some() {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

type Seen = (HashSet<cid::Cid>, HashSet<cid::Cid>);

#[allow(clippy::too_many_arguments)]
fn pair<B: BlockGet + ?Sized>(
    blocks: &B,
    a: &PbNode,
    b: &PbNode,
    pad: usize,
    depth: usize,
    seen: &mut Seen,
    fa: &mut EntryVisitor<'_>,
    fb: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    if depth > 64 {
        return Err(Error::Malformed("HAMT nested too deep"));
    }
    let (Some(la), Some(mut lb)) = (by_prefix(a, pad)?, by_prefix(b, pad)?) else {
        walk(blocks, a, pad, depth, &mut seen.0, fa)?;
        return walk(blocks, b, pad, depth, &mut seen.1, fb);
    };
    for (prefix, x) in la {
        match lb.remove(prefix) {
            Some(y) if y.name() == x.name() && y.cid == x.cid => {}
            Some(y) if x.name().len() == pad && y.name().len() == pad => {
                if seen.0.insert(x.cid) && seen.1.insert(y.cid) {
                    let (nx, ny) = (
                        PbNode::decode(&blocks.get(&x.cid)?)?,
                        PbNode::decode(&blocks.get(&y.cid)?)?,
                    );
                    pair(blocks, &nx, &ny, pad, depth + 1, seen, fa, fb)?;
                }
            }
            Some(y) => {
                one(blocks, x, pad, depth, &mut seen.0, fa)?;
                one(blocks, y, pad, depth, &mut seen.1, fb)?;
            }
            None => one(blocks, x, pad, depth, &mut seen.0, fa)?,
        }
    }
    for y in lb.into_values() {
        one(blocks, y, pad, depth, &mut seen.1, fb)?;
    }
    Ok(())
}

/// Every entry under one link: itself, or a whole sub-shard.
fn one<B: BlockGet + ?Sized>(
    blocks: &B,
    link: &PbLink,
    pad: usize,
    depth: usize,
    seen: &mut HashSet<cid::Cid>,
    f: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    let name = link.name();
    if name.len() > pad {
        return f(&name[pad..], link.cid, link.tsize);
    }
    if !seen.insert(link.cid) {
        return Ok(());
    }
    let child = PbNode::decode(&blocks.get(&link.cid)?)?;
    walk(blocks, &child, pad, depth + 1, seen, f)
}
