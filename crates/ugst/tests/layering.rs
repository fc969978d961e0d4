//! The module layering of crate `ugst`, enforced: every `crate::…` path in a module must point
//! to a module that the table in `docs/architecture.md` ("Layers") allows, so the drawing in the
//! docs and the code cannot drift apart, and no import cycle can come back. The table itself
//! must be acyclic, and the library must not print, parse arguments or name the mock or the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `module → modules it may use`, read from the "Layers" table of docs/architecture.md.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(root().join("../../docs/architecture.md")).unwrap();
    let table = doc
        .split("<!-- layers -->")
        .nth(1)
        .expect("docs/architecture.md has a <!-- layers --> table");
    let mut out = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = |cell: &str| -> Vec<String> {
            cell.split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .filter(|s| !s.is_empty() && s != "–")
                .collect()
        };
        for module in names(cells[1]) {
            out.insert(module, names(cells[2]).into_iter().collect());
        }
    }
    assert!(!out.is_empty(), "the layers table is empty");
    out
}

/// Source files with the top-level module each belongs to (`lib.rs` excluded).
fn sources() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root().join("src")).unwrap();
                let top = rel
                    .components()
                    .next()
                    .unwrap()
                    .as_os_str()
                    .to_string_lossy();
                let top = top.trim_end_matches(".rs").to_string();
                if top != "lib" {
                    out.push((top, p));
                }
            }
        }
    }
    out
}

/// The code of a file: its unit tests and comments left out.
fn code(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.split("#[cfg(test)]").next().unwrap();
    body.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap().to_string()))
        .collect()
}

/// Every `crate::name` a line mentions (`crate::input_err!` is the error module's macro).
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + 7..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let before = rest[..i].chars().last();
        if !matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == '$') {
            out.push(if name == "input_err" {
                "error".into()
            } else {
                name
            });
        }
        rest = after;
    }
    out
}

fn violations() -> Vec<String> {
    let allowed = allowed();
    let mut bad = Vec::new();
    for (module, path) in sources() {
        let Some(may) = allowed.get(&module) else {
            bad.push(format!(
                "module `{module}` ({}) is not in the layers table of docs/architecture.md",
                path.display()
            ));
            continue;
        };
        for (n, line) in code(&path) {
            for target in crate_refs(&line) {
                if target != module && !may.contains(&target) {
                    bad.push(format!(
                        "{}:{n}: `{module}` uses `{target}`, which the layers table does not allow",
                        path.display()
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn every_import_follows_the_layers_table() {
    let bad = violations();
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_layers_table_has_no_cycle() {
    let allowed = allowed();
    // Kahn's algorithm: repeatedly drop modules whose allowed targets are all dropped.
    let mut left: BTreeMap<&String, &BTreeSet<String>> = allowed.iter().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !left.contains_key(d)))
            .map(|(m, _)| *m)
            .collect();
        assert!(
            !ready.is_empty(),
            "the layers table has a cycle among {:?}",
            left.keys()
        );
        for m in ready {
            left.remove(m);
        }
    }
}

#[test]
fn the_library_neither_prints_nor_parses_arguments_nor_names_the_mock() {
    let mut bad = Vec::new();
    for (_, path) in sources() {
        for (n, line) in code(&path) {
            for word in [
                "println!",
                "eprintln!",
                "print!(",
                "eprint!(",
                "clap::",
                "indicatif",
                "ugst_mock",
                "ugst_cli",
            ] {
                if line.contains(word) {
                    bad.push(format!("{}:{n}: {word}", path.display()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the library must not do this:\n{}",
        bad.join("\n")
    );
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for dep in ["ugst-mock", "ugst-cli", "clap", "indicatif"] {
        assert!(!manifest.contains(dep), "crates/ugst depends on {dep}");
    }
}

#[test]
fn a_reference_against_the_table_is_caught() {
    // The checker itself: a line from `store` naming `runner` must count as a violation.
    let allowed = allowed();
    let refs = crate_refs("use crate::runner::run_pending; // crate::simulate in a comment");
    assert_eq!(refs, ["runner", "simulate"]);
    assert!(!allowed["store"].contains("runner"));
    assert_eq!(
        crate_refs("$crate::error::InputError"),
        Vec::<String>::new()
    );
}
