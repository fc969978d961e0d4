//! Tracker: after each turn, asks an LLM judge for the status of every sub-component that can still
//! change, and turns the answers into [`Update`]s for the state machine.
//!
//! Two modes: `per-component` (one judge call per open sub-component per turn, as in the paper) and
//! `batched` (one call per turn that answers every open sub-component).

use crate::prompts;
use futures::future::try_join_all;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, Status, SubComponent, Update};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TrackingMode {
    PerComponent,
    Batched,
}

impl TrackingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingMode::PerComponent => "per-component",
            TrackingMode::Batched => "batched",
        }
    }
}

/// One user message and the agent's visible reply (absent for a closing message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub user: String,
    pub agent: Option<String>,
}

pub const COMPONENT_SCHEMA: &str = "component_status";
pub const TURN_SCHEMA: &str = "turn_status";

fn category_label(cat: Category) -> &'static str {
    match cat {
        Category::UserProfile => "user profile",
        Category::UserPolicy => "user policy",
        Category::TaskObjective => "task objective",
        Category::Requirement => "requirement",
        Category::Preference => "preference",
    }
}

/// Renders exchanges as a plain transcript, numbering turns from `first`.
pub fn transcript(exchanges: &[Exchange], first: usize) -> String {
    if exchanges.is_empty() {
        return "(nothing yet)".into();
    }
    let mut out = String::new();
    for (i, e) in exchanges.iter().enumerate() {
        out.push_str(&format!("Turn {}\nUser: {}\n", first + i, e.user));
        match &e.agent {
            Some(a) => out.push_str(&format!("Agent: {a}\n")),
            None => out.push_str("Agent: (no reply; the user ended the conversation)\n"),
        }
    }
    out.trim_end().to_string()
}

fn status_schema(cat: Category) -> Value {
    let names: Vec<&str> = cat.statuses().iter().map(|s| s.as_str()).collect();
    json!({
        "type": "object",
        "description": format!("category: {}", cat.as_str()),
        "properties": {
            "reason": {"type": "string", "maxLength": 200},
            "status": {"type": "string", "enum": names}
        },
        "required": ["reason", "status"],
        "additionalProperties": false
    })
}

/// One judge answer `{"status", "reason"}`; `None` when the status is missing or unknown.
pub fn parse_status(v: &Value) -> Option<(Status, String)> {
    let status = Status::parse(v.get("status")?.as_str()?)?;
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    Some((status, reason))
}

fn objective_text<'a>(state: &'a GoalState, c: &SubComponent) -> Option<&'a str> {
    c.objective
        .as_ref()
        .and_then(|o| state.get(o))
        .map(|o| o.text.as_str())
}

/// The judge request for one sub-component (per-component mode). The prompt puts the constant
/// instructions and the growing transcript first and the sub-component last, so every judge call of
/// a conversation shares one long prefix (cheap for a local model that reuses its KV cache).
pub fn component_request(
    state: &GoalState,
    c: &SubComponent,
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let prompt = prompts::render(
        "track_component",
        context! {
            transcript => transcript(history, 1),
            category => category_label(c.category),
            text => c.text,
            objective => objective_text(state, c),
            current => c.status.as_str(),
            turn => turn,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(COMPONENT_SCHEMA, status_schema(c.category))
        .with_sampling(sampling.clone())
}

/// The single judge request for all open sub-components (batched mode); same layout as above.
pub fn batched_request(
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let comps: Vec<Value> = open
        .iter()
        .map(|c| {
            json!({"id": c.id, "category": category_label(c.category), "objective": c.objective,
                   "status": c.status.as_str(), "text": c.text})
        })
        .collect();
    let prompt = prompts::render(
        "track_batched",
        context! { transcript => transcript(history, 1), components => comps, turn => turn },
    );
    let mut props = Map::new();
    for c in open {
        props.insert(c.id.clone(), status_schema(c.category));
    }
    let ids: Vec<&str> = open.iter().map(|c| c.id.as_str()).collect();
    let schema = json!({"type": "object", "properties": props, "required": ids, "additionalProperties": false});
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(TURN_SCHEMA, schema)
        .with_sampling(sampling.clone())
}

/// Judges turn `turn` (the last entry of `history`) for every open sub-component of `state`.
/// Settled sub-components are never sent to the judge.
pub async fn judge_turn(
    llm: &Llm,
    ledger: &Ledger,
    mode: TrackingMode,
    sampling: &Sampling,
    state: &GoalState,
    history: &[Exchange],
    turn: u32,
) -> Result<Vec<Update>, LlmError> {
    let open: Vec<&SubComponent> = state.open_components().collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    match mode {
        TrackingMode::PerComponent => {
            let calls = open.iter().map(|c| async move {
                let req = component_request(state, c, history, turn, sampling);
                let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                Ok::<_, LlmError>(parse_status(&v).map(|(status, reason)| Update {
                    id: c.id.clone(),
                    status,
                    reason,
                }))
            });
            Ok(try_join_all(calls).await?.into_iter().flatten().collect())
        }
        TrackingMode::Batched => {
            let req = batched_request(&open, history, turn, sampling);
            let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
            Ok(parse_batched(&v))
        }
    }
}

/// Brings `state` up to date with `history`: judges exchanges `from..` in order, exchange i being
/// turn i + 1. A failure names the turn; `state` then holds the turns before it.
pub async fn track_history(
    llm: &Llm,
    ledger: &Ledger,
    mode: TrackingMode,
    sampling: &Sampling,
    state: &mut GoalState,
    history: &[Exchange],
    from: usize,
) -> Result<(), (u32, LlmError)> {
    for i in from..history.len() {
        let turn = i as u32 + 1;
        let updates = judge_turn(llm, ledger, mode, sampling, state, &history[..=i], turn)
            .await
            .map_err(|e| (turn, e))?;
        state.apply_turn(turn, &updates);
    }
    Ok(())
}

/// A batched judge answer `{"<id>": {"status", "reason"}, ...}`: the updates it proposes, leaving
/// out entries without a known status. Ids are not checked here; the state refuses unknown ones.
pub fn parse_batched(v: &Value) -> Vec<Update> {
    let mut out = Vec::new();
    if let Some(obj) = v.as_object() {
        for (id, ans) in obj {
            if let Some((status, reason)) = parse_status(ans) {
                out.push(Update {
                    id: id.clone(),
                    status,
                    reason,
                });
            }
        }
    }
    out
}

/// Steering data for the `goal-state` simulator mode: every sub-component with status and reason.
pub fn steering_components(state: &GoalState) -> Vec<Value> {
    state
        .components
        .iter()
        .map(|c| {
            json!({"category_label": category_label(c.category), "text": c.text,
                   "status": c.status.as_str(), "reason": c.reason})
        })
        .collect()
}
