//! τ²-bench (and τ³) results as imported conversations: the single-file layout (one JSON
//! object with `tasks` and `simulations`) and the directory layout (`results.json` with the
//! tasks, one `simulations/<id>.json` per simulation). The goal is the task's `user_scenario`
//! (persona and instructions, written out as τ² shows them to its user simulator); the agent's
//! greeting before the user's first message is not a turn; `termination_reason` gives the end
//! reason, `reward_info.reward` the task reward (the whole `reward_info` is kept); the user's
//! own tool calls are kept with the turn they belong to; `infrastructure_error` runs are stored
//! as failed, so pass^k and every rate leave them out.

use super::{id_of, turns, Imported};
use crate::error::InputError;
use crate::model::{EndReason, Goal, TaskOutcome};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use ugst_llm::{Message, Role};

/// τ²'s words for "the user was handed over" and "the scenario does not cover this".
const TRANSFER: &str = "###TRANSFER###";
const OUT_OF_SCOPE: &str = "###OUT-OF-SCOPE###";

/// Reads τ² results at `path` (a file, or a directory holding `results.json` and
/// `simulations/`). Every problem is reported as `file:simulation N: what`, all at once.
pub fn read(path: &Path) -> Result<Vec<Imported>, InputError> {
    let (meta_path, sims) = if path.is_dir() {
        let meta = path.join("results.json");
        let dir = path.join("simulations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| {
                InputError::new(format!(
                    "{}: cannot read the simulations of the directory layout: {e}",
                    dir.display()
                ))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut sims = Vec::new();
        for f in files {
            sims.push((f.display().to_string(), load(&f)?));
        }
        (meta, Some(sims))
    } else {
        (path.to_path_buf(), None)
    };
    let name = meta_path.display().to_string();
    let mut meta = load(&meta_path)?;
    let tasks: HashMap<String, String> = meta
        .get("tasks")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            InputError::new(format!(
                "{name}: no \"tasks\" list; expected τ²-bench results ({{info, tasks, simulations}})"
            ))
        })?
        .iter()
        .filter_map(|t| Some((id_of(t.get("id")?)?, scenario(t.get("user_scenario")?))))
        .collect();
    let sims: Vec<(String, Value)> = match sims {
        Some(s) => s,
        // Taken out of the document, not cloned: a large log is held once (finding 19).
        None => match meta.get_mut("simulations").map(Value::take) {
            Some(Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("{name}:simulation {i}"), s))
                .collect(),
            _ => return Err(InputError::new(format!("{name}: no \"simulations\" list"))),
        },
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (at, s) in &sims {
        match simulation(s, &tasks) {
            Ok(c) if !seen.insert(c.goal.id.clone()) => problems.push(format!(
                "{at}: task and trial {:?} appear twice; each (task_id, trial) must be unique",
                c.goal.id
            )),
            Ok(c) => out.push(c),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(format!("{name}: the results hold no simulations"));
    }
    InputError::all(problems)?;
    Ok(out)
}

fn load(path: &Path) -> Result<Value, InputError> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
    serde_json::from_str(&super::mend(&text))
        .map_err(|e| InputError::new(format!("{name}: not JSON ({e})")))
}

/// The user's goal as τ² gives it to its user simulator: the persona, then the instructions
/// (a string, or its structured fields one per line).
fn scenario(s: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(p) = s.get("persona").and_then(Value::as_str) {
        parts.push(format!("Persona: {p}"));
    }
    match s.get("instructions") {
        Some(Value::String(t)) => parts.push(t.clone()),
        Some(Value::Object(o)) => {
            for (key, label) in [
                ("domain", "Domain"),
                ("reason_for_call", "Reason for call"),
                ("known_info", "Known info"),
                ("unknown_info", "Unknown info"),
                ("task_instructions", "Task instructions"),
            ] {
                if let Some(v) = o.get(key).and_then(Value::as_str) {
                    parts.push(format!("{label}: {v}"));
                }
            }
        }
        _ => {}
    }
    parts.join("\n")
}

fn simulation(s: &Value, tasks: &HashMap<String, String>) -> Result<Imported, String> {
    let task = s
        .get("task_id")
        .and_then(id_of)
        .ok_or("task_id is missing")?;
    let goal_text = tasks
        .get(&task)
        .filter(|g| !g.trim().is_empty())
        .ok_or_else(|| {
            format!("task {task:?} is not in the results' tasks (or has no user_scenario)")
        })?;
    let trial = match s.get("trial") {
        None | Some(Value::Null) => 0,
        Some(t) => super::trial_number(t.as_u64().ok_or("trial is not a whole number")?)?,
    };
    let raw = s
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages is missing or not a list")?;
    let messages = raw
        .iter()
        .enumerate()
        .map(|(j, m)| message(m).map_err(|e| format!("messages[{j}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    // The end reason comes from τ²'s termination_reason, not from the text.
    let (turns, _) = turns(&messages);
    let reason = s
        .get("termination_reason")
        .and_then(Value::as_str)
        .ok_or("termination_reason is missing")?;
    let said = |w: &str| {
        raw.iter()
            .any(|m| m["role"] == "user" && m["content"].as_str().is_some_and(|c| c.contains(w)))
    };
    let (end, failed) = match reason {
        "user_stop" if said(TRANSFER) => (EndReason::AgentTransfer, None),
        "user_stop" => (EndReason::SimulatorStop, None),
        // τ²'s agent ends an episode only by handing the user over.
        "agent_stop" => (EndReason::AgentTransfer, None),
        "max_steps" | "timeout" | "context_window_exceeded" => (EndReason::MaxTurns, None),
        "infrastructure_error" => (
            EndReason::Error,
            Some("excluded: τ² infrastructure_error (the harness, not the agent, failed)".into()),
        ),
        "too_many_errors" | "agent_error" | "user_error" | "unexpected_error" => {
            (EndReason::Error, None)
        }
        other => return Err(format!("termination_reason {other:?} is not one τ² writes")),
    };
    let info = s.get("reward_info").cloned().unwrap_or(Value::Null);
    let reward = info.get("reward").and_then(Value::as_f64);
    let mut goal = Goal::new(format!("{task}#{trial}"), goal_text.clone());
    goal.trial = Some(trial);
    Ok(Imported {
        goal,
        turns,
        end,
        reward: reward.map(|r| TaskOutcome {
            reward: r,
            details: serde_json::json!({"log": info, "termination_reason": reason,
                "agent_cost": s.get("agent_cost"), "user_cost": s.get("user_cost")}),
        }),
        failed,
    })
}

/// One τ² message: `assistant` (the agent), `user`, `tool` (`id` names the call it answers);
/// tool calls are `{id, name, arguments: {...}}`. τ²'s own stop words are cut from user text
/// (the end reason carries them).
fn message(m: &Value) -> Result<Message, String> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("assistant") => Role::Assistant,
        Some("user") => Role::User,
        Some("tool") => Role::Tool,
        Some("system") => Role::System,
        other => {
            return Err(format!(
                "role {other:?} is not assistant, user, tool or system"
            ))
        }
    };
    let mut content = m.get("content").and_then(Value::as_str).map(str::to_string);
    if role == Role::User {
        content = content.map(|c| {
            c.replace(TRANSFER, super::TAU_STOP)
                .replace(OUT_OF_SCOPE, super::TAU_STOP)
        });
    }
    let tool_calls = super::tool_calls(m, "/name", "/arguments")?;
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id: (role == Role::Tool)
            .then(|| m.get("id").and_then(Value::as_str).map(str::to_string))
            .flatten(),
    })
}
