//! The layer map of `lib.rs`, checked against the sources: every `crate::<module>`
//! path outside comments in a top-level module's files names a module of a lower
//! layer.

use std::collections::BTreeMap;
use std::path::Path;

/// The layer of each top-level module, read from the table in `lib.rs`'s docs.
fn layer_map(lib: &str) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(layer), Some(modules)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let Ok(layer) = layer.parse::<usize>() else {
            continue;
        };
        for m in modules.split(',') {
            map.insert(m.trim().to_owned(), layer);
        }
    }
    map
}

/// `crate::<name>` paths in `code` (comments and string literals of doc links skipped
/// by ignoring comment lines).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let mut rest = t;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_upward_or_sideways() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = layer_map(&lib);
    assert!(
        layers.len() >= 15,
        "layer table not found in lib.rs: {layers:?}"
    );
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if matches!(top.as_str(), "lib" | "main" | "layers") {
            continue;
        }
        let Some(&own) = layers.get(&top) else {
            problems.push(format!(
                "{}: module `{top}` is not in the layer table",
                rel.display()
            ));
            continue;
        };
        let code = std::fs::read_to_string(&f).unwrap();
        for used in crate_paths(&code) {
            if used == top {
                continue;
            }
            match layers.get(&used) {
                Some(&l) if l < own => {}
                Some(&l) => problems.push(format!(
                    "{}: `{top}` (layer {own}) uses `crate::{used}` (layer {l})",
                    rel.display()
                )),
                None => problems.push(format!(
                    "{}: `crate::{used}` is not in the layer table",
                    rel.display()
                )),
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let layers = layer_map("//! | 0 | a, b |\n//! | 1 | c |\n");
    assert_eq!(layers.get("c"), Some(&1));
    assert_eq!(
        crate_paths("use crate::c::X;\n// crate::d in a comment\nlet x = crate::b::f();"),
        ["c", "b"]
    );
}
