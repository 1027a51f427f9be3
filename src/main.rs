//! The `p2pfs` binary: parses the command line and hands it to `cli` (all
//! behaviour lives in the library).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,fuser=error,libp2p_kad=error".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log file or a journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    p2pfs::store::quiet_index_panics();
    let cli = p2pfs::cli::Cli::parse();
    // A damaged index can make redb panic deep inside a read: that is an
    // error with its cure, not a crash.
    match std::panic::catch_unwind(|| p2pfs::cli::run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(panic) => {
            match p2pfs::store::index_panic(&*panic) {
                Some(msg) => eprintln!("error: {msg}"),
                None => std::panic::resume_unwind(panic),
            }
            ExitCode::FAILURE
        }
    }
}
