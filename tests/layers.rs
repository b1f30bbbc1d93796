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
