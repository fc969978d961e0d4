//! A hand-labelled set on disk (`data/tracking-devset/`, `data/tracking-retail/`): where its
//! conversations come from and how they load with their gold decompositions and labels. A set
//! whose conversations are ugst's own keeps them beside the labels in `conversations.jsonl`
//! (`ugst import --format chat-jsonl`); the τ-airline dev set reads gpt-4o's log in place.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ugst::counterfactual::Labelled;
use ugst::model::Exchange;
use ugst_state::{Decomposition, GoalState, Status};

/// Where a set's conversations are read from.
pub struct Source {
    pub file: PathBuf,
    /// `ugst import --format`: `chat-jsonl` or `tau-bench`.
    pub format: &'static str,
    /// The environment stored with the imported run.
    pub env: &'static str,
}

/// The set's own `conversations.jsonl` when it has one, else the τ-bench `log`.
pub fn source(set: &Path, log: &Path) -> Source {
    let own = set.join("conversations.jsonl");
    if own.exists() {
        Source {
            file: own,
            format: "chat-jsonl",
            env: "imported",
        }
    } else {
        Source {
            file: log.to_path_buf(),
            format: "tau-bench",
            env: "tau-airline",
        }
    }
}

/// The set's name: its folder's name.
pub fn name(set: &Path) -> String {
    set.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| set.display().to_string())
}

fn jsonl(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (is --set a labelled set?)", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))
        })
        .collect()
}

/// The labelled conversation ids of `set`, in file order.
pub fn ids(set: &Path) -> Result<Vec<String>> {
    let path = set.join("final_states.jsonl");
    let mut ids: Vec<String> = Vec::new();
    for (i, v) in jsonl(&path)?.iter().enumerate() {
        let id = v["id"]
            .as_str()
            .with_context(|| format!("{}:{}: no \"id\" string", path.display(), i + 1))?;
        if !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// Every labelled conversation of `set`, in the labels' order: exchanges, S0 from the gold
/// decomposition, and each part's gold status with its reason.
pub fn load(set: &Path, log: &Path) -> Result<Vec<Labelled>> {
    let name = name(set);
    let src = source(set, log);
    let imported = match src.format {
        "chat-jsonl" => ugst::import::chat_jsonl(&src.file)?,
        _ => ugst::import::tau_bench(&src.file).with_context(|| {
            format!(
                "{}: the conversations of {name} (use --log)",
                src.file.display()
            )
        })?,
    };
    let dec_path = set.join("decompositions.jsonl");
    let mut decs: BTreeMap<String, Decomposition> = BTreeMap::new();
    for (i, v) in jsonl(&dec_path)?.into_iter().enumerate() {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let d: Decomposition = serde_json::from_value(v["state"].clone())
            .with_context(|| format!("{}:{}: \"state\"", dec_path.display(), i + 1))?;
        decs.insert(id, d);
    }
    let gold_path = set.join("final_states.jsonl");
    let mut out = Vec::new();
    for (i, v) in jsonl(&gold_path)?.into_iter().enumerate() {
        let at = || format!("{}:{}", gold_path.display(), i + 1);
        let id = v["id"]
            .as_str()
            .with_context(|| format!("{}: no \"id\"", at()))?
            .to_string();
        let conv = imported.iter().find(|c| c.goal.id == id).with_context(|| {
            format!(
                "{}: {id} is not among the conversations of {}",
                at(),
                src.file.display()
            )
        })?;
        let d = decs
            .get(&id)
            .with_context(|| format!("{}: {id} has no gold decomposition", dec_path.display()))?;
        let mut gold = BTreeMap::new();
        let statuses = v["statuses"]
            .as_object()
            .with_context(|| format!("{}: no \"statuses\"", at()))?;
        for (part, s) in statuses {
            let status: Status = serde_json::from_value(s.clone())
                .with_context(|| format!("{}: {part}: not a status", at()))?;
            let reason = v["reasons"][part].as_str().unwrap_or_default().to_string();
            gold.insert(part.clone(), (status, reason));
        }
        out.push(Labelled {
            set: name.clone(),
            id,
            history: conv
                .turns
                .iter()
                .map(|t| Exchange {
                    user: t.user.clone(),
                    agent: t.agent.clone(),
                })
                .collect(),
            s0: GoalState::initial(d),
            gold,
        });
    }
    Ok(out)
}
