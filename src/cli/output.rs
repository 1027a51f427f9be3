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

/// A byte progress bar on stderr, or a hidden one when `enabled` is false or
/// (by default) stderr is not a terminal.
pub fn progress_bar(total: u64, enabled: Option<bool>) -> ProgressBar {
    bar(
        total,
        enabled,
        "{bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, ETA {eta}",
    )
}

/// A bar that counts items (blocks), not bytes.
pub fn count_bar(total: u64, enabled: Option<bool>, what: &str) -> ProgressBar {
    bar(
        total,
        enabled,
        &format!("{{human_pos}}/{{human_len}} {what} [{{wide_bar}}] ETA {{eta}}"),
    )
}

/// A counter for work of unknown size (a DAG walk): blocks so far and `{msg}`.
pub fn count_spinner(enabled: Option<bool>, what: &str) -> ProgressBar {
    let pb = bar(
        0,
        enabled,
        &format!("{{spinner}} {{pos}} {what}, {{msg}} {{per_sec}}"),
    );
    pb.set_length(u64::MAX);
    pb
}

fn bar(total: u64, enabled: Option<bool>, template: &str) -> ProgressBar {
    let show = enabled.unwrap_or_else(|| std::io::stderr().is_terminal());
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
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
    }
}
