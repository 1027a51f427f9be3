//! The control socket (`<repo>/api.sock`, mode 0600): while a daemon owns the
//! repo, CLI commands are run by the daemon on the client's behalf, with the
//! same handlers and so the same output as without a daemon.
//!
//! Request: one JSON line `{"args": [...], "cwd": "..."}` (argv without the
//! program name, `fds`: which of the client's stdin and stderr come with it),
//! sent with those descriptors as SCM_RIGHTS: `echo hi | p2pfs add` reads
//! the client's pipe, and progress bars are drawn on the client's terminal. Response: frames `[kind u8][len u32 BE][bytes]`, kind 1 =
//! stdout, 2 = stderr, 3 = exit code (one byte), which ends the response.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXIT: u8 = 3;
/// A request is argv; anything this long is not one.
const MAX_REQUEST: u64 = 1 << 20;

pub fn socket_path(repo: &Path) -> PathBuf {
    repo.join("api.sock")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Request {
    args: Vec<String>,
    cwd: PathBuf,
    /// The descriptors passed, in order: "stdin", "stderr".
    #[serde(default)]
    fds: Vec<String>,
}

struct FrameWriter {
    stream: UnixStream,
    kind: u8,
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = buf.len().min(u32::MAX as usize);
        let mut head = [self.kind, 0, 0, 0, 0];
        head[1..].copy_from_slice(&(len as u32).to_be_bytes());
        // Small writes go out as one frame in one write; big ones (`cat`)
        // are not copied into a frame first: that copy cost 1 % of a
        // transfer's CPU.
        if len >= 64 << 10 {
            self.stream.write_all(&head)?;
            self.stream.write_all(&buf[..len])?;
        } else {
            let mut frame = Vec::with_capacity(5 + len);
            frame.extend_from_slice(&head);
            frame.extend_from_slice(&buf[..len]);
            self.stream.write_all(&frame)?;
        }
        Ok(len)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// One client's command: its argv (without the program name), working
/// directory, output streams, and the descriptors it passed.
pub struct Call<'a> {
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Turns true when the client goes away.
    pub gone: crate::blockservice::Gone,
    pub stdin: Option<std::fs::File>,
    pub stderr: Option<std::fs::File>,
}

/// How a call ended.
pub enum Reply {
    /// The command ran; its exit code.
    Exit(u8),
    /// The client asked the node to stop (`p2pfs shutdown`).
    Shutdown,
    /// The client went away: nothing more to send.
    Gone,
}

/// Runs the commands clients send. The CLI supplies it (the socket knows
/// the framing, not the commands), so this module does not name the CLI.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, call: Call<'_>) -> Reply;
}

/// Serves CLI requests until the listener is closed. Each client gets its
/// own thread: handlers do blocking disk I/O and must not run on tokio.
pub struct Server {
    path: PathBuf,
}

impl Server {
    /// `stop` is notified when a client asks the node to stop (`p2pfs shutdown`).
    pub fn start(
        repo: &Path,
        handler: Arc<dyn Handler>,
        stop: Arc<tokio::sync::Notify>,
    ) -> std::io::Result<Server> {
        let path = socket_path(repo);
        // A socket left by a crashed daemon: we hold the repo lock, so it is stale.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        std::thread::Builder::new()
            .name("api-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let (handler, stop) = (handler.clone(), stop.clone());
                    let _ = std::thread::Builder::new()
                        .name("api-client".into())
                        .spawn(move || {
                            if let Err(e) = serve(&*handler, &stop, conn) {
                                tracing::debug!("control socket client: {e}");
                            }
                        });
                }
            })?;
        Ok(Server { path })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The client sends nothing after its request: end of file means it went
/// away (killed, or `| head` closed), and what it asked for need not be
/// fetched any more. The receiver turns true then.
///
/// The watcher waits in `poll`, not in `read`: a reader blocked on a Unix
/// socket is woken each time the peer frees room in its buffer (the wake-up
/// is for writers, but a blocked `read` is not told apart), which for a
/// `p2pfs cat` was one wake-up per chunk the client read: 18 % of the
/// fetching daemon's context switches (`perf record -e sched:sched_switch`).
fn watch_hangup(conn: &UnixStream) -> std::io::Result<crate::blockservice::Gone> {
    let (tx, gone) = tokio::sync::watch::channel(false);
    let mut watch = conn.try_clone()?;
    let _ = std::thread::Builder::new()
        .name("api-hangup".into())
        .spawn(move || {
            use rustix::event::{PollFd, PollFlags, poll};
            let mut b = [0u8; 64];
            loop {
                let mut fds = [PollFd::new(&watch, PollFlags::IN | PollFlags::RDHUP)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(_) => break,
                }
                if fds[0].revents().is_empty() {
                    continue;
                }
                // Readable: bytes (not expected; dropped) or end of file.
                if !matches!(watch.read(&mut b), Ok(n) if n > 0) {
                    break;
                }
            }
            let _ = tx.send(true);
        });
    Ok(gone)
}

