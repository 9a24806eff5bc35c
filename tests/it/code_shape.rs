//! The shape of the library code (README "Code map and invariants",
//! aesthetics 3): in `planner/`, `state/`, `runner/`, `providers/` and
//! `schemas/`, no file is over 600 lines and no function over 80 (test
//! modules excepted), and the files of a crate import each other without
//! circles (`crate::`, `super::` and `self::` paths, use-trees expanded), so
//! every crate reads bottom-up. A finding names the file, the line and the
//! numbers; the fix is to split, not to raise the limit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::harness::root;

/// Directories whose `src/` trees are checked.
const CHECKED: &[&str] = &["planner", "state", "runner", "providers", "schemas"];
/// Most lines in the non-test part of a file.
const MAX_FILE_LINES: usize = 600;
/// Most lines of one function, signature to closing brace.
const MAX_FN_LINES: usize = 80;

/// One source file of a crate: its module path and its code with literals
/// and comments blanked and test modules removed.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

/// Every checked crate (by its `src/` directory) with its sources.
fn crates() -> BTreeMap<PathBuf, Vec<Source>> {
    let mut out = BTreeMap::new();
    for dir in CHECKED {
        for src in src_dirs(&root().join(dir)) {
            let mut files = Vec::new();
            collect_rs(&src, &mut files);
            let sources = files
                .into_iter()
                .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
                .map(|f| read_source(&src, f))
                .collect();
            out.insert(src, sources);
        }
    }
    out
}

/// The `src/` directories under `dir` (crates may nest: `providers/aws/src`).
fn src_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if !path.is_dir() || name == "target" || name == "fuzz" {
            continue;
        }
        if name == "src" && (path.join("lib.rs").exists() || path.join("main.rs").exists()) {
            out.push(path);
        } else if name != "src" && name != "tests" && name != "benches" {
            out.extend(src_dirs(&path));
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn read_source(src: &Path, path: PathBuf) -> Source {
    let text = std::fs::read_to_string(&path).expect("readable source");
    let rel = path.strip_prefix(src).expect("under src");
    let mut module: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        module.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        module.pop();
    }
    Source {
        path,
        module,
        code: without_test_modules(&blank_literals(&text)),
    }
}

