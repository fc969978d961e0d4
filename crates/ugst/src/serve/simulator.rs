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
//! A harness that runs its own user simulator (τ²-bench, τ-bench) can use this server as that
//! simulator's model instead, without code changes: it sends no goal id, the user's instructions
//! are in its system prompt (τ²'s `<scenario>`, τ-bench's `Instruction:`) and the roles are
//! flipped (its `user` messages are the agent's). The server then takes the goal from the prompt,
//! decomposes it once, steers by its goal state, and speaks the harness's words: `###STOP###`
//! when done, `###TRANSFER###` when the agent hands the user over. Requests may stream
//! (`stream: true`, server-sent events), give content as parts and carry `developer` messages;
//! every answer reports the `usage` of the judge and simulator calls behind it.
//!
//! The server decomposes each goal once and tracks each conversation's goal state as the agent's
//! replies arrive. States are kept by the conversation's content (goal id and every exchange so
//! far), so concurrent clients of one goal never share or overwrite each other's state, a client
//! that goes back in the conversation picks up the state of that point, and no client needs an
//! id of its own; the store is bounded. No lock is held across a model call. Judge and simulator
//! calls go through the model cache.

use super::memo::{memo, Footprint, Memo, Weighed};
use super::wire::{self, error, rejected};
use crate::decompose::decompose_goal;
use crate::model::transcript::{self, Speaker};
use crate::model::{Exchange, Goal, SimMode, TrackingMode, STOP};
use crate::roles::RoleModels;
use crate::simulate::user::UserSimulator;
use crate::track::{ConversationState, Tracker};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;
use ugst_llm::Ledger;
use ugst_state::GoalState;

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: SimMode,
    pub tracking: TrackingMode,
    /// The tracker's rules (`[tracking]` in the config).
    pub tracker: crate::track::TrackingConfig,
    pub max_turns: u32,
    /// Leave the goal state out of every answer's `ugst` field: the agent under test then
    /// cannot read the user's goal decomposition from the simulator's answers.
    pub omit_state: bool,
    /// Model calls in flight and the size of one request.
    pub limits: super::Limits,
}

/// The stop and transfer words of τ-bench and τ²-bench, spoken to a harness instead of ours.
pub const HARNESS_STOP: &str = "###STOP###";
pub const TRANSFER: &str = "###TRANSFER###";

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
    /// S0 per goal, decomposed once while it is remembered: the memo hands out the goal's cell,
    /// and no lock is held across the decomposer call (requests for other goals go on).
    decomposed: Arc<Memo<String, Weighed<Arc<OnceCell<GoalState>>>>>,
    /// Goal states by the conversation they describe: the key is a hash of the goal id and
    /// every exchange so far, so two clients with the same history share a state (it is a
    /// function of the history) and a client can never continue from another's.
    states: Arc<Memo<[u8; 32], GoalState>>,
    /// Goals read from harnesses' prompts, by id (`prompt-` and a hash of the text).
    prompt_goals: Arc<Memo<String, Goal>>,
    /// User turns answered so far.
    served: Arc<std::sync::atomic::AtomicU64>,
}

impl AppState {
    /// The goal of a harness prompt, made once per distinct text (so it is decomposed once).
    fn prompt_goal(&self, text: String) -> Goal {
        use sha2::{Digest, Sha256};
        let id = format!(
            "prompt-{}",
            &hex::encode(Sha256::digest(text.as_bytes()))[..12]
        );
        self.prompt_goals
            .get_or_insert_with(&id, || {
                Ok::<_, std::convert::Infallible>(Goal::new(id.clone(), text))
            })
            .unwrap_or_else(|never| match never {})
    }
}

pub fn router(models: RoleModels, goals: Vec<Goal>, opts: Options) -> Router {
    let cache_bytes = opts.limits.cache_bytes;
    let state = AppState {
        models: models.bounded(opts.limits.max_model_calls),
        opts,
        goals: Arc::new(goals.into_iter().map(|g| (g.id.clone(), g)).collect()),
        decomposed: Arc::new(memo(cache_bytes)),
        states: Arc::new(memo(cache_bytes)),
        prompt_goals: Arc::new(memo(cache_bytes)),
        served: Arc::default(),
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/healthz", axum::routing::get(healthz))
        .route("/health", axum::routing::get(healthz))
        .route("/v1/models", axum::routing::get(models_list))
        .with_state(state)
}

/// Serves until SIGTERM or SIGINT, then drains (see [`super::http::serve`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    models: RoleModels,
    goals: Vec<Goal>,
    opts: Options,
    exposure: &super::Exposure,
) -> std::io::Result<()> {
    let app = router(models, goals, opts);
    super::http::serve(listener, app, exposure, super::http::shutdown_signal()).await
}

