//! The delta request (one call per turn naming only the changes it makes, each with quoted
//! evidence) and its answer, checked against the judged turn.

use super::evidence::has_evidence;
use crate::model::transcript::transcript;
use crate::model::Exchange;
use crate::model::TrackingConfig;
use crate::prompts::{self, schemas};
use crate::track::render::PartView;
use crate::track::Judgement;
use minijinja::context;
use serde_json::Value;
use ugst_llm::{ChatRequest, Message, Sampling};
use ugst_state::{GoalState, IgnoreCause, Status, SubComponent, Update};

/// The delta request. Laid out for a model that keeps its KV cache: instructions, every part of
/// the goal (fixed for the conversation), the growing transcript, and only then the open parts'
/// statuses (a few tokens each) and the question. The next turn's request starts with all of
/// this turn's text up to the end of its transcript, so only the new exchange and the short tail
/// are decoded (`docs/tracking.md`, prompt layout). The schema offers each open part only the
/// statuses it can still move to.
pub(crate) fn delta_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    // Every part's text before the transcript (the template leaves their statuses out there);
    // after it, only the open parts' ids and statuses.
    let json = |c: &SubComponent| PartView::new(state, c).json();
    let parts: Vec<Value> = state.components.iter().map(json).collect();
    let statuses: Vec<Value> = open.iter().map(|c| json(c)).collect();
    let prompt = prompts::render(
        "track_delta",
        context! {
            parts => parts, transcript => transcript(history, 1),
            components => statuses, turn => turn
        },
    );
    let schema = schemas::turn_changes(open.iter().map(|c| (c.id.as_str(), c.category, c.status)));
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::TURN_CHANGES, schema)
        .with_sampling(sampling.clone())
}

/// A delta answer `{"changes": [{"id", "evidence", "status"}]}` checked against the turn it is
/// about (the last of `history`): the updates whose evidence is there, and the changes refused
/// because it is not (see [`has_evidence`]).
pub fn parse_changes(
    v: &Value,
    state: &GoalState,
    history: &[Exchange],
    cfg: &TrackingConfig,
) -> Judgement {
    let mut out = Judgement::default();
    let Some(last) = history.last() else {
        return out;
    };
    let changes = v.get("changes").and_then(Value::as_array);
    for ch in changes.into_iter().flatten() {
        let (Some(id), Some(status)) = (
            ch.get("id").and_then(Value::as_str),
            ch.get("status")
                .and_then(Value::as_str)
                .and_then(Status::parse),
        ) else {
            continue;
        };
        let evidence = ch
            .get("evidence")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let update = Update {
            id: id.to_string(),
            status,
            reason: format!("\"{evidence}\""),
        };
        if state
            .get(id)
            .is_some_and(|c| has_evidence(c, evidence, last, cfg))
        {
            out.updates.push(update);
        } else {
            out.refused.push((update, IgnoreCause::NoEvidence));
        }
    }
    out
}
