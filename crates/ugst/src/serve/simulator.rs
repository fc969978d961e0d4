//! `ugst serve simulator`: the goal-state-steered user simulator as an OpenAI-compatible chat
//! endpoint, so any agent stack can test against it without adopting our runner.
//!
//! The client (the agent's side) sends `POST /v1/chat/completions` with the conversation as it
//! sees it — `user` messages are the simulated user's, `assistant` messages the agent's; system
//! and tool messages are ignored — and names the goal by the header `x-ugst-goal` or the body
//! field `ugst_goal_id`. The answer is the next user message in `choices[0].message.content`,
//! plus `"ugst": {"goal_id", "turn", "end", "state"}`. When the simulated user is done (or the turn
//! limit is reached) the content is `END_CONVERSATION` and `end` is true.
//!
//! The server decomposes each goal once and tracks each conversation's goal state as the agent's
//! replies arrive. States are kept by the conversation's content (goal id and every exchange so
//! far), so concurrent clients of one goal never share or overwrite each other's state, a client
//! that goes back in the conversation picks up the state of that point, and no client needs an
//! id of its own; the store is bounded. No lock is held across a model call. Judge and simulator
//! calls go through the model cache.

use crate::decompose::decompose_goal;
use crate::model::transcript::{self, Speaker};
use crate::model::{Exchange, Goal, SimMode, TrackingMode, STOP};
use crate::roles::RoleModels;
use crate::simulate::user::UserSimulator;
use crate::track::{TrackError, Tracker};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;
use ugst_llm::{Ledger, Message, Role};
use ugst_state::GoalState;

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: SimMode,
    pub tracking: TrackingMode,
    pub max_turns: u32,
}

/// The most tracked states kept; the oldest go first.
const MAX_STATES: usize = 8192;

/// Goal states by the conversation they describe: the key is a hash of the goal id and every
/// exchange so far, so two clients with the same history share a state (it is a function of the
/// history) and a client can never continue from another's. Bounded: first in, first out.
#[derive(Default)]
struct States {
    by_key: HashMap<[u8; 32], GoalState>,
    order: std::collections::VecDeque<[u8; 32]>,
}

impl States {
    fn insert(&mut self, key: [u8; 32], state: GoalState) {
        if self.by_key.insert(key, state).is_none() {
            self.order.push_back(key);
            while self.order.len() > MAX_STATES {
                if let Some(old) = self.order.pop_front() {
                    self.by_key.remove(&old);
                }
            }
        }
    }
}

/// The key of every prefix of `history` (index k: the first k exchanges) of `goal_id`.
fn prefix_keys(goal_id: &str, history: &[Exchange]) -> Vec<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(goal_id.as_bytes());
    let mut keys = vec![h.clone().finalize().into()];
    for e in history {
        for part in [e.user.as_str(), e.agent.as_deref().unwrap_or("")] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        keys.push(h.clone().finalize().into());
    }
    keys
}

#[derive(Clone)]
struct AppState {
    models: RoleModels,
    opts: Options,
    goals: Arc<HashMap<String, Goal>>,
    /// S0 per goal, decomposed once: the map's lock is held only to find the goal's cell, never
    /// across the decomposer call (requests for other goals go on meanwhile).
    initial: Arc<std::sync::Mutex<HashMap<String, Arc<OnceCell<GoalState>>>>>,
    states: Arc<std::sync::Mutex<States>>,
}

