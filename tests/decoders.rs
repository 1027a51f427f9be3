//! Property tests of every decoder of outside bytes (the fuzz targets in
//! `fuzz/` run the same checks for longer): arbitrary bytes give `Ok` or
//! `Err`, never a panic; valid messages built here round-trip exactly; valid
//! encodings with bytes flipped, cut off or added still never panic.

use bytes::Bytes;
use cid::Cid;
use p2pfs::block::{BlockError, BlockGet, BlockPut, DAG_PB, RAW, cid_v0, cid_v1, identity_bytes, verify};
use p2pfs::car;
use p2pfs::fuzzing::{PackAppender, pack_scan, pack_scan_all};
use p2pfs::mfs::journal::{Op, line, read_ops};
use p2pfs::net::bitswap::{Message, Want};
use p2pfs::unixfs::data::{DataType, UnixFsData, UnixTime};
use p2pfs::unixfs::hamt;
use p2pfs::unixfs::importer::ImportOptions;
use p2pfs::unixfs::pb::{PbLink, PbNode, links_of};
use p2pfs::wire::{Reader, put_varint, varint_len};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

#[derive(Default)]
struct MemStore(Mutex<HashMap<Cid, Vec<u8>>>);

impl BlockPut for MemStore {
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.0.lock().unwrap().insert(*cid, data.to_vec());
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

impl BlockGet for MemStore {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            return Ok(b.to_vec());
        }
        self.0
            .lock()
            .unwrap()
            .get(cid)
            .cloned()
            .ok_or(BlockError::NotFound(*cid))
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Ok(self.0.lock().unwrap().contains_key(cid))
    }
}

/// A change to a valid encoding: flip a byte, cut the tail, insert or append bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

fn apply(bytes: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in ms {
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= x;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(i) => b.truncate(i % (b.len() + 1)),
            Mutation::Insert(i, x) => {
                let i = i % (b.len() + 1);
                b.splice(i..i, x.iter().copied());
            }
            Mutation::Extend(x) => b.extend_from_slice(x),
        }
    }
    b
}

/// Only flips and truncations: a damaged copy that can lose, never gain.
fn damage() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
            any::<usize>().prop_map(Mutation::Truncate),
        ],
        1..3,
    )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

// ---- varints -------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn varint_round_trip(v in any::<u64>()) {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        prop_assert_eq!(out.len(), varint_len(v));
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.varint().unwrap(), v);
        prop_assert!(r.at_end());
    }

    #[test]
    fn protobuf_fields_of_garbage_do_not_panic(b in bytes(256)) {
        let mut r = Reader::new(&b);
        while let Ok(Some(_)) = r.field() {}
        let mut r = Reader::new(&b);
        while r.varint().is_ok() {}
    }
}

// ---- dag-pb ----------------------------------------------------------------

fn any_cid() -> impl Strategy<Value = Cid> {
    (bytes(64), 0..3u8).prop_map(|(b, k)| match k {
        0 => cid_v0(&b),
        1 => cid_v1(RAW, &b),
        _ => cid_v1(DAG_PB, &b),
    })
}

fn pb_link() -> impl Strategy<Value = PbLink> {
    (
        any_cid(),
        prop::option::of(".{0,12}"),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(cid, name, tsize)| PbLink { cid, name, tsize })
}

fn pb_node() -> impl Strategy<Value = PbNode> {
    (
        prop::collection::vec(pb_link(), 0..6),
        prop::option::of(bytes(64)),
    )
        .prop_map(|(links, data)| PbNode { links, data })
}