/// `text` with the contents of comments, strings and char literals replaced
/// by spaces (newlines kept), so braces and paths in them are not code.
fn blank_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let end = literal_end(&chars, i);
        if end > i {
            out.extend(
                chars[i..end]
                    .iter()
                    .map(|&c| if c == '\n' { c } else { ' ' }),
            );
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Where a comment or literal starting at `i` ends (`i` when none starts).
fn literal_end(c: &[char], i: usize) -> usize {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    match at(i) {
        '/' if at(i + 1) == '/' => (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len()),
        '/' if at(i + 1) == '*' => block_comment_end(c, i),
        '"' => string_end(c, i + 1),
        'r' if !ident_before && (at(i + 1) == '"' || at(i + 1) == '#') => raw_string_end(c, i + 1),
        'b' if !ident_before && at(i + 1) == 'r' => raw_string_end(c, i + 2),
        '\'' if at(i + 1) == '\\' => (i + 2..c.len())
            .find(|&k| c[k] == '\'')
            .map_or(c.len(), |k| k + 1),
        '\'' if at(i + 2) == '\'' => i + 3,
        _ => i,
    }
}

fn block_comment_end(c: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0usize, start);
    while k + 1 < c.len() {
        match (c[k], c[k + 1]) {
            ('/', '*') => (depth, k) = (depth + 1, k + 2),
            ('*', '/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    c.len()
}

fn string_end(c: &[char], mut k: usize) -> usize {
    while k < c.len() {
        match c[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    c.len()
}

/// After `r` at `k`: `#`* `"` ... `"` `#`*; not a raw string (an identifier
/// like `r#type`) ends where it started.
fn raw_string_end(c: &[char], k: usize) -> usize {
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    if c.get(k + hashes) != Some(&'"') {
        return k - 1;
    }
    let close: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    (k + hashes + 1..c.len())
        .find(|&j| c[j..].starts_with(&close))
        .map_or(c.len(), |j| j + close.len())
}

/// `code` without `#[cfg(test)]` items (the attribute's lines are blanked
/// up to the end of the item: its matching `}` or its `;`).
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let end = item_end(rest).map_or(out.len(), |e| at + e);
        let blank: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { c } else { ' ' })
            .collect();
        out.replace_range(at..end, &blank);
    }
    out
}

/// The byte offset just past the item that starts `text` (after its
/// attribute): the `}` closing its first `{`, or a `;` before any `{`.
fn item_end(text: &str) -> Option<usize> {
    let body = text.find(']')? + 1;
    let mut depth = 0usize;
    for (k, ch) in text[body..].char_indices() {
        match ch {
            ';' if depth == 0 => return Some(body + k + 1),
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(body + k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `(first line, lines, signature)` of every function with a body.
fn functions(code: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !starts_fn(lines[i]) {
            i += 1;
            continue;
        }
        match body_end(&lines, i) {
            Some(end) => {
                out.push((i + 1, end - i + 1, lines[i].trim().to_string()));
                i = end + 1;
            }
            None => i += 1,
        }
    }
    out
}

fn starts_fn(line: &str) -> bool {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "fn" => return words.peek().is_some(),
            "async" | "const" | "unsafe" | "extern" | "\"C\"" | "default" => {}
            w if w == "pub" || w.starts_with("pub(") => {}
            _ => return false,
        }
    }
    false
}

/// The line of the `}` closing the function starting at `start`, or `None`
/// for a declaration without a body.
fn body_end(lines: &[&str], start: usize) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    for (k, line) in lines.iter().enumerate().skip(start) {
        for ch in line.chars() {
            match ch {
                '{' => (depth, opened) = (depth + 1, true),
                '}' => depth -= 1,
                ';' if !opened && depth == 0 => return None,
                _ => {}
            }
            if opened && depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// The modules a source refers to through `crate::`, `super::` and `self::`
/// paths, as the longest known module prefix, itself and its ancestors and
/// descendants left out.
fn imports(source: &Source, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for (anchor, path) in paths(&source.code) {
        let mut full = match anchor {
            "crate" => Vec::new(),
            "super" => source.module[..source.module.len().saturating_sub(1)].to_vec(),
            _ => source.module.clone(),
        };
        full.extend(path);
        let target = (1..=full.len())
            .rev()
            .map(|k| full[..k].to_vec())
            .find(|m| known.contains(m));
        if let Some(t) = target
            && !t.starts_with(&source.module)
            && !source.module.starts_with(&t)
        {
            out.insert(t);
        }
    }
    out
}

/// Every `crate::a::b`, `super::{a, b::c}` path in `code`, use-trees
/// expanded: `(anchor, segments)`.
fn paths(code: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for anchor in ["crate", "super", "self"] {
        let needle = format!("{anchor}::");
        let mut from = 0;
        while let Some(k) = code[from..].find(&needle) {
            let at = from + k;
            from = at + needle.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for p in use_tree(&code[from..]) {
                out.push((anchor, p));
            }
        }
    }
    out
}

/// The paths of the use-tree at the start of `text` (`a::b`, `{a, b::c}`).
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let ident: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() {
        let rest = &text[ident.len()..];
        let tails = match rest.strip_prefix("::") {
            Some(r) => use_tree(r),
            None => vec![Vec::new()],
        };
        return tails
            .into_iter()
            .map(|t| std::iter::once(ident.clone()).chain(t).collect())
            .collect();
    }
    let Some(group) = text.strip_prefix('{') else {
        return vec![Vec::new()];
    };
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (k, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.extend(use_tree(group[start..k].trim_start()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.extend(use_tree(group[start..k].trim_start()));
                start = k + 1;
            }
            _ => {}
        }
    }
    out
}

/// The import circles (strongly connected components of more than one
/// file) of one crate.
fn circles(sources: &[Source]) -> Vec<Vec<String>> {
    let known: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = sources
        .iter()
        .filter(|s| !s.module.is_empty())
        .map(|s| (s.module.clone(), imports(s, &known)))
        .collect();
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<_, _> = edges.keys().map(|m| (m.clone(), reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (m, r) in &reachable {
        let component: Vec<String> = reachable
            .iter()
            .filter(|(o, ro)| r.contains(*o) && ro.contains(m))
            .map(|(o, _)| o.join("::"))
            .collect();
        if component.len() > 1 && !out.contains(&component) {
            out.push(component);
        }
    }
    out
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn no_library_file_is_over_600_lines() {
    let mut over = Vec::new();
    for source in crates().values().flatten() {
        let lines = source.code.trim_end().lines().count();
        if lines > MAX_FILE_LINES {
            over.push(format!("{}: {lines} lines", shown(&source.path)));
        }
    }
    assert!(
        over.is_empty(),
        "files over {MAX_FILE_LINES} lines (split them):\n{}",
        over.join("\n")
    );
}

#[test]
fn no_library_function_is_over_80_lines() {
    let mut over = Vec::new();
    for source in crates().values().flatten() {
        for (line, len, sig) in functions(&source.code) {
            if len > MAX_FN_LINES {
                over.push(format!(
                    "{}:{line}: {len} lines: {sig}",
                    shown(&source.path)
                ));
            }
        }
    }
    assert!(
        over.is_empty(),
        "functions over {MAX_FN_LINES} lines (name their steps):\n{}",
        over.join("\n")
    );
}

#[test]
fn the_files_of_a_crate_import_each_other_without_circles() {
    let mut found = Vec::new();
    for (src, sources) in crates() {
        for circle in circles(&sources) {
            found.push(format!("{}: {}", shown(&src), circle.join(" <-> ")));
        }
    }
    assert!(
        found.is_empty(),
        "import circles between files (move the shared item down):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    let code = blank_literals(
        "fn a() {\n    let s = \"}\"; // }\n    let c = '}';\n    b::<'static>();\n}\n",
    );
    assert_eq!(functions(&code), vec![(1, 5, "fn a() {".to_string())]);
    let tree = use_tree("{a::{b, c}, d};");
    assert_eq!(tree, vec![vec!["a", "b"], vec!["a", "c"], vec!["d"]]);
    let m = |p: &str, code: &str| Source {
        path: PathBuf::from(p),
        module: p.split("::").map(String::from).collect(),
        code: code.into(),
    };
    let pair = [
        m("x", "use crate::y::Thing;"),
        m("y", "use super::{x::Other};"),
    ];
    assert_eq!(circles(&pair), vec![vec!["x".to_string(), "y".to_string()]]);
    let chain = [m("x", "use crate::y::Thing;"), m("y", "")];
    assert!(circles(&chain).is_empty());
    let cut = without_test_modules("fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\n");
    assert_eq!(cut.trim_end().lines().count(), 1);
    assert!(!cut.contains("fn b"));
    let whole = crates();
    assert!(
        whole.keys().any(|k| k.ends_with("planner/core/src")),
        "{:?}",
        whole.keys()
    );
    assert!(whole.keys().any(|k| k.ends_with("providers/aws/src")));
}
