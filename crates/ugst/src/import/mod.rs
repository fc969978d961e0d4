//! Logs from other harnesses as runs. [`tau2::read`] reads τ²-bench results (see [`tau2`]). [`chat_jsonl`] reads a generic chat log (one
//! `{"id", "goal", "messages", "reward"?, "decomposition"?}` per line, OpenAI-format messages);
//! [`tau_bench`] reads τ-bench v1 results (`run.py`'s JSON
//! array of `{task_id, reward, info, traj, trial}`): the goal is `info.task.instruction`, the
//! OpenAI-format `traj` becomes turns (tool calls and results kept as the agent's messages), the
//! end reason is read from the log (`###STOP###` → the simulator stopped, a transfer to a human →
//! agent transfer, otherwise the step limit), and the task reward is the log's own. Imported
//! conversations carry no goal state yet: `ugst track` decomposes and tracks them like any run.

use crate::error::InputError;
use crate::model::{EndReason, Ending, Goal, RunMeta, TaskOutcome, TurnRecord, STOP};
use crate::store::RunStore;
use serde_json::Value;
use std::path::Path;
use ugst_llm::{FunctionCall, Message, Role, ToolCall};
use ugst_state::GoalState;

mod surrogates;
pub mod tau2;

pub use surrogates::mend;

/// τ-bench's stop token, written by its user simulator.
pub const TAU_STOP: &str = "###STOP###";
/// The tool that hands the user to a human agent.
const TRANSFER: &str = "transfer_to_human_agents";

/// One imported conversation.
#[derive(Debug, Clone)]
pub struct Imported {
    pub goal: Goal,
    pub turns: Vec<TurnRecord>,
    pub end: EndReason,
    pub reward: Option<TaskOutcome>,
    /// Stored as a failed conversation with this reason (a harness failure the log itself marks),
    /// so no rate or pass^k counts it.
    pub failed: Option<String>,
}

/// Reads a τ-bench v1 results file. Every problem is reported as `file:record N: what`, all at
/// once, and nothing is returned then.
pub fn tau_bench(path: &Path) -> Result<Vec<Imported>, InputError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("{name}: cannot read the log: {e}")))?;
    let v: Value = serde_json::from_str(&mend(&text)).map_err(|e| {
        InputError::new(format!(
            "{name}: not JSON ({e}); expected τ-bench's results array"
        ))
    })?;
    let Some(records) = v.as_array() else {
        return Err(InputError::new(format!(
            "{name}: expected a JSON array of {{task_id, reward, info, traj, trial}} records"
        )));
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match record(r) {
            Ok(c) => out.push(c),
            Err(e) => problems.push(format!("{name}:record {i}: {e}")),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &out {
        if !seen.insert(c.goal.id.clone()) {
            problems.push(format!(
                "{name}: task and trial {:?} appear twice; each (task_id, trial) must be unique",
                c.goal.id
            ));
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(format!("{name}: the results array is empty"));
    }
    InputError::all(problems)?;
    Ok(out)
}

/// Reads a generic chat log: one JSON object per line with `id`, `goal` (the user's goal text)
/// and `messages` (OpenAI format: `user` = the simulated user, `assistant` = the agent, `tool`
/// results, `system` ignored), optional `reward` (0–1, the agent's task reward) and optional
/// `decomposition` (then the decomposer is skipped). A user message holding `END_CONVERSATION`
/// or `###STOP###` ends the conversation. Problems are reported as `file:line N: what`, all at
/// once.
pub fn chat_jsonl(path: &Path) -> Result<Vec<Imported>, InputError> {
    use std::io::BufRead;
    let name = path.display().to_string();
    // Read a line at a time: a large log is never held whole (finding 19).
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(format!("{name}: cannot read the log: {e}")))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("{name}:line {}: cannot read: {e}", i + 1));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match chat_line(&line) {
            Ok(c) if !seen.insert(c.goal.id.clone()) => problems.push(format!(
                "{name}:line {}: id {:?} is used twice; ids must be unique",
                i + 1,
                c.goal.id
            )),
            Ok(c) => out.push(c),
            Err(e) => problems.push(format!("{name}:line {}: {e}", i + 1)),
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{name}: no conversations found; write one JSON object per line"
        ));
    }
    InputError::all(problems)?;
    Ok(out)
}

