//! One conversation: simulator ↔ agent (↔ environment tools), tracked turn by turn.
//!
//! Each turn: steering note from S_{i-1} (by mode) → simulator writes u_i → agent answers a_i
//! (calling tools as needed) → tracker judges the turn → S_i. Every finished turn is handed to a
//! `commit` callback before the next begins, so a store can persist it atomically.

pub mod agent;
pub mod env;
pub mod reasoning;
pub mod simulator;
pub mod verify;

use crate::config::RoleModels;
use crate::goals::Goal;
use crate::track::{judge_turn, Exchange, TrackingMode};
use agent::Agent;
use env::{Environment, TaskOutcome};
use serde::{Deserialize, Serialize};
pub use simulator::SimMode;
use ugst_llm::{CallRole, Ledger, LlmError, Message};
use ugst_state::GoalState;

/// Default number of user–agent turns.
pub const DEFAULT_MAX_TURNS: u32 = 10;
/// Default number of model calls the agent may make in one turn.
pub const DEFAULT_AGENT_STEPS: u32 = 8;

/// One stored turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub index: u32,
    pub user: String,
    /// The agent's visible reply; `None` for a closing message sent with the stop signal.
    pub agent: Option<String>,
    /// Everything the agent produced this turn (tool calls, observations, reply).
    #[serde(default)]
    pub agent_messages: Vec<Message>,
    /// The steering note the simulator saw before writing this turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steering: Option<String>,
    /// Drafts the verifier turned down before this turn's message was sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<verify::RejectedDraft>,
    /// The simulator's reasoning for this turn (`reasoning` mode); never shown to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The goal state after this turn (S_index).
    pub state: GoalState,
}

impl TurnRecord {
    pub fn exchange(&self) -> Exchange {
        Exchange {
            user: self.user.clone(),
            agent: self.agent.clone(),
        }
    }
}

/// Why a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    SimulatorStop,
    MaxTurns,
    /// The agent handed the user to a human (a tool call ended the episode).
    AgentTransfer,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SimulatorStop => "simulator_stop",
            EndReason::MaxTurns => "max_turns",
            EndReason::AgentTransfer => "agent_transfer",
        }
    }
    pub fn parse(s: &str) -> Option<EndReason> {
        match s {
            "simulator_stop" => Some(EndReason::SimulatorStop),
            "max_turns" => Some(EndReason::MaxTurns),
            "agent_transfer" => Some(EndReason::AgentTransfer),
            _ => None,
        }
    }
}

/// A conversation that could not finish, with where it broke.
#[derive(Debug, thiserror::Error)]
#[error("turn {turn}, {role}: {source}")]
pub struct ConversationError {
    pub turn: u32,
    pub role: &'static str,
    #[source]
    pub source: anyhow::Error,
}

fn fail(turn: u32, role: CallRole) -> impl FnOnce(LlmError) -> ConversationError {
    move |e| ConversationError {
        turn,
        role: role.as_str(),
        source: e.into(),
    }
}

/// Fixed settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: SimMode,
    pub tracking: TrackingMode,
    pub max_turns: u32,
    pub agent_steps: u32,
    /// How many times a draft may be sent back by the verifier (0 = no verifier).
    #[serde(default)]
    pub verify: u32,
}

/// How a conversation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub end: EndReason,
    /// The final goal state S_n.
    pub state: GoalState,
    /// The environment's task reward, when the goal has a task.
    pub reward: Option<TaskOutcome>,
    /// Reasoning that came with a stop signal sent on its own (no turn records it).
    pub closing_reasoning: Option<String>,
}

