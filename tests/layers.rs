//! The engine's layers point one way: each top-level module of `src/` may name (`crate::x`) only modules listed
//! before it here, so the crate's module graph has no cycle and the model knows nothing of methods.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first, as the README's "How it works" draws them.
const LAYERS: [&str; 10] = ["device", "rng", "stats", "model", "method", "data", "train", "share", "session", "web"];

/// Every `crate::name` a file or directory tree refers to.
fn crate_references(path: &Path, out: &mut BTreeSet<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            crate_references(&entry.unwrap().path(), out);
        }
        return;
    }
    let text = std::fs::read_to_string(path).unwrap();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(list) => out.extend(top_level_names(list)),
            None => out.extend([identifier(rest)]),
        };
    }
}

fn identifier(text: &str) -> String {
    text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The first name of each item of a `{a::b, c::{d, e}}` use list (the text after its `{`).
fn top_level_names(list: &str) -> Vec<String> {
    let (mut names, mut depth, mut item_start) = (Vec::new(), 0, true);
    for (i, c) in list.char_indices() {
        if item_start && !c.is_whitespace() {
            names.push(identifier(&list[i..]));
            item_start = false;
        }
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            _ => {}
        }
    }
    names
}

#[test]
fn every_module_imports_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let dir = src.join(module);
        let path = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
        assert!(path.exists(), "{} is missing: update LAYERS", path.display());
        let mut names = BTreeSet::new();
        crate_references(&path, &mut names);
        for name in names.iter().filter(|n| *n != module) {
            match LAYERS.iter().position(|l| l == name) {
                Some(target) if target < rank => {}
                Some(_) => wrong.push(format!("{module} imports {name}, a higher layer")),
                None => wrong.push(format!("{module} imports crate::{name}, which is in no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "layer order broken:\n{}", wrong.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let module = name.trim_end_matches(".rs");
        if module != "lib" && module != "bin" {
            assert!(LAYERS.contains(&module), "src/{name} is in no layer of tests/layers.rs");
        }
    }
}

/// The module path of a file under `src/` (`share/link/mod.rs` is `["share", "link"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The paths a file names through `super::` or `crate::`, made absolute (a `{…}` list gives one path per item,
/// up to its own nested list).
fn named_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(['s', 'c']).map(|i| at + i) {
        at = found + 1;
        let before = text[..found].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[found..];
        let (mut base, mut rest) = if let Some(r) = rest.strip_prefix("crate::") {
            (Vec::new(), r)
        } else if rest.starts_with("super::") {
            let mut base = module.to_vec();
            let mut r = rest;
            while let Some(next) = r.strip_prefix("super::") {
                base.pop();
                r = next;
            }
            (base, r)
        } else {
            continue;
        };
        let (tail, after) = path_at(rest);
        base.extend(tail);
        // `…::{` after a path, `{` straight after `super::` or `crate::`.
        rest = after.strip_prefix("::").unwrap_or(after);
        if let Some(list) = rest.strip_prefix('{') {
            for item in list_items(list) {
                let mut path = base.clone();
                path.extend(item);
                out.push(path);
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// The identifiers `a::b::c` at the start of `text`, and the text after them.
fn path_at(text: &str) -> (Vec<String>, &str) {
    let (mut path, mut rest) = (Vec::new(), text);
    loop {
        let name = identifier(rest);
        if name.is_empty() {
            return (path, rest);
        }
        rest = &rest[name.len()..];
        path.push(name);
        match rest.strip_prefix("::") {
            Some(next) if !identifier(next).is_empty() => rest = next,
            _ => return (path, rest),
        }
    }
}

/// The simple paths of a `{a::b, c::{d}, e}` list's items (the text after its `{`): `a::b`, `c`, `e`.
fn list_items(list: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start();
        let (path, after) = path_at(rest);
        rest = after;
        if !path.is_empty() {
            items.push(path);
        }
        // On to the next item at this depth.
        let mut depth = 0;
        let mut next = None;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    next = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        match next {
            Some(i) => rest = &rest[i..],
            None => return items,
        }
    }
}

/// Inside every module, its submodules name one another without a cycle (`prompt` ↔ `ptuning`, `site` ↔
/// `tunable` and `link` ↔ `peft` were such circles): each can be read, and moved, before the ones that use it.
#[test]
fn sibling_modules_import_one_another_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    // parent -> (child -> children it names)
    let mut edges: std::collections::BTreeMap<Vec<String>, std::collections::BTreeMap<String, BTreeSet<String>>> =
        Default::default();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for path in named_paths(&text, &from) {
            // The longest prefix of the path that is a module.
            let Some(to) = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            // An ancestor or a descendant is not a sibling.
            if common == from.len() || common == to.len() {
                continue;
            }
            edges
                .entry(from[..common].to_vec())
                .or_default()
                .entry(from[common].clone())
                .or_default()
                .insert(to[common].clone());
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &edges {
        // Depth-first search for a back edge.
        fn visit<'a>(
            node: &'a str,
            graph: &'a std::collections::BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
            cycles: &mut Vec<String>,
        ) {
            if let Some(at) = stack.iter().position(|n| *n == node) {
                cycles.push(format!("{} -> {node}", stack[at..].join(" -> ")));
                return;
            }
            if !done.insert(node) {
                return;
            }
            stack.push(node);
            for next in graph.get(node).into_iter().flatten() {
                visit(next, graph, stack, done, cycles);
            }
            stack.pop();
        }
        let mut found = Vec::new();
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            visit(node, graph, &mut Vec::new(), &mut done, &mut found);
        }
        let scope = if parent.is_empty() { "crate".to_string() } else { parent.join("::") };
        cycles.extend(found.into_iter().map(|c| format!("in {scope}: {c}")));
    }
    assert!(cycles.is_empty(), "submodules that name one another in a circle:\n{}", cycles.join("\n"));
}
