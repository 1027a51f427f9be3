//! Response bodies: a small one in memory, or a stream fed through a
//! bounded channel by a blocking thread that reads the DAG. When hyper
//! drops the body (the client went away), the channel closes, the reader's
//! next send fails and it stops; the guard's drop turns the read session's
//! `gone` watch true, which also stops waits for blocks from the network.

use hyper::body::{Bytes, Frame, SizeHint};
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

/// Chunks in flight between the reader and the socket (each up to
/// `CHUNK`): what one response may hold in memory.
const DEPTH: usize = 4;
/// Bytes gathered before a send: whole 256 KiB leaves in one frame.
pub const CHUNK: usize = 256 * 1024;

pub type Chunk = std::io::Result<Bytes>;

/// Held for as long as the request or its body lives.
pub struct Guard {
    gone: watch::Sender<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Guard {
    pub fn new(permit: OwnedSemaphorePermit) -> (Guard, watch::Receiver<bool>) {
        let (gone, rx) = watch::channel(false);
        (
            Guard {
                gone,
                _permit: permit,
            },
            rx,
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.gone.send(true);
    }
}

pub enum Body {
    Full(Option<Bytes>),
    Stream {
        rx: mpsc::Receiver<Chunk>,
        guard: Option<Guard>,
    },
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }
    pub fn empty() -> Body {
        Body::Full(None)
    }
    /// A streamed body and the writer that feeds it (from a blocking thread).
    pub fn channel() -> (Body, ChanWriter) {
        let (tx, rx) = mpsc::channel(DEPTH);
        (
            Body::Stream { rx, guard: None },
            ChanWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
        )
    }
    /// Keeps `guard` alive until the body is done or dropped.
    pub fn hold(&mut self, g: Guard) {
        if let Body::Stream { guard, .. } = self {
            *guard = Some(g);
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream { rx, .. } => rx.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream { .. } => SizeHint::default(),
        }
    }
}

/// `Write` into a streamed body, in `CHUNK`s. A failed send means the
/// client is gone: BrokenPipe stops whoever writes.
pub struct ChanWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChanWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(b))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the body with an error: hyper aborts the connection, so the
    /// client sees a cut transfer rather than a complete-looking one.
    pub fn fail(self, e: impl std::fmt::Display) {
        let _ = self.tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() && b.len() >= CHUNK {
            self.buf.extend_from_slice(b);
            self.send()?;
            return Ok(b.len());
        }
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
