//! Decomposer: goal text -> decomposition (and so S0) through one structured model call.

use crate::prompts;
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};
use ugst_state::Decomposition;

/// The name the decomposition schema is sent under.
pub const SCHEMA_NAME: &str = "goal_decomposition";

/// JSON Schema of a decomposition (strict-mode compatible: every key required, no extras).
pub fn schema() -> Value {
    // Bounds keep a small local model from looping: a grammar built from this schema must close.
    let text = json!({"type": "string", "minLength": 1, "maxLength": 400});
    let list = json!({"type": "array", "items": text, "maxItems": 12});
    json!({
        "type": "object",
        "properties": {
            "user_profile": list,
            "user_policy": list,
            "task_objectives": {
                "type": "array",
                "minItems": 1,
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "properties": {"text": text, "requirements": list, "preferences": list},
                    "required": ["text", "requirements", "preferences"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["user_profile", "user_policy", "task_objectives"],
        "additionalProperties": false
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DecomposeError {
    #[error("decomposer model failed: {0}")]
    Llm(#[from] LlmError),
    #[error("the decomposer's answer is not a usable decomposition: {0}")]
    Invalid(String),
}

/// The request sent to decompose `goal`.
pub fn request(goal: &str, sampling: Sampling) -> ChatRequest {
    ChatRequest::new(vec![Message::user(prompts::render(
        "decompose",
        context! { goal => goal },
    ))])
    .with_schema(SCHEMA_NAME, schema())
    .with_sampling(sampling)
}

/// The goal's decomposition: the one its goal line carries (`state`), else the decomposer's.
pub async fn decompose_goal(
    llm: &Llm,
    ledger: &Ledger,
    goal: &crate::goals::Goal,
    sampling: Sampling,
) -> Result<Decomposition, DecomposeError> {
    match &goal.state {
        Some(d) => Ok(d.clone()),
        None => decompose(llm, ledger, &goal.goal, sampling).await,
    }
}

/// Decomposes one goal text and validates the result.
pub async fn decompose(
    llm: &Llm,
    ledger: &Ledger,
    goal: &str,
    sampling: Sampling,
) -> Result<Decomposition, DecomposeError> {
    let v = llm
        .structured(CallRole::Decomposer, ledger, &request(goal, sampling))
        .await?;
    let d: Decomposition =
        serde_json::from_value(v).map_err(|e| DecomposeError::Invalid(e.to_string()))?;
    d.validate()
        .map_err(|e| DecomposeError::Invalid(e.to_string()))?;
    Ok(d)
}
