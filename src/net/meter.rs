//! Bytes in and out of the node's connections (`p2pfs stats bw`): every
//! stream of every connection (TCP and QUIC) is wrapped and counts what it
//! reads and writes, so the totals are what the protocols moved (Bitswap,
//! DHT, Identify, …), not the transport's own framing, as Kubo's counter.
//! Rates are moving averages of per-second samples.

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent, StreamMuxerExt};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// How often rates are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Weight of a new sample in the moving average (go-flow-metrics uses a
/// one-second tick and a similar decay).
const ALPHA: f64 = 0.5;

#[derive(Default)]
pub struct Meter {
    total_in: AtomicU64,
    total_out: AtomicU64,
    rates: std::sync::Mutex<Rates>,
}

#[derive(Default)]
struct Rates {
    last_in: u64,
    last_out: u64,
    rate_in: f64,
    rate_out: f64,
}

/// What `p2pfs stats bw` prints (field names as Kubo's).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bandwidth {
    #[serde(rename = "TotalIn")]
    pub total_in: u64,
    #[serde(rename = "TotalOut")]
    pub total_out: u64,
    #[serde(rename = "RateIn")]
    pub rate_in: f64,
    #[serde(rename = "RateOut")]
    pub rate_out: f64,
}

impl Meter {
    pub fn snapshot(&self) -> Bandwidth {
        let r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        Bandwidth {
            total_in: self.total_in.load(Ordering::Relaxed),
            total_out: self.total_out.load(Ordering::Relaxed),
            rate_in: r.rate_in,
            rate_out: r.rate_out,
        }
    }

    /// One sample: bytes since the last one over `secs` seconds.
    fn sample(&self, secs: f64) {
        let (i, o) = (
            self.total_in.load(Ordering::Relaxed),
            self.total_out.load(Ordering::Relaxed),
        );
        let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let (di, dout) = (
            i.saturating_sub(r.last_in) as f64,
            o.saturating_sub(r.last_out) as f64,
        );
        r.rate_in = ALPHA * di / secs + (1.0 - ALPHA) * r.rate_in;
        r.rate_out = ALPHA * dout / secs + (1.0 - ALPHA) * r.rate_out;
        (r.last_in, r.last_out) = (i, o);
    }

    /// Samples the rates until the meter is dropped by everyone else.
    pub fn start_sampling(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            let mut last = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                let Some(m) = weak.upgrade() else { return };
                let now = tokio::time::Instant::now();
                let secs = now.duration_since(last).as_secs_f64();
                if secs > 0.0 {
                    m.sample(secs);
                }
                last = now;
            }
        });
    }
}

/// A connection whose streams count their bytes into a `Meter`.
pub struct Metered<M> {
    inner: M,
    meter: Arc<Meter>,
}

impl<M> Metered<M> {
    pub fn new(inner: M, meter: Arc<Meter>) -> Self {
        Metered { inner, meter }
    }
}

impl<M> StreamMuxer for Metered<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = MeteredStream<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let meter = &this.meter;
        this.inner.poll_inbound_unpin(cx).map_ok(|s| MeteredStream {
            inner: s,
            meter: meter.clone(),
        })
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let meter = &this.meter;
        this.inner.poll_outbound_unpin(cx).map_ok(|s| MeteredStream {
            inner: s,
            meter: meter.clone(),
        })
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.poll_close_unpin(cx)
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.get_mut().inner.poll_unpin(cx)
    }
}

/// A stream that counts what passes through it.
pub struct MeteredStream<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.meter.total_in.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.meter.total_out.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn streams_count_both_ways_and_rates_follow() {
        let meter = Arc::new(Meter::default());
        let stream = |bytes: Vec<u8>| MeteredStream {
            inner: futures::io::Cursor::new(bytes),
            meter: meter.clone(),
        };
        let mut a = stream(Vec::new());
        a.write_all(&[1u8; 1000]).await.unwrap();
        let mut b = stream(vec![2u8; 1000]);
        let mut got = [0u8; 1000];
        b.read_exact(&mut got).await.unwrap();
        let s = meter.snapshot();
        assert_eq!((s.total_in, s.total_out), (1000, 1000));
        meter.sample(1.0);
        let s = meter.snapshot();
        assert_eq!((s.rate_in, s.rate_out), (500.0, 500.0));
        meter.sample(1.0);
        assert_eq!(meter.snapshot().rate_in, 250.0, "no new bytes: the rate decays");
    }
}
