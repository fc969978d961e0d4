//! The paper's method: after each turn, one judge request per open sub-component, answered with
//! `{"status", "reason"}`. The reference every other mode is measured against; it reads no
//! heuristic of the small-model layer.

use super::render::PartView;
use super::{Judgement, TurnView};
use crate::model::transcript::transcript;
use crate::model::Exchange;
use crate::prompts::{self, schemas};
use futures::future::try_join_all;
use minijinja::context;
use serde_json::Value;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::{GoalState, Status, SubComponent, Update};

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

/// The judge request for one sub-component. The prompt puts the constant instructions and the
/// growing transcript first and the sub-component last, so every judge call of a conversation
/// shares one long prefix (cheap for a local model that reuses its KV cache).
pub fn component_request(
    state: &GoalState,
    c: &SubComponent,
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let part = PartView::new(state, c);
    let prompt = prompts::render(
        "track_component",
        context! {
            transcript => transcript(history, 1),
            category => part.label(),
            text => part.c.text,
            objective => part.objective,
            current => part.c.status.as_str(),
            turn => turn,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(
            schemas::COMPONENT_STATUS,
            schemas::component_status(part.c.category),
        )
        .with_sampling(sampling.clone())
}

/// Judges one turn: every open part asked at once, each answer an update.
pub(crate) async fn judge(
    view: &TurnView<'_>,
    llm: &ugst_llm::Llm,
    sampling: &Sampling,
    ledger: &Ledger,
) -> Result<Judgement, LlmError> {
    let calls = view.open.iter().map(|c| async move {
        let req = component_request(view.state, c, view.history, view.turn, sampling);
        let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
        Ok::<_, LlmError>(parse_status(&v).map(|(status, reason)| Update {
            id: c.id.clone(),
            status,
            reason,
        }))
    });
    let updates: Vec<Update> = try_join_all(calls).await?.into_iter().flatten().collect();
    Ok(updates.into())
}
