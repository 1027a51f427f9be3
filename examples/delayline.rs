//! A user-space delay line for the WAN test bed (`integration/wan/`), for
//! kernels without `netem`: it accepts TCP connections on `--listen`, dials
//! `--to` for each, and forwards both directions, holding every chunk it reads
//! for `--delay-ms` from the moment it was read (a timestamped queue drained by
//! a writer that sleeps until each chunk is due). So each direction has a
//! one-way delay of `delay` and a round trip through it takes 2 × `delay`,
//! whatever the rate: chunks never wait behind each other's delay.
//!
//! - Bounded: at most `--max-queue` bytes (default 16 MiB, enough for 1 Gbit/s
//!   × 120 ms) are held per direction; when full it stops reading, and TCP
//!   flow control pushes back on the sender.
//! - Half-close is forwarded (after the delay, behind the data); a reset or
//!   error on either side closes both.
//! - `--loss-pct P` on TCP cannot drop bytes (the two TCP legs would simply
//!   retransmit on a loss-free LAN): instead each chunk is, with the
//!   probability that one of its ~1448-byte segments is lost at P %, held one
//!   extra round trip plus 200 ms (like a retransmission timeout). Order is
//!   kept, so everything read after it waits too (head-of-line blocking).
//! - `--udp` relays UDP datagrams instead (for QUIC): each client address gets
//!   its own upstream socket; datagrams are delayed the same way, dropped with
//!   probability P, and dropped when the queue is full (a full router queue).
//!
//! It splits TCP: the two legs are LAN connections, so what is emulated is the
//! latency the applications see (round trips, windows of requests in flight),
//! not TCP's own congestion control over a long path.
//!
//!   delayline --listen 10.78.0.254:10001 --to 10.78.0.1:4001 --delay-ms 20 [--loss-pct 1] [--udp]
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, sleep_until};

#[derive(Parser, Debug)]
#[command(about = "Forward TCP (or UDP) with a fixed one-way delay in each direction")]
struct Args {
    /// Address to accept connections (or datagrams) on
    #[arg(long)]
    listen: SocketAddr,
    /// Address to forward to
    #[arg(long)]
    to: SocketAddr,
    /// One-way delay, in each direction
    #[arg(long, default_value_t = 20.0)]
    delay_ms: f64,
    /// Loss in percent (TCP: emulated as a retransmission timeout, see above)
    #[arg(long, default_value_t = 0.0)]
    loss_pct: f64,
    /// Bytes held at most per direction (and per connection)
    #[arg(long, default_value_t = 16 << 20)]
    max_queue: usize,
    /// Relay UDP datagrams instead of TCP connections
    #[arg(long)]
    udp: bool,
}

/// TCP's usual segment size on a 1500-byte MTU: the unit of emulated loss.
const MSS: usize = 1448;
/// The largest read: 256 KiB, a handful of reads per millisecond at 1 Gbit/s.
const READ_MAX: usize = 256 << 10;

#[derive(Clone, Copy, Debug)]
struct Link {
    delay: Duration,
    /// Loss probability per segment (0..=1).
    loss: f64,
    max_queue: usize,
}

impl Link {
    /// The extra hold for a TCP chunk of `len` bytes: one RTT + 200 ms if one
    /// of its segments is "lost", else nothing.
    fn penalty(&self, len: usize, rng: &mut Rng) -> Duration {
        if self.loss <= 0.0 {
            return Duration::ZERO;
        }
        let p = 1.0 - (1.0 - self.loss).powi(len.div_ceil(MSS).max(1) as i32);
        if rng.unit() < p {
            self.delay * 2 + Duration::from_millis(200)
        } else {
            Duration::ZERO
        }
    }
}

/// xorshift64*: enough randomness for loss emulation, no extra dependency.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((t ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A queued chunk: when to write it, its bytes (None: end of stream) and its
/// share of the queue's byte budget (released once written).
type Item = (Instant, Option<Bytes>, Option<OwnedSemaphorePermit>);

/// One direction: reads `r`, holds each chunk for the link's delay, writes it
/// to `w`, and shuts `w` down (after the delay) when `r` ends.
async fn pipe<R, W>(mut r: R, mut w: W, link: Link, salt: u64) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let budget = Arc::new(Semaphore::new(link.max_queue));
    let read_max = READ_MAX.min(link.max_queue).max(1);
    let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
    let reader = async move {
        let mut buf = vec![0u8; read_max];
        let mut rng = Rng::new(salt);
        loop {
            let n = r.read(&mut buf).await?;
            let now = Instant::now();
            if n == 0 {
                let _ = tx.send((now + link.delay, None, None));
                return Ok(());
            }
            let due = now + link.delay + link.penalty(n, &mut rng);
            // Wait for room in the queue: while full, nothing more is read.
            let permit = budget
                .clone()
                .acquire_many_owned(n as u32)
                .await
                .expect("never closed");
            if tx
                .send((due, Some(Bytes::copy_from_slice(&buf[..n])), Some(permit)))
                .is_err()
            {
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk, permit)) = rx.recv().await {
            sleep_until(due).await;
            match chunk {
                Some(c) => w.write_all(&c).await?,
                None => return w.shutdown().await,
            }
            drop(permit);
        }
        Ok(())
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// Relays one accepted connection until both directions have ended.
async fn relay(client: TcpStream, to: SocketAddr, link: Link, salt: u64) -> std::io::Result<()> {
    let server = TcpStream::connect(to).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::try_join!(pipe(cr, sw, link, salt), pipe(sr, cw, link, !salt)).map(|_| ())
}

async fn serve_tcp(listener: TcpListener, to: SocketAddr, link: Link) -> Result<()> {
    for salt in 1u64.. {
        let (client, from) = listener.accept().await.context("accept")?;
        tokio::spawn(async move {
            if let Err(e) = relay(client, to, link, salt).await {
                eprintln!("delayline: connection from {from}: {e}");
            }
        });
    }
    Ok(())
}

/// Sends datagrams, each when due, through `sock` (to `dest`, or connected).
fn udp_delayer(sock: Arc<UdpSocket>, dest: Option<SocketAddr>, link: Link) -> mpsc::Sender<(Instant, Bytes)> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(link.max_queue.div_ceil(1200).max(1));
    tokio::spawn(async move {
        while let Some((due, d)) = rx.recv().await {
            sleep_until(due).await;
            let _ = match dest {
                Some(a) => sock.send_to(&d, a).await,
                None => sock.send(&d).await,
            };
        }
    });
    tx
}

