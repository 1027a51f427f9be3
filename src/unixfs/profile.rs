//! Named import settings (IPIP-499 "UnixFS CID Profiles", as Kubo 0.40+
//! and Helia's `ipfs-unixfs-importer` name them) and the bounds every
//! import option must respect, whoever sets it (a profile, config.toml or
//! a flag): a chunk, a tree node or a flat directory must stay a block a
//! peer accepts, and no setting may make a tree grow without bound.

use super::Error;
use super::importer::ImportOptions;

/// Largest chunk: a leaf must stay under the block limit peers enforce
/// (Kubo refuses `--chunker` above 1 MiB as well).
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;
/// Links per file node. One link is ~50 bytes, so 4096 stay ~200 KiB;
/// fewer than 2 would add a tree level per leaf.
pub const MIN_LINKS: usize = 2;
pub const MAX_LINKS: usize = 4096;
/// A flat directory node may be estimated up to this before it becomes a
/// HAMT; above it a flat node could pass the block limit.
pub const MAX_HAMT_THRESHOLD: usize = 1024 * 1024;
/// HAMT fanouts Kubo accepts (`Import.UnixFSHAMTDirectoryMaxFanout`):
/// powers of two, whole bytes of bitfield.
pub const MIN_FANOUT: u64 = 8;
pub const MAX_FANOUT: u64 = 1024;

/// How a flat directory's size is estimated against the HAMT threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeEstimation {
    /// IPIP-499 `links-bytes` (Kubo `links`): the sum of each link's name
    /// bytes and binary CID bytes.
    Links,
    /// IPIP-499 `block-bytes` (Kubo `block`): the serialized dag-pb node,
    /// every protobuf byte and Tsize counted.
    Block,
}

impl SizeEstimation {
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "links" | "links-bytes" => Ok(SizeEstimation::Links),
            "block" | "block-bytes" => Ok(SizeEstimation::Block),
            _ => Err(Error::Unsupported(format!(
                "HAMT size estimation '{s}' is unknown: use \"links\" or \"block\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SizeEstimation::Links => "links",
            SizeEstimation::Block => "block",
        }
    }
}

/// When and how directories become HAMTs: sharded when the estimate is
/// strictly greater than `threshold` (a directory exactly at it stays flat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HamtOptions {
    pub threshold: usize,
    pub estimation: SizeEstimation,
    pub fanout: u64,
}

impl Default for HamtOptions {
    /// Kubo's and Helia's defaults: 256 KiB, links-bytes, fanout 256.
    fn default() -> Self {
        HamtOptions {
            threshold: 262_144,
            estimation: SizeEstimation::Links,
            fanout: super::hamt::FANOUT,
        }
    }
}

/// The IPIP-499 profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Kubo's legacy default (`ipfs add` up to 0.39): CIDv0, dag-pb
    /// leaves, 256 KiB chunks, 174 links, links-bytes HAMT estimate.
    UnixfsV0_2015,
    /// CIDv1, raw leaves, 1 MiB chunks, 1024 links, block-bytes estimate.
    UnixfsV1_2025,
}

