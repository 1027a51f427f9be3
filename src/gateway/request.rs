//! What a gateway request asks for: the content path (percent-decoded),
//! the response format (`?format=` first, then `Accept`), the CAR options,
//! and the conditional and range headers. Everything here is input:
//! anything malformed is a 400, never a panic.

use super::error::GatewayError;
use crate::unixfs::resolve::IpfsPath;
use hyper::header::{ACCEPT, IF_NONE_MATCH, RANGE};
use hyper::{Method, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Files, directories (the path gateway).
    UnixFs,
    /// One block (`application/vnd.ipld.raw`).
    Raw,
    /// A CAR v1 stream (`application/vnd.ipld.car`).
    Car,
}

/// IPIP-402 `dag-scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Block,
    Entity,
    All,
}

/// IPIP-402 `entity-bytes=from:to` (inclusive; negative counts from the end,
/// `to` = None is `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityBytes {
    pub from: i64,
    pub to: Option<i64>,
}

impl EntityBytes {
    /// `[start, end)` within a file of `size` bytes (possibly empty).
    pub fn resolve(&self, size: u64) -> (u64, u64) {
        let at = |v: i64| {
            if v < 0 {
                size.saturating_sub(v.unsigned_abs())
            } else {
                (v as u64).min(size)
            }
        };
        let start = at(self.from);
        let end = match self.to {
            None => size,
            Some(t) if t < 0 => at(t).saturating_add(1).min(size),
            Some(t) => (t as u64).saturating_add(1).min(size),
        };
        (start, end.max(start))
    }
}

#[derive(Debug, Clone)]
pub struct GwRequest {
    pub head: bool,
    pub path: IpfsPath,
    /// The request's path as sent (`X-Ipfs-Path`, redirects).
    pub raw_path: String,
    pub query: Option<String>,
    pub trailing_slash: bool,
    pub format: Format,
    pub scope: Scope,
    pub entity_bytes: Option<EntityBytes>,
    pub range: Option<String>,
    pub if_none_match: Option<String>,
}

fn bad(s: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest(s.into())
}

pub fn parse<B>(req: &Request<B>) -> Result<GwRequest, GatewayError> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Err(GatewayError::Method),
    };
    let raw_path = req.uri().path().to_string();
    let rest = if let Some(r) = raw_path.strip_prefix("/ipfs/") {
        r
    } else if raw_path.starts_with("/ipns/") {
        return Err(GatewayError::NotImplemented(
            "/ipns/ names are resolved only on a node with its network".into(),
        ));
    } else {
        return Err(GatewayError::NotFound(
            "this is an IPFS gateway: ask for /ipfs/<CID>[/path]".into(),
        ));
    };
    let mut parts = Vec::new();
    for p in rest.split('/').filter(|p| !p.is_empty()) {
        let p = percent_decode(p)
            .ok_or_else(|| bad(format!("'{p}' is not a valid percent-encoded UTF-8 name")))?;
        if p == "." || p == ".." {
            return Err(bad("'.' and '..' are not allowed in a content path"));
        }
        parts.push(p);
    }
    let Some(root) = parts.first() else {
        return Err(bad("no CID after /ipfs/"));
    };
    let root = crate::block::parse_cid(root).map_err(|e| bad(format!("invalid CID '{root}': {e}")))?;
    let query = req.uri().query().map(str::to_string);
    let params = query_params(query.as_deref())?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let accept = header(req, ACCEPT).unwrap_or_default();
    let format = match get("format") {
        Some("raw") => Format::Raw,
        Some("car") => Format::Car,
        Some(f) => return Err(bad(format!("format={f} is not supported (raw, car)"))),
        None if accept.contains("application/vnd.ipld.raw") => Format::Raw,
        None if accept.contains("application/vnd.ipld.car") => Format::Car,
        None => Format::UnixFs,
    };
    if format == Format::Car && (accept.contains("version=2") || get("car-version") == Some("2")) {
        return Err(bad("only CAR version 1 is served"));
    }
    let scope = match get("dag-scope") {
        None | Some("all") => Scope::All,
        Some("entity") => Scope::Entity,
        Some("block") => Scope::Block,
        Some(s) => return Err(bad(format!("dag-scope={s} is not one of block, entity, all"))),
    };
    let entity_bytes = get("entity-bytes").map(parse_entity_bytes).transpose()?;
    Ok(GwRequest {
        head,
        path: IpfsPath {
            root,
            components: parts[1..].to_vec(),
        },
        trailing_slash: raw_path.ends_with('/'),
        raw_path,
        query,
        format,
        scope,
        entity_bytes,
        range: header(req, RANGE),
        if_none_match: header(req, IF_NONE_MATCH),
    })
}