pub fn router(models: RoleModels, goals: Vec<Goal>, opts: Options) -> Router {
    let state = AppState {
        models,
        opts,
        goals: Arc::new(goals.into_iter().map(|g| (g.id.clone(), g)).collect()),
        initial: Arc::default(),
        states: Arc::default(),
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(state)
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    models: RoleModels,
    goals: Vec<Goal>,
    opts: Options,
) -> std::io::Result<()> {
    axum::serve(listener, router(models, goals, opts)).await
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"message": msg.into(), "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// Header first, then the body field.
fn named(headers: &HeaderMap, body: &Value, header: &str, field: &str) -> Option<String> {
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| body.get(field).and_then(Value::as_str).map(str::to_string))
}

/// The client's messages as exchanges: each user message with the agent's reply after it.
/// Assistant lines before the user's first message (an agent's greeting) are not a turn;
/// system, developer and tool messages are not part of the conversation the user sees.
fn exchanges(messages: &[Message]) -> Vec<Exchange> {
    let lines = messages
        .iter()
        .skip_while(|m| m.role != Role::User)
        .filter_map(|m| match m.role {
            Role::User => Some((Speaker::User, m.content_str())),
            Role::Assistant => Some((Speaker::Agent, m.content_str())),
            _ => None,
        });
    transcript::exchanges(lines)
}

async fn chat(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Some(goal_id) = named(&headers, &body, "x-ugst-goal", "ugst_goal_id") else {
        return error(
            StatusCode::BAD_REQUEST,
            "name the goal: header x-ugst-goal or body field \"ugst_goal_id\"",
        );
    };
    let Some(goal) = s.goals.get(&goal_id).cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown goal id {goal_id:?}; the server was started with {} goal(s)",
                s.goals.len()
            ),
        );
    };
    let messages: Vec<Message> =
        match serde_json::from_value(body.get("messages").cloned().unwrap_or(json!([]))) {
            Ok(m) => m,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("messages: {e}")),
        };
    let history = exchanges(&messages);
    // Only exchanges the agent has answered are tracked; a trailing unanswered user message
    // (the client repeating itself) is ignored.
    let answered: Vec<Exchange> = history
        .iter()
        .take_while(|e| e.agent.is_some())
        .cloned()
        .collect();
    let ledger = Ledger::new();
    match next_turn(&s, &goal, &answered, &ledger).await {
        Ok((text, end, state)) => {
            let turn = answered.len() as u32 + 1;
            Json(json!({
                "id": format!("ugst-{goal_id}-{turn}"),
                "object": "chat.completion",
                "model": format!("ugst-simulator:{}", s.opts.mode.as_str()),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "ugst": {"goal_id": goal_id, "turn": turn, "end": end, "state": state},
            }))
            .into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}

/// Tracks what is new in the conversation, then writes the next user turn.
async fn next_turn(
    s: &AppState,
    goal: &Goal,
    answered: &[Exchange],
    ledger: &Ledger,
) -> Result<(String, bool, GoalState), String> {
    let cell = {
        let mut initial = s.initial.lock().unwrap_or_else(|p| p.into_inner());
        initial.entry(goal.id.clone()).or_default().clone()
    };
    let s0 = cell
        .get_or_try_init(|| async {
            let d = decompose_goal(&s.models.decomposer, ledger, goal)
                .await
                .map_err(|e| format!("decomposer: {e}"))?;
            Ok::<_, String>(GoalState::initial(&d))
        })
        .await?
        .clone();
    // Start from the longest prefix of this conversation already tracked.
    let keys = prefix_keys(&goal.id, answered);
    let (from, mut state) = {
        let known = s.states.lock().unwrap_or_else(|p| p.into_inner());
        (0..keys.len())
            .rev()
            .find_map(|k| known.by_key.get(&keys[k]).map(|st| (k, st.clone())))
            .unwrap_or((0, s0))
    };
    let tracker = Tracker::new(s.models.tracker.clone(), s.opts.tracking);
    let remember = |turn: u32, st: &GoalState| {
        let mut known = s.states.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(keys[turn as usize], st.clone());
        Ok::<(), std::convert::Infallible>(())
    };
    if let Err(TrackError::Judge(_, e)) = tracker
        .track(ledger, &mut state, answered, from, remember)
        .await
    {
        return Err(format!("tracker: {e}"));
    }
    let max_turns = goal.max_turns.unwrap_or(s.opts.max_turns);
    let turn = answered.len() as u32 + 1;
    if turn > max_turns {
        return Ok((STOP.to_string(), true, state));
    }
    let sim = UserSimulator::new(&s.models, s.opts.mode, 0);
    let msg = sim
        .next_message(ledger, goal, &state, answered, turn, max_turns)
        .await
        .map_err(|(role, e)| format!("{}: {e}", role.as_str()))?;
    let user = msg.user;
    if user.stop && user.text.is_empty() {
        return Ok((STOP.to_string(), true, state));
    }
    let content = if user.stop {
        format!("{} {STOP}", user.text)
    } else {
        user.text
    };
    Ok((content, user.stop, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_keyed_by_content_and_bounded() {
        let e = |u: &str, a: &str| Exchange {
            user: u.into(),
            agent: Some(a.into()),
        };
        let a = prefix_keys("g", &[e("hi", "yes"), e("more", "ok")]);
        let b = prefix_keys("g", &[e("hi", "no")]);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], b[0]);
        assert_ne!(a[1], b[1]);
        assert_ne!(prefix_keys("h", &[])[0], a[0]);
        // "ab"+"c" and "a"+"bc" are different conversations.
        assert_ne!(
            prefix_keys("g", &[e("ab", "c")])[1],
            prefix_keys("g", &[e("a", "bc")])[1]
        );
        let mut s = States::default();
        let st = GoalState {
            turn: 0,
            components: vec![],
            ignored: vec![],
        };
        for i in 0..MAX_STATES + 10 {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            s.insert(k, st.clone());
        }
        assert_eq!(s.by_key.len(), MAX_STATES);
        assert_eq!(s.order.len(), MAX_STATES);
    }
}
