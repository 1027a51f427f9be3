//! The `p2pfs` binary: parses the command line and hands it to `cli` (all
//! behaviour lives in the library).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// glibc gives each thread that allocates under contention an arena of its
/// own, up to eight per core, and keeps what is freed in each. The daemon's
/// I/O moves 1 MiB buffers through many threads (FUSE, tokio, blocking
/// pool), so freed memory piled up in a dozen arenas: peak RSS 352 MiB in
/// `integration/bench-mount.sh 1024`, 259 MiB with one arena per core and
/// the same speed. Set before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = cores.clamp(2, 8) as libc::c_int;
    // SAFETY: mallopt only sets a tunable; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