/// What `GET /v1/models` lists: the simulator under its mode's name.
async fn models_list(State(s): State<AppState>) -> Json<Value> {
    let id = format!("ugst-simulator:{}", s.opts.mode.as_str());
    Json(json!({"object": "list", "data": [
        {"id": id, "object": "model", "created": 0, "owned_by": "ugst"}]}))
}

/// Header first (read as UTF-8: `x-ugst-goal: hôtel-2` names that goal), then the body field.
fn named(headers: &HeaderMap, body: &Value, header: &str, field: &str) -> Option<String> {
    headers
        .get(header)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::to_string)
        .or_else(|| body.get(field).and_then(Value::as_str).map(str::to_string))
}

/// The goal inside a harness's user-simulator prompt: τ²-bench's `<scenario>…</scenario>`,
/// τ-bench v1's `Instruction: …` (up to its `Rules:`), else the whole prompt.
pub fn goal_from_prompt(system: &str) -> Option<String> {
    if let (Some(a), Some(b)) = (system.find("<scenario>"), system.rfind("</scenario>")) {
        let inner = system[a + "<scenario>".len()..b.max(a + "<scenario>".len())].trim();
        if !inner.is_empty() {
            return Some(inner.to_string());
        }
    }
    if let Some(i) = system.find("Instruction:") {
        let rest = &system[i + "Instruction:".len()..];
        let end = rest.find("\nRules:").unwrap_or(rest.len());
        let inner = rest[..end].trim();
        if !inner.is_empty() {
            return Some(inner.to_string());
        }
    }
    let t = system.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Whether the agent's reply hands the user over to someone else (τ²'s transfer message says
/// "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT").
fn is_transfer(agent: &str) -> bool {
    let a = agent.to_lowercase();
    [
        "being transferred",
        "transferring you",
        "transfer you to",
        "transferred to a human",
    ]
    .iter()
    .any(|p| a.contains(p))
}

/// The client's messages as exchanges: each user message with the agent's reply after it.
/// Agent lines before the user's first message (a greeting) are not a turn.
fn exchanges(lines: &[(Speaker, &str)]) -> Vec<Exchange> {
    transcript::exchanges(
        lines
            .iter()
            .skip_while(|(who, _)| *who != Speaker::User)
            .copied(),
    )
}

/// `GET /healthz`: the server is up; how many user turns it answered, for how many goals
/// taken from harness prompts.
async fn healthz(State(s): State<AppState>) -> Json<Value> {
    let prompts = s.prompt_goals.len();
    Json(json!({"status": "ok",
                "served": s.served.load(std::sync::atomic::Ordering::Relaxed),
                "goals_by_id": s.goals.len(), "goals_from_prompts": prompts}))
}

async fn chat(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let inc = match wire::read(&body) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Err(e) = s
        .opts
        .limits
        .check_messages(inc.messages.len(), "the request")
    {
        return error(StatusCode::PAYLOAD_TOO_LARGE, e);
    }
    // A goal named by id: the client is the agent's side. No id: a harness is calling its user
    // model, with the goal in the system prompt and the roles flipped (its `user` messages are
    // the agent's, its `assistant` messages the simulated user's own).
    let (goal, harness) =
        match named(&headers, &body, "x-ugst-goal", "ugst_goal_id") {
            Some(goal_id) => match s.goals.get(&goal_id) {
                Some(g) => (g.clone(), false),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "unknown goal id {goal_id:?}; the server was started with {} goal(s)",
                            s.goals.len()
                        ),
                    )
                }
            },
            None => match goal_from_prompt(&inc.instructions) {
                Some(text) => (s.prompt_goal(text), true),
                None => return error(
                    StatusCode::BAD_REQUEST,
                    "name the goal (header x-ugst-goal or body field \"ugst_goal_id\"), or send \
                     the user's instructions as the system message (τ²-bench's <scenario>, \
                     τ-bench's Instruction:)",
                ),
            },
        };
    let lines: Vec<(Speaker, &str)> = inc
        .messages
        .iter()
        .map(|(side, text)| {
            let user = (*side == wire::Side::User) != harness;
            (
                if user { Speaker::User } else { Speaker::Agent },
                text.as_str(),
            )
        })
        .collect();
    let history = exchanges(&lines);
    // Only exchanges the agent has answered are tracked; a trailing unanswered user message
    // (the client repeating itself) is ignored.
    let answered: Vec<Exchange> = history
        .iter()
        .take_while(|e| e.agent.is_some())
        .cloned()
        .collect();
    let ledger = Ledger::new();
    let turn = answered.len() as u32 + 1;
    let last_agent = lines.iter().rev().find(|(w, _)| *w == Speaker::Agent);
    let result = match last_agent {
        Some((_, a)) if harness && is_transfer(a) => Ok((TRANSFER.to_string(), true, None)),
        _ => next_turn(&s, &goal, &answered, &ledger)
            .await
            .map(|(text, end, state)| (text, end, Some(state))),
    };
    match result {
        Ok((mut text, end, state)) => {
            if harness {
                // The harness's own stop word, not ours.
                text = text.replace(STOP, HARNESS_STOP).trim().to_string();
            }
            let usage = ledger
                .drain()
                .iter()
                .fold(wire::Usage::default(), |u, e| wire::Usage {
                    prompt_tokens: u.prompt_tokens + e.prompt_tokens,
                    completion_tokens: u.completion_tokens + e.completion_tokens,
                });
            s.served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let state = if s.opts.omit_state { None } else { state };
            let extra = json!({"goal_id": goal.id, "turn": turn, "end": end, "state": state});
            wire::answer(
                &inc,
                &format!("ugst-{}-{turn}", goal.id),
                &format!("ugst-simulator:{}", s.opts.mode.as_str()),
                &text,
                usage,
                extra,
            )
        }
        Err(e) => {
            // The details (the backend's URL, the upstream's words) stay in the server's log.
            tracing::warn!(target: "ugst::serve", goal = %goal.id, error = %e, "model call failed");
            let who = e.split(':').next().unwrap_or("a model");
            error(
                StatusCode::BAD_GATEWAY,
                format!("the simulator's {who} failed; the server's log has the details"),
            )
        }
    }
}