fn serve(handler: &dyn Handler, stop: &tokio::sync::Notify, conn: UnixStream) -> std::io::Result<()> {
    let (line, mut fds) = read_request(&conn)?;
    let mut out = FrameWriter {
        stream: conn.try_clone()?,
        kind: STDOUT,
    };
    let mut err = FrameWriter {
        stream: conn.try_clone()?,
        kind: STDERR,
    };
    let code: u8 = match serde_json::from_str::<Request>(&line) {
        Err(e) => {
            writeln!(err, "error: bad request on the control socket: {e}")?;
            2
        }
        Ok(mut req) => {
            let call = Call {
                args: req.args,
                cwd: req.cwd,
                out: &mut out,
                err: &mut err,
                gone: watch_hangup(&conn)?,
                stdin: passed(&mut req.fds, &mut fds, "stdin"),
                stderr: passed(&mut req.fds, &mut fds, "stderr"),
            };
            match handler.call(call) {
                Reply::Exit(code) => code,
                Reply::Gone => return Ok(()),
                // The daemon stops as on Ctrl-C; the client waits for the
                // repo lock. Answered first: once stopping, the process may
                // exit before this thread writes another byte.
                Reply::Shutdown => {
                    let answered = FrameWriter {
                        stream: conn.try_clone()?,
                        kind: EXIT,
                    }
                    .write_all(&[0]);
                    stop.notify_one();
                    return answered;
                }
            }
        }
    };
    out.flush()?;
    FrameWriter {
        stream: conn,
        kind: EXIT,
    }
    .write_all(&[code])
}

/// Runs the command through a daemon if one listens on the repo's socket.
/// Returns None when no daemon runs (the caller opens the repo itself).
pub fn forward(repo: &Path, args: Vec<String>) -> anyhow::Result<Option<ExitCode>> {
    let conn = match UnixStream::connect(socket_path(repo)) {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    // Only open descriptors can be passed.
    let open = |fd: i32| {
        // SAFETY: borrowed only for the fcntl call; 0 and 2 stay open meanwhile.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
    };
    let (names, fds): (Vec<String>, Vec<i32>) = [("stdin", 0), ("stderr", 2)]
        .into_iter()
        .filter(|(_, fd)| open(*fd))
        .map(|(n, fd)| (n.to_string(), fd))
        .unzip();
    let req = Request {
        args,
        cwd: std::env::current_dir()?,
        fds: names,
    };
    let mut line = serde_json::to_vec(&req)?;
    line.push(b'\n');
    send_request(&conn, &line, &fds)?;
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut r = BufReader::with_capacity(1 << 20, conn);
    loop {
        let mut head = [0u8; 5];
        if r.read_exact(&mut head).is_err() {
            anyhow::bail!("the daemon closed the connection before the command finished (did it stop?)");
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf)?;
        match head[0] {
            STDOUT => match stdout.write_all(&buf) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Some(ExitCode::SUCCESS)),
                r => r?,
            },
            STDERR => stderr.write_all(&buf)?,
            EXIT => {
                stdout.flush()?;
                return Ok(Some(ExitCode::from(buf.first().copied().unwrap_or(1))));
            }
            k => anyhow::bail!("unexpected frame kind {k} from the daemon"),
        }
    }
}

/// Sends the request line with descriptors `fds` attached.
fn send_request(conn: &UnixStream, line: &[u8], fds: &[i32]) -> std::io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let iov = [std::io::IoSlice::new(line)];
    let cmsgs = [ControlMessage::ScmRights(fds)];
    let cmsgs = if fds.is_empty() { &[][..] } else { &cmsgs[..] };
    let sent = sendmsg::<()>(conn.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)?;
    (&*conn).write_all(&line[sent..])
}

/// The descriptor the client named `name`, if it passed one.
fn passed(
    names: &mut [String],
    fds: &mut [Option<std::os::fd::OwnedFd>],
    name: &str,
) -> Option<std::fs::File> {
    let i = names.iter().position(|n| n == name)?;
    fds.get_mut(i)?.take().map(std::fs::File::from)
}

/// Reads the request line and the descriptors that come with its first bytes.
fn read_request(conn: &UnixStream) -> std::io::Result<(String, Vec<Option<std::os::fd::OwnedFd>>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut first = vec![0u8; 64 * 1024];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let mut iov = [std::io::IoSliceMut::new(&mut first)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut received: Vec<Option<OwnedFd>> = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed this descriptor in this
                // process for us; nothing else owns it.
                received.push(Some(unsafe { OwnedFd::from_raw_fd(raw) }));
            }
        }
    }
    let n = msg.bytes;
    let mut line = String::new();
    let rest = conn.take(MAX_REQUEST.saturating_sub(n as u64));
    BufReader::new(std::io::Cursor::new(&first[..n]).chain(rest)).read_line(&mut line)?;
    Ok((line, received))
}
