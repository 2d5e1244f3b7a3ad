//! The house's rules, read off the source: no two modules of a crate
//! import each other, even through others (an import cycle); every module
//! says what it owns in a doc comment; no module's code (its tests aside)
//! runs past about 800 lines. docs/ARCHITECTURE.md says why.
//!
//! A module's imports are every `crate::`, `super::` and `self::` path in
//! its code, `use` trees expanded, each resolved to the longest prefix that
//! is a module of the crate: `crate::io::hub::Event` is `io/hub.rs`, and
//! `super::X` from `cgroup/group.rs` is `cgroup/mod.rs` itself when `X` is
//! not a module (an item it re-exports). Test modules are left out, as are
//! `mod` declarations: a parent declaring its children is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates checked, by their root file.
const CRATES: &[&str] = &["shim/src/lib.rs", "ctl/src/main.rs", "src/lib.rs"];

/// Lines of code (before its tests) a module may hold.
const MAX_LINES: usize = 800;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_path_buf()
}

/// A crate's modules: module path (`["io", "hub"]`) -> file.
fn modules(root_file: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let dir = root_file.parent().unwrap();
    let mut out = BTreeMap::new();
    out.insert(Vec::new(), root_file.to_path_buf());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // bin/ holds crates of their own.
                if p.file_name().unwrap() != "bin" {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p == root_file {
                continue;
            }
            // The other crate root beside the library (main.rs, the binary).
            if d == dir && (p.ends_with("main.rs") || p.ends_with("lib.rs")) {
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            out.insert(parts, p);
        }
    }
    out
}

/// The source without comments, string and char literals, and
/// `#[cfg(test)]` modules.
fn code(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"'
            || (b[i] == b'r' && b.get(i + 1).is_some_and(|c| *c == b'#' || *c == b'"'))
        {
            // A string: raw (r"..", r#".."#) or plain with escapes.
            if b[i] == b'r' {
                let mut hashes = 0;
                i += 1;
                while b[i] == b'#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                let end: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while i < b.len() && !b[i..].starts_with(&end) {
                    i += 1;
                }
                i += end.len();
            } else {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\'', '\u{..}'
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    strip_test_modules(&out)
}

fn strip_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|o| at + o) else {
            break;
        };
        let mut depth = 0;
        let mut end = out.len();
        for (j, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// Every path that starts at `crate`, `super` or `self` in `code`, `use`
/// trees expanded: each as its segments.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` items first, then blanked so the scan below does not see
    // their pieces again.
    let mut rest = code.to_string();
    let mut search = 0;
    while let Some(off) = find_word(&rest[search..], "use") {
        let at = search + off;
        let Some(end) = rest[at..].find(';').map(|e| at + e) else {
            break;
        };
        // Whitespace goes, but `as` stays a word of its own (`@`): a
        // module named `task` or `base` must not be cut at its "as".
        let tree: String = rest[at + 3..end]
            .split_whitespace()
            .map(|w| if w == "as" { "@" } else { w })
            .collect();
        expand(&tree, &mut Vec::new(), &mut out);
        rest.replace_range(at..end, &" ".repeat(end - at));
        search = end;
    }
    // Inline paths: crate::a::b::C in expressions and types.
    let bytes = rest.as_bytes();
    for start in ["crate", "super", "self"] {
        let mut from = 0;
        while let Some(off) = find_word(&rest[from..], start) {
            let at = from + off;
            from = at + start.len();
            if !rest[from..].starts_with("::") {
                continue;
            }
            // Skip `super::` that continues a longer path (`super::super`
            // starts at the first).
            if at >= 2 && &rest[at - 2..at] == "::" {
                continue;
            }
            let mut j = at;
            while j < bytes.len()
                && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b':')
            {
                j += 1;
            }
            let segs: Vec<String> = rest[at..j]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            out.push(segs);
        }
    }
    out
}

/// `text`'s first occurrence of `word` as a whole identifier.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(off) = text[from..].find(word) {
        let at = from + off;
        let end = at + word.len();
        let before = at == 0 || !ident(b[at - 1]);
        let after = end >= b.len() || !ident(b[end]);
        if before && after {
            return Some(at);
        }
        from = end;
    }
    None
}

/// Expands a `use` tree (`a::b::{c,d::{e,f}}`) into whole paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let n = prefix.len();
        prefix.extend(head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], prefix, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], prefix, out);
        prefix.truncate(n);
        return;
    }
    let item = tree.split('@').next().unwrap_or(tree);
    let mut p = prefix.clone();
    p.extend(
        item.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    if !p.is_empty() {
        out.push(p);
    }
}