impl Profile {
    pub const NAMES: [&'static str; 2] = ["unixfs-v0-2015", "unixfs-v1-2025"];

    /// A profile by its IPIP-499 name (or Kubo's alias `legacy-cid-v0`).
    pub fn parse(name: &str) -> Result<Profile, Error> {
        match name {
            "unixfs-v0-2015" | "legacy-cid-v0" => Ok(Profile::UnixfsV0_2015),
            "unixfs-v1-2025" => Ok(Profile::UnixfsV1_2025),
            _ => Err(Error::Unsupported(format!(
                "import profile '{name}' is unknown: use {}",
                Profile::NAMES.join(" or ")
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::UnixfsV0_2015 => Profile::NAMES[0],
            Profile::UnixfsV1_2025 => Profile::NAMES[1],
        }
    }

    pub fn options(self) -> ImportOptions {
        match self {
            Profile::UnixfsV0_2015 => ImportOptions {
                chunk_size: 262_144,
                raw_leaves: false,
                cid_version: 0,
                max_links: 174,
                hamt: HamtOptions {
                    threshold: 262_144,
                    estimation: SizeEstimation::Links,
                    fanout: 256,
                },
            },
            Profile::UnixfsV1_2025 => ImportOptions {
                chunk_size: 1_048_576,
                raw_leaves: true,
                cid_version: 1,
                max_links: 1024,
                hamt: HamtOptions {
                    threshold: 262_144,
                    estimation: SizeEstimation::Block,
                    fanout: 256,
                },
            },
        }
    }
}

impl ImportOptions {
    /// Checks every option against the bounds above; the message names
    /// the option as `p2pfs add` and config.toml call it.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Unsupported(m));
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return bad(format!(
                "chunk size {} is out of range 1..={MAX_CHUNK_SIZE}",
                self.chunk_size
            ));
        }
        if self.cid_version > 1 {
            return bad(format!("CID version {} is not 0 or 1", self.cid_version));
        }
        if !(MIN_LINKS..=MAX_LINKS).contains(&self.max_links) {
            return bad(format!(
                "max links {} is out of range {MIN_LINKS}..={MAX_LINKS}",
                self.max_links
            ));
        }
        let h = &self.hamt;
        if h.threshold == 0 || h.threshold > MAX_HAMT_THRESHOLD {
            return bad(format!(
                "HAMT threshold {} is out of range 1..={MAX_HAMT_THRESHOLD}",
                h.threshold
            ));
        }
        if !(MIN_FANOUT..=MAX_FANOUT).contains(&h.fanout) || !h.fanout.is_power_of_two() {
            return bad(format!(
                "HAMT fanout {} is not a power of two in {MIN_FANOUT}..={MAX_FANOUT}",
                h.fanout
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_the_ipip_parameters() {
        let v0 = Profile::parse("unixfs-v0-2015").unwrap().options();
        assert_eq!(v0, ImportOptions::kubo_v0());
        assert_eq!(Profile::parse("legacy-cid-v0").unwrap(), Profile::UnixfsV0_2015);
        let v1 = Profile::parse("unixfs-v1-2025").unwrap().options();
        assert_eq!(
            (v1.cid_version, v1.raw_leaves, v1.chunk_size, v1.max_links),
            (1, true, 1 << 20, 1024)
        );
        assert_eq!(v1.hamt.estimation, SizeEstimation::Block);
        assert_eq!((v1.hamt.threshold, v1.hamt.fanout), (262_144, 256));
        for p in [Profile::UnixfsV0_2015, Profile::UnixfsV1_2025] {
            assert_eq!(Profile::parse(p.name()).unwrap(), p);
            p.options().validate().unwrap();
        }
        let e = Profile::parse("unixfs-v2").unwrap_err().to_string();
        assert!(e.contains("unixfs-v0-2015 or unixfs-v1-2025"), "{e}");
    }

    #[test]
    fn bounds_are_enforced() {
        let ok = ImportOptions::default();
        ok.validate().unwrap();
        let bad = [
            ImportOptions { chunk_size: 0, ..ok },
            ImportOptions {
                chunk_size: MAX_CHUNK_SIZE + 1,
                ..ok
            },
            ImportOptions { max_links: 1, ..ok },
            ImportOptions {
                max_links: MAX_LINKS + 1,
                ..ok
            },
            ImportOptions { cid_version: 2, ..ok },
            ImportOptions {
                hamt: HamtOptions {
                    threshold: 0,
                    ..ok.hamt
                },
                ..ok
            },
            ImportOptions {
                hamt: HamtOptions {
                    threshold: MAX_HAMT_THRESHOLD + 1,
                    ..ok.hamt
                },
                ..ok
            },
            ImportOptions {
                hamt: HamtOptions { fanout: 4, ..ok.hamt },
                ..ok
            },
            ImportOptions {
                hamt: HamtOptions {
                    fanout: 100,
                    ..ok.hamt
                },
                ..ok
            },
            ImportOptions {
                hamt: HamtOptions {
                    fanout: 2048,
                    ..ok.hamt
                },
                ..ok
            },
        ];
        for o in bad {
            assert!(o.validate().is_err(), "{o:?}");
        }
        assert_eq!(
            SizeEstimation::parse("block-bytes").unwrap(),
            SizeEstimation::Block
        );
        assert!(SizeEstimation::parse("count").is_err());
    }
}
