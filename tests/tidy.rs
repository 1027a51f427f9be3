//! Files a reader can hold (in the spirit of rust-analyzer's `tidy.rs`):
//! no source file over 800 lines, no function over 80 outside tests, and
//! every module opens with a `//!` comment saying what it owns. Functions
//! still too long are listed in `LONG` (to be split); one listed that is no
//! longer long fails the test too, so the list only shrinks.

use std::path::{Path, PathBuf};

const MAX_FILE: usize = 800;
const MAX_FN: usize = 80;

/// (file, function) still over the limit.
const LONG: &[(&str, &str)] = &[];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Functions of `text` (outside `#[cfg(test)]` code) and their lengths in
/// lines, from the `fn` line to the brace that closes it at its indent.
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let t = l.trim_start();
        let indent = l.len() - t.len();
        let after_vis = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let after_async = after_vis.strip_prefix("async ").unwrap_or(after_vis);
        if let Some(rest) = after_async.strip_prefix("fn ")
            && !l.trim_end().ends_with(';')
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].starts_with(&close) && !lines[j][indent..].starts_with("}}"))
                .unwrap_or(lines.len() - 1);
            out.push((name, end - i + 1));
            i = end;
        }
        i += 1;
    }
    out
}

#[test]
fn files_and_functions_a_reader_can_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut still_long = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let n = text.lines().count();
        if n > MAX_FILE {
            problems.push(format!("{rel}: {n} lines (at most {MAX_FILE})"));
        }
        if !text.starts_with("//!") {
            problems.push(format!(
                "{rel}: does not open with a //! comment saying what it owns"
            ));
        }
        let name = f.file_name().unwrap().to_string_lossy();
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        for (func, len) in functions(&text) {
            if len <= MAX_FN {
                continue;
            }
            if LONG.contains(&(rel.as_str(), func.as_str())) {
                still_long.push((rel.clone(), func));
            } else {
                problems.push(format!("{rel}: fn {func} is {len} lines (at most {MAX_FN})"));
            }
        }
    }
    for (file, func) in LONG {
        if !still_long.iter().any(|(f, n)| f == file && n == func) {
            problems.push(format!(
                "{file}: fn {func} is no longer over {MAX_FN} lines: take it off LONG in tests/tidy.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_function_scanner_measures_what_it_should() {
    let text = "//! x\nfn a() {\n    1;\n}\n\nimpl X {\n    pub fn b(&self) {\n        if y {\n        }\n    }\n}\n#[cfg(test)]\nfn c() {\n}\n";
    assert_eq!(functions(text), [("a".to_string(), 3), ("b".to_string(), 4)]);
}
