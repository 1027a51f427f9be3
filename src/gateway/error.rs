//! Gateway errors and the HTTP status each one is answered with. The
//! mapping is the spec's: bad input is 4xx, a fetch that timed out is 504,
//! and 500 is kept for what is our own fault (a damaged store).

use super::body::Body;
use crate::block::BlockError;
use hyper::header::{CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("only GET and HEAD are supported")]
    Method,
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("no part of the requested range is inside the {size}-byte file")]
    Range { size: u64 },
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Method => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            GatewayError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Range { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short text/plain answer. Errors are never cached: a block missing
    /// now may be found later.
    pub fn response(&self) -> Response<Body> {
        let mut r = Response::new(Body::full(format!("{}\n", self)));
        *r.status_mut() = self.status();
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let GatewayError::Range { size } = self
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            h.insert(CONTENT_RANGE, v);
        }
        if let GatewayError::Method = self {
            h.insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        r
    }
}

impl From<BlockError> for GatewayError {
    fn from(e: BlockError) -> Self {
        match e {
            // Only without a network (never in a daemon): the block is not here.
            BlockError::NotFound(_) => GatewayError::NotFound(e.to_string()),
            BlockError::Unavailable { timed_out: true, .. } => GatewayError::Timeout(e.to_string()),
            BlockError::Unavailable { .. } | BlockError::TooLarge { .. } => {
                GatewayError::BadGateway(e.to_string())
            }
            BlockError::UnsupportedHash { .. } => GatewayError::NotImplemented(e.to_string()),
            BlockError::Corrupt { .. } | BlockError::Store(_) | BlockError::Io { .. } => {
                GatewayError::Internal(e.to_string())
            }
        }
    }
}

impl From<crate::unixfs::Error> for GatewayError {
    fn from(e: crate::unixfs::Error) -> Self {
        use crate::unixfs::Error as E;
        match e {
            E::Block(b) => b.into(),
            E::NoSuchEntry { .. } | E::NotADirectory(_) | E::IsADirectory(_) => {
                GatewayError::NotFound(e.to_string())
            }
            E::UnsupportedCodec { .. } | E::Unsupported(_) => {
                GatewayError::NotImplemented(format!("{e}; ?format=raw or ?format=car returns its blocks"))
            }
            // A block that does not decode came from the DAG, not the request.
            E::Malformed(_) => GatewayError::BadGateway(e.to_string()),
            E::Io { .. } => GatewayError::Internal(e.to_string()),
        }
    }
}

impl From<crate::dag::DagError> for GatewayError {
    fn from(e: crate::dag::DagError) -> Self {
        use crate::dag::DagError as D;
        match e {
            D::Block(b) => b.into(),
            D::Decode { .. } => GatewayError::BadGateway(e.to_string()),
            D::Store(_) => GatewayError::Internal(e.to_string()),
        }
    }
}

impl From<crate::car::CarError> for GatewayError {
    fn from(e: crate::car::CarError) -> Self {
        match e {
            crate::car::CarError::Dag(d) => d.into(),
            crate::car::CarError::Block { source, .. } => source.into(),
            e => GatewayError::Internal(e.to_string()),
        }
    }
}
