//! Batched mode: one judge request per turn that answers every open sub-component by id, with
//! the same information per part as the paper's per-component request.

use super::render::PartView;
use super::{Judgement, TurnView};
use crate::model::transcript::transcript;
use crate::model::Exchange;
use crate::prompts::{self, schemas};
use minijinja::context;
use serde_json::Value;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::{GoalState, SubComponent, Update};

/// The single judge request for all open sub-components.
pub fn batched_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let comps: Vec<Value> = open
        .iter()
        .map(|c| PartView::new(state, c).json())
        .collect();
    let prompt = prompts::render(
        "track_batched",
        context! { transcript => transcript(history, 1), components => comps, turn => turn },
    );
    let schema = schemas::turn_status(open.iter().map(|c| (c.id.as_str(), c.category)));
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::TURN_STATUS, schema)
        .with_sampling(sampling.clone())
}

/// A batched judge answer `{"<id>": {"status", "reason"}, ...}`: the updates it proposes, leaving
/// out entries without a known status. Ids are not checked here; the state refuses unknown ones.
pub fn parse_batched(v: &Value) -> Vec<Update> {
    let mut out = Vec::new();
    if let Some(obj) = v.as_object() {
        for (id, ans) in obj {
            if let Some((status, reason)) = super::paper::parse_status(ans) {
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

/// Judges one turn with one call.
pub(crate) async fn judge(
    view: &TurnView<'_>,
    llm: &ugst_llm::Llm,
    sampling: &Sampling,
    ledger: &Ledger,
) -> Result<Judgement, LlmError> {
    let req = batched_request(view.state, &view.open, view.history, view.turn, sampling);
    let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
    Ok(parse_batched(&v).into())
}
