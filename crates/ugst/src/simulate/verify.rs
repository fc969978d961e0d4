//! The verifier (`--verify[=K]`): before a simulator draft is sent, a judge checks it as if it
//! were sent — does it contradict a profile fact, a policy or a preference, and would it end the
//! conversation while objectives are still open, turns remain and the agent has not blocked them?
//! A rejected draft goes back to the simulator with the judge's reason, up to K times.

use super::user::UserTurn;
use crate::model::transcript::transcript;
use crate::model::Exchange;
use crate::prompts::{self, schemas};
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, Status};

/// The verifier's decision on one draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject(String),
}

/// The judge request for `draft` as turn `turn` after `history`.
pub fn request(
    state: &GoalState,
    history: &[Exchange],
    draft: &UserTurn,
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let checked: Vec<Value> = state
        .components
        .iter()
        .filter(|c| {
            matches!(
                c.category,
                Category::UserProfile | Category::UserPolicy | Category::Preference
            )
        })
        .map(|c| json!({"id": c.id, "category": c.category.as_str(), "text": c.text}))
        .collect();
    let open: Vec<Value> = state
        .components
        .iter()
        .filter(|c| c.category == Category::TaskObjective && c.status == Status::Incomplete)
        .map(|c| json!({"id": c.id, "text": c.text}))
        .collect();
    let ids: Vec<String> = checked
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    let prompt = prompts::render(
        "verify_turn",
        context! {
            transcript => transcript(history, 1),
            draft => if draft.text.is_empty() { "(no words; only the signal that ends the conversation)" } else { draft.text.as_str() },
            stop => draft.stop,
            components => checked,
            open => open,
            turn => turn,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::VERIFY_TURN, schemas::verify_turn(&ids))
        .with_sampling(sampling.clone())
}

/// A draft and where it would go.
pub struct Draft<'a> {
    pub user: &'a UserTurn,
    /// The turn it would be.
    pub turn: u32,
    /// Turns left, this one included.
    pub turns_left: u32,
}

/// Judges one draft. Contradictions count for profile and policy parts still ALIGNED and for any
/// preference; ending counts when an objective is INCOMPLETE, more than this turn remains and the
/// agent has not blocked the open objectives.
pub async fn check(
    llm: &Llm,
    ledger: &Ledger,
    sampling: &Sampling,
    state: &GoalState,
    history: &[Exchange],
    d: Draft<'_>,
) -> Result<Verdict, LlmError> {
    let (draft, turns_left) = (d.user, d.turns_left);
    let v = llm
        .structured(
            CallRole::Verifier,
            ledger,
            &request(state, history, draft, d.turn, sampling),
        )
        .await?;
    let mut reasons = Vec::new();
    for item in v["violations"].as_array().into_iter().flatten() {
        let id = item["id"].as_str().unwrap_or("");
        let Some(c) = state.get(id) else { continue };
        let counts = match c.category {
            Category::UserProfile | Category::UserPolicy => c.status == Status::Aligned,
            Category::Preference => true,
            _ => false,
        };
        if counts {
            let why = item["reason"].as_str().unwrap_or("").trim();
            reasons.push(format!(
                "it contradicts the {} \"{}\" ({why})",
                c.category.as_str().replace('_', " "),
                c.text
            ));
        }
    }
    let ends = draft.stop || v["ends_conversation"].as_bool().unwrap_or(false);
    let open = state
        .components
        .iter()
        .any(|c| c.category == Category::TaskObjective && c.status == Status::Incomplete);
    if ends && open && turns_left > 1 && !v["agent_blocked"].as_bool().unwrap_or(false) {
        reasons.push(
            "it ends the conversation while task objectives are still incomplete and turns remain"
                .into(),
        );
    }
    Ok(if reasons.is_empty() {
        Verdict::Accept
    } else {
        Verdict::Reject(reasons.join("; "))
    })
}

/// The note the simulator sees when its draft was turned down.
pub fn feedback(steer: Option<&str>, reason: &str) -> String {
    let note = format!(
        "[Your previous draft was not sent because {reason}. Write the message again so that it does not.]"
    );
    match steer {
        Some(s) => format!("{s}\n{note}"),
        None => note,
    }
}
