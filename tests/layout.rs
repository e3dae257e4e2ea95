//! The source layout's rules, checked on the source text (see `../shared/STYLE.md` and
//! the README's "Where the code lives"):
//!
//! * no file imports a file that imports it back (directly or through others): every
//!   `crate::…` and `super::…` path outside a file's unit tests is resolved to the file
//!   that defines the module it names;
//! * `src/nn/` (the teaching code) imports only `scalar`, `rng`, `error` and itself (so
//!   never `engine`), never mentions the bug catalogue, and its loop `nn/sgd.rs` stays
//!   within 300 lines;
//! * `src/variant/` (the catalogue of mistakes and conventions) imports neither
//!   `check/` nor `oracle/`, and `oracle/` does not import `check/`;
//! * no source file is over 700 lines before its unit tests;
//! * flag names (`"--…"`) appear only in `src/cli/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `src/`, as a path relative to `src/` with `/` separators.
fn sources() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).expect("below src");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(rel),
    )
    .expect("read source")
}

/// The code of a file before its `#[cfg(test)]` module, with `//` comments removed.
fn code(rel: &str) -> String {
    let text = read(rel);
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file: `check/network/mod.rs` → `["check", "network"]`,
/// `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file defining the longest prefix of `path` (module segments) that is a module.
fn defining_file(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for n in (0..=path.len()).rev() {
        let prefix = path[..n].join("/");
        let candidates = if n == 0 {
            vec!["lib.rs".to_string()]
        } else {
            vec![format!("{prefix}.rs"), format!("{prefix}/mod.rs")]
        };
        if let Some(f) = candidates.into_iter().find(|c| files.contains(c)) {
            return Some(f);
        }
    }
    None
}

/// Every module path a file refers to: `crate::a::b::{c, d::e}` gives `a::b::c`,
/// `a::b::d::e`; `super::x` is resolved against the file's module.
fn referenced_paths(rel: &str) -> Vec<Vec<String>> {
    let text = code(rel);
    let own = module_of(rel);
    let mut out = Vec::new();
    for (start, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        // Skip matches inside identifiers (`backprop_oracle::crate` cannot occur).
        if start > 0 {
            let prev = text[..start].chars().last().unwrap_or(' ');
            if prev.is_alphanumeric() || prev == '_' || prev == ':' {
                continue;
            }
        }
        let rest = &text[start..];
        let (base, rest) = if let Some(r) = rest.strip_prefix("crate::") {
            (Vec::new(), r)
        } else {
            let mut base = own.clone();
            // In a `mod.rs` file, `super` is the parent of the folder's module; in
            // `x.rs`, the parent of `x`.
            base.pop();
            (base, &rest["super::".len()..])
        };
        expand(&base, rest, &mut out);
    }
    // `use child::…` and `use self::…` in a file that declares `mod child;`.
    let children: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("pub ");
            l.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect();
    for (start, _) in text.match_indices("use ") {
        if start > 0 && !text[..start].ends_with(|c: char| c.is_whitespace()) {
            continue;
        }
        let stmt = &text[start + 4..];
        let stmt = stmt.trim_start();
        let stmt = stmt.strip_prefix("self::").unwrap_or(stmt);
        let first = stmt
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if children.contains(&first) {
            expand(&own, stmt, &mut out);
        }
    }
    out
}

/// Expands one path (possibly with a `{…}` group) after `base`.
fn expand(base: &[String], rest: &str, out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut s = rest;
    loop {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let seg = &s[..end];
        if !seg.is_empty() {
            path.push(seg.to_string());
        }
        s = &s[end..];
        if let Some(r) = s.strip_prefix("::") {
            if let Some(group) = r.strip_prefix('{') {
                // Split the group at top-level commas.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&path, item.trim(), out);
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                if !item.trim().is_empty() {
                    expand(&path, item.trim(), out);
                }
                return;
            }
            s = r;
            continue;
        }
        break;
    }
    out.push(path);
}

/// File → the files it refers to (without itself).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files: BTreeSet<String> = sources().into_iter().collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let mut deps = BTreeSet::new();
        for path in referenced_paths(f) {
            if let Some(d) = defining_file(&path, &files) {
                if &d != f {
                    deps.insert(d);
                }
            }
        }
        graph.insert(f.clone(), deps);
    }
    graph
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let graph = import_graph();
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        f: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == f) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(f.to_string());
            return Some(cycle);
        }
        if done.contains(f) {
            return None;
        }
        stack.push(f.to_string());
        for d in graph.get(f).into_iter().flatten() {
            if let Some(c) = visit(d, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(f.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for f in graph.keys() {
        if let Some(cycle) = visit(f, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
    // The resolver must see the real structure, or the test proves nothing.
    let deps = |f: &str| graph.get(f).cloned().unwrap_or_default();
    assert!(
        deps("engine/mod.rs").contains("nn/sgd.rs"),
        "{:?}",
        deps("engine/mod.rs")
    );
    assert!(deps("check/network/driver.rs").contains("check/network/plan.rs"));
    assert!(deps("oracle/compare.rs").contains("oracle/trajectory.rs"));
}

#[test]
fn the_teaching_core_imports_only_scalar_rng_error_and_itself() {
    let graph = import_graph();
    let allowed = ["scalar.rs", "rng.rs", "error.rs"];
    for (f, deps) in &graph {
        if !f.starts_with("nn/") {
            continue;
        }
        for d in deps {
            assert!(
                d.starts_with("nn/") || allowed.contains(&d.as_str()),
                "src/{f} imports src/{d}"
            );
        }
        let text = read(f);
        for word in ["Bug", "inject", "bugs::"] {
            assert!(!text.contains(word), "src/{f} mentions {word:?}");
        }
    }
    assert!(graph["nn/dense.rs"].contains("nn/kernels.rs"));
    // The teaching loop stays the plain loop (issue 21): the engine's own loop lives in
    // `engine/epochs.rs`, and imports `nn/sgd.rs`, not the other way round.
    let sgd = read("nn/sgd.rs").lines().count();
    assert!(sgd <= 300, "src/nn/sgd.rs has {sgd} lines");
    assert!(graph["engine/epochs.rs"].contains("nn/sgd.rs"));
}

#[test]
fn the_variants_sit_below_the_checker_and_the_oracle_which_do_not_import_each_other() {
    let graph = import_graph();
    for (f, deps) in &graph {
        for d in deps {
            if f.starts_with("variant/") {
                assert!(
                    !d.starts_with("check/") && !d.starts_with("oracle/"),
                    "src/{f} imports src/{d}"
                );
            }
            if f.starts_with("oracle/") {
                assert!(!d.starts_with("check/"), "src/{f} imports src/{d}");
            }
        }
    }
    // The resolver sees both users of the variants.
    assert!(graph["oracle/compare.rs"]
        .iter()
        .any(|d| d.starts_with("variant/")));
    assert!(graph["check/network/driver.rs"]
        .iter()
        .any(|d| d.starts_with("variant/")));
}

#[test]
fn no_source_file_is_over_700_lines_before_its_tests() {
    for f in sources() {
        let text = read(&f);
        let n = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .count();
        assert!(n <= 700, "src/{f} has {n} lines before its tests");
    }
}

#[test]
fn flag_names_appear_only_in_the_cli() {
    for f in sources() {
        if f.starts_with("cli/") || f == "main.rs" {
            continue;
        }
        let text = code(&f);
        assert!(
            !text.contains("\"--"),
            "src/{f} names a command-line flag: {}",
            text.lines().find(|l| l.contains("\"--")).unwrap_or("")
        );
    }
}

/// The README's code map ("Where the code lives") names every source file: its folder
/// (`oracle/`) and its file name (`against.rs`), so a new file cannot go unmapped.
#[test]
fn the_readme_code_map_names_every_source_file() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("read README.md");
    let section = readme
        .split("## Where the code lives")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("a code block under \"## Where the code lives\"");
    for f in sources() {
        let (folder, name) = match f.rsplit_once('/') {
            Some((folder, name)) => (Some(folder), name),
            None => (None, f.as_str()),
        };
        if name == "mod.rs" {
            continue;
        }
        assert!(
            section.contains(name),
            "README's code map does not name src/{f}"
        );
        if let Some(folder) = folder {
            let last = folder.rsplit('/').next().unwrap_or(folder);
            assert!(
                section.contains(&format!("{last}/")),
                "README's code map has no folder {last}/ for src/{f}"
            );
        }
    }
}
