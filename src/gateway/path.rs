//! The path gateway (specs.ipfs.tech/http-gateways/path-gateway): a
//! request is planned on a blocking thread (resolve the path, decide
//! status and headers), its head is handed back, and the same thread then
//! streams the content into the body's channel.

use super::body::{Body, ChanWriter};
use super::error::GatewayError;
use super::request::{Format, GwRequest, percent_encode, ranges};
use super::trustless::{self, CarJob};
use crate::block::BlockGet;
use crate::blockservice::BlockService;
use crate::unixfs::reader::{read_range, read_range_owned};
use crate::unixfs::resolve::{IpfsPath, Kind, Node, list, lookup};
use cid::Cid;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use std::io::Write;
use std::sync::Mutex;

/// Content addressed by CID never changes: a year, as Kubo sends.
pub const IMMUTABLE: &str = "public, max-age=29030400, immutable";

/// A planned response: its head, and what to stream after it (None for
/// bodies already in the response, HEAD, 304 and redirects).
pub struct Plan {
    pub resp: Response<Body>,
    pub content: Option<Content>,
}

pub enum Content {
    File {
        cid: Cid,
        parts: Vec<(u64, u64)>,
        multipart: Option<Multipart>,
    },
    Car(CarJob),
}

/// `multipart/byteranges` framing of several ranges.
pub struct Multipart {
    boundary: String,
    ctype: String,
    size: u64,
}

impl Multipart {
    fn part_head(&self, (s, e): (u64, u64)) -> String {
        format!(
            "\r\n--{}\r\nContent-Type: {}\r\nContent-Range: bytes {s}-{}/{}\r\n\r\n",
            self.boundary,
            self.ctype,
            e - 1,
            self.size
        )
    }
    fn tail(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }
}

/// Where a path led: the CID, the CID of each segment (`X-Ipfs-Roots`) and
/// every block read on the way (a CAR starts with them, so a client can
/// verify the path itself).
pub struct Resolved {
    pub cid: Cid,
    pub roots: Vec<Cid>,
    pub path_blocks: Vec<Cid>,
}

/// A `BlockGet` that notes which blocks were read through it.
struct Recorder<'a> {
    inner: &'a BlockService,
    got: Mutex<Vec<Cid>>,
}

impl BlockGet for Recorder<'_> {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, crate::block::BlockError> {
        let d = self.inner.get(cid)?;
        self.got.lock().unwrap_or_else(|e| e.into_inner()).push(*cid);
        Ok(d)
    }
    fn has(&self, cid: &Cid) -> Result<bool, crate::block::BlockError> {
        self.inner.has(cid)
    }
}