fn check_pb_round_trip(b: &[u8]) -> Result<(), TestCaseError> {
    let _ = links_of(&cid_v1(DAG_PB, b), b);
    if let Ok(node) = PbNode::decode(b) {
        let enc = node.encode();
        let again = PbNode::decode(&enc).expect("a re-encoded node decodes");
        prop_assert_eq!(&again, &node);
        prop_assert_eq!(again.encode(), enc);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dagpb_garbage(b in bytes(512)) {
        check_pb_round_trip(&b)?;
    }

    #[test]
    fn dagpb_round_trip(node in pb_node()) {
        let enc = node.encode();
        prop_assert_eq!(PbNode::decode(&enc).unwrap(), node.clone());
        let data_len = node.data.as_ref().map_or(0, |d| 1 + varint_len(d.len() as u64) + d.len());
        let links_len: usize = node.links.iter().map(|l| l.encoded_len()).sum();
        prop_assert_eq!(links_len + data_len, enc.len());
        let cids: Vec<Cid> = node.links.iter().map(|l| l.cid).collect();
        prop_assert_eq!(links_of(&cid_v1(DAG_PB, &enc), &enc).unwrap(), cids);
    }

    #[test]
    fn dagpb_mutated(node in pb_node(), ms in mutations()) {
        check_pb_round_trip(&apply(&node.encode(), &ms))?;
    }
}

// ---- UnixFS Data -------------------------------------------------------------

fn unixfs_data() -> impl Strategy<Value = UnixFsData> {
    let kind = prop_oneof![
        Just(DataType::Raw),
        Just(DataType::Directory),
        Just(DataType::File),
        Just(DataType::Metadata),
        Just(DataType::Symlink),
        Just(DataType::HamtShard),
    ];
    let mtime = prop::option::of((any::<i64>(), prop::option::of(any::<u32>())))
        .prop_map(|t| t.map(|(seconds, nanos)| UnixTime { seconds, nanos }));
    (
        kind,
        prop::option::of(bytes(64)),
        prop::option::of(any::<u64>()),
        prop::collection::vec(any::<u64>(), 0..20),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u32>()),
        mtime,
    )
        .prop_map(
            |(kind, data, filesize, blocksizes, hash_type, fanout, mode, mtime)| UnixFsData {
                kind,
                data,
                filesize,
                blocksizes,
                hash_type,
                fanout,
                mode,
                mtime,
            },
        )
}

