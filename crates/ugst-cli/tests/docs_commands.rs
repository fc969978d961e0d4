//! The docs cannot drift from the CLI: every `ugst …` command written in README.md and docs/*.md
//! (in code blocks and in inline code) names subcommands that exist and flags that the named
//! subcommand accepts, as clap defines them; and every example config under examples/ loads.

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use ugst_cli::args::Cli;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The long flags (and their aliases) a command accepts, with its ancestors' global flags.
fn flags_of(cmd: &clap::Command, globals: &[String]) -> Vec<String> {
    let mut out: Vec<String> = globals.to_vec();
    for a in cmd.get_arguments() {
        out.extend(
            a.get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(String::from),
        );
        out.extend(a.get_all_aliases().into_iter().flatten().map(String::from));
    }
    out.extend(["help".into(), "version".into()]);
    out
}

/// What is wrong with one written command line (the text after `ugst`), if anything.
fn check_line(root: &clap::Command, line: &str) -> Vec<String> {
    let globals: Vec<String> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(String::from))
        .collect();
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut cmds: Vec<&clap::Command> = vec![root];
    let mut path = vec!["ugst".to_string()];
    let mut rest = &tokens[..];
    // The subcommand path: words naming a subcommand of the one before (`a|b` names each).
    while let Some(word) = rest.first() {
        let names: Vec<&str> = word
            .trim_end_matches(['`', ','])
            .split(['|', '\\'])
            .filter(|w| !w.is_empty())
            .collect();
        let next: Vec<&clap::Command> = names
            .iter()
            .filter_map(|n| cmds.last().unwrap().find_subcommand(n))
            .collect();
        // clap's own `help` subcommand is not in the tree before it is built.
        if next.is_empty() && names == ["help"] {
            path.push("help".into());
            rest = &rest[1..];
            break;
        }
        if next.is_empty() {
            break;
        }
        path.push(word.to_string());
        rest = &rest[1..];
        // Alternatives share the check: their flags together.
        if next.len() == 1 {
            cmds.push(next[0]);
        } else {
            let mut union = next[0].clone();
            for c in &next[1..] {
                for a in c.get_arguments() {
                    if union.get_arguments().all(|b| b.get_id() != a.get_id()) {
                        union = union.arg(a.clone());
                    }
                }
            }
            cmds.push(Box::leak(Box::new(union)));
        }
    }
    let here = *cmds.last().unwrap();
    let mut errors = Vec::new();
    if path.len() == 1 && !rest.is_empty() && !rest[0].starts_with('-') {
        let word = rest[0].trim_matches(|c: char| !c.is_alphanumeric());
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            errors.push(format!("`ugst {word}`: no such command"));
        }
        return errors;
    }
    // `ugst serve … --flag`: a flag of any of the command's subcommands.
    let mut accepted = flags_of(here, &globals);
    for sub in here.get_subcommands() {
        accepted.extend(flags_of(sub, &globals));
    }
    for t in rest {
        for flag in t.split(['[', ']', '(', ')', '|', '`', ',', ';']) {
            let Some(name) = flag.strip_prefix("--") else {
                continue;
            };
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if name.is_empty() || accepted.contains(&name) {
                continue;
            }
            errors.push(format!("`{}`: no flag --{name}", path.join(" ")));
        }
    }
    errors
}

/// Every `ugst …` command in a markdown text: lines of code blocks and inline code spans, from
/// `ugst`, `$U` or `./target/release/ugst` to the end of the line or span.
fn commands_in(text: &str) -> Vec<String> {
    let mut snippets = Vec::new();
    let mut prose = String::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            prose.push('\n');
            continue;
        }
        if in_block {
            snippets.push(line.split(" #").next().unwrap_or("").to_string());
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    // Inline code may wrap: spans are paired over the whole prose, not per line.
    snippets.extend(
        prose
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.replace('\n', " ")),
    );
    let mut out = Vec::new();
    for s in snippets {
        for start in ["./target/release/ugst ", "$U ", "ugst "] {
            let mut at = 0;
            while let Some(i) = s[at..].find(start) {
                let begin = at + i;
                let before = s[..begin].chars().last();
                at = begin + start.len();
                // A word inside another (`ugst-cli`) or a flag's value (`-p ugst`) is no command.
                let previous = s[..begin].split_whitespace().last().unwrap_or("");
                if before.is_some_and(|c| c.is_alphanumeric() || "/-_.".contains(c))
                    || previous.starts_with('-')
                {
                    continue;
                }
                // Up to the end of the command: `&&`, `;` or a pipe ends it.
                let line = &s[at..];
                let end = ["&&", ";", " | "]
                    .iter()
                    .filter_map(|sep| line.find(sep))
                    .min();
                out.push(line[..end.unwrap_or(line.len())].to_string());
            }
        }
    }
    out
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn check_file(root: &clap::Command, path: &Path, text: &str) -> (usize, Vec<String>) {
    let cmds = commands_in(text);
    let errors = cmds
        .iter()
        .flat_map(|c| check_line(root, c))
        .map(|e| format!("{}: {e}", path.display()))
        .collect();
    (cmds.len(), errors)
}

#[test]
fn every_documented_command_parses() {
    let root = Cli::command();
    let mut total = 0;
    let mut errors = Vec::new();
    for f in markdown_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let (n, e) = check_file(&root, f.strip_prefix(repo()).unwrap_or(&f), &text);
        total += n;
        errors.extend(e);
    }
    assert!(
        total > 100,
        "only {total} commands found in the docs: is the reader broken?"
    );
    assert!(
        errors.is_empty(),
        "{} command(s) in the docs do not parse:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn a_flag_or_command_that_does_not_exist_is_caught() {
    let root = Cli::command();
    let doc = "Run it:\n\n```bash\n$U run --goals g.jsonl --no-such-flag 3 --out r   # comment --ignored\n```\n\
               and `ugst serve … [--api-key-env VAR] [--made-up]`, `ugst rn --out x`, `ugst eval RUN --json`.\n";
    let (n, errors) = check_file(&root, Path::new("doc.md"), doc);
    assert_eq!(n, 4);
    assert_eq!(
        errors,
        [
            "doc.md: `ugst run`: no flag --no-such-flag",
            "doc.md: `ugst serve`: no flag --made-up",
            "doc.md: `ugst rn`: no such command",
        ]
    );
}

#[test]
fn the_example_configs_load() {
    for name in ["embedded.toml", "server.toml", "openai.toml"] {
        let p = repo().join("examples").join(name);
        ugst::config::Config::load(&p).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
    }
}