/// The module `path` (as written in module `from`) names, or lies in.
fn resolve(
    from: &[String],
    path: &[String],
    mods: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs = path.iter().peekable();
    let mut base: Vec<String> = match segs.peek()?.as_str() {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        // A `use` of a child module by its name (`pub use x::X` in a
        // mod.rs); anything else is another crate's.
        child => {
            let mut c = from.to_vec();
            c.push(child.to_string());
            if !mods.contains_key(&c) {
                return None;
            }
            from.to_vec()
        }
    };
    if matches!(
        segs.peek().map(|s| s.as_str()),
        Some("crate" | "self" | "super")
    ) {
        segs.next();
    }
    let mut rest: Vec<&String> = segs.collect();
    while rest.first().is_some_and(|s| *s == "super") {
        base.pop();
        rest.remove(0);
    }
    let mut best = base.clone();
    for s in rest {
        base.push(s.clone());
        if mods.contains_key(&base) {
            best = base.clone();
        } else {
            break;
        }
    }
    Some(best)
}

/// The import cycles among `graph`'s nodes (strongly connected components
/// of more than one), by Tarjan.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct T<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Vec<String>) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// A crate's import graph: module -> the modules it imports from.
fn graph(root_file: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules(root_file);
    let mut g = BTreeMap::new();
    for (m, file) in &mods {
        let code = code(&std::fs::read_to_string(file).unwrap());
        let deps: BTreeSet<Vec<String>> = paths(&code)
            .iter()
            .filter_map(|p| resolve(m, p, &mods))
            .filter(|d| d != m)
            .collect();
        g.insert(m.clone(), deps);
    }
    g
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_module_imports_itself_through_others() {
    let mut found = Vec::new();
    for root in CRATES {
        let g = graph(&repo().join(root));
        assert!(g.len() > 1, "{root}: no modules found");
        for scc in cycles(&g) {
            let names: Vec<String> = scc.iter().map(|m| name(m)).collect();
            found.push(format!("{root}: {}", names.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn every_module_says_what_it_owns_and_stays_readable() {
    let mut problems = Vec::new();
    for root in CRATES {
        for file in modules(&repo().join(root)).values() {
            let src = std::fs::read_to_string(file).unwrap();
            let rel = file.strip_prefix(repo()).unwrap().display().to_string();
            if !src.trim_start().starts_with("//!") {
                problems.push(format!("{rel}: no module doc comment (//!)"));
            }
            let code_lines = src
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .count();
            if code_lines > MAX_LINES {
                problems.push(format!(
                    "{rel}: {code_lines} lines before its tests (at most {MAX_LINES})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: a cycle through a re-export, a `use` tree, an
/// inline path and `super`, and what is not an import.
#[test]
fn the_checker_sees_cycles_and_only_cycles() {
    let dir = std::env::temp_dir().join(format!("mydocker-house-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("room")).unwrap();
    let w = |f: &str, s: &str| std::fs::write(dir.join(f), s).unwrap();
    w(
        "lib.rs",
        "//! r\nmod a;\nmod b;\nmod room;\nmod leaf;\nmod task;\n",
    );
    w(
        "a.rs",
        "//! a\nuse crate::{leaf, room::{x::X}};\nuse crate::task::T as U;\n",
    );
    w("task.rs", "//! t\n");
    w(
        "b.rs",
        "//! b\nfn f() { crate::a::g(); }\n// crate::room::y\n",
    );
    w(
        "leaf.rs",
        "//! l\nconst S: &str = \"crate::b::h\";\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    );
    w("room/mod.rs", "//! m\nmod x;\nmod y;\npub use x::X;\n");
    w("room/x.rs", "//! x\nuse super::y::Y;\n");
    w(
        "room/y.rs",
        "//! y\nfn g() { super::X::new(); crate::b::f(); }\n",
    );
    let g = graph(&dir.join("lib.rs"));
    let names = |v: &BTreeSet<Vec<String>>| v.iter().map(|m| name(m)).collect::<Vec<_>>();
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(names(&g[&m("a")]), ["leaf", "room::x", "task"]);
    assert_eq!(names(&g[&m("b")]), ["a"]);
    assert!(
        g[&m("leaf")].is_empty(),
        "strings and tests are not imports"
    );
    assert_eq!(names(&g[&m("room")]), ["room::x"]);
    assert_eq!(names(&g[&m("room::x")]), ["room::y"]);
    assert_eq!(names(&g[&m("room::y")]), ["b", "room"]);
    let mut found: Vec<Vec<String>> = cycles(&g)
        .into_iter()
        .map(|c| {
            let mut n: Vec<String> = c.iter().map(|m| name(m)).collect();
            n.sort();
            n
        })
        .collect();
    found.sort();
    // room -> x -> y -> room (a child through its parent's re-export),
    // and a -> room::x -> room::y -> b -> a.
    assert_eq!(found, [vec!["a", "b", "room", "room::x", "room::y"]]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An embedder that only drives shims builds none of tonic's server side:
/// the API crate's default features take tonic's client alone (the shim
/// asks for the server with the `server` feature).
#[test]
fn the_api_crates_client_builds_no_server() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-p", "mydocker", "-e", "features", "-i", "tonic"])
        .args(["--offline", "--locked"])
        .current_dir(repo())
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(tree.contains("tonic feature \"channel\""), "{tree}");
    for server in ["server", "router"] {
        assert!(
            !tree.contains(&format!("tonic feature \"{server}\"")),
            "{server}: {tree}"
        );
    }
}
