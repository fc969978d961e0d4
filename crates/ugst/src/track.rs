//! Tracker: after each turn, asks an LLM judge for the status of every sub-component that can still
//! change, and turns the answers into [`Update`]s for the state machine.
//!
//! Three modes: `per-component` (one judge call per open sub-component per turn, as in the paper),
//! `batched` (one call per turn that answers every open sub-component) and `delta` (one call per
//! turn that names only the sub-components whose status changes, each with words quoted from the
//! conversation; a change whose quote is not in the conversation is refused).

pub use crate::model::transcript::transcript;
use crate::model::{Exchange, TrackingMode};
use crate::prompts::{self, schemas};
use crate::roles::RoleModel;
use futures::future::try_join_all;
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, IgnoreCause, Status, SubComponent, Update};

fn category_label(cat: Category) -> &'static str {
    match cat {
        Category::UserProfile => "user profile",
        Category::UserPolicy => "user policy",
        Category::TaskObjective => "task objective",
        Category::Requirement => "requirement",
        Category::Preference => "preference",
    }
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
        .with_schema(
            schemas::COMPONENT_STATUS,
            schemas::component_status(c.category),
        )
        .with_sampling(sampling.clone())
}

/// The single judge request for all open sub-components (batched mode); same layout as above,
/// and the same information per sub-component as [`component_request`] gives: category, text,
/// status before the turn, and for requirements and preferences the objective's own text.
pub fn batched_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let comps: Vec<Value> = open
        .iter()
        .map(|c| {
            json!({"id": c.id, "category": category_label(c.category),
                   "objective": objective_text(state, c),
                   "status": c.status.as_str(), "text": c.text})
        })
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

/// The single judge request of delta mode: the open sub-components with their current status,
/// laid out like [`batched_request`] (instructions, then the growing transcript, then the parts),
/// answered with only the changes this turn makes.
pub fn delta_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let comps: Vec<Value> = open
        .iter()
        .map(|c| {
            json!({"id": c.id, "category": category_label(c.category),
                   "objective": objective_text(state, c),
                   "status": c.status.as_str(), "text": c.text})
        })
        .collect();
    let prompt = prompts::render(
        "track_delta",
        context! { transcript => transcript(history, 1), components => comps, turn => turn },
    );
    let schema = schemas::turn_changes(open.iter().map(|c| (c.id.as_str(), c.category, c.status)));
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::TURN_CHANGES, schema)
        .with_sampling(sampling.clone())
}

/// Lower-case words of `s`, everything else a single space: what evidence is compared on.
fn normalise(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `quote` occurs in `source`: word for word after [`normalise`], or, for quotes of four
/// words or more, with at least 80% of its word trigrams in the source (a dropped or changed
/// word in a long quote is not a fabrication).
pub fn quoted_in(quote: &str, source: &str) -> bool {
    let q = normalise(quote);
    if q.is_empty() {
        return false;
    }
    let src = normalise(source);
    if format!(" {src} ").contains(&format!(" {q} ")) {
        return true;
    }
    let words: Vec<&str> = q.split(' ').collect();
    if words.len() < 4 {
        return false;
    }
    let padded = format!(" {src} ");
    let grams: Vec<String> = words
        .windows(3)
        .map(|w| format!(" {} ", w.join(" ")))
        .collect();
    let found = grams.iter().filter(|g| padded.contains(g.as_str())).count();
    found as f64 >= 0.8 * grams.len() as f64
}

/// A delta answer `{"changes": [{"id", "evidence", "status"}]}` checked against the conversation:
/// a profile, policy or preference changes only on the user's own words, an objective or
/// requirement on anyone's. Returns the updates and the changes refused for missing evidence.
pub fn parse_changes(v: &Value, state: &GoalState, history: &[Exchange]) -> Judgement {
    let users: String = history
        .iter()
        .map(|e| e.user.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let everyone: String = history
        .iter()
        .flat_map(|e| [e.user.as_str(), e.agent.as_deref().unwrap_or("")])
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Judgement::default();
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
        let user_only = state.get(id).is_some_and(|c| {
            matches!(
                c.category,
                Category::UserProfile | Category::UserPolicy | Category::Preference
            )
        });
        let source = if user_only { &users } else { &everyone };
        if quoted_in(evidence, source) {
            out.updates.push(update);
        } else {
            out.refused.push(update);
        }
    }
    out
}

/// What the judge said about one turn: the updates to apply, and (delta mode) the changes the
/// tracker refused because their evidence is not in the conversation.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    pub updates: Vec<Update>,
    pub refused: Vec<Update>,
}