pub fn resolve(blocks: &BlockService, path: &IpfsPath) -> Result<Resolved, GatewayError> {
    let rec = Recorder {
        inner: blocks,
        got: Mutex::new(Vec::new()),
    };
    let mut cid = path.root;
    let mut roots = vec![cid];
    for name in &path.components {
        let node = Node::load(&rec, &cid)?;
        if node.kind() != Kind::Directory {
            return Err(GatewayError::NotFound(format!(
                "{cid} is not a directory (looking up '{name}')"
            )));
        }
        cid = lookup(&rec, &cid, &node, name)?
            .ok_or_else(|| GatewayError::NotFound(format!("no link named '{name}' under {cid}")))?;
        roots.push(cid);
    }
    Ok(Resolved {
        cid,
        roots,
        path_blocks: rec.got.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// Runs on a blocking thread: plans the response, sends its head through
/// `reply`, then streams the content (unless the client left).
pub fn serve(blocks: BlockService, req: GwRequest, reply: tokio::sync::oneshot::Sender<Response<Body>>) {
    let plan = match plan(&blocks, &req) {
        Ok(p) => p,
        Err(e) => {
            let _ = reply.send(e.response());
            return;
        }
    };
    let Some(content) = plan.content.filter(|_| !req.head) else {
        let _ = reply.send(plan.resp);
        return;
    };
    let (body, mut w) = Body::channel();
    let mut resp = plan.resp;
    *resp.body_mut() = body;
    if reply.send(resp).is_err() {
        return;
    }
    let res = match content {
        Content::File {
            cid,
            parts,
            multipart,
        } => stream_file(&blocks, &cid, &parts, multipart.as_ref(), &mut w),
        Content::Car(job) => trustless::write_car(&blocks, &job, &mut w),
    };
    match res.and_then(|_| w.flush().map_err(|e| GatewayError::Internal(e.to_string()))) {
        Ok(()) => {}
        Err(e) => {
            tracing::debug!("gateway: {} cut short: {e}", req.raw_path);
            w.fail(e);
        }
    }
}

fn stream_file(
    blocks: &BlockService,
    cid: &Cid,
    parts: &[(u64, u64)],
    multipart: Option<&Multipart>,
    w: &mut ChanWriter,
) -> Result<(), GatewayError> {
    let io = |e: std::io::Error| crate::unixfs::Error::io("sending", e);
    for &(s, e) in parts {
        if let Some(m) = multipart {
            w.write_all(m.part_head((s, e)).as_bytes()).map_err(io)?;
        }
        read_range(blocks, cid, s, e - s, &mut |b| w.write_all(b).map_err(io))?;
    }
    if let Some(m) = multipart {
        w.write_all(m.tail().as_bytes()).map_err(io)?;
    }
    Ok(())
}

fn plan(blocks: &BlockService, req: &GwRequest) -> Result<Plan, GatewayError> {
    let res = resolve(blocks, &req.path)?;
    let etag = etag(req, &res.cid);
    let mut resp = Response::new(Body::empty());
    common_headers(&mut resp, req, &res, &etag);
    if let Some(inm) = &req.if_none_match
        && matches(inm, &etag)
    {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(Plan { resp, content: None });
    }
    match req.format {
        Format::Raw => trustless::plan_raw(blocks, &res, resp, req.head),
        Format::Car => Ok(trustless::plan_car(req, res, resp)),
        Format::UnixFs => plan_unixfs(blocks, req, &res, resp),
    }
}

fn etag(req: &GwRequest, cid: &Cid) -> String {
    match req.format {
        Format::UnixFs => format!("\"{cid}\""),
        Format::Raw => format!("\"{cid}.raw\""),
        Format::Car => {
            let eb = req
                .entity_bytes
                .map(|e| format!(".{}-{:?}", e.from, e.to))
                .unwrap_or_default();
            let scope = format!("{:?}", req.scope).to_lowercase();
            format!("\"{cid}.car.{scope}{eb}\"")
        }
    }
}

/// `If-None-Match`: a list of (possibly weak) tags, or `*`.
fn matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

pub fn set(resp: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn common_headers(resp: &mut Response<Body>, req: &GwRequest, res: &Resolved, etag: &str) {
    set(resp, header::ETAG, etag);
    set(resp, header::CACHE_CONTROL, IMMUTABLE);
    set(resp, HeaderName::from_static("x-ipfs-path"), &req.raw_path);
    let roots: Vec<String> = res.roots.iter().map(Cid::to_string).collect();
    set(resp, HeaderName::from_static("x-ipfs-roots"), &roots.join(","));
    // The response depends on these request headers (format negotiation).
    set(resp, header::VARY, "Accept, Accept-Encoding");
}

fn plan_unixfs(
    blocks: &BlockService,
    req: &GwRequest,
    res: &Resolved,
    mut resp: Response<Body>,
) -> Result<Plan, GatewayError> {
    let node = Node::load(blocks, &res.cid)?;
    let name = req.path.components.last().map(String::as_str).unwrap_or("");
    match node.kind() {
        Kind::File => plan_file(blocks, req, &res.cid, &node, name, resp),
        Kind::Symlink => Err(GatewayError::NotImplemented(format!(
            "{} is a symlink; the gateway does not follow symlinks",
            req.raw_path
        ))),
        Kind::Directory if !req.trailing_slash => {
            // Relative links in a listing or index.html need the slash.
            let q = req.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
            *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
            set(&mut resp, header::LOCATION, &format!("{}/{q}", req.raw_path));
            Ok(Plan { resp, content: None })
        }
        Kind::Directory => {
            if let Some(index) = lookup(blocks, &res.cid, &node, "index.html")? {
                let inode = Node::load(blocks, &index)?;
                if inode.kind() == Kind::File {
                    set(&mut resp, header::ETAG, &format!("\"{index}\""));
                    return plan_file(blocks, req, &index, &inode, "index.html", resp);
                }
            }
            let html = listing(blocks, req, &res.cid, &node)?;
            set(&mut resp, header::ETAG, &format!("\"DirIndex-{}\"", res.cid));
            // The listing's HTML may change with p2pfs; the content may not.
            set(&mut resp, header::CACHE_CONTROL, "public, max-age=604800");
            set(&mut resp, header::CONTENT_TYPE, "text/html; charset=utf-8");
            set(&mut resp, header::CONTENT_LENGTH, &html.len().to_string());
            if !req.head {
                *resp.body_mut() = Body::full(html);
            }
            Ok(Plan { resp, content: None })
        }
    }
}

fn plan_file(
    blocks: &BlockService,
    req: &GwRequest,
    cid: &Cid,
    node: &Node,
    name: &str,
    mut resp: Response<Body>,
) -> Result<Plan, GatewayError> {
    let size = node.size();
    let ctype = match by_extension(name) {
        Some(t) => t.to_string(),
        None => sniff(&read_range_owned(blocks, None, cid, 0, 512)?).to_string(),
    };
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    let parts = ranges(req.range.as_deref(), size)?;
    let (parts, multipart, len) = match parts {
        None => {
            set(&mut resp, header::CONTENT_TYPE, &ctype);
            (vec![(0, size)], None, size)
        }
        Some(p) if p.len() == 1 => {
            let (s, e) = p[0];
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(&mut resp, header::CONTENT_TYPE, &ctype);
            set(
                &mut resp,
                header::CONTENT_RANGE,
                &format!("bytes {s}-{}/{size}", e - 1),
            );
            (p, None, e - s)
        }
        Some(p) => {
            let m = Multipart {
                boundary: format!("p2pfs-{}", &cid.to_string()[..16.min(cid.to_string().len())]),
                ctype,
                size,
            };
            let len = p
                .iter()
                .map(|&r| m.part_head(r).len() as u64 + r.1 - r.0)
                .sum::<u64>()
                + m.tail().len() as u64;
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut resp,
                header::CONTENT_TYPE,
                &format!("multipart/byteranges; boundary={}", m.boundary),
            );
            (p, Some(m), len)
        }
    };
    set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
    Ok(Plan {
        resp,
        content: (len > 0).then_some(Content::File {
            cid: *cid,
            parts,
            multipart,
        }),
    })
}

fn listing(blocks: &BlockService, req: &GwRequest, cid: &Cid, node: &Node) -> Result<String, GatewayError> {
    let title = escape(&format!("/ipfs/{}", req.path));
    let mut h = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>Index of {title}</h1>\n<p><a href=\"/ipfs/{cid}\">{cid}</a></p>\n<table>\n"
    );
    if !req.path.components.is_empty() {
        h.push_str("<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n");
    }
    for e in list(blocks, cid, node)? {
        let size = e.tsize.map(human).unwrap_or_default();
        h.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td><a href=\"/ipfs/{}?filename={}\">{}</a></td><td>{size}</td></tr>\n",
            escape(&percent_encode(&e.name)),
            escape(&e.name),
            e.cid,
            escape(&percent_encode(&e.name)),
            e.cid,
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    Ok(h)
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// HTML-escapes text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The media type of common file extensions (what browsers need to show them).
fn by_extension(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "car" => "application/vnd.ipld.car",
        _ => return None,
    })
}

/// The media type from a file's first bytes (a few well-known signatures,
/// then text if it is UTF-8 without control bytes).
fn sniff(b: &[u8]) -> &'static str {
    const SIGS: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"\x1f\x8b", "application/gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"\0asm", "application/wasm"),
    ];
    if let Some((_, t)) = SIGS.iter().find(|(s, _)| b.starts_with(s)) {
        return t;
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(64)])
        .trim_start()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return "text/html; charset=utf-8";
    }
    // A UTF-8 sequence cut at the 512th byte is still text.
    let text = match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > b.len(),
    };
    if !b.is_empty() && text && !b.iter().any(|&c| c < 0x20 && !b"\t\n\r\x0c".contains(&c)) {
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_escapes() {
        assert_eq!(by_extension("a.HTML"), Some("text/html; charset=utf-8"));
        assert_eq!(by_extension("noext"), None);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), "image/png");
        assert_eq!(sniff(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"  <!DOCTYPE html><p>"), "text/html; charset=utf-8");
        assert_eq!(sniff(&[0, 1, 2, 3]), "application/octet-stream");
        assert_eq!(sniff(b""), "application/octet-stream");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(matches("W/\"x\", \"y\"", "\"y\"") && matches("*", "\"z\"") && !matches("\"x\"", "\"y\""));
        assert_eq!(human(10), "10 B");
        assert_eq!(human(1536), "1.5 KiB");
    }
}