fn header<B>(req: &Request<B>, name: hyper::header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn query_params(q: Option<&str>) -> Result<Vec<(String, String)>, GatewayError> {
    let mut out = Vec::new();
    for kv in q.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let dec = |s: &str| {
            percent_decode(&s.replace('+', " ")).ok_or_else(|| bad(format!("bad query parameter '{kv}'")))
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

fn parse_entity_bytes(s: &str) -> Result<EntityBytes, GatewayError> {
    let err = || bad(format!("entity-bytes={s} is not from:to (integers, to may be *)"));
    let (f, t) = s.split_once(':').ok_or_else(err)?;
    let from = f.parse::<i64>().map_err(|_| err())?;
    let to = match t {
        "*" => None,
        t => Some(t.parse::<i64>().map_err(|_| err())?),
    };
    if let Some(to) = to
        && to >= 0
        && from >= 0
        && to < from
    {
        return Err(err());
    }
    Ok(EntityBytes { from, to })
}

/// Decodes `%XX` escapes; None for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a name for use as one path segment of a link.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Byte ranges of a `Range: bytes=…` header against a `size`-byte file,
/// as `[start, end)`. None: no usable header (serve the whole file, as
/// RFC 9110 allows for one it cannot parse); Err: nothing satisfiable.
pub fn ranges(header: Option<&str>, size: u64) -> Result<Option<Vec<(u64, u64)>>, GatewayError> {
    /// More ranges than this is not a reader, it is an amplification attempt.
    const MAX_RANGES: usize = 16;
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    let specs: Vec<&str> = spec.split(',').map(str::trim).collect();
    if specs.len() > MAX_RANGES {
        return Ok(None);
    }
    for r in specs {
        let Some((a, b)) = r.split_once('-') else {
            return Ok(None);
        };
        let (start, end) = if a.is_empty() {
            let Ok(n) = b.parse::<u64>() else { return Ok(None) };
            (size.saturating_sub(n), if n == 0 { 0 } else { size })
        } else {
            let Ok(a) = a.parse::<u64>() else { return Ok(None) };
            let end = match b {
                "" => size,
                b => match b.parse::<u64>() {
                    Ok(b) if b >= a => b.saturating_add(1).min(size),
                    _ => return Ok(None),
                },
            };
            (a, end)
        };
        if start < end {
            out.push((start, end));
        }
    }
    if out.is_empty() {
        return Err(GatewayError::Range { size });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    const CID: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";

    #[test]
    fn paths_and_formats() {
        let r = parse(&req(&format!("/ipfs/{CID}/a%20b/c/?format=car&dag-scope=entity"))).unwrap();
        assert_eq!(r.path.components, ["a b", "c"]);
        assert!(r.trailing_slash);
        assert_eq!((r.format, r.scope), (Format::Car, Scope::Entity));
        let r = Request::get(format!("/ipfs/{CID}"))
            .header(ACCEPT, "application/vnd.ipld.raw")
            .body(())
            .unwrap();
        assert_eq!(parse(&r).unwrap().format, Format::Raw);
        for bad in ["/ipfs/notacid", "/ipfs/", "/ipfs/x%ZZ", "/ipfs/{CID}/../x"] {
            let e = parse(&req(&bad.replace("{CID}", CID))).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
        assert_eq!(
            parse(&req(&format!("/ipfs/{CID}?format=zip")))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(parse(&req("/other")).unwrap_err().status(), 404);
        let post = Request::post(format!("/ipfs/{CID}")).body(()).unwrap();
        assert_eq!(parse(&post).unwrap_err().status(), 405);
    }

    #[test]
    fn range_headers() {
        assert_eq!(ranges(Some("bytes=0-9"), 100).unwrap(), Some(vec![(0, 10)]));
        assert_eq!(ranges(Some("bytes=90-"), 100).unwrap(), Some(vec![(90, 100)]));
        assert_eq!(ranges(Some("bytes=-10"), 100).unwrap(), Some(vec![(90, 100)]));
        assert_eq!(ranges(Some("bytes=95-200"), 100).unwrap(), Some(vec![(95, 100)]));
        assert_eq!(
            ranges(Some("bytes=0-1, 5-6"), 100).unwrap(),
            Some(vec![(0, 2), (5, 7)])
        );
        assert!(ranges(Some("bytes=100-"), 100).is_err());
        assert!(ranges(Some("bytes=0-0"), 0).is_err());
        assert_eq!(ranges(Some("bytes=x-1"), 100).unwrap(), None);
        assert_eq!(ranges(Some("items=0-1"), 100).unwrap(), None);
        assert_eq!(ranges(None, 100).unwrap(), None);
    }

    #[test]
    fn entity_bytes() {
        let e = parse_entity_bytes("10:19").unwrap();
        assert_eq!(e.resolve(100), (10, 20));
        assert_eq!(parse_entity_bytes("0:*").unwrap().resolve(100), (0, 100));
        assert_eq!(parse_entity_bytes("-10:*").unwrap().resolve(100), (90, 100));
        assert_eq!(parse_entity_bytes("0:-1").unwrap().resolve(100), (0, 100));
        assert_eq!(parse_entity_bytes("500:*").unwrap().resolve(100), (100, 100));
        assert!(parse_entity_bytes("5:1").is_err() && parse_entity_bytes("a:b").is_err());
    }

    #[test]
    fn percent_round_trip() {
        for s in ["a b", "ü/€", "100%", "<x>&\"'"] {
            assert_eq!(percent_decode(&percent_encode(s)).unwrap(), s);
        }
        assert!(percent_decode("%FF").is_none());
    }
}
