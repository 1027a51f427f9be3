#!/bin/sh
# Builds a Debian package of p2pfs from what contrib/install.sh installs
# under /usr: the binary, the man pages, bash/zsh/fish completions and the
# systemd user units. Install it with `apt install ./p2pfs_*.deb`.
#
#   contrib/deb.sh [OUTDIR]        default OUTDIR: target/debian
#
# The binary is $P2PFS_BIN if set, else target/release/p2pfs (built when
# missing). P2PFS_DEB_COMPRESSION picks dpkg-deb's compressor (default xz;
# none is fastest).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/target/debian}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "no version in $here/Cargo.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# The package's root is installed over /: it must not carry mktemp's 0700.
chmod 755 "$stage"

DESTDIR=$stage sh "$here/contrib/install.sh" /usr > /dev/null
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: p2pfs
Version: $version
Architecture: $arch
Maintainer: p2pfs developers <p2pfs@localhost>
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Depends: libc6, libgcc-s1
Recommends: fuse3
Section: utils
Priority: optional
Description: content-addressed, peer-to-peer filesystem speaking IPFS protocols
 p2pfs stores files as IPFS UnixFS DAGs (the same CIDs as Kubo and Helia)
 in a local repo, exchanges blocks with IPFS peers (Bitswap, Kademlia DHT)
 and serves everything through a FUSE mount: ipfs/ by CID, files/ writable.
 The mount needs fuse3; systemd user units run the mount or the node.
CONTROL

mkdir -p "$out"
deb=$out/p2pfs_${version}_$arch.deb
dpkg-deb --root-owner-group -Z"${P2PFS_DEB_COMPRESSION:-xz}" --build "$stage" "$deb" > /dev/null
echo "$deb"
