//! Output helpers: human sizes, progress bars.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Sizes as Kubo prints them (go-humanize's `Bytes`: powers of 1000, one
/// decimal below 10): "9 B", "1.2 kB", "83 MB".
pub fn si_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let mut e = 0;
    let mut scale = 1f64;
    while e + 1 < UNITS.len() && n as f64 >= scale * 1000.0 {
        scale *= 1000.0;
        e += 1;
    }
    let v = ((n as f64 / scale) * 10.0 + 0.5).floor() / 10.0;
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[e])
    } else {
        format!("{v:.0} {}", UNITS[e])
    }
}

/// Where a progress bar is drawn: `stderr` (this process's, or a client's
/// passed over the control socket) when progress is `asked` or, by
/// default, when it is a terminal; None: no bar.
pub fn draw_target(stderr: Option<&std::fs::File>, asked: Option<bool>) -> Option<ProgressDrawTarget> {
    let stderr = stderr?;
    if !asked.unwrap_or_else(|| stderr.is_terminal()) {
        return None;
    }
    // console draws to (and sizes by) the descriptor; the read side is unused.
    let term = console::Term::read_write_pair(stderr.try_clone().ok()?, stderr.try_clone().ok()?);
    Some(ProgressDrawTarget::term(term, 15))
}

/// A byte progress bar, hidden when `to` is None.
pub fn progress_bar(total: u64, to: Option<ProgressDrawTarget>) -> ProgressBar {
    bar(
        total,
        to,
        "{bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, ETA {eta} {msg}",
    )
}

/// A bar that counts items (blocks), not bytes.
pub fn count_bar(total: u64, to: Option<ProgressDrawTarget>, what: &str) -> ProgressBar {
    bar(
        total,
        to,
        &format!("{{human_pos}}/{{human_len}} {what} [{{wide_bar}}] ETA {{eta}}"),
    )
}

/// A counter for work of unknown size (a DAG walk): items so far and `{msg}`.
pub fn count_spinner(to: Option<ProgressDrawTarget>, what: &str) -> ProgressBar {
    let pb = bar(0, to, &format!("{{spinner}} {{pos}} {what}, {{msg}}"));
    pb.set_length(u64::MAX);
    pb
}

/// Bytes of unknown total so far (a CAR being written).
pub fn byte_spinner(to: Option<ProgressDrawTarget>, what: &str) -> ProgressBar {
    let pb = bar(
        0,
        to,
        &format!("{{spinner}} {{bytes}} {what}, {{bytes_per_sec}} {{msg}}"),
    );
    pb.set_length(u64::MAX);
    pb
}

/// A spinner for work that reports nothing until it is done (GC).
pub fn working(to: Option<ProgressDrawTarget>, what: &str) -> ProgressBar {
    let pb = bar(0, to, &format!("{{spinner}} {what} {{elapsed}}"));
    // Drawn once at once: the ticker's thread may not run before a quick
    // job ends (a busy machine), and the user would never see what ran.
    pb.tick();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn bar(total: u64, to: Option<ProgressDrawTarget>, template: &str) -> ProgressBar {
    let Some(to) = to else {
        return ProgressBar::hidden();
    };
    let pb = ProgressBar::with_draw_target(Some(total), to);
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::human_bytes(5), "5 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(10 << 30), "10.0 GiB");
        // go-humanize's Bytes, as Kubo prints.
        assert_eq!(super::si_bytes(9), "9 B");
        assert_eq!(super::si_bytes(999), "999 B");
        assert_eq!(super::si_bytes(1234), "1.2 kB");
        assert_eq!(super::si_bytes(82_854_982), "83 MB");
        assert_eq!(super::si_bytes(1_000_000_000), "1.0 GB");
    }
}