/// Queues a datagram unless it is "lost" or the queue is full (both: dropped).
fn udp_push(q: &mpsc::Sender<(Instant, Bytes)>, d: &[u8], link: Link, rng: &mut Rng) {
    if link.loss <= 0.0 || rng.unit() >= link.loss {
        let _ = q.try_send((Instant::now() + link.delay, Bytes::copy_from_slice(d)));
    }
}

async fn serve_udp(sock: UdpSocket, to: SocketAddr, link: Link) -> Result<()> {
    let sock = Arc::new(sock);
    let mut flows: HashMap<SocketAddr, mpsc::Sender<(Instant, Bytes)>> = HashMap::new();
    let mut rng = Rng::new(0);
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await.context("recv")?;
        let q = match flows.entry(from) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
                let up = Arc::new(UdpSocket::bind(bind).await?);
                up.connect(to).await?;
                let back = udp_delayer(sock.clone(), Some(from), link);
                let up2 = up.clone();
                tokio::spawn(async move {
                    let mut rng = Rng::new(from.port().into());
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = up2.recv(&mut buf).await {
                        udp_push(&back, &buf[..n], link, &mut rng);
                    }
                });
                e.insert(udp_delayer(up, None, link))
            }
        };
        udp_push(q, &buf[..n], link, &mut rng);
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.delay_ms >= 0.0 && (0.0..=100.0).contains(&a.loss_pct),
        "bad --delay-ms or --loss-pct"
    );
    anyhow::ensure!(a.max_queue > 0 && a.max_queue < 1 << 40, "bad --max-queue");
    let link = Link {
        delay: Duration::from_secs_f64(a.delay_ms / 1000.0),
        loss: a.loss_pct / 100.0,
        max_queue: a.max_queue,
    };
    let proto = if a.udp { "udp" } else { "tcp" };
    let ready = format!(
        "delayline: listening on {proto} {} -> {}, {:?} each way",
        a.listen, a.to, link.delay
    );
    if a.udp {
        let sock = UdpSocket::bind(a.listen)
            .await
            .with_context(|| format!("bind {}", a.listen))?;
        eprintln!("{ready}, loss {} %", a.loss_pct);
        serve_udp(sock, a.to, link).await
    } else {
        let listener = TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("bind {}", a.listen))?;
        eprintln!("{ready}, loss {} % (as RTO)", a.loss_pct);
        serve_tcp(listener, a.to, link).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server through a delay line of `delay`; returns the line's address.
    async fn line(delay: Duration, loss: f64, max_queue: usize) -> SocketAddr {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap(); // echo the half-close
                });
            }
        });
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = l.local_addr().unwrap();
        tokio::spawn(serve_tcp(
            l,
            to,
            Link {
                delay,
                loss,
                max_queue,
            },
        ));
        at
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_takes_twice_the_delay_and_bytes_survive() {
        let at = line(Duration::from_millis(50), 0.0, 64 << 10).await;
        let mut s = TcpStream::connect(at).await.unwrap();
        s.set_nodelay(true).unwrap();
        let t = Instant::now();
        s.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        let rtt = t.elapsed();
        assert!(
            rtt >= Duration::from_millis(100) && rtt < Duration::from_millis(250),
            "{rtt:?}"
        );
        // 4 MiB through a 64 KiB queue (back-pressure), then a half-close.
        let data: Vec<u8> = (0..4u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (mut r, mut w) = s.into_split();
        let sent = data.clone();
        let send = tokio::spawn(async move {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap(); // ends only if the FIN came back
        send.await.unwrap();
        assert!(got == data, "{} bytes back of {}", got.len(), data.len());
    }

    #[tokio::test]
    async fn loss_delays_but_keeps_order() {
        let at = line(Duration::from_millis(5), 1.0, 16 << 20).await;
        let mut s = TcpStream::connect(at).await.unwrap();
        let t = Instant::now();
        s.write_all(b"abc").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abc");
        // Both directions: 2 × (5 ms + 10 ms + 200 ms) at least.
        assert!(t.elapsed() >= Duration::from_millis(430), "{:?}", t.elapsed());
    }

    #[test]
    fn penalty_probability() {
        let l = Link {
            delay: Duration::from_millis(20),
            loss: 0.01,
            max_queue: 1,
        };
        let mut rng = Rng::new(7);
        let hits = (0..100_000)
            .filter(|_| !l.penalty(MSS, &mut rng).is_zero())
            .count();
        assert!((700..1300).contains(&hits), "{hits}");
        let all = Link { loss: 1.0, ..l };
        assert_eq!(all.penalty(1, &mut rng), Duration::from_millis(240));
        let none = Link { loss: 0.0, ..l };
        assert!(none.penalty(1 << 20, &mut rng).is_zero());
    }
}
