//! The daemon's side of the control socket: a client's argv parsed as on
//! the command line and run by the same handlers (`api::Handler`).

use super::{Cli, Command, Io, execute};
use crate::api::{Call, Handler, Reply};
use crate::mfs::Mfs;
use crate::namesys::Names;
use crate::net::NetHandle;
use crate::repo::Repo;
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

/// What a client's command runs against: the daemon's node.
pub struct Node {
    pub repo: Arc<Repo>,
    pub mfs: Arc<Mfs>,
    pub net: NetHandle,
    pub names: Arc<Names>,
}

/// The handler `daemon::run` installs on the control socket.
pub fn handler(repo: Arc<Repo>, mfs: Arc<Mfs>, net: NetHandle, names: Arc<Names>) -> Arc<dyn Handler> {
    Arc::new(Node {
        repo,
        mfs,
        net,
        names,
    })
}

impl Handler for Node {
    fn call(&self, call: Call<'_>) -> Reply {
        match run(self, call) {
            Ok(reply) => reply,
            // Writing to the client failed: it is gone.
            Err(_) => Reply::Gone,
        }
    }
}

fn run(node: &Node, call: Call<'_>) -> std::io::Result<Reply> {
    let cli = match Cli::try_parse_from(std::iter::once("p2pfs".to_string()).chain(call.args)) {
        Err(e) => {
            write!(call.err, "{}", e.render())?;
            return Ok(Reply::Exit(e.exit_code() as u8));
        }
        Ok(Cli {
            command: Command::Shutdown,
            ..
        }) => return Ok(Reply::Shutdown),
        Ok(cli) => cli,
    };
    let mut io = Io {
        out: call.out,
        err: call.err,
        cwd: call.cwd,
        gone: Some(call.gone),
        stdin: call.stdin,
        stderr: call.stderr,
    };
    let result = execute(
        &node.repo,
        &node.mfs,
        Some(&node.net),
        Some(&node.names),
        cli.command,
        false,
        &mut io,
    );
    Ok(match result {
        Ok(c) if c == ExitCode::SUCCESS => Reply::Exit(0),
        Ok(_) => Reply::Exit(1),
        // The client went away (e.g. `p2pfs cat | head`): nothing to report.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Reply::Gone
        }
        Err(e) => {
            writeln!(io.err, "error: {e:#}")?;
            Reply::Exit(1)
        }
    })
}
