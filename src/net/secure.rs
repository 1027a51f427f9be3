//! TLS or Noise on a TCP connection, TLS offered first (as go-libp2p and
//! Kubo do): `SwarmBuilder::with_tcp((tls::Config::new, noise::Config::new),
//! …)` builds the same, but its combinator is private to libp2p.
//!
//! Why TLS first: between two p2pfs nodes it runs AES-128-GCM (see
//! `third_party/libp2p-tls/README.md`), several times cheaper per byte than
//! Noise's ChaCha20-Poly1305 on CPUs with AES instructions; a peer that
//! speaks only Noise (js-libp2p, Helia) answers "na" to TLS and gets Noise.

use either::Either;
use futures::future::{self, MapOk, TryFutureExt};
use libp2p::PeerId;
use libp2p::core::either::EitherFuture;
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};

/// The first security upgrade both sides speak: `A` before `B`.
#[derive(Debug, Clone)]
pub struct Either2<A, B>(pub A, pub B);

/// Either side's output, the peer's ID pulled out of it.
type Factored<TA, TB> = fn(future::Either<(PeerId, TA), (PeerId, TB)>) -> (PeerId, future::Either<TA, TB>);

impl<A: UpgradeInfo, B: UpgradeInfo> UpgradeInfo for Either2<A, B> {
    type Info = Either<A::Info, B::Info>;
    type InfoIter = std::vec::IntoIter<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        let a = self.0.protocol_info().into_iter().map(Either::Left);
        let b = self.1.protocol_info().into_iter().map(Either::Right);
        a.chain(b).collect::<Vec<_>>().into_iter()
    }
}

/// The same upgrade for both directions (libp2p has one trait for each).
macro_rules! either_upgrade {
    ($upgrade:ident, $method:ident) => {
        impl<C, A, B, TA, TB> $upgrade<C> for Either2<A, B>
        where
            A: $upgrade<C, Output = (PeerId, TA)>,
            B: $upgrade<C, Output = (PeerId, TB)>,
        {
            type Output = (PeerId, future::Either<TA, TB>);
            type Error = Either<A::Error, B::Error>;
            type Future = MapOk<EitherFuture<A::Future, B::Future>, Factored<TA, TB>>;

            fn $method(self, sock: C, info: Self::Info) -> Self::Future {
                match info {
                    Either::Left(i) => EitherFuture::First(self.0.$method(sock, i)),
                    Either::Right(i) => EitherFuture::Second(self.1.$method(sock, i)),
                }
                .map_ok(future::Either::factor_first as Factored<TA, TB>)
            }
        }
    };
}

either_upgrade!(InboundConnectionUpgrade, upgrade_inbound);
either_upgrade!(OutboundConnectionUpgrade, upgrade_outbound);