fn check_unixfs_round_trip(b: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(d) = UnixFsData::decode(b) {
        let _ = d.file_size();
        let enc = d.encode();
        let again = UnixFsData::decode(&enc).expect("a re-encoded message decodes");
        prop_assert_eq!(&again, &d);
        prop_assert_eq!(again.encode(), enc);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unixfs_garbage(b in bytes(256)) {
        check_unixfs_round_trip(&b)?;
    }

    #[test]
    fn unixfs_round_trip(d in unixfs_data()) {
        let enc = d.encode();
        let again = UnixFsData::decode(&enc).unwrap();
        prop_assert_eq!(&again, &d);
        // Sizes from outside bytes never overflow (saturating, not a panic).
        let _ = again.file_size();
    }

    #[test]
    fn unixfs_mutated(d in unixfs_data(), ms in mutations()) {
        check_unixfs_round_trip(&apply(&d.encode(), &ms))?;
    }
}

// ---- HAMT ------------------------------------------------------------------

fn root_of(store: &MemStore, cid: &Cid) -> Option<(PbNode, UnixFsData)> {
    let node = PbNode::decode(&store.get(cid).ok()?).ok()?;
    let d = UnixFsData::decode(node.data.as_deref()?).ok()?;
    Some((node, d))
}

fn list(store: &MemStore, node: &PbNode, d: &UnixFsData) -> Result<Vec<(String, Cid)>, p2pfs::unixfs::Error> {
    let mut out = Vec::new();
    hamt::for_each(store, node, d, &mut |n, c, _| {
        out.push((n.to_string(), c));
        Ok(())
    })?;
    Ok(out)
}

fn hamt_entries() -> impl Strategy<Value = BTreeMap<String, (Cid, u64)>> {
    prop::collection::btree_map("[a-z0-9]{1,6}", (any_cid(), 0..1000u64), 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..config() })]

    #[test]
    fn hamt_round_trip(entries in hamt_entries(), absent in "[A-Z]{1,6}") {
        let store = MemStore::default();
        let root = hamt::build(&store, &ImportOptions::default(), &entries).unwrap();
        let (node, d) = root_of(&store, &root.cid).unwrap();
        prop_assert_eq!(d.kind, DataType::HamtShard);
        let mut listed = list(&store, &node, &d).unwrap();
        listed.sort();
        let want: Vec<(String, Cid)> = entries.iter().map(|(n, (c, _))| (n.clone(), *c)).collect();
        prop_assert_eq!(listed, want);
        for (name, (cid, tsize)) in entries.iter().take(20) {
            prop_assert_eq!(hamt::lookup(&store, &node, &d, name).unwrap(), Some((*cid, Some(*tsize))));
        }
        prop_assert_eq!(hamt::lookup(&store, &node, &d, &absent).unwrap(), None);
    }

    #[test]
    fn hamt_mutated(entries in hamt_entries(), ms in mutations(), name in "[a-z0-9]{1,6}") {
        let store = MemStore::default();
        let root = hamt::build(&store, &ImportOptions::default(), &entries).unwrap();
        // Damage the root and, separately, every sub-shard.
        let blocks: Vec<(Cid, Vec<u8>)> =
            store.0.lock().unwrap().iter().map(|(c, b)| (*c, b.clone())).collect();
        for (cid, bytes) in blocks.iter().take(8) {
            let damaged = apply(bytes, &ms);
            store.0.lock().unwrap().insert(*cid, damaged);
            if let Some((node, d)) = root_of(&store, &root.cid) {
                let _ = hamt::lookup(&store, &node, &d, &name);
                let _ = list(&store, &node, &d);
            }
            store.0.lock().unwrap().insert(*cid, bytes.clone());
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hamt_garbage(b in bytes(512), name in ".{0,8}") {
        let store = MemStore::default();
        // The garbage is also every block the shard links to.
        if let Ok(node) = PbNode::decode(&b) {
            for l in &node.links {
                store.put(&l.cid, &b).unwrap();
            }
            if let Some(Ok(mut d)) = node.data.as_deref().map(UnixFsData::decode) {
                let _ = hamt::lookup(&store, &node, &d, &name);
                let _ = list(&store, &node, &d);
                d.hash_type = Some(hamt::MURMUR3_X64_64);
                d.fanout = Some(256);
                let _ = hamt::lookup(&store, &node, &d, &name);
                let _ = list(&store, &node, &d);
            }
        }
    }
}

// ---- Bitswap -----------------------------------------------------------------

fn bitswap_message() -> impl Strategy<Value = Message> {
    let want = (bytes(40), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(cid, cancel, want_have, send_dont_have)| Want {
            cid,
            cancel,
            want_have,
            send_dont_have,
        },
    );
    let block = (bytes(300), 0..3u8).prop_map(|(data, k)| {
        let cid = match k {
            0 => cid_v0(&data),
            1 => cid_v1(RAW, &data),
            _ => cid_v1(DAG_PB, &data),
        };
        (cid, Bytes::from(data))
    });
    (
        prop::collection::vec(want, 0..8),
        any::<bool>(),
        prop::collection::vec(block, 0..4),
        prop::collection::vec((bytes(40), any::<bool>()), 0..8),
    )
        .prop_map(|(wants, full, blocks, presences)| Message {
            wants,
            full,
            blocks,
            presences,
        })
}

fn check_bitswap_round_trip(b: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Message::decode(&Bytes::copy_from_slice(b)) {
        for (cid, data) in &m.blocks {
            prop_assert!(verify(cid, data).is_ok(), "a decoded block hashes to its CID");
        }
        let again = Message::decode(&Bytes::from(m.encode())).expect("a re-encoded message decodes");
        prop_assert_eq!(again, m);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bitswap_garbage(b in bytes(512)) {
        check_bitswap_round_trip(&b)?;
    }

    #[test]
    fn bitswap_round_trip(m in bitswap_message()) {
        let enc = Bytes::from(m.encode());
        prop_assert_eq!(Message::decode(&enc).unwrap(), m);
    }

    #[test]
    fn bitswap_mutated(m in bitswap_message(), ms in mutations()) {
        check_bitswap_round_trip(&apply(&m.encode(), &ms))?;
    }
}

// ---- CAR v1 ------------------------------------------------------------------

/// A dag-pb root linking random raw blocks, stored; returns the root.
fn random_dag(store: &MemStore, leaves: &[Vec<u8>]) -> Cid {
    let mut links = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let cid = cid_v1(RAW, leaf);
        store.put(&cid, leaf).unwrap();
        links.push(PbLink::new(cid, format!("{i}"), leaf.len() as u64));
    }
    let root = PbNode {
        links,
        data: Some(UnixFsData::new(DataType::Directory).encode()),
    };
    let bytes = root.encode();
    let cid = cid_v1(DAG_PB, &bytes);
    store.put(&cid, &bytes).unwrap();
    cid
}

fn exported(leaves: &[Vec<u8>]) -> (Cid, Vec<u8>) {
    let store = MemStore::default();
    let root = random_dag(&store, leaves);
    let mut out = Vec::new();
    car::export(&store, &root, &mut out).unwrap();
    (root, out)
}

fn check_car_import(b: &[u8]) -> Result<(), TestCaseError> {
    let store = MemStore::default();
    if car::import(&store, &mut &b[..]).is_ok() {
        for (cid, data) in store.0.lock().unwrap().iter() {
            prop_assert!(verify(cid, data).is_ok(), "an imported block hashes to its CID");
        }
    }
    Ok(())
}

fn leaves() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(bytes(200), 0..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn car_garbage(b in bytes(512)) {
        check_car_import(&b)?;
    }

    #[test]
    fn car_round_trip(leaves in leaves()) {
        let (root, bytes) = exported(&leaves);
        let store = MemStore::default();
        let report = car::import(&store, &mut &bytes[..]).unwrap();
        prop_assert_eq!(report.roots, vec![root]);
        let mut distinct = leaves.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(store.0.lock().unwrap().len(), distinct.len() + 1);
        let mut again = Vec::new();
        car::export(&store, &root, &mut again).unwrap();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn car_mutated(leaves in leaves(), ms in mutations()) {
        let (_, bytes) = exported(&leaves);
        check_car_import(&apply(&bytes, &ms))?;
    }
}

// ---- the files/ journal ----------------------------------------------------

fn journal_op() -> impl Strategy<Value = Op> {
    let s = || ".{0,16}";
    prop_oneof![
        (
            s(),
            s(),
            any::<u64>(),
            prop::option::of((any::<u32>(), any::<i64>(), any::<u32>()))
        )
            .prop_map(|(path, cid, tsize, meta)| Op::Put {
                path,
                cid,
                tsize,
                meta,
                ext: None,
            }),
        s().prop_map(|path| Op::Mkdir { path }),
        s().prop_map(|path| Op::Remove { path }),
        (s(), s()).prop_map(|(from, to)| Op::Rename { from, to }),
        (
            s(),
            any::<u32>(),
            any::<i64>(),
            any::<u32>(),
            prop::option::of(any::<(u32, u32, i64, u32, i64, u32, u64)>())
        )
            .prop_map(|(path, mode, secs, nanos, ext)| Op::Meta {
                path,
                mode,
                secs,
                nanos,
                ext
            }),
    ]
}

fn journal_bytes(generation: u64, ops: &[Op]) -> Vec<u8> {
    let mut out = line(&format!("{{\"generation\":{generation}}}"));
    for op in ops {
        out.push_str(&line(&serde_json::to_string(op).unwrap()));
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn journal_garbage(b in bytes(512), generation in 0..3u64) {
        let _ = read_ops(&b[..], generation);
        // Garbage behind a valid header: the JSON parser behind the checksum.
        let text = String::from_utf8_lossy(&b);
        let mut framed = String::from_utf8(journal_bytes(generation, &[])).unwrap();
        for l in text.lines() {
            framed.push_str(&line(l));
        }
        prop_assert!(read_ops(framed.as_bytes(), generation).is_some());
    }

    #[test]
    fn journal_round_trip(ops in prop::collection::vec(journal_op(), 0..10), generation in any::<u64>()) {
        let b = journal_bytes(generation, &ops);
        prop_assert_eq!(read_ops(&b[..], generation), Some(ops));
        prop_assert_eq!(read_ops(&b[..], generation.wrapping_add(1)), None);
    }

    #[test]
    fn journal_damaged_replays_a_prefix(ops in prop::collection::vec(journal_op(), 1..10), ms in damage()) {
        let b = apply(&journal_bytes(3, &ops), &ms);
        if let Some(got) = read_ops(&b[..], 3) {
            prop_assert!(got.len() <= ops.len());
            prop_assert_eq!(&got[..], &ops[..got.len()]);
        }
    }

    #[test]
    fn journal_mutated(ops in prop::collection::vec(journal_op(), 1..10), ms in mutations()) {
        let _ = read_ops(&apply(&journal_bytes(3, &ops), &ms)[..], 3);
    }
}

// ---- pack / WAL records ----------------------------------------------------

/// (multihash, data) of each record.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

fn scan_bytes(b: &[u8]) -> (Records, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack");
    std::fs::write(&path, b).unwrap();
    let (records, end) = pack_scan(&path, 0).unwrap();
    assert!(end <= b.len() as u64);
    for r in &records {
        let at = r.offset as usize;
        assert_eq!(
            &b[at..at + r.data.len()],
            &r.data[..],
            "a record is where it says"
        );
    }
    (records.into_iter().map(|r| (r.multihash, r.data)).collect(), end)
}

/// `scan_all` (rebuild-index): records in order, each where it says and
/// hashing to its multihash; returns them and the count skipped.
fn scan_all_bytes(b: &[u8]) -> (Records, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack");
    std::fs::write(&path, b).unwrap();
    let (records, skipped, len) = pack_scan_all(&path).unwrap();
    assert_eq!(len, b.len() as u64);
    let mut next = 0;
    for r in &records {
        let at = r.offset as usize;
        assert!(
            at >= next + 6 + r.multihash.len(),
            "records in order, not overlapping"
        );
        assert_eq!(
            &b[at..at + r.data.len()],
            &r.data[..],
            "a record is where it says"
        );
        let mh = cid::multihash::Multihash::<64>::from_bytes(&r.multihash).unwrap();
        assert!(verify(&Cid::new_v1(RAW, mh), &r.data).is_ok());
        next = at + r.data.len();
    }
    (
        records.into_iter().map(|r| (r.multihash, r.data)).collect(),
        skipped,
    )
}

fn packed(blocks: &[Vec<u8>]) -> (Records, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack");
    let mut app = PackAppender::open_file(&path, 0).unwrap();
    let mut records = Vec::new();
    for b in blocks {
        let mh = cid_v1(RAW, b).hash().to_bytes();
        app.append(&mh, b).unwrap();
        records.push((mh, b.clone()));
    }
    (records, std::fs::read(&path).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pack_garbage(b in bytes(512)) {
        scan_bytes(&b);
        scan_all_bytes(&b);
    }

    #[test]
    fn pack_round_trip(blocks in prop::collection::vec(bytes(300), 0..6)) {
        let (records, file) = packed(&blocks);
        let (got, end) = scan_bytes(&file);
        prop_assert_eq!(&got, &records);
        prop_assert_eq!(end, file.len() as u64);
        prop_assert_eq!(scan_all_bytes(&file), (records, 0));
    }

    #[test]
    fn pack_damaged_keeps_a_prefix(blocks in prop::collection::vec(bytes(300), 1..6), ms in damage()) {
        let (records, file) = packed(&blocks);
        let (got, _) = scan_bytes(&apply(&file, &ms));
        prop_assert!(got.len() <= records.len());
        prop_assert_eq!(&got[..], &records[..got.len()]);
    }

    #[test]
    fn pack_mutated(blocks in prop::collection::vec(bytes(300), 1..6), ms in mutations()) {
        let (_, file) = packed(&blocks);
        scan_bytes(&apply(&file, &ms));
        scan_all_bytes(&apply(&file, &ms));
    }
}

/// A shard whose two buckets both link to the same sub-shard, 40 levels
/// deep: 41 blocks an attacker can serve, 2^40 paths if walked naively.
#[test]
fn hamt_shared_subshards_are_walked_once() {
    let store = MemStore::default();
    let mut entries = BTreeMap::new();
    entries.insert("a".to_string(), (cid_v1(RAW, b"a"), 1));
    entries.insert("b".to_string(), (cid_v1(RAW, b"b"), 1));
    let mut cid = hamt::build(&store, &ImportOptions::default(), &entries)
        .unwrap()
        .cid;
    let mut d = UnixFsData::new(DataType::HamtShard);
    d.data = Some(vec![0x03]);
    d.hash_type = Some(hamt::MURMUR3_X64_64);
    d.fanout = Some(256);
    let mut node = PbNode::default();
    for _ in 0..40 {
        node = PbNode {
            links: vec![PbLink::new(cid, "00", 0), PbLink::new(cid, "01", 0)],
            data: Some(d.encode()),
        };
        let bytes = node.encode();
        cid = cid_v1(DAG_PB, &bytes);
        store.put(&cid, &bytes).unwrap();
    }
    let listed = list(&store, &node, &d).unwrap();
    assert!(listed.len() <= 2, "{} entries listed", listed.len());
    let _ = hamt::lookup(&store, &node, &d, "a");
}

/// `scan_all` (rebuild-index) after a damaged length that still fits in
/// the file: the record is lost, the next good one is found again (it used
/// to trust the length and jump over the next record's start).
#[test]
fn pack_scan_all_resyncs_after_a_damaged_length() {
    let blocks = vec![vec![1u8; 100], vec![2u8; 100], vec![3u8; 100]];
    let (records, mut file) = packed(&blocks);
    file[2] = 150; // the first record's data length: 100 -> 150
    let (got, _) = scan_all_bytes(&file);
    let lost = records.iter().filter(|r| !got.contains(r)).count();
    assert!(lost <= 1, "{lost} records lost to one damaged length byte");
}

// ---- IPNS records --------------------------------------------------------------

fn ipns_record(seq: u64, value: &[u8]) -> (p2pfs::ipns::Name, p2pfs::ipns::Record) {
    use std::time::{Duration, UNIX_EPOCH};
    let key = libp2p_identity::Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
    let eol = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    let r = p2pfs::ipns::Record::create(&key, value, seq, eol, Duration::from_secs(60)).unwrap();
    (p2pfs::ipns::Name(key.public().to_peer_id()), r)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ipns_garbage(b in bytes(512)) {
        let _ = p2pfs::ipns::Record::parse(&b);
    }

    /// A changed record never panics, and never validates unless it still
    /// means exactly what was signed.
    #[test]
    fn ipns_mutated(seq in any::<u64>(), value in bytes(64), ms in mutations()) {
        use std::time::{Duration, UNIX_EPOCH};
        let (name, r) = ipns_record(seq, &value);
        let b = apply(r.to_bytes(), &ms);
        if let Ok(m) = p2pfs::ipns::Record::parse(&b)
            && m.validate(&name, UNIX_EPOCH + Duration::from_secs(1_800_000_000)).is_ok()
        {
            prop_assert_eq!((&m.value, m.sequence, m.eol, m.ttl), (&r.value, r.sequence, r.eol, r.ttl));
        }
    }
}
