//! User profiles and policies: a curated default set of our own wording ships with ugst (so goal
//! generation works offline), and `ugst goals personas` asks a model for new ones with a seed,
//! dropping duplicates. Both are editable JSONL, one `{"text": ...}` per line.

use crate::error::InputError;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, Message, Sampling};

pub const DEFAULT_PROFILES: &str = include_str!("../../goals/profiles.jsonl");
pub const DEFAULT_POLICIES: &str = include_str!("../../goals/policies.jsonl");

/// Reads `{"text": ...}` lines; every bad line is reported with its number.
pub fn parse(name: &str, text: &str) -> Result<Vec<String>, InputError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => match v.get("text").and_then(Value::as_str) {
                Some(t) if !t.trim().is_empty() => out.push(t.trim().to_string()),
                _ => problems.push(format!(
                    "{name}:{}: needs a non-empty string field \"text\"",
                    i + 1
                )),
            },
            Err(e) => problems.push(format!("{name}:{}: invalid JSON ({e})", i + 1)),
        }
    }
    if !problems.is_empty() {
        return Err(InputError::new(problems.join("\n")));
    }
    if out.is_empty() {
        return Err(InputError::new(format!(
            "{name}: no entries; write one {{\"text\": ...}} per line"
        )));
    }
    Ok(out)
}

pub fn load(path: Option<&Path>, default: &str, what: &str) -> Result<Vec<String>, InputError> {
    match path {
        None => parse(&format!("built-in {what}"), default),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| InputError::new(format!("{}: cannot read: {e}", p.display())))?;
            parse(&p.display().to_string(), &text)
        }
    }
}

pub fn to_jsonl(items: &[String]) -> String {
    items
        .iter()
        .map(|t| json!({"text": t}).to_string() + "\n")
        .collect()
}

/// Lower-cased words: two entries with the same words are duplicates.
fn key(s: &str) -> String {
    crate::text::words(s).join(" ")
}

/// Word-set overlap (Jaccard) of two entries.
fn overlap(a: &str, b: &str) -> f64 {
    let wa: HashSet<&str> = a.split(' ').collect();
    let wb: HashSet<&str> = b.split(' ').collect();
    let inter = wa.intersection(&wb).count() as f64;
    let union = wa.union(&wb).count().max(1) as f64;
    inter / union
}

/// Asks `llm` for `n` new entries of `kind` ("user profile" or "user policy"), in rounds of ten,
/// dropping exact and near duplicates (word overlap ≥ 0.8). The seed goes into the request, so
/// with the cache the same seed gives the same list.
pub async fn generate(
    llm: &Llm,
    ledger: &Ledger,
    kind: &str,
    n: usize,
    seed: u64,
    examples: &[String],
) -> anyhow::Result<Vec<String>> {
    let schema = crate::prompts::schemas::persona_items();
    let mut out: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut round = 0u64;
    while out.len() < n && round < (n as u64 / 5 + 10) {
        let have: Vec<&str> = out.iter().map(String::as_str).collect();
        let prompt = format!(
            "Write 10 new, varied {kind} entries for simulated users of a Cambridge (UK) visitor information desk, one sentence each, in the second person (\"You ...\").\n\
             A user profile says who the user is; a user policy is a rule the user keeps while talking (what they refuse, insist on or never share).\n\
             Examples of the style:\n{}\n\
             Do not repeat any of these:\n{}\n\
             Variation seed: {seed}-{round}.",
            examples.iter().take(5).map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n"),
            if have.is_empty() { "(none yet)".to_string() } else { have.iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n") }
        );
        let req = ChatRequest::new(vec![Message::user(prompt)])
            .with_schema(crate::prompts::schemas::PERSONA_ITEMS, schema.clone())
            .with_sampling(Sampling {
                seed: Some(seed + round),
                ..Default::default()
            });
        let v = llm.structured(CallRole::Judge, ledger, &req).await?;
        for item in v["items"].as_array().into_iter().flatten() {
            let Some(t) = item.as_str().map(str::trim) else {
                continue;
            };
            let k = key(t);
            if k.is_empty() || keys.iter().any(|o| *o == k || overlap(o, &k) >= 0.8) {
                continue;
            }
            keys.push(k);
            out.push(t.to_string());
            if out.len() == n {
                break;
            }
        }
        round += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_fifty_distinct_entries_each() {
        for text in [DEFAULT_PROFILES, DEFAULT_POLICIES] {
            let items = parse("x", text).unwrap();
            assert_eq!(items.len(), 50);
            let keys: HashSet<String> = items.iter().map(|i| key(i)).collect();
            assert_eq!(keys.len(), 50);
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse(
            "p.jsonl",
            "{\"text\": \"ok entry\"}\nnot json\n{\"txt\": 1}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("p.jsonl:2: invalid JSON"), "{e}");
        assert!(
            e.contains("p.jsonl:3: needs a non-empty string field"),
            "{e}"
        );
        assert!(parse("e.jsonl", "\n")
            .unwrap_err()
            .to_string()
            .contains("no entries"));
    }
}
