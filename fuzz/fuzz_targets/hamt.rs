//! HAMT shards from arbitrary bytes: listing a shard and looking names up in
//! it return entries or an error, never a panic (nor a hang).
//!
//! Input: `[n: u8][name: n bytes]` then blocks, each `[len: u16 LE][bytes]`;
//! the first block is the root. A CID resolves to the block that hashes to
//! it if there is one (so real shards from `seed.sh` work), else to block
//! `last digest byte % count` (so the fuzzer can wire up sub-shards).
#![no_main]

use cid::Cid;
use libfuzzer_sys::fuzz_target;
use p2pfs::block::{BlockError, BlockGet, sha256_multihash};
use p2pfs::unixfs::data::{DataType, UnixFsData};
use p2pfs::unixfs::hamt::{for_each, lookup};
use p2pfs::unixfs::pb::PbNode;
use std::collections::HashMap;

struct Blocks {
    list: Vec<Vec<u8>>,
    by_hash: HashMap<Vec<u8>, usize>,
}

impl BlockGet for Blocks {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        let digest = cid.hash().digest();
        let i = match self.by_hash.get(digest) {
            Some(i) => *i,
            None => *digest.last().unwrap_or(&0) as usize % self.list.len(),
        };
        Ok(self.list[i].clone())
    }
    fn has(&self, _: &Cid) -> Result<bool, BlockError> {
        Ok(true)
    }
}

fn split(data: &[u8]) -> Option<(String, Vec<Vec<u8>>)> {
    let (&n, rest) = data.split_first()?;
    let name = String::from_utf8_lossy(rest.get(..n as usize)?).into_owned();
    let mut rest = &rest[n as usize..];
    let mut list = Vec::new();
    while rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..];
        let len = len.min(body.len());
        list.push(body[..len].to_vec());
        rest = &body[len..];
    }
    (!list.is_empty()).then_some((name, list))
}

fuzz_target!(|data: &[u8]| {
    let Some((name, list)) = split(data) else {
        return;
    };
    let by_hash = list
        .iter()
        .enumerate()
        .map(|(i, b)| (sha256_multihash(b).digest().to_vec(), i))
        .collect();
    let blocks = Blocks { list, by_hash };
    let Ok(root) = PbNode::decode(&blocks.list[0]) else {
        return;
    };
    let Some(Ok(d)) = root.data.as_deref().map(UnixFsData::decode) else {
        return;
    };
    if d.kind != DataType::HamtShard {
        return;
    }
    let _ = lookup(&blocks, &root, &d, &name);
    let mut found = Vec::new();
    let _ = for_each(&blocks, &root, &d, &mut |n, _, _| {
        if found.len() < 16 {
            found.push(n.to_string());
        }
        Ok(())
    });
    for n in &found {
        let _ = lookup(&blocks, &root, &d, n);
    }
});
