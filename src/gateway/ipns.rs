//! `/ipns/<name>[/path]`: the name is resolved (through the node's
//! `Names`: cache, else the DHT) on a blocking thread, and the request
//! goes on as the `/ipfs/` path it points at; the path as asked stays what
//! `X-Ipfs-Path` and redirects show.

use super::error::GatewayError;
use crate::namesys::{NameError, Names};
use hyper::Request;
use std::sync::Arc;

/// Bytes left as they are in a path segment (RFC 3986 pchar less '%').
fn keep(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn encode(p: &str) -> String {
    p.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn status(e: NameError) -> GatewayError {
    match e {
        NameError::Ipns(crate::ipns::IpnsError::BadName(_)) => GatewayError::BadRequest(e.to_string()),
        NameError::NotFound(_) | NameError::NoneValid { .. } => GatewayError::NotFound(e.to_string()),
        NameError::Timeout(_) => GatewayError::Timeout(e.to_string()),
        _ => GatewayError::BadGateway(e.to_string()),
    }
}

/// For an `/ipns/` request: the same request for the `/ipfs/` path the
/// name resolves to now, and the path asked. Others pass unchanged.
pub async fn rewrite<B>(
    names: Option<Arc<Names>>,
    req: Request<B>,
) -> Result<(Request<B>, Option<String>), GatewayError> {
    let asked = req.uri().path().to_string();
    let Some(rest) = asked.strip_prefix("/ipns/") else {
        return Ok((req, None));
    };
    let names =
        names.ok_or_else(|| GatewayError::NotImplemented("/ipns/ needs the node's network".into()))?;
    let (name, tail) = rest.split_once('/').map_or((rest, ""), |(n, t)| (n, t));
    let name = format!("/ipns/{name}");
    let to = tokio::task::spawn_blocking(move || names.resolve_path(&name, false))
        .await
        .map_err(|_| GatewayError::Internal("the name's resolver stopped".into()))?
        .map_err(status)?;
    let mut path = encode(&to);
    if !tail.is_empty() || asked.ends_with('/') {
        path = format!("{}/{tail}", path.trim_end_matches('/'));
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = pq.parse().map_err(|e| {
        GatewayError::BadGateway(format!("the name points at {to:?}, not a usable path: {e}"))
    })?;
    Ok((Request::from_parts(parts, body), Some(asked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded_into_paths() {
        assert_eq!(encode("/ipfs/bafy/a b/ü"), "/ipfs/bafy/a%20b/%C3%BC");
        assert_eq!(encode("/ipfs/bafy/x?y#z"), "/ipfs/bafy/x%3Fy%23z");
    }
}
