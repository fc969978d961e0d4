//! One conversation: simulator ↔ agent (↔ environment tools), tracked turn by turn.
//!
//! Each turn: steering note from S_{i-1} (by mode) → simulator writes u_i → agent answers a_i
//! (calling tools as needed) → tracker judges the turn → S_i. Every finished turn is handed to a
//! `commit` callback before the next begins, so a store can persist it atomically.

pub mod agent;
pub mod env;
pub mod reasoning;
pub mod user;
pub mod verify;

use crate::model::{EndReason, Ending, Exchange, Goal, Settings, TurnRecord};
use crate::roles::RoleModels;
use crate::track::{TrackError, Tracker};
use agent::Agent;
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
            tracker: Tracker::new(models.tracker.clone(), settings.tracking),
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
    let mut agent = Agent::new(env.agent_policy(goal), env.tools(), settings.agent_steps);
    let (mut history, mut state, mut replies) = (Vec::<Exchange>::new(), s0, Vec::new());
    let (mut end, mut closing_reasoning) = (EndReason::MaxTurns, None);
    let mut last: Option<TurnRecord> = None;
    for turn in 1..=max_turns {
        // 1. The simulated user writes its turn, steered by S_{turn-1}.
        let msg = p
            .user
            .next_message(ledger, goal, &state, &history, turn, max_turns)
            .await
            .map_err(|(role, e)| RunError::model(turn, role)(e))?;
        if msg.is_bare_stop() {
            (end, closing_reasoning) = (EndReason::SimulatorStop, msg.reasoning);
            break;
        }
        // 2. The agent answers (with tools), unless the message came with the stop signal.
        let answer = match msg.user.stop {
            true => None,
            false => Some(
                agent
                    .respond(&p.agent, ledger, session.as_mut(), &msg.user.text)
                    .await
                    .map_err(RunError::model(turn, CallRole::Agent))?,
            ),
        };
        replies.extend(answer.as_ref().map(|a| a.reply.clone()));
        history.push(Exchange {
            user: msg.user.text.clone(),
            agent: answer.as_ref().map(|a| a.reply.clone()),
        });
        // 3. The tracker judges the turn; 4. the state machine applies it.
        (p.tracker.judge_turn(ledger, &state, &history, turn).await)
            .map_err(RunError::model(turn, CallRole::Tracker))?
            .apply(&mut state, turn);
        // 5. The turn is committed before the next begins.
        let record = turn_record(turn, msg, answer.as_ref(), &state);
        commit(&record).map_err(|source| RunError::Store { turn, source })?;
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
    // 6. The conversation has ended: the closing pass (delta mode), committed as the last turn's
    //    state again so that the stored turns and the final state agree.
    if let Some(mut record) = last {
        let turn = record.index;
        let closing = (p.tracker.close(ledger, &state, &history).await)
            .map_err(RunError::model(turn, CallRole::Tracker))?;
        if !closing.updates.is_empty() {
            closing.apply(&mut state, turn);
            record.state = state.clone();
            commit(&record).map_err(|source| RunError::Store { turn, source })?;
        }
    }
    Ok(Ending {
        closing_reasoning,
        end,
        reward: session.reward(&replies),
        state,
    })
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
    let mut state = s0;
    let history: Vec<Exchange> = turns.iter().map(TurnRecord::exchange).collect();
    let on_turn = |turn: u32, s: &GoalState| {
        let mut record = turns[turn as usize - 1].clone();
        record.state = s.clone();
        commit(&record)
    };
    match tracker
        .track(ledger, &mut state, &history, 0, on_turn)
        .await
    {
        Ok(()) => {}
        Err(TrackError::Judge(turn, e)) => return Err(RunError::model(turn, CallRole::Tracker)(e)),
        Err(TrackError::Commit(turn, source)) => return Err(RunError::Store { turn, source }),
    }
    // The stored conversation has ended: the closing pass, as in `run_conversation`.
    let Some(last) = turns.last() else {
        return Ok(state);
    };
    let closing = (tracker.close(ledger, &state, &history).await)
        .map_err(RunError::model(last.index, CallRole::Tracker))?;
    if !closing.updates.is_empty() {
        closing.apply(&mut state, last.index);
        let mut record = last.clone();
        record.state = state.clone();
        commit(&record).map_err(|source| RunError::Store {
            turn: last.index,
            source,
        })?;
    }
    Ok(state)
}