fn chat_line(line: &str) -> Result<Imported, String> {
    let v: Value = serde_json::from_str(&mend(line)).map_err(|e| format!("not JSON: {e}"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or(format!("\"{k}\" is missing or not a non-empty string"))
    };
    let (id, goal_text) = (field("id")?, field("goal")?);
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("\"messages\" is missing or not an array")?
        .iter()
        .enumerate()
        .map(|(j, m)| message(m).map_err(|e| format!("messages[{j}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut goal = Goal::new(id, goal_text);
    if let Some(d) = v.get("decomposition") {
        let d: ugst_state::Decomposition =
            serde_json::from_value(d.clone()).map_err(|e| format!("\"decomposition\": {e}"))?;
        d.validate()
            .map_err(|e| format!("\"decomposition\" is not usable: {e}"))?;
        goal.decomposition = Some(d);
    }
    let reward = match v.get("reward") {
        None | Some(Value::Null) => None,
        Some(r) => {
            let r = r.as_f64().filter(|r| (0.0..=1.0).contains(r));
            Some(r.ok_or("\"reward\" must be a number from 0 to 1")?)
        }
    };
    let (turns, end) = turns(&messages);
    Ok(Imported {
        goal,
        turns,
        end,
        reward: reward.map(|reward| TaskOutcome {
            reward,
            details: Value::Null,
        }),
        failed: None,
    })
}

fn record(r: &Value) -> Result<Imported, String> {
    let task = r
        .get("task_id")
        .and_then(id_of)
        .ok_or("task_id is missing (a number or a string)")?;
    let trial = match r.get("trial") {
        None | Some(Value::Null) => 0,
        Some(t) => t.as_u64().ok_or("trial is not a whole number")?,
    };
    let instruction = r
        .pointer("/info/task/instruction")
        .and_then(Value::as_str)
        .ok_or("info.task.instruction (the user's goal) is missing")?;
    let reward = r
        .get("reward")
        .and_then(Value::as_f64)
        .ok_or("reward is missing or not a number")?;
    let traj = r
        .get("traj")
        .and_then(Value::as_array)
        .ok_or("traj is missing or not an array of messages")?;
    let messages = traj
        .iter()
        .enumerate()
        .map(|(j, m)| message(m).map_err(|e| format!("traj[{j}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let (turns, end) = turns(&messages);
    let mut goal = Goal::new(format!("{task}#{trial}"), instruction);
    goal.trial = Some(trial_number(trial)?);
    Ok(Imported {
        goal,
        turns,
        end,
        reward: Some(TaskOutcome {
            reward,
            details: reward_details(r.pointer("/info/reward_info")),
        }),
        failed: None,
    })
}

/// The log's reward breakdown, kept whole under `log`, with τ-bench's `r_actions` (the final
/// database's hash equals the gold one) read as `db_match`, as ugst's own τ scorer names it.
fn reward_details(info: Option<&Value>) -> Value {
    let mut d = serde_json::json!({"log": info.cloned().unwrap_or(Value::Null)});
    if let Some(r) = info
        .and_then(|i| i.pointer("/info/r_actions"))
        .and_then(Value::as_f64)
    {
        d["db_match"] = Value::Bool((r - 1.0).abs() <= 1e-6);
    }
    d
}

/// One OpenAI-format message (`tool_calls` may be null; a tool result's `name` is dropped).
fn message(m: &Value) -> Result<Message, String> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        other => {
            return Err(format!(
                "role {other:?} is not system, user, assistant or tool"
            ))
        }
    };
    let content = match m.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let tool_calls = tool_calls(m, "/function/name", "/function/arguments")?;
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id: m
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The tool calls of a logged message; `name_at` and `args_at` point to each call's name and
/// arguments (OpenAI: `/function/name`, τ²: `/name`). Arguments given as an object are written
/// out as JSON text, as the OpenAI format carries them.
fn tool_calls(m: &Value, name_at: &str, args_at: &str) -> Result<Vec<ToolCall>, String> {
    let mut out = Vec::new();
    for (k, c) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = c.pointer(name_at).and_then(Value::as_str).ok_or(format!(
            "tool_calls[{k}]{} is missing",
            name_at.replace('/', ".")
        ))?;
        let arguments = match c.pointer(args_at) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "{}".into(),
        };
        out.push(ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.to_string(),
                arguments,
            },
        });
    }
    Ok(out)
}

/// An id a log writes as a number or a string.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The turns of a trajectory and why it ended. Each user message opens a turn; the agent's
/// messages up to the next one are its answer, the last assistant text its visible reply.
fn turns(messages: &[Message]) -> (Vec<TurnRecord>, EndReason) {
    let mut spans: Vec<(String, Vec<Message>)> = Vec::new();
    for m in messages {
        match m.role {
            Role::System => {}
            // A user's own tool call (τ²'s user tools) says nothing to the agent: it stays with
            // the turn it happens in.
            Role::User if m.content_str().trim().is_empty() && !m.tool_calls.is_empty() => {
                if let Some(s) = spans.last_mut() {
                    s.1.push(m.clone());
                }
            }
            Role::User => spans.push((m.content_str().to_string(), Vec::new())),
            _ => {
                if let Some(s) = spans.last_mut() {
                    s.1.push(m.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut end = EndReason::MaxTurns;
    for (user, agent) in spans {
        // Either stop signal ends the conversation: τ-bench's or ugst's own.
        let stop = user.contains(TAU_STOP) || user.contains(STOP);
        let text = user
            .replace(TAU_STOP, "")
            .replace(STOP, "")
            .trim()
            .to_string();
        let reply = agent
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant && !m.content_str().trim().is_empty())
            .map(|m| m.content_str().trim().to_string());
        let transferred = agent
            .iter()
            .any(|m| m.tool_calls.iter().any(|c| c.function.name == TRANSFER));
        if stop {
            end = EndReason::SimulatorStop;
        } else if transferred {
            end = EndReason::AgentTransfer;
        }
        // A stop sent alone ends the conversation without a turn, as in ugst's own runs.
        if stop && text.is_empty() && agent.is_empty() {
            break;
        }
        let index = out.len() as u32 + 1;
        out.push(TurnRecord {
            index,
            user: text,
            agent: if stop && agent.is_empty() {
                None
            } else {
                reply.or(Some(String::new()))
            },
            agent_messages: agent,
            steering: None,
            rejected: Vec::new(),
            reasoning: None,
            thinking: Default::default(),
            state: untracked(index),
        });
        if stop || transferred {
            break;
        }
    }
    (out, end)
}

/// The state of a conversation not tracked yet: no sub-components.
fn untracked(turn: u32) -> GoalState {
    GoalState {
        turn,
        components: Vec::new(),
        ignored: Vec::new(),
    }
}

/// Writes imported conversations as a new run in `out` (refused when it already holds one):
/// every conversation finished, with its turns, end reason and task reward, and no goal state.
pub fn write(out: &Path, meta: &RunMeta, convs: &[Imported]) -> anyhow::Result<RunStore> {
    let goals: Vec<Goal> = convs.iter().map(|c| c.goal.clone()).collect();
    let store = RunStore::create(out, meta, &goals)?;
    for c in convs {
        store.start(&c.goal.id, &untracked(0), &[])?;
        for t in &c.turns {
            store.commit_turn(&c.goal.id, t, &[])?;
        }
        if let Some(why) = &c.failed {
            store.fail(&c.goal.id, why, &[])?;
            continue;
        }
        let ending = Ending {
            end: c.end,
            state: untracked(c.turns.len() as u32),
            reward: c.reward.clone(),
            closing_reasoning: None,
        };
        store.finish(&c.goal.id, &ending, &[])?;
    }
    Ok(store)
}

/// Keeps only the conversations named in `only` (all when it is empty); an id that names none is
/// an error listing what the log holds, so a typo never silently shrinks the run.
pub fn select(convs: Vec<Imported>, only: &[String]) -> Result<Vec<Imported>, InputError> {
    if only.is_empty() {
        return Ok(convs);
    }
    let have: std::collections::HashSet<&str> = convs.iter().map(|c| c.goal.id.as_str()).collect();
    let unknown: Vec<String> = only
        .iter()
        .filter(|id| !have.contains(id.as_str()))
        .map(|id| {
            format!(
                "--only: {id:?} is not a conversation of the log (ids look like {:?})",
                convs.first().map_or("", |c| c.goal.id.as_str())
            )
        })
        .collect();
    InputError::all(unknown)?;
    let keep: std::collections::HashSet<&str> = only.iter().map(String::as_str).collect();
    Ok(convs
        .into_iter()
        .filter(|c| keep.contains(c.goal.id.as_str()))
        .collect())
}

/// Gives conversations the decompositions of a `{"id", "state"}` JSONL file (keyed by
/// conversation id), so tracking skips the decomposer. Lines that do not parse, do not validate
/// or name no imported conversation are errors (`file:line N: …`, all at once).
pub fn attach_decompositions(convs: &mut [Imported], path: &Path) -> Result<(), InputError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
    let mut problems = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |what: String| format!("{name}:line {}: {what}", i + 1);
        let d: crate::model::DecompositionLine = match serde_json::from_str(line) {
            Ok(d) => d,
            Err(e) => {
                problems.push(at(format!("not a {{\"id\", \"state\"}} line: {e}")));
                continue;
            }
        };
        if let Err(e) = d.decomposition.validate() {
            problems.push(at(format!(
                "the decomposition of {:?} is not usable: {e}",
                d.id
            )));
            continue;
        }
        match convs.iter_mut().find(|c| c.goal.id == d.id) {
            Some(c) => c.goal.decomposition = Some(d.decomposition),
            None => problems.push(at(format!("{:?} is not a conversation of the log", d.id))),
        }
    }
    InputError::all(problems)
}

/// A log's trial number as a run stores it, or the error saying it does not fit (it was cut
/// silently to 32 bits: review finding 19).
pub(crate) fn trial_number(trial: u64) -> Result<u32, String> {
    u32::try_from(trial).map_err(|_| format!("trial {trial} is larger than {}", u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_too_large_is_named_not_cut() {
        assert_eq!(trial_number(7), Ok(7));
        assert_eq!(trial_number(u64::from(u32::MAX)), Ok(u32::MAX));
        let e = trial_number(1 << 32).unwrap_err();
        assert!(e.contains("4294967296"), "{e}");
    }

    #[test]
    fn a_chat_line_with_a_lone_surrogate_is_read() {
        let line = r#"{"id": "c1", "goal": "Book a hotel \ud83d.", "messages": [{"role": "user", "content": "hi \ud83d"}, {"role": "assistant", "content": "hello"}]}"#;
        let got = chat_line(line).unwrap();
        assert!(got.goal.goal.contains('\u{fffd}'), "{:?}", got.goal.goal);
    }
}
