//! The termination contract: why each conversation ended, classified against its goal states.
//!
//! - `proper_stop`: the simulator stopped and every task objective was successful;
//! - `premature_stop`: the simulator stopped with an objective INCOMPLETE and turns left;
//! - `missed_stop`: every objective was successful at some turn, and the simulator still went on
//!   for two or more turns after it (whatever ended the conversation then);
//! - `length_exhaustion`: the turn limit was reached (or the simulator stopped on its last turn)
//!   with an objective INCOMPLETE;
//! - `complete_at_limit`: the limit was reached with every objective successful, less than two
//!   turns after the last one succeeded;
//! - `agent_transfer`: the agent handed the user to a human;
//! - `error`: the conversation failed (excluded from the rates' denominator);
//! - `untracked`: it has no goal state yet (an imported log before `ugst track`; excluded too).

use crate::model::{Conversation, EndReason};
use serde::Serialize;
use std::collections::BTreeMap;
use ugst_state::GoalState;

pub const CLASSES: [&str; 6] = [
    "proper_stop",
    "premature_stop",
    "missed_stop",
    "length_exhaustion",
    "complete_at_limit",
    "agent_transfer",
];

/// The class of one conversation; `max_turns` is the run's limit (a goal's own wins).
pub fn classify(c: &Conversation, max_turns: u32) -> &'static str {
    if !c.finished() {
        return "error";
    }
    if !c.tracked() {
        return "untracked";
    }
    let limit = c.goal.max_turns.unwrap_or(max_turns) as usize;
    let n = c.turns.len();
    if let Some(first_done) = c.turns.iter().position(|t| t.state.objectives_done()) {
        // Turns after the one where the last objective succeeded.
        if n - (first_done + 1) >= 2 {
            return "missed_stop";
        }
    }
    let done = c
        .final_state
        .as_ref()
        .is_some_and(GoalState::objectives_done);
    // A stop sent on its own uses a turn that no record holds (the last record has a reply).
    let bare_stop = c.end_reason == Some(EndReason::SimulatorStop)
        && c.turns.last().is_none_or(|t| t.agent.is_some());
    let used = n + bare_stop as usize;
    match c.end_reason {
        Some(EndReason::AgentTransfer) => "agent_transfer",
        Some(EndReason::SimulatorStop) if done => "proper_stop",
        Some(EndReason::SimulatorStop) if used < limit => "premature_stop",
        _ if done => "complete_at_limit",
        _ => "length_exhaustion",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Termination {
    pub counts: BTreeMap<String, usize>,
    /// Share of each class among finished conversations.
    pub rates: BTreeMap<String, f64>,
    pub finished: usize,
}

pub fn summarise(convs: &[Conversation], max_turns: u32) -> Termination {
    let mut t = Termination::default();
    for c in convs {
        let k = classify(c, max_turns);
        *t.counts.entry(k.to_string()).or_default() += 1;
        if k != "error" && k != "untracked" {
            t.finished += 1;
        }
    }
    for k in CLASSES {
        let n = t.counts.get(k).copied().unwrap_or(0);
        t.rates.insert(
            k.to_string(),
            if t.finished == 0 {
                0.0
            } else {
                n as f64 / t.finished as f64
            },
        );
    }
    t
}
