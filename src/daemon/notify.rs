//! systemd's readiness protocol (sd_notify(3)), written by hand: one
//! datagram of `KEY=VALUE` lines to the unix socket named by
//! `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). With
//! `Type=notify`, systemd counts the service started at `READY=1` (here:
//! listening, control socket up, mounted) and stopping at `STOPPING=1`.
//! Without the variable (not under systemd) nothing is sent.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Ready: the node listens, the control socket answers, the mount (if any) is up.
pub fn ready(peer: &str, mountpoint: Option<&Path>) {
    let status = match mountpoint {
        Some(mp) => format!("node {peer}, mounted at {}", mp.display()),
        None => format!("node {peer} running"),
    };
    send(&format!("READY=1\nSTATUS={status}\n"));
}

/// Stopping: saving what must be saved, unmounting.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=saving and stopping\n");
}

fn send(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send_to(&socket, state) {
        tracing::warn!(
            "could not tell the service manager ({}) {:?}: {e}",
            socket.to_string_lossy(),
            state.lines().next().unwrap_or_default()
        );
    }
}

fn send_to(socket: &OsStr, state: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            sock.send_to(state.as_bytes(), Path::new(socket))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_datagram_reaches_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        super::send_to(path.as_os_str(), "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("p2pfs-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abs = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        super::send_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1\n").unwrap();
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }
}
