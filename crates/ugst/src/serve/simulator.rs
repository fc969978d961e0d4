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
//! replies arrive (keyed by `x-ugst-conversation` / `ugst_conversation_id`, else by the goal and
//! the first user message); judge and simulator calls go through the model cache.

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
use tokio::sync::Mutex;
use ugst_llm::{Ledger, Message, Role};
use ugst_state::GoalState;

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: SimMode,
    pub tracking: TrackingMode,
    pub max_turns: u32,
}

/// A conversation's state and how many exchanges it has been tracked through.
#[derive(Clone)]
struct Tracked {
    state: GoalState,
    exchanges: usize,
}

#[derive(Clone)]
struct AppState {
    models: RoleModels,
    opts: Options,
    goals: Arc<HashMap<String, Goal>>,
    initial: Arc<Mutex<HashMap<String, GoalState>>>,
    conversations: Arc<Mutex<HashMap<String, Tracked>>>,
}

pub fn router(models: RoleModels, goals: Vec<Goal>, opts: Options) -> Router {
    let state = AppState {
        models,
        opts,
        goals: Arc::new(goals.into_iter().map(|g| (g.id.clone(), g)).collect()),
        initial: Arc::default(),
        conversations: Arc::default(),
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
    let conv_key = named(
        &headers,
        &body,
        "x-ugst-conversation",
        "ugst_conversation_id",
    )
    .unwrap_or_else(|| {
        format!(
            "{goal_id}\u{0}{}",
            history.first().map_or("", |e| e.user.as_str())
        )
    });
    let ledger = Ledger::new();
    match next_turn(&s, &goal, &conv_key, &answered, &ledger).await {
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
    conv_key: &str,
    answered: &[Exchange],
    ledger: &Ledger,
) -> Result<(String, bool, GoalState), String> {
    let s0 = {
        let mut initial = s.initial.lock().await;
        match initial.get(&goal.id) {
            Some(st) => st.clone(),
            None => {
                let d = decompose_goal(&s.models.decomposer, ledger, goal)
                    .await
                    .map_err(|e| format!("decomposer: {e}"))?;
                let st = GoalState::initial(&d);
                initial.insert(goal.id.clone(), st.clone());
                st
            }
        }
    };
    let known = s.conversations.lock().await.get(conv_key).cloned();
    let mut tracked = match known {
        Some(t) if t.exchanges <= answered.len() => t,
        // New, or the client went back in the conversation: start over from S0.
        _ => Tracked {
            state: s0,
            exchanges: 0,
        },
    };
    let tracker = Tracker::new(s.models.tracker.clone(), s.opts.tracking);
    let no_commit = |_: u32, _: &GoalState| Ok::<(), std::convert::Infallible>(());
    let from = tracked.exchanges;
    if let Err(TrackError::Judge(_, e)) = tracker
        .track(ledger, &mut tracked.state, answered, from, no_commit)
        .await
    {
        return Err(format!("tracker: {e}"));
    }
    tracked.exchanges = answered.len();
    s.conversations
        .lock()
        .await
        .insert(conv_key.to_string(), tracked.clone());
    let max_turns = goal.max_turns.unwrap_or(s.opts.max_turns);
    let turn = answered.len() as u32 + 1;
    if turn > max_turns {
        return Ok((STOP.to_string(), true, tracked.state));
    }
    let sim = UserSimulator {
        role: s.models.simulator.clone(),
        mode: s.opts.mode,
        verify: 0,
        verifier: s.models.tracker.clone(),
    };
    let msg = sim
        .next_message(ledger, goal, &tracked.state, answered, turn, max_turns)
        .await
        .map_err(|(role, e)| format!("{}: {e}", role.as_str()))?;
    let user = msg.user;
    if user.stop && user.text.is_empty() {
        return Ok((STOP.to_string(), true, tracked.state));
    }
    let content = if user.stop {
        format!("{} {STOP}", user.text)
    } else {
        user.text
    };
    Ok((content, user.stop, tracked.state))
}
