//! The HTTP gateway through real sockets: daemons on free ports, checked
//! with curl (headers, ranges, errors) and the project's own CAR reader.

mod common;

use common::{Daemon, noise};
use p2pfs::block::{BlockError, BlockPut, RAW, cid_v1, parse_cid};
use std::process::Command;
use std::sync::Mutex;

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -i` with `args`; the head is split from the (binary) body.
fn curl(args: &[&str]) -> Resp {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "120"])
        .args(args)
        .output()
        .expect("curl is installed (apt-get install -y curl)");
    let raw = out.stdout;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head: {}", String::from_utf8_lossy(&out.stderr)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// A free port on loopback (bound and released: the daemon takes it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon with its gateway on a free port; returns it and the base URL.
fn gateway_node(edit: impl FnOnce(String) -> String) -> (Daemon, String) {
    let port = free_port();
    let d = Daemon::start_with(&["/ip4/127.0.0.1/tcp/0"], |c| {
        edit(c.replace("listen = []", &format!("listen = [\"127.0.0.1:{port}\"]")))
    });
    let base = format!("http://127.0.0.1:{port}");
    // The gateway starts after the control socket: wait for it.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (d, base);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the gateway did not start on {port}");
}

fn add(d: &Daemon, path: &std::path::Path) -> String {
    let out = d.run(&["add", "-r", "-Q", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A tree: `big.bin` (4 leaves and a root), `hello.txt`, `site/` with an
/// index.html, `odd dir/` with names to escape.
fn tree() -> (tempfile::TempDir, Vec<u8>) {
    let src = tempfile::tempdir().unwrap();
    let t = src.path().join("t");
    let big = noise(7, 1_000_000);
    std::fs::create_dir_all(t.join("site")).unwrap();
    std::fs::create_dir_all(t.join("odd dir")).unwrap();
    std::fs::write(t.join("big.bin"), &big).unwrap();
    std::fs::write(t.join("hello.txt"), b"hello\n").unwrap();
    std::fs::write(t.join("site/index.html"), b"<p>home</p>\n").unwrap();
    std::fs::write(t.join("odd dir/<b>&\"x\".txt"), b"odd\n").unwrap();
    (src, big)
}

#[test]
fn files_ranges_and_caching_headers() {
    let (d, base) = gateway_node(|c| c);
    let (src, big) = tree();
    let root = add(&d, &src.path().join("t"));
    let url = format!("{base}/ipfs/{root}/big.bin");
    let r = curl(&[&url]);
    assert_eq!(r.status, 200);
    assert!(r.body == big, "bytes differ ({} vs {})", r.body.len(), big.len());
    assert_eq!(r.header("content-length"), Some("1000000"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=29030400, immutable")
    );
    assert_eq!(
        r.header("x-ipfs-path"),
        Some(format!("/ipfs/{root}/big.bin").as_str())
    );
    let roots: Vec<&str> = r.header("x-ipfs-roots").unwrap().split(',').collect();
    assert_eq!((roots.len(), roots[0]), (2, root.as_str()));
    let file = roots[1].to_string();
    assert_eq!(r.header("etag"), Some(format!("\"{file}\"").as_str()));
    // The same file by its own CID; text gets a text type.
    assert!(curl(&[&format!("{base}/ipfs/{file}")]).body == big);
    let t = curl(&[&format!("{base}/ipfs/{root}/hello.txt")]);
    assert_eq!((t.status, t.body.as_slice()), (200, &b"hello\n"[..]));
    assert_eq!(t.header("content-type"), Some("text/plain; charset=utf-8"));
    // One range (across a leaf boundary), several, and one past the end.
    let r = curl(&["-H", "Range: bytes=262000-262999", &url]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big[262_000..263_000]);
    assert_eq!(r.header("content-range"), Some("bytes 262000-262999/1000000"));
    let r = curl(&["-H", "Range: bytes=-10", &url]);
    assert_eq!((r.status, r.body.as_slice()), (206, &big[999_990..]));
    let r = curl(&["-H", "Range: bytes=0-3, 999998-", &url]);
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    assert_eq!(
        r.header("content-length").unwrap().parse::<usize>().unwrap(),
        r.body.len()
    );
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains("Content-Range: bytes 0-3/1000000")
            && body.contains("Content-Range: bytes 999998-999999/1000000")
    );
    let r = curl(&["-H", "Range: bytes=2000000-", &url]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */1000000"))
    );
    // HEAD: the same head, no body.
    let h = curl(&["-I", &url]);
    assert_eq!((h.status, h.header("content-length")), (200, Some("1000000")));
    assert!(h.body.is_empty());
    // A client holding the ETag gets 304.
    let r = curl(&["-H", &format!("If-None-Match: \"{file}\""), &url]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(format!("\"{file}\"").as_str()));
}

#[test]
fn directories_redirects_and_errors() {
    let (d, base) = gateway_node(|c| c);
    let (src, _) = tree();
    let root = add(&d, &src.path().join("t"));
    // Without the slash: 301 to it (query kept).
    let r = curl(&[&format!("{base}/ipfs/{root}/site?x=1")]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("/ipfs/{root}/site/?x=1").as_str())
    );
    // A directory with index.html serves it.
    let r = curl(&[&format!("{base}/ipfs/{root}/site/")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>home</p>\n"[..]));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // Otherwise a listing: escaped names, percent-encoded links, sizes.
    let r = curl(&[&format!("{base}/ipfs/{root}/")]);
    assert_eq!(r.status, 200);
    let html = String::from_utf8(r.body).unwrap();
    for want in [
        "href=\"big.bin\"",
        "href=\"hello.txt\"",
        "href=\"odd%20dir\"",
        " KiB</td>",
    ] {
        assert!(html.contains(want), "{want} missing in {html}");
    }
    let r = curl(&[&format!("{base}/ipfs/{root}/odd%20dir/")]);
    let html = String::from_utf8(r.body).unwrap();
    assert!(
        html.contains("&lt;b&gt;&amp;&quot;x&quot;.txt") && !html.contains("<b>"),
        "{html}"
    );
    assert!(html.contains("href=\"%3Cb%3E&amp;%22x%22.txt\""), "{html}");
    let r = curl(&[&format!("{base}/ipfs/{root}/odd%20dir/%3Cb%3E%26%22x%22.txt")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"odd\n"[..]));
    // Errors: bad CID, bad escape, missing link, path through a file, other paths.
    for (url, status) in [
        (format!("{base}/ipfs/not-a-cid"), 400),
        (format!("{base}/ipfs/{root}/%FF"), 400),
        (format!("{base}/ipfs/{root}/nothing-here"), 404),
        (format!("{base}/ipfs/{root}/hello.txt/x"), 404),
        (format!("{base}/ipfs/{root}?format=zip"), 400),
        (format!("{base}/"), 404),
    ] {
        assert_eq!(curl(&[&url]).status, status, "{url}");
    }
    assert_eq!(curl(&["-X", "POST", &format!("{base}/ipfs/{root}")]).status, 405);
}

/// Blocks read from a CAR by `car::import`, which checks every block's hash.
#[derive(Default)]
struct Blocks(Mutex<Vec<(cid::Cid, Vec<u8>)>>);

impl BlockPut for Blocks {
    fn put(&self, cid: &cid::Cid, data: &[u8]) -> Result<(), BlockError> {
        self.0.lock().unwrap().push((*cid, data.to_vec()));
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

fn car(url: &str) -> (Vec<cid::Cid>, Vec<cid::Cid>) {
    let r = curl(&[url]);
    assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.ipld.car; version=1; order=dfs; dups=n")
    );
    let b = Blocks::default();
    let rep =
        p2pfs::car::import(&b, &mut r.body.as_slice()).expect("the CAR parses and every block verifies");
    let cids = b.0.into_inner().unwrap().into_iter().map(|(c, _)| c).collect();
    (rep.roots, cids)
}

#[test]
fn trustless_raw_blocks_and_cars() {
    let (d, base) = gateway_node(|c| c);
    let (src, big) = tree();
    let root = add(&d, &src.path().join("t"));
    let rootc = parse_cid(&root).unwrap();
    let file = curl(&["-I", &format!("{base}/ipfs/{root}/big.bin")]);
    let file = file
        .header("x-ipfs-roots")
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    // A raw block: its bytes hash to its CID (by ?format= and by Accept).
    let r = curl(&[&format!("{base}/ipfs/{root}?format=raw")]);
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/vnd.ipld.raw"))
    );
    assert_eq!(cid_v1(rootc.codec(), &r.body).hash(), rootc.hash());
    let r = curl(&[
        "-H",
        "Accept: application/vnd.ipld.raw",
        &format!("{base}/ipfs/{file}"),
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(cid_v1(0x70, &r.body).hash(), parse_cid(&file).unwrap().hash());
    // The whole DAG: every block once, root first, as `dag export` writes it.
    let (roots, all) = car(&format!("{base}/ipfs/{root}?format=car"));
    assert_eq!((roots, all[0]), (vec![rootc], rootc));
    let export = d.run(&["dag", "export", &root]).stdout;
    let b = Blocks::default();
    p2pfs::car::import(&b, &mut export.as_slice()).unwrap();
    let exported: Vec<_> = b.0.into_inner().unwrap().into_iter().map(|(c, _)| c).collect();
    assert_eq!(all, exported);
    // A path: the blocks on the way, then the scope. The file's entity is
    // its root and 4 leaves; block scope is its root alone.
    let (roots, ent) = car(&format!("{base}/ipfs/{root}/big.bin?format=car&dag-scope=entity"));
    assert_eq!(roots, vec![rootc]);
    assert_eq!(ent.len(), 1 + 1 + 4);
    assert_eq!((ent[0], ent[1].to_string()), (rootc, file.clone()));
    let (_, blk) = car(&format!("{base}/ipfs/{root}/big.bin?format=car&dag-scope=block"));
    assert_eq!(blk, ent[..2]);
    // entity-bytes: only the leaves the range touches (the 2nd and 3rd).
    let (_, part) = car(&format!(
        "{base}/ipfs/{root}/big.bin?format=car&dag-scope=entity&entity-bytes=262144:600000"
    ));
    assert_eq!(part, [ent[0], ent[1], ent[3], ent[4]]);
    let leaf = cid_v1(RAW, &big[262_144..524_288]);
    assert_eq!(part[2], leaf);
    // A directory's entity is its node alone (not its children).
    let (_, dir) = car(&format!("{base}/ipfs/{root}?format=car&dag-scope=entity"));
    assert_eq!(dir, vec![rootc]);
    let r = curl(&[
        "-H",
        "Accept: application/vnd.ipld.car",
        &format!("{base}/ipfs/{root}/hello.txt"),
    ]);
    assert_eq!(r.status, 200);
}

#[test]
fn content_from_a_peer_through_the_gateway_and_timeouts() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let (b, base) = gateway_node(|c| c.replace("fetch_timeout = \"30s\"", "fetch_timeout = \"2s\""));
    let (src, big) = tree();
    let root = add(&a, &src.path().join("t"));
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    // B has none of it: the gateway fetches it over Bitswap.
    let r = curl(&[&format!("{base}/ipfs/{root}/big.bin")]);
    assert_eq!(r.status, 200);
    assert!(r.body == big);
    // A CID nobody has: 504 after the fetch timeout, not a hang.
    let lonely = tempfile::tempdir().unwrap();
    std::fs::write(lonely.path().join("x"), b"bytes that nobody stores").unwrap();
    let out = b.run(&["add", "-Q", "-n", lonely.path().join("x").to_str().unwrap()]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let t = std::time::Instant::now();
    let r = curl(&[&format!("{base}/ipfs/{cid}")]);
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
}

/// Keys B still wants from peers (`stats bitswap`).
fn wants(d: &Daemon) -> usize {
    let out = String::from_utf8(d.run(&["stats", "bitswap"]).stdout).unwrap();
    out.lines()
        .find_map(|l| l.trim().strip_prefix("wantlist ["))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

#[test]
fn a_client_that_leaves_cancels_the_fetch() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let (b, base) = gateway_node(|c| c);
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    let lonely = tempfile::tempdir().unwrap();
    std::fs::write(lonely.path().join("x"), b"bytes that nobody has, wanted for 30 s").unwrap();
    let out = b.run(&["add", "-Q", "-n", lonely.path().join("x").to_str().unwrap()]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // curl gives up after 1 s; the fetch would go on for 30 s without it.
    let mut client = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "1"])
        .arg(format!("{base}/ipfs/{cid}"))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(wants(&b), 1, "the gateway asks peers for the block");
    client.wait().unwrap();
    let t = std::time::Instant::now();
    while wants(&b) != 0 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "the want outlived its client"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The gateway still answers (the read slot came back).
    std::fs::write(lonely.path().join("y"), b"local").unwrap();
    let out = b.run(&["add", "-Q", lonely.path().join("y").to_str().unwrap()]);
    let local = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = curl(&[&format!("{base}/ipfs/{local}")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"local"[..]));
}

/// `/ipns/<name>[/path]`: a name another node published, resolved through
/// the DHT, served as the content it points at.
#[test]
fn ipns_names_through_the_gateway() {
    let (g, base) = gateway_node(|c| c);
    let p = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let g_addr = g.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(p.run(&["swarm", "connect", &g_addr]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (src, _) = tree();
    let root = add(&p, &src.path().join("t"));
    let name = String::from_utf8(p.run(&["key", "gen", "www"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let out = p.run(&["name", "publish", "--key", "www", &format!("/ipfs/{root}")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let r = curl(&[&format!("{base}/ipns/{name}/hello.txt")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]));
    assert_eq!(
        r.header("x-ipfs-path"),
        Some(format!("/ipns/{name}/hello.txt").as_str())
    );
    let r = curl(&[&format!("{base}/ipns/{name}/odd%20dir/%3Cb%3E%26%22x%22.txt")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"odd\n"[..]));
    let r = curl(&[&format!("{base}/ipns/{name}/site")]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some(format!("/ipns/{name}/site/").as_str()));
    assert_eq!(
        curl(&[&format!("{base}/ipns/{name}/site/")]).body,
        b"<p>home</p>\n"
    );
    assert_eq!(curl(&[&format!("{base}/ipns/{name}/nope")]).status, 404);
    assert_eq!(curl(&[&format!("{base}/ipns/notaname")]).status, 400);
    let unknown = String::from_utf8(p.run(&["key", "gen", "unused"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let r = curl(&[&format!("{base}/ipns/{unknown}/")]);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
}
