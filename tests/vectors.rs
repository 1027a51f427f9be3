//! Kubo/Helia compatibility: the same bytes must give the same CIDs.
//!
//! The expected values in tests/vectors/vectors.json (and the CAR files beside
//! it) were produced by Helia's `ipfs-unixfs-importer` 17.1.1 from the npm
//! registry, with the options of `ipfs add --cid-version=1` (CIDv1, raw
//! leaves, 262144-byte chunks, balanced layout, 174 links per node) or of
//! plain `ipfs add` for the CIDv0 ones; the script is
//! integration/vectors/gen.mjs (`cd integration/vectors && npm ci && node gen.mjs`).
//! The empty file/directory and the `hello\n` CIDv0 values are also Kubo's
//! well-known ones.

use p2pfs::add::{AddOptions, Adder};
use p2pfs::block::{BlockGet, parse_cid};
use p2pfs::store::Store;
use p2pfs::unixfs::dir::DirBuilder;
use p2pfs::unixfs::hamt;
use p2pfs::unixfs::importer::{Entry, ImportOptions, import_file};
use p2pfs::unixfs::reader::read_range;
use p2pfs::unixfs::resolve::{IpfsPath, Kind, Node, list, resolve};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn vectors() -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/vectors.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn content(c: &Value) -> Vec<u8> {
    match c["kind"].as_str().unwrap() {
        "mod251" => (0..c["size"].as_u64().unwrap() as usize)
            .map(|i| (i % 251) as u8)
            .collect(),
        "utf8" => c["value"].as_str().unwrap().as_bytes().to_vec(),
        k => panic!("unknown content kind {k}"),
    }
}