/// Tracks what is new in the conversation, then writes the next user turn; past the turn limit,
/// STOP with no tracking.
async fn next_turn(
    s: &AppState,
    goal: &Goal,
    answered: &[Exchange],
    ledger: &Ledger,
) -> Result<(String, bool, GoalState), String> {
    // One cell per goal, made atomically by the memo; the decomposition fills it once, outside
    // any lock. A decomposition restates its goal: about four times the goal's text.
    let cell = s
        .decomposed
        .get_or_insert_with(&goal.id, || {
            Ok::<_, std::convert::Infallible>(Weighed {
                value: Arc::default(),
                bytes: 4 * goal.bytes(),
            })
        })
        .map(|w| w.value)
        .unwrap_or_else(|never| match never {});
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
    let (from, state) = {
        (0..keys.len())
            .rev()
            .find_map(|k| s.states.get(&keys[k]).map(|st| (k, st)))
            .unwrap_or((0, s0))
    };
    // Past the turn limit the answer is STOP whatever the history holds: nothing more is
    // tracked, so a client cannot buy a long history's worth of judge calls with one request.
    let max_turns = goal.max_turns.unwrap_or(s.opts.max_turns);
    let turn = answered.len() as u32 + 1;
    if turn > max_turns {
        return Ok((STOP.to_string(), true, state));
    }
    let tracker = Tracker::new(s.models.tracker.clone(), s.opts.tracking, s.opts.tracker);
    let mut conv = ConversationState {
        state,
        history: answered[..from].to_vec(),
    };
    for e in &answered[from..] {
        let turn = conv
            .advance(&tracker, ledger, e.clone())
            .await
            .map_err(|e| e.to_string())?;
        s.states.insert(keys[turn as usize], conv.state.clone());
    }
    let state = conv.state;
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
    fn a_goal_header_is_read_as_utf8() {
        // Review finding 17: a non-ASCII id in the header was dropped (a misleading 400).
        let mut h = HeaderMap::new();
        h.insert(
            "x-ugst-goal",
            axum::http::HeaderValue::from_bytes("hôtel-2".as_bytes()).unwrap(),
        );
        let got = named(&h, &json!({}), "x-ugst-goal", "ugst_goal_id");
        assert_eq!(got.as_deref(), Some("hôtel-2"));
        let body = json!({"ugst_goal_id": "g-1"});
        assert_eq!(
            named(&HeaderMap::new(), &body, "x-ugst-goal", "ugst_goal_id").as_deref(),
            Some("g-1")
        );
    }

    #[test]
    fn states_are_keyed_by_content() {
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
    }
}
