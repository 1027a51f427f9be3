//! p2pfs: a content-addressed, peer-to-peer filesystem. See ARCHITECTURE.md
//! for where each piece lives and how data flows between them.

pub mod add;
pub mod api;
pub mod block;
pub mod blockservice;
pub mod cache;
pub mod car;
pub mod cli;
pub mod daemon;
pub mod dag;
pub mod fs;
pub mod gateway;
pub mod get;
pub mod ipld;
pub mod ipns;
pub mod man;
pub mod mfs;
pub mod namesys;
pub mod net;
pub mod peer;
pub mod pinning;
pub mod provider;
pub mod rawblock;
pub mod repo;
pub mod store;
pub mod unixfs;
pub mod wire;

/// The decoders of outside bytes that are not otherwise public, for the
/// fuzz targets in `fuzz/` and `tests/decoders.rs`. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::store::pack::{
        Appender as PackAppender, Record as PackRecord, scan as pack_scan, scan_all as pack_scan_all,
    };
}
