//! τ tasks: the user's instruction, the gold actions whose replay defines the expected database,
//! and the strings the agent must say. Read from converted JSON, from τ-bench's `tasks_*.py`
//! literal lists, or from τ²-bench's `tasks.json`.

use super::pyliteral;
use crate::EnvError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub kwargs: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task's own id: its list index for τ-bench, its `id` field for τ²-bench.
    pub id: String,
    pub user_id: Option<String>,
    pub instruction: String,
    pub actions: Vec<Action>,
    pub outputs: Vec<String>,
}

fn bad(file: &Path, what: impl std::fmt::Display) -> EnvError {
    EnvError(format!("{}: {what}", file.display()))
}

/// Reads one τ-bench task object (`{annotator, user_id, instruction, actions, outputs}`).
fn tau_task(file: &Path, index: usize, v: &Value) -> Result<Task, EnvError> {
    let at = |what: String| bad(file, format!("task {index}: {what}"));
    let obj = v
        .as_object()
        .ok_or_else(|| at("expected an object (Task)".into()))?;
    let instruction = obj
        .get("instruction")
        .and_then(Value::as_str)
        .ok_or_else(|| at("missing string field 'instruction'".into()))?
        .to_string();
    let actions = obj
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| at("missing list field 'actions'".into()))?
        .iter()
        .enumerate()
        .map(|(j, a)| {
            let name = a.get("name").and_then(Value::as_str);
            // The legacy dict format calls the arguments `arguments`.
            let kwargs = a.get("kwargs").or_else(|| a.get("arguments"));
            match (name, kwargs) {
                (Some(n), Some(k)) if k.is_object() => Ok(Action {
                    name: n.to_string(),
                    kwargs: k.clone(),
                }),
                _ => Err(at(format!(
                    "action {j}: needs a string 'name' and an object 'kwargs'"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = match obj.get("outputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|o| {
                o.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| at("'outputs' must be a list of strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(at("'outputs' must be a list of strings".into())),
    };
    Ok(Task {
        id: index.to_string(),
        user_id: obj
            .get("user_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        instruction,
        actions,
        outputs,
    })
}

fn read_text(file: &Path) -> Result<String, EnvError> {
    let bytes = std::fs::read(file).map_err(|e| bad(file, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        bad(
            file,
            format!(
                "not UTF-8 text (byte {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn parse_json(file: &Path, text: &str) -> Result<Value, EnvError> {
    serde_json::from_str(text).map_err(|e| {
        bad(
            file,
            format!(
                "line {}, column {}: invalid JSON: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// τ-bench tasks from a JSON list (as in `shared/data/tau_bench/*/tasks_*.json`).
pub fn read_tau_json(file: &Path) -> Result<Vec<Task>, EnvError> {
    let v = parse_json(file, &read_text(file)?)?;
    let list = v
        .as_array()
        .ok_or_else(|| bad(file, "expected a JSON list of tasks"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| tau_task(file, i, t))
        .collect()
}

/// τ-bench tasks from a `tasks_<split>.py` module: the list assigned to `TASKS_<SPLIT>`, else
/// `TASKS`, else the only list assignment in the file.
pub fn read_tau_py(file: &Path, split: &str) -> Result<Vec<Task>, EnvError> {
    let text = read_text(file)?;
    let names = pyliteral::assigned_names(&text);
    let preferred = format!("TASKS_{}", split.to_uppercase());
    let name = [preferred.as_str(), "TASKS"]
        .into_iter()
        .find(|n| names.iter().any(|m| m == n))
        .map(str::to_string)
        .or_else(|| (names.len() == 1).then(|| names[0].clone()))
        .ok_or_else(|| {
            bad(
                file,
                format!(
                    "no task list found (looked for `{preferred} = [` or `TASKS = [` at the start of a line)"
                ),
            )
        })?;
    let v = pyliteral::parse_assignment(&text, &name)
        .map_err(|e| bad(file, format!("{e} (in the list `{name}`)")))?;
    let list = v
        .as_array()
        .ok_or_else(|| bad(file, format!("`{name}` is not a list")))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| tau_task(file, i, t))
        .collect()
}

/// The user's instruction of a τ² task: its scenario fields joined in a fixed order.
fn tau2_instruction(scenario: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = scenario.get("persona").and_then(Value::as_str) {
        parts.push(p.to_string());
    }
    match scenario.get("instructions")? {
        Value::String(s) => parts.push(s.clone()),
        Value::Object(m) => {
            for k in [
                "reason_for_call",
                "known_info",
                "unknown_info",
                "task_instructions",
            ] {
                if let Some(s) = m.get(k).and_then(Value::as_str) {
                    if !s.trim().is_empty() {
                        parts.push(s.trim().to_string());
                    }
                }
            }
        }
        _ => return None,
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// τ²-bench tasks from `tasks.json`.
pub fn read_tau2(file: &Path) -> Result<Vec<Task>, EnvError> {
    let v = parse_json(file, &read_text(file)?)?;
    let list = v
        .as_array()
        .ok_or_else(|| bad(file, "expected a JSON list of tasks"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let at = |what: &str| bad(file, format!("task {i}: {what}"));
            let id = match t.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(at("missing 'id'")),
            };
            let instruction = t
                .get("user_scenario")
                .and_then(tau2_instruction)
                .ok_or_else(|| at("missing 'user_scenario.instructions'"))?;
            let criteria = t.get("evaluation_criteria").filter(|c| !c.is_null());
            let actions = criteria
                .and_then(|c| c.get("actions"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|a| {
                            Ok(Action {
                                name: a
                                    .get("name")
                                    .and_then(Value::as_str)
                                    .ok_or_else(|| at("an action lacks 'name'"))?
                                    .to_string(),
                                kwargs: a
                                    .get("arguments")
                                    .filter(|v| v.is_object())
                                    .cloned()
                                    .ok_or_else(|| at("an action lacks object 'arguments'"))?,
                            })
                        })
                        .collect::<Result<Vec<_>, EnvError>>()
                })
                .transpose()?
                .unwrap_or_default();
            let outputs = criteria
                .and_then(|c| c.get("communicate_info"))
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|o| o.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Task {
                id,
                user_id: None,
                instruction,
                actions,
                outputs,
            })
        })
        .collect()
}
