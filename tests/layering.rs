//! The layering of ARCHITECTURE.md, checked (in the spirit of
//! rust-analyzer's `tidy.rs`). The rules are read from the `layering` block
//! of ARCHITECTURE.md — the single source — and every file under `src/` is
//! scanned for the crates and the crate modules it names:
//!
//! - `crate C: M…` — only modules M may name crate C;
//! - `module M: N…` — module M must not name modules N (layers below never
//!   call up);
//! - `allow M uses X` — a known violation, to be removed; one that no longer
//!   happens fails the test too, so the list only shrinks.
//!
//! And the graph of top-level modules, without the allowed violations, has
//! no cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Default)]
struct Rules {
    crates: BTreeMap<String, BTreeSet<String>>,
    forbidden: BTreeMap<String, BTreeSet<String>>,
    allowed: BTreeSet<(String, String)>,
}

fn rules() -> Rules {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let block = text
        .split("```text layering\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("ARCHITECTURE.md has a ```text layering block");
    let mut r = Rules::default();
    for line in block.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let list = |from: usize| {
            words[from..]
                .iter()
                .map(|w| w.to_string())
                .collect::<BTreeSet<_>>()
        };
        match words.as_slice() {
            ["crate", name, ..] => {
                r.crates.insert(name.trim_end_matches(':').to_string(), list(2));
            }
            ["module", name, ..] => {
                r.forbidden
                    .insert(name.trim_end_matches(':').to_string(), list(2));
            }
            ["allow", m, "uses", x] => {
                r.allowed.insert((m.to_string(), x.to_string()));
            }
            _ => panic!("ARCHITECTURE.md layering block: cannot read {line:?}"),
        }
    }
    r
}

/// The text of a Rust file without its comments (so prose that names a
/// crate is not a use of it). String literals are kept: rare enough here.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Identifiers directly followed by `::`, not preceded by another path
/// segment (so `libp2p::` counts, `foo::libp2p::` does not).
fn path_roots(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = code.as_bytes();
    let mut i = 0;
    while let Some(off) = code[i..].find("::") {
        let end = i + off;
        let mut start = end;
        while start > 0 && is_ident(b[start - 1] as char) {
            start -= 1;
        }
        let preceded_by_path = start >= 2 && &code[start - 2..start] == "::";
        if start < end && !preceded_by_path {
            out.insert(code[start..end].to_string());
        }
        i = end + 2;
    }
    out
}

/// Crate modules named in `crate::x` paths and `crate::{x, y::z}` groups.
fn crate_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && is_ident(code.as_bytes()[i - 1] as char) {
            continue; // `$crate::` or `foo_crate::`
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items at depth 0, split at commas; each names a module first.
            let mut depth = 0;
            let mut items = vec![String::new()];
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(String::new()),
                    _ if depth == 0 => items.last_mut().unwrap().push(c),
                    _ => {}
                }
            }
            for item in items {
                let name: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// (top-level module, file) for every source file but lib.rs and main.rs.
fn sources() -> Vec<(String, std::path::PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&src).unwrap();
                let top = rel.components().next().unwrap().as_os_str().to_string_lossy();
                let top = top.trim_end_matches(".rs").to_string();
                if top != "lib" && top != "main" {
                    out.push((top, p));
                }
            }
        }
    }
    out.sort();
    out
}

/// What each top-level module names: crates of interest and crate modules.
fn uses(rules: &Rules) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (top, path) in sources() {
        let code = code(&std::fs::read_to_string(&path).unwrap());
        let file = path.to_string_lossy().into_owned();
        let entry = out.entry(top.clone()).or_default();
        for root in path_roots(&code) {
            if rules.crates.contains_key(&root) {
                entry.insert((root, file.clone()));
            }
        }
        for m in crate_modules(&code) {
            if m != top {
                entry.insert((m, file.clone()));
            }
        }
    }
    out
}

#[test]
fn modules_use_only_what_their_layer_may() {
    let rules = rules();
    let uses = uses(&rules);
    let mut broken = Vec::new();
    let mut seen_allowed = BTreeSet::new();
    for (module, names) in &uses {
        for (name, file) in names {
            let bad = match rules.crates.get(name) {
                Some(owners) => !owners.contains(module),
                None => rules.forbidden.get(module).is_some_and(|f| f.contains(name)),
            };
            if !bad {
                continue;
            }
            let key = (module.clone(), name.clone());
            if rules.allowed.contains(&key) {
                seen_allowed.insert(key);
            } else {
                broken.push(format!("{file}: module `{module}` uses `{name}`"));
            }
        }
    }
    broken.dedup();
    assert!(
        broken.is_empty(),
        "layering broken (ARCHITECTURE.md, block `layering`):\n{}",
        broken.join("\n")
    );
    let stale: Vec<_> = rules.allowed.difference(&seen_allowed).collect();
    assert!(
        stale.is_empty(),
        "these allowed violations no longer happen: remove them from ARCHITECTURE.md: {stale:?}"
    );
}

#[test]
fn no_cycles_between_modules() {
    let rules = rules();
    let uses = uses(&rules);
    let modules: BTreeSet<&String> = uses.keys().collect();
    let graph: BTreeMap<&String, Vec<&String>> = uses
        .iter()
        .map(|(m, names)| {
            let deps = names
                .iter()
                .map(|(n, _)| n)
                .filter(|n| modules.contains(n))
                .filter(|n| !rules.allowed.contains(&(m.clone(), (*n).clone())))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            (m, deps)
        })
        .collect();
    // Depth-first search with colours: grey on the stack, black done.
    fn visit<'a>(
        m: &'a String,
        g: &BTreeMap<&'a String, Vec<&'a String>>,
        colour: &mut BTreeMap<&'a String, u8>,
        path: &mut Vec<&'a String>,
    ) -> Option<Vec<String>> {
        match colour.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| *p == m).unwrap();
                let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
                cycle.push(m.clone());
                return Some(cycle);
            }
            _ => {}
        }
        colour.insert(m, 1);
        path.push(m);
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, g, colour, path) {
                return Some(c);
            }
        }
        path.pop();
        colour.insert(m, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut colour, &mut Vec::new()) {
            panic!("modules form a cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_scanner_sees_what_it_must() {
    let c =
        code("use crate::{a, b::{c, d}, e};\nlet x = crate::f::g(); // crate::h\nlibp2p::PeerId; x::redb::y");
    assert_eq!(
        crate_modules(&c),
        ["a", "b", "e", "f"].iter().map(|s| s.to_string()).collect()
    );
    let roots = path_roots(&c);
    assert!(roots.contains("libp2p") && roots.contains("x") && !roots.contains("redb"));
}
