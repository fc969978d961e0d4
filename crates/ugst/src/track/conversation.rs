//! The one conversation driver every path that tracks a conversation uses — the turn loop,
//! `ugst track`, the reward server and `serve simulator`: start from S0, advance by one exchange
//! at a time, finish with the closing pass. One error type, naming the turn.

use super::Tracker;
use crate::model::Exchange;
use ugst_llm::{Ledger, LlmError};
use ugst_state::GoalState;

/// A conversation as the tracker follows it: the goal state after the exchanges judged so far.
#[derive(Debug, Clone)]
pub struct ConversationState {
    pub state: GoalState,
    pub history: Vec<Exchange>,
}

/// The judge failed at a turn; the state holds the turns before it.
#[derive(Debug, thiserror::Error)]
#[error("tracker, turn {turn}: {source}")]
pub struct TrackError {
    pub turn: u32,
    #[source]
    pub source: LlmError,
}

impl ConversationState {
    /// A conversation that has not begun, at `s0`.
    pub fn new(s0: GoalState) -> ConversationState {
        ConversationState {
            state: s0,
            history: Vec::new(),
        }
    }

    /// The number of the last exchange judged (0 before the first).
    pub fn turn(&self) -> u32 {
        self.history.len() as u32
    }

    /// Judges `exchange` as the next turn and applies the judgement; returns the turn's number.
    pub async fn advance(
        &mut self,
        tracker: &Tracker,
        ledger: &Ledger,
        exchange: Exchange,
    ) -> Result<u32, TrackError> {
        self.history.push(exchange);
        let turn = self.turn();
        let judged = tracker
            .judge_turn(ledger, &self.state, &self.history, turn)
            .await;
        match judged {
            Ok(j) => {
                j.apply(&mut self.state, turn);
                Ok(turn)
            }
            Err(source) => {
                self.history.pop();
                Err(TrackError { turn, source })
            }
        }
    }

    /// The conversation has ended: the closing pass, applied as part of the last turn. Returns
    /// whether it changed the state (so a caller that stored the last turn stores it again).
    pub async fn finish(&mut self, tracker: &Tracker, ledger: &Ledger) -> Result<bool, TrackError> {
        let turn = self.turn();
        if turn == 0 {
            return Ok(false);
        }
        let closing = tracker
            .closing_pass(ledger, &self.state, &self.history)
            .await
            .map_err(|source| TrackError { turn, source })?;
        if closing.updates.is_empty() {
            return Ok(false);
        }
        closing.apply(&mut self.state, turn);
        Ok(true)
    }
}
