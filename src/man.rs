//! Man pages generated from the clap definitions: one page for `p2pfs` and
//! one per subcommand (`p2pfs-pin-add.1`). A test keeps `man/` current.

use clap::Command;

/// (file name, roff text) for every page.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    render(crate::cli::command(), "p2pfs", &mut out)?;
    Ok(out)
}

fn render(cmd: Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let cmd = cmd.name(name.to_string()).disable_help_subcommand(true);
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    out.push((format!("{name}.1"), buf));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        render(sub.clone(), &format!("{name}-{}", sub.get_name()), out)?;
    }
    Ok(())
}
