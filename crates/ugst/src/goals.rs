//! Goal files: JSONL, one goal per line. Every problem is reported as `file:line: what is wrong`,
//! all at once, before any work starts.

use crate::error::InputError;
pub use crate::model::Goal;
use std::collections::HashMap;
use std::path::Path;

/// The built-in demo goals (20 across hotel, restaurant, train, airline, retail), as JSONL.
pub const DEMO_GOALS: &str = include_str!("../goals/demo.jsonl");

/// The built-in demo goals.
pub fn demo_goals() -> Vec<Goal> {
    parse_goals("built-in demo goals", DEMO_GOALS.as_bytes()).expect("built-in goals parse")
}

/// `n` goals cycled from the demo set, with unique ids.
pub fn synthetic_goals(n: usize) -> Vec<Goal> {
    let base = demo_goals();
    (0..n)
        .map(|i| {
            let mut g = base[i % base.len()].clone();
            g.id = format!("{}#{i}", g.id);
            g
        })
        .collect()
}

/// Lines longer than this are refused (a goal is prose, not a data dump).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads and checks a goal file. On any problem nothing is returned and the error lists each
/// offending line.
pub fn read_goals(path: &Path) -> Result<Vec<Goal>, InputError> {
    let bytes = std::fs::read(path).map_err(|e| {
        InputError::new(format!(
            "{}: cannot read the goal file: {e}",
            path.display()
        ))
    })?;
    parse_goals(&path.display().to_string(), &bytes)
}

/// Parses goal-file bytes; `name` is used in messages.
pub fn parse_goals(name: &str, bytes: &[u8]) -> Result<Vec<Goal>, InputError> {
    let mut goals = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE_BYTES {
            problems.push(format!(
                "{name}:{line_no}: the line is {} bytes long (limit {MAX_LINE_BYTES}); put one goal per line",
                raw.len()
            ));
            continue;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            problems.push(format!(
                "{name}:{line_no}: the line is not valid UTF-8; save the file as UTF-8"
            ));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(g) => {
                if let Some(first) = seen.get(&g.id) {
                    problems.push(format!(
                        "{name}:{line_no}: duplicate id {:?} (first used on line {first}); ids must be unique",
                        g.id
                    ));
                } else {
                    seen.insert(g.id.clone(), line_no);
                    goals.push(g);
                }
            }
            Err(e) => problems.push(format!("{name}:{line_no}: {e}")),
        }
    }
    if problems.is_empty() && goals.is_empty() {
        problems.push(format!(
            "{name}: no goals found; write one JSON object per line, e.g. {{\"id\": \"g1\", \"goal\": \"Book a table for two\"}}"
        ));
    }
    InputError::all(problems)?;
    Ok(goals)
}

fn parse_line(line: &str) -> Result<Goal, String> {
    // serde would also read a struct from a JSON array; a goal must be an object.
    if line.trim_start().starts_with('[') {
        return Err(
            "the line is not a JSON object; write {\"id\": string, \"goal\": string}".into(),
        );
    }
    let g: Goal = serde_json::from_str(line).map_err(|e| {
        let hint = if e.is_syntax() || e.is_eof() {
            "; each line must be one complete JSON object"
        } else {
            "; expected {\"id\": string, \"goal\": string} with optional \"max_turns\", \"domain\", \"decomposition\", \"task\""
        };
        format!("{e}{hint}")
    })?;
    if g.id.trim().is_empty() {
        return Err("\"id\" is empty; give every goal a unique id".into());
    }
    if g.goal.trim().is_empty() {
        return Err(format!(
            "goal {:?}: \"goal\" is empty; write the user's goal as text",
            g.id
        ));
    }
    if g.max_turns == Some(0) {
        return Err(format!("goal {:?}: \"max_turns\" must be at least 1", g.id));
    }
    if let Some(d) = &g.decomposition {
        d.validate().map_err(|e| {
            format!(
                "goal {:?}: \"decomposition\" (or \"state\") is not a usable decomposition: {e}",
                g.id
            )
        })?;
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file_parses() {
        let s = "{\"id\":\"a\",\"goal\":\"Book a hotel\"}\n\n{\"id\":\"b\",\"goal\":\"x\",\"max_turns\":3,\"domain\":\"hotel\",\
                 \"state\":{\"user_profile\":[],\"user_policy\":[],\"task_objectives\":[{\"text\":\"x\",\"requirements\":[],\"preferences\":[]}]}}\r\n";
        let g = parse_goals("g.jsonl", s.as_bytes()).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].max_turns, Some(3));
        assert!(g[1].decomposition.is_some());
    }

    #[test]
    fn every_bad_line_is_named() {
        let s = b"{\"id\":\"a\",\"goal\":\"ok\"}\n{\"id\":\"a\",\"goal\":\"dup\"}\nnot json\n{\"id\":\"c\"}\n{\"id\":3,\"goal\":\"x\"}\n\xff\xfe\n{\"id\":\"e\",\"goal\":\"x\",\"colour\":1}\n{\"id\":\"f\",\"goal\":\"x\",\"state\":{\"task_objectives\":[]}}\n";
        let e = parse_goals("g.jsonl", s).unwrap_err().0;
        for needle in [
            "g.jsonl:2: duplicate id \"a\" (first used on line 1)",
            "g.jsonl:3: expected ident",
            "g.jsonl:4: missing field `goal`",
            "g.jsonl:5: invalid type",
            "g.jsonl:6: the line is not valid UTF-8",
            "g.jsonl:7: unknown field `colour`",
            "g.jsonl:8: goal \"f\": \"decomposition\" (or \"state\") is not a usable decomposition",
        ] {
            assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
        }
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(parse_goals("e.jsonl", b"\n \n")
            .unwrap_err()
            .0
            .contains("no goals found"));
    }
}
