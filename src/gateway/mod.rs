//! The HTTP gateway: `GET/HEAD /ipfs/<CID>[/path]` (and `/ipns/<name>[/path]`, `ipns.rs`) as files, directory
//! listings, raw blocks and CARs (path and trustless gateway specs), on
//! the addresses in `gateway.listen`, served by hyper on the daemon's
//! runtime. Content is read on blocking threads through a `BlockService`
//! per request (local store, else Bitswap), so a gateway read is any read.
//!
//! Limits: `MAX_CONNS` connections per listener (more wait in the kernel's
//! backlog), `MAX_READS` requests reading content at once (more wait for a
//! slot; the daemon's blocking pool is shared with the mount), request
//! heads of at most `MAX_HEAD` bytes read within `HEAD_TIMEOUT`, and each
//! streamed body holds at most a few 256 KiB chunks.

mod body;
mod error;
mod ipns;
mod path;
mod request;
mod trustless;

pub use error::GatewayError;

use crate::blockservice::BlockService;
use crate::namesys::Names;
use crate::net::NetHandle;
use crate::repo::Repo;
use body::{Body, Guard};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

const MAX_CONNS: usize = 512;
const MAX_READS: usize = 32;
/// hyper's smallest read buffer: a request head larger than this is refused (431).
const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

struct State {
    repo: Arc<Repo>,
    net: Option<NetHandle>,
    names: Option<Arc<Names>>,
    reads: Arc<Semaphore>,
}

/// A running gateway; `shutdown` stops it.
pub struct Gateway {
    addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Listens on each of `listen` (on the current runtime). An address that
    /// cannot be bound is reported and skipped: the node runs without it.
    pub async fn start(
        repo: Arc<Repo>,
        net: Option<NetHandle>,
        names: Option<Arc<Names>>,
        listen: &[SocketAddr],
    ) -> Gateway {
        let state = Arc::new(State {
            repo,
            net,
            names,
            reads: Arc::new(Semaphore::new(MAX_READS)),
        });
        let (stop, _) = watch::channel(false);
        let mut gw = Gateway {
            addrs: Vec::new(),
            stop,
            tasks: Vec::new(),
        };
        for a in listen {
            match tokio::net::TcpListener::bind(a).await {
                Ok(l) => {
                    let addr = l.local_addr().unwrap_or(*a);
                    eprintln!("p2pfs: gateway on http://{addr}/ipfs/<CID>");
                    gw.addrs.push(addr);
                    gw.tasks
                        .push(tokio::spawn(accept_loop(l, state.clone(), gw.stop.subscribe())));
                }
                Err(e) => {
                    eprintln!("p2pfs: gateway not started on {a}: {e} (set gateway.listen in config.toml)")
                }
            }
        }
        gw
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting and ends every connection (responses in progress are cut).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let conns = Arc::new(Semaphore::new(MAX_CONNS));
    let mut open = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            p = conns.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((sock, _)) => {
                let state = state.clone();
                open.spawn(async move {
                    let _permit = permit;
                    serve_conn(sock, state).await;
                });
            }
            Err(e) => {
                // Out of descriptors, say: wait instead of spinning.
                tracing::warn!("gateway: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while open.try_join_next().is_some() {}
    }
    open.abort_all();
    while open.join_next().await.is_some() {}
}

async fn serve_conn(sock: tokio::net::TcpStream, state: Arc<State>) {
    let _ = sock.set_nodelay(true);
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    if let Err(e) = b.serve_connection(hyper_util::rt::TokioIo::new(sock), svc).await {
        tracing::debug!("gateway connection: {e}");
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let (req, asked) = match ipns::rewrite(state.names.clone(), req).await {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    let mut parsed = match request::parse(&req) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    if let Some(asked) = asked {
        parsed.raw_path = asked;
    }
    let Ok(permit) = state.reads.clone().acquire_owned().await else {
        return GatewayError::Internal("the gateway is stopping".into()).response();
    };
    // Dropped with this future (the client left while we resolved) or with
    // the body (it left while we streamed): either way reading stops.
    let (guard, gone) = Guard::new(permit);
    let blocks = BlockService::new(state.repo.clone(), state.net.clone()).until(Some(gone));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || path::serve(blocks, parsed, tx));
    match rx.await {
        Ok(mut r) => {
            r.body_mut().hold(guard);
            r
        }
        Err(_) => GatewayError::Internal("the request's reader stopped".into()).response(),
    }
}
