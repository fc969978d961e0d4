//! One conversation: simulator ↔ agent (↔ environment tools), tracked turn by turn.
//!
//! Each turn: steering note from S_{i-1} (by mode) → simulator writes u_i → agent answers a_i
//! (calling tools as needed) → tracker judges the turn → S_i. Every finished turn is handed to a
//! `commit` callback before the next begins, so a store can persist it atomically.

pub mod agent;
pub mod env;
pub mod reasoning;
pub mod steer;
pub mod user;
pub mod verify;

use crate::model::{EndReason, Ending, Exchange, Goal, Settings, TurnRecord};
use crate::roles::RoleModels;
use crate::track::{ConversationState, TrackError, Tracker};
use agent::{Agent, AgentSide};
use env::Environment;
use ugst_llm::{CallRole, Ledger, LlmError};
use ugst_state::GoalState;
use user::UserSimulator;

/// A conversation that could not finish, with where it broke: a model call that gave up (the
/// conversation is marked failed) or the store (the run stops: data would be lost).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("turn {turn}, {role}: {source}", role = .role.as_str())]
    Model {
        turn: u32,
        role: CallRole,
        #[source]
        source: LlmError,
    },
    #[error("turn {turn}: the run store failed: {source:#}")]
    Store {
        turn: u32,
        #[source]
        source: anyhow::Error,
    },
}

impl RunError {
    fn model(turn: u32, role: CallRole) -> impl FnOnce(LlmError) -> RunError {
        move |source| RunError::Model { turn, role, source }
    }
    fn store(turn: u32) -> impl FnOnce(anyhow::Error) -> RunError {
        move |source| RunError::Store { turn, source }
    }
}

impl From<TrackError> for RunError {
    fn from(e: TrackError) -> RunError {
        RunError::model(e.turn, CallRole::Tracker)(e.source)
    }
}

/// The three participants of a conversation besides the environment, built from the role
/// models and the run's settings.
pub struct Participants {
    pub user: UserSimulator,
    pub tracker: Tracker,
    pub agent: crate::roles::RoleModel,
}

impl Participants {
    pub fn new(models: &RoleModels, settings: Settings) -> Participants {
        Participants {
            user: UserSimulator::new(models, settings.mode, settings.verify),
            tracker: Tracker::new(models.tracker.clone(), settings.tracking, settings.tracker),
            agent: models.agent.clone(),
        }
    }
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
) -> Result<Ending, RunError> {
    let p = Participants::new(models, settings);
    let max_turns = goal.max_turns.unwrap_or(settings.max_turns);
    let mut session = env.start(goal);
    let mut agent = match &models.agent_url {
        Some(url) => AgentSide::Url(Box::new(agent::UrlAgent::new(url.clone(), goal.id.clone()))),
        None => AgentSide::Model(Agent::new(
            env.agent_policy(goal),
            env.tools(),
            settings.agent_steps,
        )),
    };
    // S0; the tracker's view of the conversation grows by one exchange per turn.
    let mut conv = ConversationState::new(s0);
    let mut replies = Vec::new();
    let (mut end, mut closing_reasoning) = (EndReason::MaxTurns, None);
    let mut last: Option<TurnRecord> = None;
    for turn in 1..=max_turns {
        // 1. The simulated user writes its turn, steered by S_{turn-1}.
        let msg = p
            .user
            .next_message(ledger, goal, &conv.state, &conv.history, turn, max_turns)
            .await
            .map_err(|(role, e)| RunError::model(turn, role)(e))?;
        if msg.is_bare_stop() {
            (end, closing_reasoning) = (EndReason::SimulatorStop, msg.reasoning);
            break;
        }
        // 2. The agent answers (with tools), unless the message came with the stop signal.
        let answer = if msg.user.stop {
            None
        } else {
            Some(
                agent
                    .respond(&p.agent, ledger, session.as_mut(), &msg.user.text)
                    .await
                    .map_err(RunError::model(turn, CallRole::Agent))?,
            )
        };
        replies.extend(answer.as_ref().map(|a| a.reply.clone()));
        let exchange = Exchange {
            user: msg.user.text.clone(),
            agent: answer.as_ref().map(|a| a.reply.clone()),
        };
        // 3. The tracker judges the turn; 4. the state machine applies it.
        conv.advance(&p.tracker, ledger, exchange).await?;
        // 5. The turn is committed before the next begins.
        let record = turn_record(turn, msg, answer.as_ref(), &conv.state);
        commit(&record).map_err(RunError::store(turn))?;
        let stop = match (record.agent.is_none(), answer.is_some_and(|a| a.ended)) {
            (true, _) => Some(EndReason::SimulatorStop),
            (_, true) => Some(EndReason::AgentTransfer),
            _ => None,
        };
        last = Some(record);
        if let Some(stop) = stop {
            end = stop;
            break;
        }
    }
    // 6. The conversation has ended: the closing pass, committed as the last turn's state again
    //    so that the stored turns and the final state agree.
    if let Some(record) = last {
        finish(&p.tracker, ledger, &mut conv, record, &mut commit).await?;
    }
    Ok(Ending {
        closing_reasoning,
        end,
        reward: session.reward(&replies),
        state: conv.state,
    })
}

/// The closing pass of a conversation whose last stored turn is `last`: when it changes the
/// state, that turn is committed again with the final state.
async fn finish(
    tracker: &Tracker,
    ledger: &Ledger,
    conv: &mut ConversationState,
    mut last: TurnRecord,
    commit: &mut impl FnMut(&TurnRecord) -> anyhow::Result<()>,
) -> Result<(), RunError> {
    if conv.finish(tracker, ledger).await? {
        last.state = conv.state.clone();
        commit(&last).map_err(RunError::store(last.index))?;
    }
    Ok(())
}

/// What is stored of a turn: the user's message and how it was written, the agent's answer,
/// and the state after it.
fn turn_record(
    index: u32,
    msg: user::NextMessage,
    answer: Option<&agent::AgentTurn>,
    state: &GoalState,
) -> TurnRecord {
    TurnRecord {
        index,
        user: msg.user.text,
        agent: answer.map(|a| a.reply.clone()),
        agent_messages: answer.map(|a| a.messages.clone()).unwrap_or_default(),
        steering: msg.steering,
        rejected: msg.rejected,
        reasoning: msg.reasoning,
        thinking: crate::model::Thinking {
            user: msg.thinking,
            agent: answer.and_then(|a| a.thinking.clone()),
        },
        state: state.clone(),
    }
}

/// Re-tracks stored turns from S0 with `tracker`, producing new states for every turn.
pub async fn retrack(
    tracker: &Tracker,
    s0: GoalState,
    turns: &[TurnRecord],
    ledger: &Ledger,
    mut commit: impl FnMut(&TurnRecord) -> anyhow::Result<()>,
) -> Result<GoalState, RunError> {
    let mut conv = ConversationState::new(s0);
    for t in turns {
        let turn = conv.advance(tracker, ledger, t.exchange()).await?;
        let mut record = t.clone();
        record.state = conv.state.clone();
        commit(&record).map_err(RunError::store(turn))?;
    }
    // The stored conversation has ended: the closing pass, as in `run_conversation`.
    if let Some(last) = turns.last() {
        finish(tracker, ledger, &mut conv, last.clone(), &mut commit).await?;
    }
    Ok(conv.state)
}