impl Judgement {
    /// Applies the updates to `state` as turn `turn` and records the refused changes in
    /// `state.ignored`.
    pub fn apply(&self, state: &mut GoalState, turn: u32) {
        for r in &self.refused {
            state.refuse(turn, r, IgnoreCause::NoEvidence);
        }
        state.apply_turn(turn, &self.updates);
    }
}

impl From<Vec<Update>> for Judgement {
    fn from(updates: Vec<Update>) -> Judgement {
        Judgement {
            updates,
            refused: Vec::new(),
        }
    }
}

/// The tracker: a judge model with its sampling and the way it is asked ([`TrackingMode`]).
#[derive(Clone)]
pub struct Tracker {
    pub role: RoleModel,
    pub mode: TrackingMode,
}

impl Tracker {
    pub fn new(role: RoleModel, mode: TrackingMode) -> Tracker {
        Tracker { role, mode }
    }

    /// Judges turn `turn` (the last entry of `history`) for every open sub-component of
    /// `state`. Settled sub-components are never sent to the judge.
    pub async fn judge_turn(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        history: &[Exchange],
        turn: u32,
    ) -> Result<Judgement, LlmError> {
        let open: Vec<&SubComponent> = state.open_components().collect();
        if open.is_empty() {
            return Ok(Judgement::default());
        }
        let (llm, sampling) = (&self.role.llm, &self.role.sampling);
        match self.mode {
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
                let updates: Vec<Update> =
                    try_join_all(calls).await?.into_iter().flatten().collect();
                Ok(updates.into())
            }
            TrackingMode::Batched => {
                let req = batched_request(state, &open, history, turn, sampling);
                let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                Ok(parse_batched(&v).into())
            }
            TrackingMode::Delta => {
                let req = delta_request(state, &open, history, turn, sampling);
                let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                Ok(parse_changes(&v, state, history))
            }
        }
    }

    /// Brings `state` up to date with `history`: judges exchanges `from..` in order, exchange i
    /// being turn i + 1, calling `on_turn(turn, state)` after each. A failure names the turn;
    /// `state` then holds the turns before it.
    pub async fn track<E>(
        &self,
        ledger: &Ledger,
        state: &mut GoalState,
        history: &[Exchange],
        from: usize,
        mut on_turn: impl FnMut(u32, &GoalState) -> Result<(), E>,
    ) -> Result<(), TrackError<E>> {
        for i in from..history.len() {
            let turn = i as u32 + 1;
            self.judge_turn(ledger, state, &history[..=i], turn)
                .await
                .map_err(|e| TrackError::Judge(turn, e))?
                .apply(state, turn);
            on_turn(turn, state).map_err(|e| TrackError::Commit(turn, e))?;
        }
        Ok(())
    }
}

/// Why [`Tracker::track`] stopped: the judge failed at a turn, or the caller's `on_turn` did.
#[derive(Debug)]
pub enum TrackError<E> {
    Judge(u32, LlmError),
    Commit(u32, E),
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

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_state::{Decomposition, ObjectiveSpec};

    #[test]
    fn both_modes_give_the_judge_the_objective_of_a_requirement() {
        let d = Decomposition {
            user_profile: vec![],
            user_policy: vec![],
            task_objectives: vec![ObjectiveSpec {
                text: "Book a hotel in the centre.".into(),
                requirements: vec!["For three nights.".into()],
                preferences: vec![],
            }],
        };
        let state = GoalState::initial(&d);
        let req = state.get("req-1.1").unwrap();
        let h = [Exchange {
            user: "hi".into(),
            agent: Some("hello".into()),
        }];
        let s = Sampling::default();
        for r in [
            component_request(&state, req, &h, 1, &s),
            batched_request(&state, &[req], &h, 1, &s),
        ] {
            let prompt = r.messages[0].content_str();
            assert!(
                prompt.contains("It belongs to the task objective: Book a hotel in the centre."),
                "{prompt}"
            );
        }
    }
}
