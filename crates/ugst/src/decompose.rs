//! Decomposer: goal text -> decomposition (and so S0) through one structured model call.

use crate::prompts::{self, schemas};
use crate::roles::RoleModel;
use minijinja::context;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::Decomposition;

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
    .with_schema(schemas::DECOMPOSITION, schemas::decomposition())
    .with_sampling(sampling)
}

/// The goal's decomposition: the one its goal line carries (`state`), else the decomposer's.
pub async fn decompose_goal(
    role: &RoleModel,
    ledger: &Ledger,
    goal: &crate::model::Goal,
) -> Result<Decomposition, DecomposeError> {
    match &goal.decomposition {
        Some(d) => Ok(d.clone()),
        None => decompose(role, ledger, &goal.goal).await,
    }
}

/// Decomposes one goal text and validates the result.
pub async fn decompose(
    role: &RoleModel,
    ledger: &Ledger,
    goal: &str,
) -> Result<Decomposition, DecomposeError> {
    let req = request(goal, role.sampling.clone());
    let v = role
        .llm
        .structured(CallRole::Decomposer, ledger, &req)
        .await?;
    let d: Decomposition =
        serde_json::from_value(v).map_err(|e| DecomposeError::Invalid(e.to_string()))?;
    d.validate()
        .map_err(|e| DecomposeError::Invalid(e.to_string()))?;
    Ok(d)
}

/// Decomposes every goal with at most `concurrency` calls in flight. Returns, per goal in order,
/// its decomposition or what went wrong, and the ledger of every call.
pub async fn decompose_all(
    role: &RoleModel,
    goals: &[crate::model::Goal],
    concurrency: usize,
    progress: &dyn crate::progress::Progress,
) -> (
    Vec<Result<Decomposition, DecomposeError>>,
    Vec<ugst_llm::LedgerEntry>,
) {
    use futures::StreamExt;
    progress.start(goals.len(), "goals");
    let tasks = goals.iter().map(|g| async move {
        let ledger = Ledger::new();
        let r = decompose_goal(role, &ledger, g).await;
        progress.advance(1);
        (r, ledger.drain())
    });
    let results: Vec<_> = futures::stream::iter(tasks)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    let mut ledger = Vec::new();
    let out = results
        .into_iter()
        .map(|(r, l)| {
            ledger.extend(l);
            r
        })
        .collect();
    (out, ledger)
}
