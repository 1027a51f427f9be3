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

/// A client that takes nothing for this long is treated as gone: otherwise
/// one that stops reading would hold its read slot for good.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// A streamed body and the writer that feeds it (made and used on a
    /// blocking thread of the runtime).
    pub fn channel() -> (Body, ChanWriter) {
        let (tx, rx) = mpsc::channel(DEPTH);
        (
            Body::Stream { rx, guard: None },
            ChanWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
                rt: tokio::runtime::Handle::current(),
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
    rt: tokio::runtime::Handle,
}

impl ChanWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let gone = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
        match self
            .rt
            .block_on(tokio::time::timeout(SEND_TIMEOUT, self.tx.send(Ok(b))))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for 60 s",
            )),
        }
    }

    /// Ends the body with an error: hyper aborts the connection, so the
    /// client sees a cut transfer rather than a complete-looking one.
    pub fn fail(self, e: impl std::fmt::Display) {
        // Never waits: a client that stopped reading has a full channel.
        let _ = self.tx.try_send(Err(std::io::Error::other(e.to_string())));
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