fn options(o: &Value) -> ImportOptions {
    ImportOptions {
        chunk_size: o["chunker"]["chunkSize"].as_u64().unwrap() as usize,
        raw_leaves: o["rawLeaves"].as_bool().unwrap(),
        cid_version: o["cidVersion"].as_u64().unwrap() as u8,
        max_links: o["layout"]["maxChildrenPerNode"].as_u64().unwrap() as usize,
        ..Default::default()
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

fn read_all(s: &Store, cid: &cid::Cid) -> Vec<u8> {
    let mut out = Vec::new();
    read_range(s, cid, 0, u64::MAX, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn files_match_helia() {
    let (_d, s) = store();
    for v in vectors()["files"].as_array().unwrap() {
        let data = content(&v["content"]);
        let opts = options(&v["options"]);
        let e = import_file(&s, &opts, &data[..], |_| {}).unwrap();
        assert_eq!(
            e.cid.to_string(),
            v["cid"].as_str().unwrap(),
            "vector {}",
            v["name"]
        );
        assert_eq!(e.tsize, v["tsize"].as_u64().unwrap(), "tsize of {}", v["name"]);
        assert_eq!(read_all(&s, &e.cid), data, "read back {}", v["name"]);
    }
}

/// Writes a vector's inputs as real files under `root`.
fn materialize(root: &Path, inputs: &Value) {
    for i in inputs.as_array().unwrap() {
        let p = root.join(i["path"].as_str().unwrap());
        match i["type"].as_str().unwrap() {
            "file" => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, content(&i["content"])).unwrap();
            }
            "directory" => std::fs::create_dir_all(&p).unwrap(),
            "symlink" => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(i["target"].as_str().unwrap(), &p).unwrap();
            }
            t => panic!("unknown input type {t}"),
        }
    }
}

fn add_dir(s: &Store, path: PathBuf, import: ImportOptions) -> Vec<p2pfs::add::Added> {
    let opts = AddOptions {
        import,
        recursive: true,
        hidden: false,
        wrap: false,
    };
    let mut all = Vec::new();
    Adder::new(s, opts, &mut |_| {}, &mut |a| all.push(a.clone()))
        .add_all(&[path])
        .unwrap();
    all
}

#[test]
fn directories_match_helia() {
    let (_d, s) = store();
    let v = vectors();
    let mut cases: Vec<&Value> = v["directories"].as_array().unwrap().iter().collect();
    cases.extend(
        v["symlinks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("inputs").is_some()),
    );
    for case in cases {
        let tmp = tempfile::tempdir().unwrap();
        materialize(tmp.path(), &case["inputs"]);
        let root_path = case["root_path"].as_str().unwrap();
        let added = add_dir(&s, tmp.path().join(root_path), options(&case["options"]));
        let root = added.last().unwrap();
        assert_eq!(root.path, root_path);
        assert_eq!(
            root.cid.to_string(),
            case["cid"].as_str().unwrap(),
            "vector {}",
            case["name"]
        );
        for e in case["entries"].as_array().into_iter().flatten() {
            let p = e["path"].as_str().unwrap();
            let got = added
                .iter()
                .find(|a| a.path == p)
                .unwrap_or_else(|| panic!("{p} not reported"));
            assert_eq!(got.cid.to_string(), e["cid"].as_str().unwrap(), "entry {p}");
        }
    }
}

#[test]
fn single_symlink_matches_helia() {
    let v = vectors();
    let sym = &v["symlinks"][0];
    let (cid, _) = p2pfs::unixfs::importer::symlink_node(
        &options(&sym["options"]),
        sym["input"]["target"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(cid.to_string(), sym["cid"].as_str().unwrap());
}

fn hamt_entries(
    s: &Store,
    n: usize,
    name: impl Fn(usize) -> String,
    body: impl Fn(usize) -> String,
) -> BTreeMap<String, (cid::Cid, u64)> {
    let mut m = BTreeMap::new();
    for k in 0..n {
        let e: Entry = import_file(s, &ImportOptions::default(), body(k).as_bytes(), |_| {}).unwrap();
        m.insert(name(k), (e.cid, e.tsize));
    }
    m
}

#[test]
fn hamt_build_matches_helia() {
    let (_d, s) = store();
    let v = vectors();
    let opts = ImportOptions::default();
    let big = hamt_entries(
        &s,
        2000,
        |k| format!("file-{k:05}.txt"),
        |k| format!("content {k}\n"),
    );
    let root = hamt::build(&s, &opts, &big).unwrap();
    assert_eq!(root.cid.to_string(), v["hamt"][0]["cid"].as_str().unwrap());
    let small = hamt_entries(&s, 40, |k| format!("f{k}"), |_| "x\n".to_string());
    assert_eq!(
        hamt::build(&s, &opts, &small).unwrap().cid.to_string(),
        v["hamt"][1]["cid"].as_str().unwrap()
    );

    // Kubo's threshold: 2000 × (14 + 36) = 100000 bytes stays a plain directory.
    let dir = DirBuilder { entries: big };
    assert_eq!(
        dir.estimated_size(p2pfs::unixfs::profile::SizeEstimation::Links),
        100_000
    );
    let flat = dir.build(&s, &opts).unwrap();
    let want = v["hamt_threshold"]["results"][0]["cid"].as_str().unwrap();
    assert_eq!(flat.cid.to_string(), want);
}

#[test]
fn hamt_from_helia_car_is_readable() {
    let (_d, s) = store();
    let car = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/hamt-2000.car");
    let report = p2pfs::car::import(&s, &mut std::fs::File::open(car).unwrap()).unwrap();
    assert_eq!(report.blocks, 2285);
    let root = report.roots[0];
    let node = Node::load(&s, &root).unwrap();
    assert_eq!(node.kind(), Kind::Directory);
    let entries = list(&s, &root, &node).unwrap();
    assert_eq!(entries.len(), 2000);
    for k in [0usize, 1, 777, 1999] {
        let path: IpfsPath = format!("{root}/file-{k:05}.txt").parse().unwrap();
        let cid = resolve(&s, &path).unwrap();
        assert_eq!(read_all(&s, &cid), format!("content {k}\n").as_bytes());
    }
    let missing: IpfsPath = format!("{root}/file-02000.txt").parse().unwrap();
    assert!(resolve(&s, &missing).is_err());
}

#[test]
fn nested_car_roundtrip() {
    let (_d, s) = store();
    let v = vectors();
    let car = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/nested.car");
    let report = p2pfs::car::import(&s, &mut std::fs::File::open(&car).unwrap()).unwrap();
    let root = report.roots[0];
    assert_eq!(root.to_string(), v["directories"][1]["cid"].as_str().unwrap());
    let p: IpfsPath = format!("/ipfs/{root}/ünïcödé/日本語.txt").parse().unwrap();
    assert_eq!(read_all(&s, &resolve(&s, &p).unwrap()), "こんにちは\n".as_bytes());
    // Export and re-import into a fresh store: same root, same blocks.
    let mut out = Vec::new();
    let n = p2pfs::car::export(&s, &root, &mut out).unwrap();
    assert_eq!(n, report.blocks);
    let (_d2, s2) = store();
    let again = p2pfs::car::import(&s2, &mut &out[..]).unwrap();
    assert_eq!(again.roots, vec![root]);
    assert!(
        s2.has(&parse_cid(v["directories"][1]["entries"][0]["cid"].as_str().unwrap()).unwrap())
            .unwrap()
    );
}

#[test]
fn corrupted_car_block_is_rejected() {
    let car = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/hamt-40.car")).unwrap();
    let mut bad = car.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let (_d, s) = store();
    let err = p2pfs::car::import(&s, &mut &bad[..]).unwrap_err().to_string();
    assert!(err.contains("damaged") || err.contains("hash"), "{err}");
    // Truncated input is an error too, never a panic.
    for cut in [1, 10, car.len() / 2, car.len() - 1] {
        assert!(p2pfs::car::import(&s, &mut &car[..cut]).is_err(), "cut at {cut}");
    }
}