/// Runs one conversation from S0. `commit` receives each finished turn with the ledger of the
/// calls it took; an error from `commit` stops the conversation.
pub async fn run_conversation(
    models: &RoleModels,
    env: &dyn Environment,
    settings: Settings,
    goal: &Goal,
    s0: GoalState,
    ledger: &Ledger,
    mut commit: impl FnMut(&TurnRecord) -> anyhow::Result<()>,
) -> Result<Ending, ConversationError> {
    let max_turns = goal.max_turns.unwrap_or(settings.max_turns);
    let mut session = env.start(goal);
    let mut agent = Agent::new(env.agent_policy(goal), env.tools(), settings.agent_steps);
    let sim_sampling = models.sampling("simulator");
    let agent_sampling = models.sampling("agent");
    let tracker_sampling = models.sampling("tracker");
    let mut history: Vec<Exchange> = Vec::new();
    let mut state = s0;
    let mut replies: Vec<String> = Vec::new();
    let mut end = EndReason::MaxTurns;
    let mut closing_reasoning = None;
    for turn in 1..=max_turns {
        let turns_left = max_turns - turn + 1;
        let steer = simulator::steering(settings.mode, &goal.goal, &state, turns_left);
        let mut note = steer.clone();
        let mut rejected: Vec<verify::RejectedDraft> = Vec::new();
        let mut layout_retry = settings.mode == SimMode::Reasoning;
        let (user, thought) = loop {
            let req = simulator::request(&goal.goal, max_turns, &history, note.as_deref())
                .with_sampling(sim_sampling.clone());
            let raw = models
                .simulator
                .chat(CallRole::Simulator, ledger, &req)
                .await
                .map_err(fail(turn, CallRole::Simulator))?;
            let (draft, thought) = if settings.mode == SimMode::Reasoning {
                match reasoning::parse(raw.content_str()) {
                    Ok(r) => (simulator::parse(&r.reply), Some(r.reasoning)),
                    // One more try with the problem named; then the message is kept without
                    // its reasoning rather than failing the conversation.
                    Err(e) if layout_retry => {
                        layout_retry = false;
                        note = Some(reasoning::feedback(steer.as_deref(), &e));
                        continue;
                    }
                    Err(_) => (
                        simulator::parse(reasoning::salvage(raw.content_str())),
                        None,
                    ),
                }
            } else {
                (simulator::parse(raw.content_str()), None)
            };
            if rejected.len() as u32 >= settings.verify {
                break (draft, thought);
            }
            let verdict = verify::check(
                &models.tracker,
                ledger,
                &tracker_sampling,
                &state,
                &history,
                verify::Draft {
                    user: &draft,
                    turn,
                    turns_left,
                },
            )
            .await
            .map_err(fail(turn, CallRole::Verifier))?;
            match verdict {
                verify::Verdict::Accept => break (draft, thought),
                verify::Verdict::Reject(reason) => {
                    note = Some(verify::feedback(steer.as_deref(), &reason));
                    rejected.push(verify::RejectedDraft {
                        text: draft.text,
                        stop: draft.stop,
                        reason,
                    });
                }
            }
        };
        if user.stop && user.text.is_empty() {
            end = EndReason::SimulatorStop;
            closing_reasoning = thought;
            break;
        }
        let mut transferred = false;
        let (agent_reply, agent_messages) = if user.stop {
            (None, Vec::new())
        } else {
            let t = agent
                .respond(
                    &models.agent,
                    ledger,
                    &agent_sampling,
                    session.as_mut(),
                    &user.text,
                )
                .await
                .map_err(fail(turn, CallRole::Agent))?;
            transferred = t.ended;
            replies.push(t.reply.clone());
            (Some(t.reply), t.messages)
        };
        history.push(Exchange {
            user: user.text.clone(),
            agent: agent_reply.clone(),
        });
        let updates = judge_turn(
            &models.tracker,
            ledger,
            settings.tracking,
            &tracker_sampling,
            &state,
            &history,
            turn,
        )
        .await
        .map_err(fail(turn, CallRole::Tracker))?;
        state.apply_turn(turn, &updates);
        let record = TurnRecord {
            index: turn,
            user: user.text,
            agent: agent_reply,
            agent_messages,
            steering: steer,
            rejected,
            reasoning: thought,
            state: state.clone(),
        };
        commit(&record).map_err(|e| ConversationError {
            turn,
            role: "store",
            source: e,
        })?;
        if user.stop {
            end = EndReason::SimulatorStop;
            break;
        }
        if transferred {
            end = EndReason::AgentTransfer;
            break;
        }
    }
    Ok(Ending {
        closing_reasoning,
        end,
        reward: session.reward(&replies),
        state,
    })
}

/// Re-tracks stored turns from S0 with the given tracker, producing new states for every turn.
pub async fn retrack(
    models: &RoleModels,
    tracking: TrackingMode,
    s0: GoalState,
    turns: &[TurnRecord],
    ledger: &Ledger,
    mut commit: impl FnMut(&TurnRecord) -> anyhow::Result<()>,
) -> Result<GoalState, ConversationError> {
    let sampling = models.sampling("tracker");
    let mut state = s0;
    let mut history = Vec::new();
    for t in turns {
        history.push(t.exchange());
        let updates = judge_turn(
            &models.tracker,
            ledger,
            tracking,
            &sampling,
            &state,
            &history,
            t.index,
        )
        .await
        .map_err(fail(t.index, CallRole::Tracker))?;
        state.apply_turn(t.index, &updates);
        let mut record = t.clone();
        record.state = state.clone();
        commit(&record).map_err(|e| ConversationError {
            turn: t.index,
            role: "store",
            source: e,
        })?;
    }
    Ok(state)
}
