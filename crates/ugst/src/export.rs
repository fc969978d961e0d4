//! Exports a run: one JSON object per conversation with its goal, every turn with the goal state
//! after it (and the agent's tool calls and observations), the initial and final states, and the
//! environment's task reward where there is one.

use crate::store::Conversation;
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
