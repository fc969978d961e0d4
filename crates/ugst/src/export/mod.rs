//! Exports a run: one JSON object per conversation with its goal, every turn with the goal state
//! after it (and the agent's tool calls and observations), the initial and final states, and the
//! environment's task reward where there is one; tracking labels for `ugst agree`; and training
//! data (`training`).

pub mod tau2;
pub mod training;

use crate::model::Conversation;
use serde_json::{json, Value};

pub fn conversation_json(c: &Conversation) -> Value {
    json!({
        "id": c.goal.id,
        "goal": c.goal,
        "status": c.status,
        "end_reason": c.end_reason,
        "error": c.error,
        "initial_state": c.initial_state,
        "turns": c.turns,
        "final_state": c.final_state,
        "task_reward": c.task_reward,
    })
}

/// JSONL text for all conversations.
pub fn jsonl(convs: &[Conversation]) -> String {
    convs
        .iter()
        .map(|c| conversation_json(c).to_string() + "\n")
        .collect()
}

/// Tracking labels, one line per finished turn: `{"id", "turn", "statuses": {component id:
/// status}}` — the format `ugst agree` reads, ready for people to correct by hand.
pub fn statuses(convs: &[Conversation]) -> String {
    let mut out = String::new();
    for c in convs {
        for t in &c.turns {
            let statuses: serde_json::Map<String, Value> = t
                .state
                .components
                .iter()
                .map(|s| (s.id.clone(), json!(s.status.as_str())))
                .collect();
            out.push_str(
                &json!({"id": c.goal.id, "turn": t.index, "statuses": statuses}).to_string(),
            );
            out.push('\n');
        }
    }
    out
}
