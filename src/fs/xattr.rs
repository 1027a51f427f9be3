//! Extended attributes on the mount: `user.p2pfs.cid` (read-only: the CID
//! of any inode but the top two, in either view) and the `user.*`
//! attributes that files/ keeps (`mfs/xattr.rs`). ipfs/ is read-only.

use super::*;

impl P2pFs {
    pub(super) fn get_xattr(&self, ino: u64, name: &OsStr, size: u32, reply: ReplyXattr) {
        if name == CID_XATTR {
            return self.spawn(move |fs| {
                let cid = try_reply!(reply, fs.cid_of(ino));
                xattr_reply(reply, cid.as_bytes(), size);
            });
        }
        let Some(name) = name.to_str().map(str::to_string) else {
            return reply.error(Errno::ENODATA);
        };
        if SnapshotsView::owns(ino) {
            // What the entry had in its snapshot (read from the index).
            return self.spawn(move |fs| {
                let x = try_reply!(reply, fs.snaps.xattrs(ino));
                match x.get(&name) {
                    Some(v) => xattr_reply(reply, v, size),
                    None => reply.error(Errno::ENODATA),
                }
            });
        }
        if writable(ino).is_err() {
            return reply.error(Errno::ENODATA);
        }
        self.run(
            reply,
            move |fs| fs.mfs.getxattr(ino, &name).map_err(|e| errno(&e)),
            move |_, reply, v| xattr_reply(reply, &v, size),
        );
    }

    pub(super) fn list_xattr(&self, ino: u64, size: u32, reply: ReplyXattr) {
        let cid = format!("{CID_XATTR}\0");
        match ino {
            ROOT | IPFS | SNAPS | IPNS => return xattr_reply(reply, b"", size),
            i if IpfsView::owns(i) => return xattr_reply(reply, cid.as_bytes(), size),
            i if SnapshotsView::owns(i) => {
                return self.spawn(move |fs| {
                    let x = try_reply!(reply, fs.snaps.xattrs(i));
                    let mut list = cid.into_bytes();
                    for n in x.keys() {
                        list.extend_from_slice(n.as_bytes());
                        list.push(0);
                    }
                    xattr_reply(reply, &list, size)
                });
            }
            _ => {}
        }
        self.run(
            reply,
            move |fs| fs.mfs.listxattr(ino).map_err(|e| errno(&e)),
            move |_, reply, names| {
                let mut list = cid.into_bytes();
                for n in names {
                    list.extend_from_slice(n.as_bytes());
                    list.push(0);
                }
                xattr_reply(reply, &list, size)
            },
        );
    }

    pub(super) fn set_xattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32, reply: ReplyEmpty) {
        if let Err(e) = self.xattr_writable(ino, name) {
            return reply.error(e);
        }
        let (name, value) = (name.to_string_lossy().into_owned(), value.to_vec());
        self.run(
            reply,
            move |fs| fs.mfs.setxattr(ino, &name, &value, flags).map_err(|e| errno(&e)),
            |_, reply, ()| reply.ok(),
        );
    }

    pub(super) fn remove_xattr(&self, ino: u64, name: &OsStr, reply: ReplyEmpty) {
        if let Err(e) = self.xattr_writable(ino, name) {
            return reply.error(e);
        }
        let name = name.to_string_lossy().into_owned();
        self.run(
            reply,
            move |fs| fs.mfs.removexattr(ino, &name).map_err(|e| errno(&e)),
            |_, reply, ()| reply.ok(),
        );
    }

    /// Whether attribute `name` of `ino` may be set or removed.
    fn xattr_writable(&self, ino: u64, name: &OsStr) -> Result<(), Errno> {
        writable(ino)?;
        if name == CID_XATTR {
            // Computed from the content, not stored.
            return Err(Errno::EPERM);
        }
        if name.to_str().is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(())
    }
}

pub(super) fn xattr_reply(reply: ReplyXattr, value: &[u8], size: u32) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if (size as usize) < value.len() {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(value);
    }
}
